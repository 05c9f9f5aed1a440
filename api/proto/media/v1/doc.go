// Package mediav1 is the generated Go code (messages, gRPC client and server) of media.proto,
// package zhibo.media.v1: the video viewers of rooms, which room reads from a media process
// elsewhere in cluster mode. Edit the .proto and run scripts/protogen.sh; the *.pb.go files are
// generated.
package mediav1
