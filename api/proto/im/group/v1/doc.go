// Package imgroupv1 is the generated Go code (messages, gRPC client and server) of group.proto,
// package zhibo.im.group.v1. It is the remote form of the im-group component's Client, used
// between processes in cluster mode. Edit the .proto and run scripts/protogen.sh; the *.pb.go
// files are generated.
package imgroupv1
