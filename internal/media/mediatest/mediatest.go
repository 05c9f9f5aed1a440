// Package mediatest drives real ffmpeg and ffprobe for the tests of the media path: publish a
// generated stream over RTMP, probe a playback URL.
package mediatest

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// NeedFFmpeg skips the test when ffmpeg or ffprobe is missing (.ci/run installs them, and CI
// fails on a skipped test).
func NeedFFmpeg(t testing.TB) {
	for _, bin := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("%s not installed (apt-get install ffmpeg; .ci/run installs it)", bin)
		}
	}
}

// Publisher is an ffmpeg pushing a generated stream: testsrc picture, 1 s GOP (30 frames at
// 30 fps), x264 ultrafast, AAC sine.
type Publisher struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  strings.Builder
	done chan struct{}
	err  error
}

// Publish pushes seconds of video of the given size ("1280x720") to url
// (rtmp://HOST:PORT/live/NAME); extra are more ffmpeg output options. ffmpeg is killed at
// the end of the test if still running.
func Publish(t testing.TB, url, size string, seconds int, extra ...string) *Publisher {
	args := []string{"-hide_banner", "-loglevel", "error", "-re",
		"-f", "lavfi", "-i", "testsrc=size=" + size + ":rate=30", "-f", "lavfi", "-i", "sine=frequency=440",
		"-t", fmt.Sprint(seconds), "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "30",
		"-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "64k"}
	args = append(append(args, extra...), "-f", "flv", url)
	p := &Publisher{cmd: exec.Command("ffmpeg", args...), done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = (*syncWriter)(p), (*syncWriter)(p)
	require.NoError(t, p.cmd.Start())
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
	})
	return p
}

type syncWriter Publisher

func (w *syncWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.out.Write(b)
}

// Output is what ffmpeg printed (errors only).
func (p *Publisher) Output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// Wait returns ffmpeg's exit error, failing the test if it runs past limit.
func (p *Publisher) Wait(t testing.TB, limit time.Duration) error {
	select {
	case <-p.done:
		return p.err
	case <-time.After(limit):
		t.Fatalf("ffmpeg still running after %s", limit)
		return nil
	}
}

// Running reports whether ffmpeg has not exited yet.
func (p *Publisher) Running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// Probe runs ffprobe on url and returns the distinct codec names of its streams, sorted
// (HLS lists each stream again under its program). A probe is tried up to three times, a
// second apart, as a player reconnects: on a loaded machine ffprobe sometimes gives up on the
// first access unit it reads ("missing picture in access unit") and exits with an error.
func Probe(t testing.TB, url string) []string {
	var (
		out    []byte
		stderr bytes.Buffer
		err    error
	)
	for try := range 3 {
		if try > 0 {
			t.Logf("ffprobe %s failed (%v): %s; trying again", url, err, stderr.String())
			time.Sleep(time.Second)
		}
		stderr.Reset()
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		cmd := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-rw_timeout", "5000000",
			"-show_entries", "stream=codec_name", "-of", "csv=p=0", url)
		cmd.Stderr = &stderr // warnings stay out of the codec list
		out, err = cmd.Output()
		cancel()
		if err == nil {
			break
		}
	}
	require.NoError(t, err, "ffprobe %s: %s", url, stderr.String())
	codecs := strings.Fields(string(out))
	slices.Sort(codecs)
	return slices.Compact(codecs)
}

// Duration is the duration in seconds ffprobe reads from the container of the file at path.
func Duration(t testing.TB, path string) float64 {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", path)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "ffprobe %s: %s", path, stderr.String())
	d, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
	require.NoError(t, err, "ffprobe duration %q", out)
	return d
}
