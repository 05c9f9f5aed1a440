package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

const mediaUsage = `Usage: zhibo bench media [flags]

Video fan-out against a zhibo running on this machine: -streams rooms are published over RTMP
by ffmpeg from one pre-encoded file (-re -stream_loop -1 -c copy, so the encoder does not take
the cores), and each is played by -viewers HTTP-FLV viewers for -duration. Reports the time
from a viewer's request to its first video frame (p50/p99), the added latency of the video
tags' delay spread (below), the delivered Mbit/s, viewers cut before the end, and the server's CPU and RSS
(-pid). Needs ffmpeg on PATH. Start the server with -gateway.rate_per_ip 0
-account.limits.register_per_ip_hour 0 -gateway.max_conns_per_ip 0 -media.max_conns_per_ip 0.

Delay spread: ffmpeg -re sends each tag at its timestamp, so a tag's arrival at a viewer minus
its timestamp is a constant plus what the way added; each viewer's smallest such value (after
its first 2 s, past the GOP cache it gets on joining) is taken as the constant, and the
distribution of the rest is reported. It includes ffmpeg's own pacing (it reads and sends in
bursts), so it bounds the server's added latency from above; it does not measure it alone.

Flags:
`

// MediaConfig is zhibo bench media's settings.
type MediaConfig struct {
	URL      string
	Streams  int
	Viewers  int
	Duration time.Duration
	Bitrate  int // kbit/s of the generated source
	PID      int
	JSON     string
}

// MediaReport is what a media run measured.
type MediaReport struct {
	Streams         int     `json:"streams"`
	Viewers         int     `json:"viewers"`
	Seconds         float64 `json:"seconds"`
	FirstFrameP50Ms float64 `json:"first_frame_p50_ms"`
	FirstFrameP99Ms float64 `json:"first_frame_p99_ms"`
	AddedP50Ms      float64 `json:"delay_spread_p50_ms"`
	AddedP95Ms      float64 `json:"delay_spread_p95_ms"`
	AddedP99Ms      float64 `json:"delay_spread_p99_ms"`
	Mbps            float64 `json:"delivered_mbit_per_s"`
	Cut             int64   `json:"viewers_cut"`
	NoFrame         int64   `json:"viewers_without_frame"`
	ServerCores     float64 `json:"server_cpu_cores,omitempty"`
	ServerRSSMiB    float64 `json:"server_rss_mib,omitempty"`
}

