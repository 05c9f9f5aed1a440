// Package cometv1 is the generated Go code (messages, gRPC client and server) of comet.proto,
// package zhibo.comet.v1: delivering pushes to the connections one comet node holds, and its online
// counts. It is the remote form of the comet component's Client, used between processes in cluster
// mode. Edit the .proto and run scripts/protogen.sh; the *.pb.go files are generated.
package cometv1
