// Package logicv1 is the generated Go code (messages, gRPC client and server) of logic.proto,
// package zhibo.logic.v1: connection authentication and online-count aggregation for
// the long-connection tier. It is the remote form of what comets and business components use of logic, between
// processes in cluster mode. Edit the .proto and run scripts/protogen.sh; the *.pb.go files are
// generated.
package logicv1
