// Package imnoticev1 is the generated Go code (messages, gRPC client and server) of notice.proto,
// package zhibo.im.notice.v1. It is the remote form of the im-notice component's Client, used
// between processes in cluster mode. Edit the .proto and run scripts/protogen.sh; the *.pb.go
// files are generated.
package imnoticev1
