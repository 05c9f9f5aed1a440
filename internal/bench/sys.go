package bench

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
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

// clockTicks is USER_HZ, the unit of the CPU times in /proc/<pid>/stat (100 on Linux).
const clockTicks = 100

// readCPU is the CPU time (user + system) process pid has used, from /proc/<pid>/stat.
func readCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, fmt.Errorf("read CPU of pid %d: %w", pid, err)
	}
	// Fields after the parenthesised command name; utime and stime are fields 14 and 15.
	i := strings.LastIndexByte(string(b), ')')
	f := strings.Fields(string(b[i+1:]))
	if i < 0 || len(f) < 13 {
		return 0, fmt.Errorf("read CPU of pid %d: malformed stat", pid)
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("read CPU of pid %d: malformed stat", pid)
	}
	return time.Duration(u+s) * time.Second / clockTicks, nil
}
