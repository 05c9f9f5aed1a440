//go:build unix

package app

import "syscall"

// privateUmask makes every file and directory this process creates from now on owner-only.
// It is process-wide, so only the command line sets it, for a process that keeps a data dir.
func privateUmask() { syscall.Umask(0o077) }
