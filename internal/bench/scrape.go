package bench

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Metrics is one scrape of the server's /metrics (Prometheus text format): the value of each
// sample, keyed by its series as written, e.g. `zhibo_hotkey_cache_hits_total{cache="room"}`.
// A bench reads a few counters before and after a phase.
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

// parseMetrics reads the text exposition format with the Prometheus parser. Histograms and
// summaries become their _sum and _count series (and _bucket{le=…} for histograms), as
// they are written on the wire.
func parseMetrics(r io.Reader) (Metrics, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("scrape metrics: %w", err)
	}
	m := Metrics{}
	for name, f := range families {
		for _, s := range f.GetMetric() {
			labels := make([]string, 0, len(s.GetLabel())+1)
			for _, l := range s.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			series := func(suffix string, extra ...string) string {
				all := append(slices.Clone(labels), extra...)
				if len(all) == 0 {
					return name + suffix
				}
				return name + suffix + "{" + strings.Join(all, ",") + "}"
			}
			switch {
			case s.Counter != nil:
				m[series("")] = s.GetCounter().GetValue()
			case s.Gauge != nil:
				m[series("")] = s.GetGauge().GetValue()
			case s.Untyped != nil:
				m[series("")] = s.GetUntyped().GetValue()
			case s.Histogram != nil:
				h := s.GetHistogram()
				m[series("_sum")] = h.GetSampleSum()
				m[series("_count")] = float64(h.GetSampleCount())
				for _, b := range h.GetBucket() {
					m[series("_bucket", fmt.Sprintf("le=%q", strconv.FormatFloat(b.GetUpperBound(), 'g', -1, 64)))] = float64(b.GetCumulativeCount())
				}
			case s.Summary != nil:
				m[series("_sum")] = s.GetSummary().GetSampleSum()
				m[series("_count")] = float64(s.GetSummary().GetSampleCount())
			}
		}
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
