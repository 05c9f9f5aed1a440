package bench

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
)

// readRSS is the resident set size of process pid in KiB, from /proc/<pid>/status (VmRSS).
func readRSS(pid int) (int64, error) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, fmt.Errorf("read RSS of pid %d: %w", pid, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			fields := strings.Fields(rest)
			if len(fields) == 0 {
				break
			}
			return strconv.ParseInt(fields[0], 10, 64)
		}
	}
	return 0, fmt.Errorf("read RSS of pid %d: no VmRSS line", pid)
}

// sourceAddrs are the local addresses connections are spread over: 127.0.0.1, 127.0.0.2, …
// (every address of 127.0.0.0/8 is this machine on Linux). One source and a default route
// need no binding at all, so nil is returned then.
func sourceAddrs(n, conns int, target net.IP) []*net.TCPAddr {
	if n == 0 {
		n = (conns + connsPerSource - 1) / connsPerSource
	}
	if n <= 1 || target == nil || target.To4() == nil {
		return nil
	}
	out := make([]*net.TCPAddr, n)
	for i := range out {
		out[i] = &net.TCPAddr{IP: net.IPv4(127, 0, byte(i/250), byte(1+i%250))}
	}
	return out
}

// isTerminal reports whether f is a character device (a terminal), where a progress bar
// can redraw one line; anything else gets plain periodic lines.
func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
