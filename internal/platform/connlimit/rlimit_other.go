//go:build !unix

package connlimit

// NoFile is 0 (unknown) where there is no RLIMIT_NOFILE: the derived total is then no cap.
func NoFile() uint64 { return 0 }
