package e2e

import (
	"bufio"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// buildBinary compiles cmd/zhibo once per test into a temp dir.
func buildBinary(t *testing.T) string {
	bin := filepath.Join(t.TempDir(), "zhibo")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/zhibo-live/zhibo/cmd/zhibo")
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Run())
	return bin
}

var upLine = regexp.MustCompile(`zhibo is up: (http://\S+)`)

// runUp starts `zhibo up` and returns its base URL once it printed it.
func runUp(t *testing.T, bin, dataDir string) (*exec.Cmd, string) {
	cmd := exec.Command(bin, "up", "-data_dir", dataDir, "-gateway.http_addr", "127.0.0.1:0",
		"-comet.tcp_addr", "127.0.0.1:0", "-account.bcrypt_cost", "4", "-log.level", "warn")
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if m := upLine.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
			}
		}
	}()
	select {
	case u := <-found:
		return cmd, u
	case <-time.After(60 * time.Second):
		t.Fatal("zhibo up did not print its URL")
		return nil, ""
	}
}

// stop sends SIGTERM and expects a clean exit.
func stop(t *testing.T, cmd *exec.Cmd) {
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		require.NoError(t, err, "zhibo up must exit 0 after SIGTERM")
	case <-time.After(40 * time.Second):
		t.Fatal("zhibo up did not stop after SIGTERM")
	}
}

// The binary prints its URL, serves, stops cleanly on SIGTERM and keeps its data in data_dir
// across restarts (embedded SQLite and JetStream).
func TestBinaryUpRestartKeepsData(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildBinary(t)
	data := t.TempDir()
	cmd, url := runUp(t, bin, data)
	n := Node{URL: url}
	resp, err := http.Get(url + "/readyz")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	s := register(t, n, "persistent")
	var room struct {
		ID int64 `json:"id"`
	}
	code, _ := api(t, n, "POST", "/api/rooms", s.Token, map[string]string{"title": "kept"}, &room)
	require.Equal(t, 200, code)
	stop(t, cmd)

	cmd, url = runUp(t, bin, data)
	n = Node{URL: url}
	var again session
	code, _ = api(t, n, "POST", "/api/auth/login", "", map[string]string{"name": "persistent", "password": "password1"}, &again)
	require.Equal(t, 200, code)
	require.Equal(t, s.UID, again.UID)
	// The token issued before the restart is still valid: the key is kept in data_dir.
	code, _ = api(t, n, "GET", "/api/me/room", s.Token, nil, &room)
	require.Equal(t, 200, code)
	stop(t, cmd)
}
