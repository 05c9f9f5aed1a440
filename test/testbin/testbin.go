// Package testbin runs the real zhibo binary as a child process for tests: build it, start a
// sub-command, wait until it prints its URL, stop it gracefully or kill it. End-to-end,
// cluster and crash tests share it.
package testbin

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Build compiles cmd/zhibo into a temp dir of t and returns the binary's path.
func Build(t testing.TB) string {
	bin := filepath.Join(t.TempDir(), "zhibo")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/zhibo-live/zhibo/cmd/zhibo")
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Run())
	return bin
}

var upLine = regexp.MustCompile(`zhibo is up: (http://\S+)`)

// Proc is one running zhibo process.
type Proc struct {
	Name string
	Bin  string
	Args []string
	Env  []string // the process's environment (nil = the test's own)
	URL  string   // printed by the process once it serves
	cmd  *exec.Cmd
}

// Start runs bin with args (the sub-command first) and waits until it printed its URL. Its
// stderr goes to the test's stderr prefixed by name. The process is killed when t ends.
func Start(t testing.TB, name, bin string, args ...string) *Proc {
	p := &Proc{Name: name, Bin: bin, Args: args}
	p.Restart(t)
	return p
}

// StartEnv is Start with env as the process's whole environment.
func StartEnv(t testing.TB, name, bin string, env []string, args ...string) *Proc {
	p := &Proc{Name: name, Bin: bin, Args: args, Env: env}
	p.Restart(t)
	return p
}

// Restart starts the process again with the same arguments (after Stop or Kill).
func (p *Proc) Restart(t testing.TB) {
	cmd := exec.Command(p.Bin, p.Args...)
	cmd.Env = p.Env
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = prefixWriter("[" + p.Name + "] ")
	require.NoError(t, cmd.Start())
	p.cmd = cmd
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() { // keep reading so the child never blocks on a full pipe
			if m := upLine.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
			}
		}
	}()
	select {
	case p.URL = <-found:
	case <-time.After(60 * time.Second):
		t.Fatalf("%s did not print its URL", p.Name)
	}
}

// Stop sends SIGTERM and requires a clean exit (status 0) within 40 s.
func (p *Proc) Stop(t testing.TB) {
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	require.NoError(t, p.wait(t), "%s must exit 0 after SIGTERM", p.Name)
}

// Kill is kill -9: no chance to flush or drain.
func (p *Proc) Kill(t testing.TB) {
	require.NoError(t, p.cmd.Process.Kill())
	_ = p.wait(t)
}

func (p *Proc) wait(t testing.TB) error {
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(40 * time.Second):
		t.Fatalf("%s did not stop", p.Name)
		return nil
	}
}

type prefixWriter string

func (w prefixWriter) Write(b []byte) (int, error) {
	for _, line := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		fmt.Fprintln(os.Stderr, string(w)+line)
	}
	return len(b), nil
}
