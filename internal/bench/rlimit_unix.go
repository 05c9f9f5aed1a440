//go:build unix

package bench

import (
	"fmt"
	"syscall"
)

// raiseFileLimit makes sure the process may hold need open files, raising the soft
// RLIMIT_NOFILE up to the hard limit when it is lower. It returns a note for the user when
// it changed something.
func raiseFileLimit(need uint64) (string, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return "", fmt.Errorf("read the open-file limit: %w", err)
	}
	if uint64(lim.Cur) >= need {
		return "", nil
	}
	if uint64(lim.Max) < need {
		return "", fmt.Errorf("%d connections need about %d open files but the hard limit is %d: raise it (ulimit -Hn, /etc/security/limits.conf) or open fewer connections", need-64, need, lim.Max)
	}
	old := lim.Cur
	lim.Cur = need
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return "", fmt.Errorf("raise the open-file limit from %d to %d: %w", old, need, err)
	}
	return fmt.Sprintf("raised this process's open-file limit (RLIMIT_NOFILE) from %d to %d; the server needs as many (ulimit -n)", old, need), nil
}
