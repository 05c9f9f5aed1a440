package obs

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// openTerminal opens a pseudo-terminal pair: what is written to the returned slave comes out of
// master.
func openTerminal(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	require.NoError(t, unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0))
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	require.NoError(t, err)
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return m, s
}

// auto writes text to a terminal and JSON to anything else.
func TestAutoFormatFollowsTheTerminal(t *testing.T) {
	master, tty := openTerminal(t)
	log, err := NewLogger(tty, LogConfig{Level: "info", Format: "auto"})
	require.NoError(t, err)
	log.Info("hello", "room", 7)
	line, err := bufio.NewReader(master).ReadString('\n')
	require.NoError(t, err)
	require.Contains(t, line, "msg=hello room=7", "text on a terminal")

	r, w, err := os.Pipe()
	require.NoError(t, err)
	defer r.Close()
	log, err = NewLogger(w, LogConfig{Level: "info", Format: "auto"})
	require.NoError(t, err)
	log.Info("hello", "room", 7)
	w.Close()
	line, err = bufio.NewReader(r).ReadString('\n')
	require.NoError(t, err)
	var rec map[string]any
	require.NoError(t, json.Unmarshal([]byte(strings.TrimSpace(line)), &rec), "JSON into a pipe: %q", line)
	require.Equal(t, "hello", rec["msg"])
}
