package viewer

import "syscall"

// SlowSocket is a net.Dialer Control for viewers that stop reading (the bench's -slow, the
// stalled-viewer tests), applied before connecting:
//   - the receive buffer shrinks to rcvbuf bytes, so the advertised window stays small and a
//     viewer that stops reading fills it after a few kilobytes;
//   - the maximum segment size announced is mss (a real network's 1460, not loopback's
//     64 KiB). The server's kernel sizes a connection's send buffer from the segment size
//     (about 20 segments' worth), so on loopback it would hold some 2.6 MB for the stalled
//     viewer before the comet's writes block; with a network MSS it holds tens of kilobytes,
//     as it would for a client on the internet.
func SlowSocket(rcvbuf, mss int) func(network, address string, c syscall.RawConn) error {
	return func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, rcvbuf)
			if serr == nil {
				serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_MAXSEG, mss)
			}
		})
		if err != nil {
			return err
		}
		return serr
	}
}
