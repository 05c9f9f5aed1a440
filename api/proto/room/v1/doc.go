// Package roomv1 is the generated Go code (messages, gRPC client and server) of room.proto, package
// zhibo.room.v1: rooms and their TAGs. It is the remote form of
// the room component's Client, used between processes in cluster mode. Edit the .proto and run
// scripts/protogen.sh; the *.pb.go files are generated.
package roomv1
