// Package imchatv1 is the generated Go code (messages, gRPC client and server) of chat.proto,
// package zhibo.im.chat.v1. It is the remote form of the im-chat component's Client, used
// between processes in cluster mode. Edit the .proto and run scripts/protogen.sh; the *.pb.go
// files are generated.
package imchatv1
