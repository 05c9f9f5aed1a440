package bench

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/stretchr/testify/require"
)

func TestScrapeReadsWhatTheServerExports(t *testing.T) {
	reg := prometheus.NewRegistry()
	hits := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "zhibo_cache_reads_total", Help: "h"}, []string{"cache", "result"})
	hot := prometheus.NewGauge(prometheus.GaugeOpts{Name: "zhibo_hotkey_hot_keys", Help: "h", ConstLabels: prometheus.Labels{"detector": "room"}})
	rows := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "zhibo_gift_aggregate_rows_per_flush", Help: "h", Buckets: []float64{1, 10}})
	reg.MustRegister(hits, hot, rows)
	hits.WithLabelValues("room", "hit").Add(3)
	hits.WithLabelValues("room", "miss").Add(2)
	hits.WithLabelValues("user", "hit").Add(5)
	hot.Set(7)
	rows.Observe(4)
	rows.Observe(20)
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer srv.Close()

	m, err := scrapeMetrics(t.Context(), srv.Client(), srv.URL)
	require.NoError(t, err)
	sum, ok := m.Sum("zhibo_cache_reads_total", `result="hit"`)
	require.True(t, ok)
	require.Equal(t, 8.0, sum)
	sum, _ = m.Sum("zhibo_cache_reads_total", `cache="room"`, `result="miss"`)
	require.Equal(t, 2.0, sum)
	sum, _ = m.Sum("zhibo_hotkey_hot_keys", `detector="room"`)
	require.Equal(t, 7.0, sum)
	require.Equal(t, 2.0, m["zhibo_gift_aggregate_rows_per_flush_count"])
	require.Equal(t, 24.0, m["zhibo_gift_aggregate_rows_per_flush_sum"])
	require.Equal(t, 1.0, m[`zhibo_gift_aggregate_rows_per_flush_bucket{le="10"}`])
	require.Equal(t, 2.0, m[`zhibo_gift_aggregate_rows_per_flush_bucket{le="+Inf"}`])
	_, ok = m.Sum("zhibo_cache_reads")
	require.False(t, ok, "a name is matched whole, not as a prefix")

	before := Metrics{`zhibo_cache_reads_total{cache="room",result="hit"}`: 1}
	require.Equal(t, 7.0, Delta(before, m, "zhibo_cache_reads_total", `result="hit"`))

	_, err = parseMetrics(strings.NewReader("zhibo_x{a=\"1\" 2\n"))
	require.Error(t, err, "malformed exposition is an error, not a silent zero")
}
