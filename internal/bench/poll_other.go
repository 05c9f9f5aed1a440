//go:build !linux

package bench

import "errors"

// pollers exist on Linux only; elsewhere every connection has a reader goroutine.
type pollers struct{}

func newPollers(*run) (*pollers, error) {
	return nil, errors.New("bench: epoll readers are Linux-only")
}

func (*pollers) add(*viewerConn) bool { return false }
func (*pollers) stop()                {}

func closeFD(int) error         { return errors.ErrUnsupported }
func writeFD(int, []byte) error { return errors.ErrUnsupported }
