package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
)

// Metrics is one scrape of the server's /metrics (Prometheus text format): the value of each
// sample, keyed by its series as written, e.g. `zhibo_hotkey_cache_hits_total{cache="room"}`.
// A bench reads a few counters before and after a phase, so it needs no client library.
type Metrics map[string]float64

// scrapeMetrics fetches and parses base+"/metrics".
func scrapeMetrics(ctx context.Context, hc *http.Client, base string) (Metrics, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", base+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scrape metrics: HTTP %d", resp.StatusCode)
	}
	return parseMetrics(io.LimitReader(resp.Body, 64<<20))
}

// parseMetrics reads the text exposition format; comments and malformed lines are skipped.
func parseMetrics(r io.Reader) (Metrics, error) {
	m := Metrics{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		// The series ends at the space after the closing brace (label values may hold spaces).
		end := strings.LastIndexByte(line, '}')
		if end < 0 {
			end = strings.IndexByte(line, ' ')
		} else {
			end++
		}
		if end <= 0 || end >= len(line) {
			continue
		}
		fields := strings.Fields(line[end:])
		if len(fields) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			continue
		}
		m[line[:end]] = v
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("scrape metrics: %w", err)
	}
	return m, nil
}

// Sum adds the samples of metric name whose labels contain every one of labels (each written
// as `key="value"`). ok is false when no sample matched.
func (m Metrics) Sum(name string, labels ...string) (sum float64, ok bool) {
	for series, v := range m {
		rest, found := strings.CutPrefix(series, name)
		if !found || (rest != "" && rest[0] != '{') {
			continue
		}
		match := true
		for _, l := range labels {
			if !strings.Contains(rest, l) {
				match = false
				break
			}
		}
		if match && !math.IsNaN(v) {
			sum += v
			ok = true
		}
	}
	return sum, ok
}

// Delta is after's Sum minus before's (0 when the metric does not exist).
func Delta(before, after Metrics, name string, labels ...string) float64 {
	a, _ := after.Sum(name, labels...)
	b, _ := before.Sum(name, labels...)
	return a - b
}