func mediaMain(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("zhibo bench media", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, mediaUsage); fs.PrintDefaults() }
	var c MediaConfig
	fs.StringVar(&c.URL, "url", "http://127.0.0.1:8080", "platform HTTP base URL; loopback hosts only.")
	fs.IntVar(&c.Streams, "streams", 1, "rooms published at once (1..50).")
	fs.IntVar(&c.Viewers, "viewers", 100, "HTTP-FLV viewers per stream (1..2000).")
	fs.DurationVar(&c.Duration, "duration", 10*time.Second, "how long the viewers play (at most 10m).")
	fs.IntVar(&c.Bitrate, "bitrate", 2500, "video bitrate of the generated 720p source, kbit/s.")
	fs.IntVar(&c.PID, "pid", 0, "server process id whose CPU and RSS are read (0 = not measured).")
	fs.StringVar(&c.JSON, "json", "", "write the JSON report to this file (empty = none).")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.Duration+3*time.Minute)
	defer cancel()
	rep, err := RunMedia(ctx, c, stderr)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "streams        %d × %d HTTP-FLV viewers for %.0fs\n", rep.Streams, rep.Viewers, rep.Seconds)
	fmt.Fprintf(stdout, "first frame    p50 %.1fms  p99 %.1fms\n", rep.FirstFrameP50Ms, rep.FirstFrameP99Ms)
	fmt.Fprintf(stdout, "delay spread   p50 %.2fms  p95 %.2fms  p99 %.2fms (incl. ffmpeg's pacing)\n", rep.AddedP50Ms, rep.AddedP95Ms, rep.AddedP99Ms)
	fmt.Fprintf(stdout, "delivered      %.1f Mbit/s, %d viewers cut, %d without a frame\n", rep.Mbps, rep.Cut, rep.NoFrame)
	if c.PID > 0 {
		fmt.Fprintf(stdout, "server         %.2f cores, RSS %.0f MiB\n", rep.ServerCores, rep.ServerRSSMiB)
	}
	if c.JSON != "" {
		b, _ := json.MarshalIndent(rep, "", "  ")
		if err := os.WriteFile(c.JSON, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	if rep.Cut > 0 || rep.NoFrame > 0 {
		return ErrLoss
	}
	return nil
}

// RunMedia runs the media fan-out; progress goes to progress.
func RunMedia(ctx context.Context, c MediaConfig, progress io.Writer) (*MediaReport, error) {
	switch {
	case c.Streams < 1 || c.Streams > 50:
		return nil, errors.New("-streams must be in 1..50")
	case c.Viewers < 1 || c.Viewers > 2000:
		return nil, errors.New("-viewers must be in 1..2000")
	case c.Duration <= 0 || c.Duration > 10*time.Minute:
		return nil, errors.New("-duration must be in (0, 10m]")
	case c.Bitrate < 100 || c.Bitrate > 20000:
		return nil, errors.New("-bitrate must be in 100..20000 kbit/s")
	}
	if err := CheckLoopbackURL(c.URL); err != nil {
		return nil, err
	}
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		return nil, errors.New("bench media needs ffmpeg on PATH")
	}
	dir, err := os.MkdirTemp("", "zhibo-bench-media")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	src := filepath.Join(dir, "source.flv")
	fmt.Fprintf(progress, "encoding a 10 s 720p source at %d kbit/s\n", c.Bitrate)
	enc := exec.CommandContext(ctx, "ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=1280x720:rate=30",
		"-f", "lavfi", "-i", "sine=frequency=440", "-t", "10", "-c:v", "libx264", "-preset", "ultrafast",
		"-g", "30", "-b:v", fmt.Sprintf("%dk", c.Bitrate), "-minrate", fmt.Sprintf("%dk", c.Bitrate),
		"-maxrate", fmt.Sprintf("%dk", c.Bitrate), "-bufsize", fmt.Sprintf("%dk", c.Bitrate),
		"-x264-params", "nal-hrd=cbr", // constant bitrate: the test pattern would compress far below it
		"-c:a", "aac", "-f", "flv", src)
	if out, err := enc.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("encode the source: %v: %s", err, out)
	}

	api := &apiClient{base: c.URL, hc: &http.Client{Timeout: 10 * time.Second}}
	rooms := make([]int64, c.Streams)
	tag := strconv.FormatInt(time.Now().UnixNano()%1e9, 36)
	for i := range rooms {
		s, err := api.register(ctx, fmt.Sprintf("bm%s_%d", tag, i))
		if err != nil {
			return nil, err
		}
		id, err := api.createRoom(ctx, s, "bench media")
		if err != nil {
			return nil, err
		}
		var view struct {
			Live struct {
				StreamKey string `json:"stream_key"`
			} `json:"live"`
		}
		if err := api.call(ctx, "GET", fmt.Sprintf("/api/rooms/%d?mask=live", id), s.Token, nil, &view); err != nil {
			return nil, fmt.Errorf("stream key: %w", err)
		}
		var st struct {
			RTMPPort int `json:"rtmp_port"`
		}
		if err := api.call(ctx, "GET", fmt.Sprintf("/api/media/rooms/%d", id), "", nil, &st); err != nil {
			return nil, fmt.Errorf("media status: %w", err)
		}
		pub := exec.CommandContext(ctx, "ffmpeg", "-v", "error", "-re", "-stream_loop", "-1", "-i", src, "-c", "copy",
			"-f", "flv", fmt.Sprintf("rtmp://127.0.0.1:%d/live/%s", st.RTMPPort, view.Live.StreamKey))
		if err := pub.Start(); err != nil {
			return nil, fmt.Errorf("start ffmpeg: %w", err)
		}
		defer func() { _ = pub.Process.Kill(); _ = pub.Wait() }()
		rooms[i] = id
	}
	for _, id := range rooms { // publishing: the room goes live
		deadline := time.Now().Add(30 * time.Second)
		for {
			var st struct {
				Publishing bool `json:"publishing"`
			}
			if api.call(ctx, "GET", fmt.Sprintf("/api/media/rooms/%d", id), "", nil, &st) == nil && st.Publishing {
				break
			}
			if time.Now().After(deadline) {
				return nil, fmt.Errorf("room %d did not start publishing", id)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	time.Sleep(2 * time.Second) // a full GOP in the cache

	var cpu0 time.Duration
	if c.PID > 0 {
		if cpu0, err = readCPU(c.PID); err != nil {
			return nil, err
		}
	}
	fmt.Fprintf(progress, "playing %d × %d viewers for %s\n", c.Streams, c.Viewers, c.Duration)
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: c.Viewers * c.Streams, DisableCompression: true}}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		first    []time.Duration
		added    []time.Duration
		bytes    atomic.Int64
		cut, noF atomic.Int64
	)
	start := time.Now()
	end := start.Add(c.Duration)
	for _, id := range rooms {
		for range c.Viewers {
			wg.Go(func() {
				f, a, n, err := playFLV(ctx, hc, fmt.Sprintf("%s/live/%d.flv", c.URL, id), end)
				bytes.Add(n)
				mu.Lock()
				if f > 0 {
					first = append(first, f)
				} else {
					noF.Add(1)
				}
				added = append(added, a...)
				mu.Unlock()
				if err != nil {
					cut.Add(1)
				}
			})
		}
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	rep := &MediaReport{Streams: c.Streams, Viewers: c.Viewers, Seconds: secs, Cut: cut.Load(), NoFrame: noF.Load(),
		Mbps: float64(bytes.Load()) * 8 / secs / 1e6}
	rep.FirstFrameP50Ms, rep.FirstFrameP99Ms = ms(quantile(first, 0.5)), ms(quantile(first, 0.99))
	rep.AddedP50Ms, rep.AddedP95Ms, rep.AddedP99Ms = ms(quantile(added, 0.5)), ms(quantile(added, 0.95)), ms(quantile(added, 0.99))
	if c.PID > 0 {
		cpu1, err := readCPU(c.PID)
		if err != nil {
			return nil, err
		}
		rep.ServerCores = (cpu1 - cpu0).Seconds() / secs
		rss, err := readRSS(c.PID)
		if err != nil {
			return nil, err
		}
		rep.ServerRSSMiB = float64(rss) / 1024
	}
	return rep, nil
}

