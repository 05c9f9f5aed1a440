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

// A short private-message run against a real node, half the channels over raw TCP: every
// message is acknowledged, reaches its receiver and its sender's channel exactly once, and
// the reports are written and parse. Not a measurement.
func TestIMAllInOne(t *testing.T) {
	url := startNode(t, func(c *config.Config) { c.IMChat.Rate = 0 })
	dir := t.TempDir()
	cfg := bench.DefaultIMConfig()
	cfg.URL = url
	cfg.Users = 20
	cfg.Rate = 200
	cfg.Duration = 2 * time.Second
	cfg.Senders = 8
	cfg.WSRatio = 0.5
	cfg.Drain = 10 * time.Second // an upper bound: the run ends as soon as everything arrived
	cfg.JSON = filepath.Join(dir, "im.json")
	cfg.HTML = filepath.Join(dir, "im.html")
	b, err := bench.NewIM(cfg, bench.Deps{Progress: &bytes.Buffer{}})
	require.NoError(t, err)
	rep, err := b.Run(context.Background())
	require.NoError(t, err)
	var out bytes.Buffer
	require.NoError(t, rep.Write(&out))
	t.Log("\n" + out.String())

	require.Equal(t, int64(20), rep.Conns.Established)
	require.Equal(t, 10, rep.Conns.TCP)
	require.Zero(t, rep.Conns.Dropped, rep.Conns.DropError)
	require.Equal(t, int64(400), rep.Offered)
	require.Equal(t, int64(400), rep.Sent)
	require.Zero(t, rep.ErrorCount, rep.FirstError)
	require.Equal(t, int64(400), rep.Acked)
	k := rep.Check
	require.Equal(t, int64(400), k.Acked, "every message checked")
	require.Equal(t, int64(400), k.Received)
	require.Zero(t, k.Lost)
	require.Zero(t, k.Duplicated)
	require.Zero(t, k.Unconfirmed)
	require.Equal(t, int64(400), k.Echoes)
	require.Zero(t, k.EchoLost)
	require.Zero(t, k.EchoDuplicated)
	require.True(t, k.OK())
	require.Zero(t, rep.Mismatched)
	require.Equal(t, uint64(400), rep.E2ELatency.Count)
	require.Equal(t, uint64(400), rep.AckLatency.Count)
	require.GreaterOrEqual(t, rep.E2ELatency.MaxMS, rep.E2ELatency.P99MS)
	require.Contains(t, out.String(), "every acknowledged message received exactly once")

	raw, err := os.ReadFile(cfg.JSON)
	require.NoError(t, err)
	var parsed bench.IMReport
	require.NoError(t, json.Unmarshal(raw, &parsed))
	require.Equal(t, rep.Check, parsed.Check)
	page, err := os.ReadFile(cfg.HTML)
	require.NoError(t, err)
	require.Contains(t, string(page), "<svg")
}

// The command refuses a target off this machine and a run longer than two minutes.
func TestIMConfigBounds(t *testing.T) {
	cfg := bench.DefaultIMConfig()
	require.NoError(t, cfg.Validate())
	cfg.URL = "http://10.0.0.1:8080"
	require.ErrorIs(t, cfg.Validate(), bench.ErrNotLoopback)
	cfg = bench.DefaultIMConfig()
	cfg.Duration = 3 * time.Minute
	require.ErrorContains(t, cfg.Validate(), "duration")
	cfg = bench.DefaultIMConfig()
	cfg.Users = 1
	require.ErrorContains(t, cfg.Validate(), "users")
}

// Half the users in groups of five: every group message reaches the other four members and
// the sender's channel exactly once, next to the paired users' messages.
func TestIMGroupsAllInOne(t *testing.T) {
	url := startNode(t, func(c *config.Config) { c.IMChat.Rate, c.IMGroup.Rate = 0, 0 })
	cfg := bench.DefaultIMConfig()
	cfg.URL = url
	cfg.Users = 20
	cfg.GroupShare = 0.5
	cfg.GroupSize = 5
	cfg.Rate = 200
	cfg.Duration = 2 * time.Second
	cfg.Senders = 8
	cfg.Drain = 10 * time.Second
	b, err := bench.NewIM(cfg, bench.Deps{Progress: &bytes.Buffer{}})
	require.NoError(t, err)
	rep, err := b.Run(context.Background())
	require.NoError(t, err)
	var out bytes.Buffer
	require.NoError(t, rep.Write(&out))
	t.Log("\n" + out.String())

	require.Zero(t, rep.ErrorCount, rep.FirstError)
	require.Equal(t, int64(400), rep.Acked)
	k := rep.Check
	// 200 messages in the 10 group streams reach 4 members each, 200 in the pairs 1 each.
	require.Equal(t, int64(200*4+200), k.Deliveries)
	require.Equal(t, k.Deliveries, k.Received)
	require.Zero(t, k.Lost)
	require.Zero(t, k.Duplicated)
	require.Equal(t, int64(400), k.Echoes)
	require.True(t, k.OK())
	require.Zero(t, rep.Mismatched)
	require.Equal(t, uint64(1000), rep.E2ELatency.Count)
	require.Contains(t, out.String(), "10 of them in 2 groups of 5")
}

// A batch notice to 20,000 uids on the normal lane and a high-lane notice every 50 ms beside
// the messages: the batch finishes and is reported, and every high notice reaches its user's
// channel exactly once.
func TestIMNoticesAllInOne(t *testing.T) {
	url, token := startNodeWithOperator(t, func(c *config.Config) { c.IMChat.Rate = 0 })
	ctx := context.Background()

	ic := bench.DefaultIMConfig()
	ic.URL = url
	ic.Users, ic.Rate, ic.Duration, ic.Senders, ic.Drain = 10, 100, 2*time.Second, 4, 20*time.Second
	ic.NoticeBatch, ic.NoticeHighEvery, ic.AdminToken = 20_000, 50*time.Millisecond, token
	b, err := bench.NewIM(ic, bench.Deps{Progress: &bytes.Buffer{}})
	require.NoError(t, err)
	rep, err := b.Run(ctx)
	require.NoError(t, err)
	var out bytes.Buffer
	require.NoError(t, rep.Write(&out))
	t.Log("\n" + out.String())

	require.True(t, rep.Check.OK())
	n := rep.Notices
	require.NotNil(t, n)
	require.Empty(t, n.BatchError)
	require.True(t, n.BatchFinished)
	require.Equal(t, int64(20_000), n.BatchDone)
	require.Positive(t, n.BatchPerSec)
	require.GreaterOrEqual(t, n.HighSent, int64(2))
	require.Zero(t, n.HighErrors)
	require.Equal(t, n.HighSent, n.HighReceived)
	require.Zero(t, n.HighLost)
	require.Zero(t, n.HighDuplicated)
	require.Zero(t, n.HighWrongUser)
	require.True(t, n.OK())
	require.Contains(t, out.String(), "20000 of 20000 recipients")

	ic.AdminToken = ""
	require.ErrorContains(t, ic.Validate(), "admin_token")
}
