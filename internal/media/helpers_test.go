package media

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/platform/obs"
	"github.com/zhibo-live/zhibo/internal/room/roomtest"
)

// env is a started media service with in-memory rooms and its routes on a test server.
type env struct {
	s     *Service
	rooms *roomtest.Rooms
	rtmp  string // rtmp://127.0.0.1:PORT/live
	http  string
}

// defaults are the registered flag defaults, as `zhibo up` has them.
func defaults() Config {
	var c Config
	c.RegisterFlags(flag.NewFlagSet("t", flag.ContinueOnError), "")
	return c
}

// start runs a media service on loopback with a short grace and key check, edited by edit.
func start(t testing.TB, edit func(*Config)) *env {
	cfg := defaults()
	cfg.RTMPAddr = "127.0.0.1:0"
	cfg.OfflineGrace = 500 * time.Millisecond
	cfg.KeyCheckInterval = 200 * time.Millisecond
	if edit != nil {
		edit(&cfg)
	}
	rooms := roomtest.New()
	s, err := New(cfg, Deps{Logger: obs.Discard(), Registry: prometheus.NewRegistry(), Rooms: rooms})
	require.NoError(t, err)
	require.NoError(t, s.Start(context.Background()))
	mux := http.NewServeMux()
	s.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		srv.Close()
		require.NoError(t, s.Stop(context.Background()))
	})
	return &env{s: s, rooms: rooms, rtmp: "rtmp://" + s.RTMPAddr().String() + "/live", http: srv.URL}
}

// needFFmpeg skips the test when ffmpeg or ffprobe is missing (.ci/run installs them).
func needFFmpeg(t testing.TB) {
	for _, bin := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("%s not installed (apt-get install ffmpeg; .ci/run installs it)", bin)
		}
	}
}

// publisher is an ffmpeg pushing a generated stream (small picture, 1 s GOP, AAC sine).
type publisher struct {
	cmd  *exec.Cmd
	out  strings.Builder
	done chan error
}

// publish pushes seconds of test video to url (rtmp://…/live/NAME).
func publish(t testing.TB, url string, seconds int, extra ...string) *publisher {
	args := []string{"-hide_banner", "-loglevel", "error", "-re",
		"-f", "lavfi", "-i", "testsrc=size=320x240:rate=30", "-f", "lavfi", "-i", "sine=frequency=440",
		"-t", fmt.Sprint(seconds), "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "30",
		"-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "64k"}
	args = append(append(args, extra...), "-f", "flv", url)
	p := &publisher{cmd: exec.Command("ffmpeg", args...), done: make(chan error, 1)}
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
	require.NoError(t, p.cmd.Start())
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
		p.done <- nil
	})
	return p
}

// wait returns ffmpeg's exit error, failing the test if it runs past limit.
func (p *publisher) wait(t testing.TB, limit time.Duration) error {
	select {
	case err := <-p.done:
		p.done <- err
		return err
	case <-time.After(limit):
		t.Fatalf("ffmpeg still running after %s", limit)
		return nil
	}
}

// running reports whether ffmpeg has not exited yet.
func (p *publisher) running() bool {
	select {
	case err := <-p.done:
		p.done <- err
		return false
	default:
		return true
	}
}

// probe runs ffprobe on url and returns the distinct codec names of its streams, sorted
// (HLS lists each stream again under its program).
func probe(t testing.TB, url string) []string {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-rw_timeout", "5000000",
		"-show_entries", "stream=codec_name", "-of", "csv=p=0", url).CombinedOutput()
	require.NoError(t, err, "ffprobe %s: %s", url, out)
	codecs := strings.Fields(string(out))
	slices.Sort(codecs)
	return slices.Compact(codecs)
}

// publishing waits until room publishes (or, with want false, no longer does).
func (e *env) publishing(t testing.TB, room int64, want bool) {
	require.Eventually(t, func() bool {
		_, ok := e.s.engine.Publishing()[room]
		return ok == want
	}, 10*time.Second, 20*time.Millisecond, "room %d publishing=%v", room, want)
}

// get fetches url with a short timeout and returns the status.
func get(t testing.TB, url string) int {
	c := http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get(url)
	require.NoError(t, err, url)
	_ = resp.Body.Close()
	return resp.StatusCode
}

func errorsAs(err error, target any) bool { return errors.As(err, target) }

// status reads GET /api/media/rooms/{id}.
func status(t testing.TB, base string, id int64) Status {
	c := http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get(fmt.Sprintf("%s/api/media/rooms/%d", base, id))
	require.NoError(t, err)
	defer resp.Body.Close()
	var env struct{ Data Status }
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&env))
	return env.Data
}
