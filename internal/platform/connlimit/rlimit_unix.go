//go:build unix

package connlimit

import "syscall"

// NoFile is the process's descriptor limit (the soft RLIMIT_NOFILE, which the Go runtime
// raises to the hard limit at start on Linux); 0 when unknown.
func NoFile() uint64 {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 0
	}
	return uint64(r.Cur)
}