// playFLV reads one HTTP-FLV response until end: the time to its first video frame (a video
// tag that is not a sequence header), the delay spread of its video tags after the first 2 s
// (arrival − timestamp, less the smallest such value), and the bytes read. err is set when
// the stream ended before end.
func playFLV(ctx context.Context, hc *http.Client, url string, end time.Time) (first time.Duration, added []time.Duration, n int64, err error) {
	rctx, cancel := context.WithDeadline(ctx, end)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, "GET", url, nil)
	if err != nil {
		return 0, nil, 0, err
	}
	t0 := time.Now()
	resp, err := hc.Do(req)
	if err != nil {
		return 0, nil, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return 0, nil, 0, fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	r := bufio.NewReaderSize(resp.Body, 64<<10)
	head := make([]byte, 13) // FLV header (9) and the first previous-tag size (4)
	if _, err := io.ReadFull(r, head); err != nil {
		return 0, nil, 0, err
	}
	n = 13
	var (
		th     [11]byte
		delays []time.Duration
		base   = time.Duration(1 << 62)
	)
	for {
		if _, err := io.ReadFull(r, th[:]); err != nil {
			break
		}
		at := time.Now()
		size := int(th[1])<<16 | int(th[2])<<8 | int(th[3])
		ts := time.Duration(uint32(th[7])<<24|uint32(th[4])<<16|uint32(th[5])<<8|uint32(th[6])) * time.Millisecond
		body := make([]byte, size+4)
		if _, err := io.ReadFull(r, body); err != nil {
			break
		}
		n += int64(11 + size + 4)
		if th[0] != 9 || size < 2 {
			continue
		}
		if body[1] == 0 { // AVC sequence header: not a frame
			continue
		}
		if first == 0 {
			first = at.Sub(t0)
		}
		if at.Sub(t0) < 2*time.Second {
			continue
		}
		d := at.Sub(t0) - ts
		base = min(base, d)
		delays = append(delays, d)
	}
	for _, d := range delays {
		added = append(added, d-base)
	}
	if time.Now().Before(end.Add(-100 * time.Millisecond)) {
		return first, added, n, errors.New("stream ended early")
	}
	return first, added, n, nil
}

func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds[min(len(ds)-1, int(q*float64(len(ds))))]
}
