// Package giftv1 is the generated Go code (messages, gRPC client and server) of gift.proto, package
// zhibo.gift.v1: wallet balances. It is the
// remote form of the gift component's Client, used between processes in cluster mode. Edit the
// .proto and run scripts/protogen.sh; the *.pb.go files are generated.
package giftv1
