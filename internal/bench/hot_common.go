package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"sync"
	"time"
)

// Latency summarises one histogram in milliseconds.
type Latency struct {
	Count uint64  `json:"count"`
	P50MS float64 `json:"p50_ms"`
	P90MS float64 `json:"p90_ms"`
	P99MS float64 `json:"p99_ms"`
	MaxMS float64 `json:"max_ms"`
}

func summarize(h *Hist) Latency {
	s := h.Snapshot()
	return Latency{Count: s.Total, P50MS: ms(s.Quantile(0.5)), P90MS: ms(s.Quantile(0.9)),
		P99MS: ms(s.Quantile(0.99)), MaxMS: ms(s.Max())}
}

func (l Latency) String() string {
	return fmt.Sprintf("p50 %.1fms  p90 %.1fms  p99 %.1fms  max %.1fms  (%d requests)", l.P50MS, l.P90MS, l.P99MS, l.MaxMS, l.Count)
}

// newAPI builds the API client of a hot-key bench with room for conns idle connections, and
// the random tag that names the users it creates.
func newAPI(base string, conns int) (*apiClient, string, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, "", err
	}
	tr := &http.Transport{MaxIdleConns: conns + 16, MaxIdleConnsPerHost: conns + 16, IdleConnTimeout: time.Minute}
	api := &apiClient{base: u.Scheme + "://" + u.Host, hc: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
	var tag [4]byte
	_, _ = rand.Read(tag[:])
	return api, "zb" + hex.EncodeToString(tag[:]), nil
}

// parallel runs fn(i) for i in [0, n) on at most workers goroutines and returns the first
// error; the others are cancelled through ctx.
func parallel(ctx context.Context, n, workers int, fn func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	jobs := make(chan int)
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	for range min(n, workers) {
		wg.Go(func() {
			for i := range jobs {
				if err := fn(ctx, i); err != nil {
					once.Do(func() { first = err; cancel() })
				}
			}
		})
	}
	for i := range n {
		select {
		case jobs <- i:
		case <-ctx.Done():
		}
	}
	close(jobs)
	wg.Wait()
	if first != nil {
		return fmt.Errorf("set-up: %w%s", first, hint(first))
	}
	return ctx.Err()
}

// cpuMeter measures the cores this process and the server kept busy over a phase.
type cpuMeter struct {
	pid   int
	start time.Time
	t0    [2]time.Duration
}

func startCPU(pid int) *cpuMeter {
	m := &cpuMeter{pid: pid, start: time.Now()}
	m.t0 = m.read()
	return m
}

func (m *cpuMeter) read() [2]time.Duration {
	var t [2]time.Duration
	t[0], _ = readCPU(os.Getpid())
	if m.pid > 0 {
		t[1], _ = readCPU(m.pid)
	}
	return t
}

// stop returns the generator's and the server's cores (the server's is 0 without a pid).
func (m *cpuMeter) stop() (gen, server float64) {
	t := m.read()
	d := time.Since(m.start).Seconds()
	if d <= 0 {
		return 0, 0
	}
	gen = (t[0] - m.t0[0]).Seconds() / d
	if m.pid > 0 {
		server = (t[1] - m.t0[1]).Seconds() / d
	}
	return gen, server
}

// progress prints line() every half second on a terminal (redrawing one line) or every 5 s
// otherwise, until ctx ends.
func progress(ctx context.Context, deps Deps, line func() string) {
	if deps.Progress == nil {
		<-ctx.Done()
		return
	}
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for tick := 1; ; tick++ {
		select {
		case <-ctx.Done():
			if deps.Terminal {
				fmt.Fprintln(deps.Progress)
			}
			return
		case <-t.C:
		}
		if deps.Terminal {
			fmt.Fprintf(deps.Progress, "\r%s\x1b[K", line())
		} else if tick%10 == 0 {
			fmt.Fprintln(deps.Progress, line())
		}
	}
}

// roomPath is the API path of room id plus suffix.
func roomPath(id int64, suffix string) string {
	return "/api/rooms/" + strconv.FormatInt(id, 10) + suffix
}

// writeJSONFile writes v as indented JSON to path; an empty path writes nothing.
func writeJSONFile(path string, v any) error {
	if path == "" {
		return nil
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("json report: %w", err)
	}
	return nil
}

// writeHTMLFile writes the page write makes to path; an empty path writes nothing.
func writeHTMLFile(path string, write func(io.Writer) error) error {
	if path == "" {
		return nil
	}
	var b bytes.Buffer
	if err := write(&b); err != nil {
		return err
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		return fmt.Errorf("html report: %w", err)
	}
	return nil
}
