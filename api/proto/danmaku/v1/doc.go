// Package danmakuv1 is the generated Go code (messages, gRPC client and server) of danmaku.proto,
// package zhibo.danmaku.v1: sending bullet comments and reading recent history. It is the
// remote form of the danmaku component's Client, used between processes in cluster mode. Edit the
// .proto and run scripts/protogen.sh; the *.pb.go files are generated.
package danmakuv1
