//go:build !linux

package comet

import (
	"errors"
	"net"
	"syscall"
)

// directWrites is false here: every frame goes through the send queue.
const directWrites = false

func rawConn(net.Conn) syscall.RawConn { return nil }

type directWriter struct{}

func newDirectWriter() *directWriter { return nil }

func (*directWriter) try(syscall.RawConn, [][]byte) (int, error) {
	return 0, errors.ErrUnsupported
}
