// Package accountv1 is the generated Go code (messages, gRPC client and server) of account.proto,
// package zhibo.account.v1: session token checks and user lookups. It is the remote form of the
// account component's Client, used between processes in cluster mode. Edit the .proto and run
// scripts/protogen.sh; the *.pb.go files are generated.
package accountv1
