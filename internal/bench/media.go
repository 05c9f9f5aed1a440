package bench

import (
	"bufio"
	"context"
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

	"github.com/zhibo-live/zhibo/internal/media/rtmppub"
)

const mediaUsage = `Usage: zhibo bench media [flags]

Video fan-out against a zhibo running on this machine: -streams rooms are published over RTMP
(to the RTMP listener, with each room's stream key: zhibo's auth and notify hooks are in the
path) by publishers inside the bench, which send the tags of one pre-encoded file (ffmpeg
encodes it once) at their timestamps, looping; each room is played by -viewers HTTP-FLV
viewers for -duration. Reports:

  first frame     a viewer's request to its first video frame (p50/p99);
  added latency   per video frame, its arrival at a viewer (tag read whole) minus when the
                  publisher began its socket write, matched by (room, timestamp);
                  frames written before the viewer had its response headers (the GOP cache
                  it gets on joining) are left out (p50/p95/p99; target p95 <= 5 ms);
  segment delay   the first room's HLS playlist polled every -hls_poll: when a new segment
                  was first listed minus when the publisher wrote the keyframe that closed
                  it (p50/p99/max; target <= 50 ms); the poll interval adds up to its length;
  delivered Mbit/s, viewers cut before the end or without a frame, and the server's CPU and
  RSS (-pid).

Needs ffmpeg on PATH (to encode the source). Start the server with -gateway.rate_per_ip 0
-account.limits.register_per_ip_hour 0 -gateway.max_conns_per_ip 0 -media.max_conns_per_ip 0.

Flags:
`

// MediaConfig is zhibo bench media's settings.
type MediaConfig struct {
	URL      string
	Streams  int
	Viewers  int
	Duration time.Duration
	Bitrate  int // kbit/s of the generated source
	// HLSPoll is the interval of the first room's playlist poll; 0: HLS not measured.
	HLSPoll time.Duration
	PID     int
	JSON    string
	HTML    string
}

// RegisterFlags adds the media flags to fs.
func (c *MediaConfig) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.URL, "url", "http://127.0.0.1:8080", "platform HTTP base URL; loopback hosts only.")
	fs.IntVar(&c.Streams, "streams", 1, "rooms published at once (1..50).")
	fs.IntVar(&c.Viewers, "viewers", 100, "HTTP-FLV viewers per stream (1..2000).")
	fs.DurationVar(&c.Duration, "duration", 10*time.Second, "how long the viewers play (at most 10m).")
	fs.IntVar(&c.Bitrate, "bitrate", 2500, "video bitrate of the generated 720p source, kbit/s.")
	fs.DurationVar(&c.HLSPoll, "hls_poll", 2*time.Millisecond,
		"interval of the first room's HLS playlist poll, 1ms..50ms; it adds up to its length to the segment delay (0 = HLS not measured).")
	fs.IntVar(&c.PID, "pid", 0, "server process id whose CPU and RSS are read (0 = not measured).")
	fs.StringVar(&c.JSON, "json", "", "write the JSON report to this file (empty = none).")
	fs.StringVar(&c.HTML, "html", "", "write the HTML report to this file (empty = none).")
}

