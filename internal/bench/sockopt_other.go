//go:build !linux

package bench

import "syscall"

// slowSocket leaves the socket alone outside Linux, where these options differ; slow
// viewers then take longer to back up.
func slowSocket(int, int) func(network, address string, c syscall.RawConn) error { return nil }
