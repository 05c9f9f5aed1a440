package bench_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/bench"
	"github.com/zhibo-live/zhibo/internal/config"
)

// A short read storm: the hot room and the background are both read without errors, the
// hot room is served from the hot-key cache, and the report is written and parses.
func TestReadStormAllInOne(t *testing.T) {
	url := startAllInOne(t)
	cfg := bench.DefaultReadStormConfig()
	cfg.URL = url
	cfg.Rooms = 150 // more than the detector's 100 hot keys, so part of the background stays cold
	cfg.Concurrency = 8
	cfg.Duration = 2 * time.Second
	cfg.Probe = 50
	cfg.PID = os.Getpid()
	cfg.JSON = filepath.Join(t.TempDir(), "read.json")
	s, err := bench.NewReadStorm(cfg, bench.Deps{Progress: &bytes.Buffer{}})
	require.NoError(t, err)
	rep, err := s.Run(context.Background())
	require.NoError(t, err)
	var out bytes.Buffer
	require.NoError(t, rep.Write(&out))
	t.Log("\n" + out.String())

	require.Zero(t, rep.Errors, rep.FirstError)
	require.Greater(t, rep.Reads, int64(200))
	require.Equal(t, rep.Reads, rep.Hot.Reads+rep.Background.Reads)
	require.InDelta(t, 0.5, float64(rep.Hot.Reads)/float64(rep.Reads), 0.1)
	require.Positive(t, rep.Background.Reads)
	require.Equal(t, uint64(rep.Hot.Reads), rep.Hot.Latency.Count)
	require.Positive(t, rep.Hot.Latency.P50MS)
	require.GreaterOrEqual(t, rep.Background.Latency.MaxMS, rep.Background.Latency.P99MS)
	require.Equal(t, "hot-key cache", rep.Cache.Mode)
	require.Equal(t, float64(rep.Reads), rep.Cache.Memory+rep.Cache.Store, "every read went through the cache once")
	require.Greater(t, rep.Cache.MemoryShare, 0.45, "at least the hot room's half is served from memory")
	require.Positive(t, rep.Cache.Store, "cold background rooms read through")
	require.Equal(t, int64(50), rep.Probe.Reads)
	require.GreaterOrEqual(t, rep.Probe.Memory, int64(45), "the hot room is served from memory")

	raw, err := os.ReadFile(cfg.JSON)
	require.NoError(t, err)
	var parsed bench.ReadStormReport
	require.NoError(t, json.Unmarshal(raw, &parsed))
	require.Equal(t, rep.Reads, parsed.Reads)
}

// A short gift storm: orders are acknowledged, folded into far fewer score writes than
// orders, and the anchor's final score is exactly the acknowledged sum.
func TestGiftStormAllInOne(t *testing.T) {
	url := startNode(t, func(c *config.Config) {
		c.Gift.InitialBalance = 1_000_000_000
		c.Gift.AggregateWindow = 100 * time.Millisecond
	})
	cfg := bench.DefaultGiftStormConfig()
	cfg.URL = url
	cfg.Senders = 10
	cfg.Rate = 150
	cfg.Duration = 2 * time.Second
	cfg.GiftID = 4 // 52 coins, gold
	cfg.Num = 3
	cfg.Settle = 15 * time.Second
	cfg.JSON = filepath.Join(t.TempDir(), "gifts.json")
	g, err := bench.NewGiftStorm(cfg, bench.Deps{Progress: &bytes.Buffer{}})
	require.NoError(t, err)
	rep, err := g.Run(context.Background())
	require.NoError(t, err)
	var out bytes.Buffer
	require.NoError(t, rep.Write(&out))
	t.Log("\n" + out.String())

	require.Zero(t, rep.Errors, rep.FirstError)
	require.Greater(t, rep.Orders, int64(100))
	require.Equal(t, rep.Orders*52*3, rep.AckedTotal)
	require.True(t, rep.ScoreOK)
	require.Equal(t, rep.AckedTotal, rep.ScoreAfter-rep.ScoreBefore)
	require.Equal(t, float64(rep.Orders), rep.Writes.Folded, "each order folded once")
	require.Zero(t, rep.Writes.FlushErrors)
	require.Positive(t, rep.Writes.Flushes)
	require.Less(t, rep.Writes.Flushes, float64(rep.Orders)/3, "aggregation writes the anchor far less often than once per order")
	require.GreaterOrEqual(t, rep.Writes.RowsPerFlush, 2.0, "the anchor row and at least one rank row")
	require.Equal(t, uint64(rep.Orders), rep.Latency.Count)

	raw, err := os.ReadFile(cfg.JSON)
	require.NoError(t, err)
	var parsed bench.GiftStormReport
	require.NoError(t, json.Unmarshal(raw, &parsed))
	require.Equal(t, rep.AckedTotal, parsed.AckedTotal)
}