func mediaMain(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("zhibo bench media", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, mediaUsage); fs.PrintDefaults() }
	var c MediaConfig
	c.RegisterFlags(fs)
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
	if err := rep.Write(stdout, c.JSON, c.HTML); err != nil {
		return err
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
	case c.HLSPoll != 0 && (c.HLSPoll < minHLSPoll || c.HLSPoll > maxHLSPoll):
		return nil, fmt.Errorf("-hls_poll must be 0 or in %s..%s", minHLSPoll, maxHLSPoll)
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
	path := filepath.Join(dir, "source.flv")
	fmt.Fprintf(progress, "encoding a 10 s 720p source at %d kbit/s\n", c.Bitrate)
	enc := exec.CommandContext(ctx, "ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=1280x720:rate=30",
		"-f", "lavfi", "-i", "sine=frequency=440", "-t", "10", "-c:v", "libx264", "-preset", "ultrafast",
		"-g", "30", "-b:v", fmt.Sprintf("%dk", c.Bitrate), "-minrate", fmt.Sprintf("%dk", c.Bitrate),
		"-maxrate", fmt.Sprintf("%dk", c.Bitrate), "-bufsize", fmt.Sprintf("%dk", c.Bitrate),
		"-x264-params", "nal-hrd=cbr", // constant bitrate: the test pattern would compress far below it
		"-pix_fmt", "yuv420p", // what players decode (testsrc is RGB: x264 would pick High 4:4:4)
		"-c:a", "aac", "-f", "flv", path)
	if out, err := enc.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("encode the source: %v: %s", err, out)
	}
	src, err := loadFLV(path)
	if err != nil {
		return nil, fmt.Errorf("read the source: %w", err)
	}

	// Publishers and the playlist poll run until the viewers are done (or the run fails).
	pubCtx, stopPub := context.WithCancel(ctx)
	var pubWG sync.WaitGroup
	pubErrs := make(chan error, c.Streams)
	defer func() { stopPub(); pubWG.Wait() }()

	api := &apiClient{base: c.URL, hc: &http.Client{Timeout: 10 * time.Second}}
	rooms := make([]int64, c.Streams)
	sent := make([]*sentLog, c.Streams)
	var (
		seen      []seenSegment // the first room's playlist poll
		pollStart time.Time
	)
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
		if i == 0 && c.HLSPoll > 0 {
			// From before the publish: the first poll finds no playlist, so every segment
			// listed later is seen fresh.
			phc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableCompression: true}}
			url := fmt.Sprintf("%s/hls/%d.m3u8", c.URL, id)
			pollStart = time.Now()
			pubWG.Go(func() { seen = pollPlaylist(pubCtx, phc, url, c.HLSPoll) })
		}
		pub, err := rtmppub.Dial(ctx, fmt.Sprintf("127.0.0.1:%d", st.RTMPPort), "live", view.Live.StreamKey, rtmpDialTimeout)
		if err != nil {
			return nil, err
		}
		rooms[i], sent[i] = id, newSentLog()
		pubWG.Go(func() {
			defer pub.Close()
			if err := publishLoop(pubCtx, pub, src, sent[i]); err != nil {
				pubErrs <- fmt.Errorf("publisher of room %d: %w", id, err)
			}
		})
	}
	failed := func() error {
		select {
		case err := <-pubErrs:
			return err
		default:
			return nil
		}
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
			if err := failed(); err != nil {
				return nil, err
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
	added := NewHist(min(64, c.Streams*c.Viewers))
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		first    []time.Duration
		bytes    atomic.Int64
		cut, noF atomic.Int64
	)
	start := time.Now()
	end := start.Add(c.Duration)
	series := make(chan []MediaPoint, 1)
	go func() { series <- sampleAdded(ctx, added, start, end, progress) }()
	shard := 0
	for i, id := range rooms {
		for range c.Viewers {
			sh := shard
			shard++
			wg.Go(func() {
				f, n, err := playFLV(ctx, hc, fmt.Sprintf("%s/live/%d.flv", c.URL, id), end, sent[i], added, sh)
				bytes.Add(n)
				mu.Lock()
				if f > 0 {
					first = append(first, f)
				} else {
					noF.Add(1)
				}
				mu.Unlock()
				if err != nil {
					cut.Add(1)
				}
			})
		}
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	points := <-series // before any return: the sampler writes to progress
	stopPub()
	pubWG.Wait()
	if err := failed(); err != nil {
		return nil, err
	}
	rep := &MediaReport{Streams: c.Streams, Viewers: c.Viewers, Seconds: secs, Cut: cut.Load(), NoFrame: noF.Load(),
		Mbps: float64(bytes.Load()) * 8 / secs / 1e6, Series: points}
	rep.FirstFrameP50Ms, rep.FirstFrameP99Ms = ms(quantile(first, 0.5)), ms(quantile(first, 0.99))
	a := added.Snapshot()
	rep.AddedSamples = a.Total
	rep.AddedP50Ms, rep.AddedP95Ms, rep.AddedP99Ms, rep.AddedMaxMs = ms(a.Quantile(0.5)), ms(a.Quantile(0.95)), ms(a.Quantile(0.99)), ms(a.Max())
	if c.HLSPoll > 0 {
		rep.fillHLS(seen, sent[0], c.HLSPoll, pollStart)
	}
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

// sampleAdded reads the added-latency histogram once a second until end: the quantiles of
// each second (for the HTML chart) and a progress line.
func sampleAdded(ctx context.Context, h *Hist, start, end time.Time, progress io.Writer) []MediaPoint {
	var out []MediaPoint
	prev := h.Snapshot()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return out
		case now := <-t.C:
			cur := h.Snapshot()
			d := cur.Sub(prev)
			prev = cur
			p := MediaPoint{T: now.Sub(start).Seconds(), Samples: d.Total,
				AddedP50MS: ms(d.Quantile(0.5)), AddedP99MS: ms(d.Quantile(0.99))}
			out = append(out, p)
			fmt.Fprintf(progress, "%5.0fs  added latency p50 %.2fms  p99 %.2fms  (%d frames)\n", p.T, p.AddedP50MS, p.AddedP99MS, p.Samples)
			if !now.Before(end) {
				return out
			}
		}
	}
}

// playFLV reads one HTTP-FLV response until end and returns the time to its first video
// frame (a video tag that is not a sequence header) and the bytes read; err is set when the
// stream ended before end. Each video frame the publisher wrote after this viewer had its
// response headers (so not from the GOP cache it got on joining) is recorded into added, on
// shard: its arrival (tag read whole) minus its send time in sent, found by its timestamp.
func playFLV(ctx context.Context, hc *http.Client, url string, end time.Time, sent *sentLog, added *Hist, shard int) (first time.Duration, n int64, err error) {
	rctx, cancel := context.WithDeadline(ctx, end)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, "GET", url, nil)
	if err != nil {
		return 0, 0, err
	}
	t0 := time.Now()
	resp, err := hc.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	joined := time.Now()
	if resp.StatusCode != 200 {
		return 0, 0, fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	r := bufio.NewReaderSize(resp.Body, 64<<10)
	head := make([]byte, 13) // FLV header (9) and the first previous-tag size (4)
	if _, err := io.ReadFull(r, head); err != nil {
		return 0, 0, err
	}
	n = 13
	var th [11]byte
	for {
		if _, err := io.ReadFull(r, th[:]); err != nil {
			break
		}
		at := time.Now()
		size := int(th[1])<<16 | int(th[2])<<8 | int(th[3])
		ts := uint32(th[7])<<24 | uint32(th[4])<<16 | uint32(th[5])<<8 | uint32(th[6])
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
		if s, ok := sent.frame(ts); ok && s.After(joined) {
			added.RecordN(shard, time.Since(s), 1)
		}
	}
	if time.Now().Before(end.Add(-100 * time.Millisecond)) {
		return first, n, errors.New("stream ended early")
	}
	return first, n, nil
}

func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds[min(len(ds)-1, int(q*float64(len(ds))))]
}
