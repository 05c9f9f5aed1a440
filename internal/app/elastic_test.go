package app

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/config"
	"github.com/zhibo-live/zhibo/internal/platform/elastic"
	"github.com/zhibo-live/zhibo/internal/platform/obs"
	"github.com/zhibo-live/zhibo/internal/platform/queue/queuetest"
	"github.com/zhibo-live/zhibo/internal/room"
)

// Mark propagation through two hops: a room enter on a front process (bff + gateway) whose
// peers.room is one backend and peers.elastic.room another reads the room from the elastic
// backend when a trusted proxy marked the request, from the fixed one otherwise — and from
// the fixed one when the mark comes from a peer the front does not trust.
func TestElasticMarkThroughTwoHops(t *testing.T) {
	ctx := context.Background()
	natsURL := queuetest.URL(t)
	backend := func(name string) (*App, int64) {
		a, _ := startAll(t, filepath.Join(t.TempDir(), name), func(c *config.Config) {
			c.GRPCAddr = "127.0.0.1:0"
			c.Queue.URL, c.Queue.Namespace = natsURL, queuetest.Namespace(t, natsURL, "elastic"+name)
		})
		u, err := a.Account.SignUp(ctx, "owner", "password1")
		require.NoError(t, err)
		rm, err := a.Room.Create(ctx, u.UID, room.Fields{Title: ptr(name + " pool")})
		require.NoError(t, err)
		return a, rm.ID
	}
	fixed, id := backend("fixed")
	pool, poolID := backend("elastic")
	require.Equal(t, id, poolID, "the same room in both pools")

	front := func(trusted []string) *App {
		cfg := config.Defaults()
		cfg.DataDir = t.TempDir()
		cfg.Gateway.HTTPAddr = "127.0.0.1:0"
		cfg.Gateway.RatePerIP = 0
		cfg.Gateway.TrustedProxies = trusted
		cfg.Media.RTMPAddr = "127.0.0.1:0"
		cfg.Peers.CacheTTL = 0
		cfg.Queue.URL, cfg.Queue.Namespace = natsURL, fixed.cfg.Queue.Namespace
		f := fixed.GRPCAddr().String()
		cfg.Peers.Account, cfg.Peers.Room, cfg.Peers.Gift, cfg.Peers.Danmaku = f, f, f, f
		cfg.Peers.Elastic.Room = pool.GRPCAddr().String()
		a, err := New(cfg, []string{"bff", "gateway"}, obs.Discard())
		require.NoError(t, err)
		require.NoError(t, a.Start(ctx))
		t.Cleanup(func() { require.NoError(t, a.Stop(context.Background())) })
		return a
	}
	trusting, untrusting := front([]string{"127.0.0.1"}), front(nil)

	enter := func(a *App, marked bool) string {
		req, err := http.NewRequest("GET", fmt.Sprintf("http://%s/api/room/enter?id=%d", a.HTTPAddr(), id), nil)
		require.NoError(t, err)
		if marked {
			req.Header.Set(elastic.Header, elastic.Value)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		require.Equal(t, 200, resp.StatusCode, string(b))
		return string(b)
	}
	reads := func(a *App) float64 { return metric(t, a, "zhibo_room_reads_total", nil) }
	calls := func(a *App, pool string) float64 {
		return metric(t, a, "zhibo_elastic_peer_calls_total", map[string]string{"peer": "room", "pool": pool})
	}
	type counts struct{ fixedReads, poolReads, toFixed, toPool float64 }
	snapshot := func(a *App) counts {
		return counts{reads(fixed), reads(pool), calls(a, elastic.PoolFixed), calls(a, elastic.PoolElastic)}
	}

	enter(trusting, false) // every series exists from here on
	enter(untrusting, false)

	before := snapshot(trusting)
	require.Contains(t, enter(trusting, true), `"title":"elastic pool"`, "marked by a trusted proxy: the elastic room")
	after := snapshot(trusting)
	require.Greater(t, after.poolReads, before.poolReads, "the elastic backend read the room")
	require.Equal(t, before.fixedReads, after.fixedReads, "the fixed backend did not")
	require.Greater(t, after.toPool, before.toPool)
	require.Equal(t, before.toFixed, after.toFixed, "no room call of the marked request left the elastic pool")

	before = after
	require.Contains(t, enter(trusting, false), `"title":"fixed pool"`, "unmarked: the fixed room")
	after = snapshot(trusting)
	require.Greater(t, after.fixedReads, before.fixedReads)
	require.Equal(t, before.poolReads, after.poolReads)
	require.Greater(t, after.toFixed, before.toFixed)
	require.Equal(t, before.toPool, after.toPool)

	before = snapshot(untrusting)
	require.Contains(t, enter(untrusting, true), `"title":"fixed pool"`, "a client cannot pick its pool")
	after = snapshot(untrusting)
	require.Greater(t, after.fixedReads, before.fixedReads)
	require.Equal(t, before.poolReads, after.poolReads)
	require.Greater(t, after.toFixed, before.toFixed)
	require.Equal(t, before.toPool, after.toPool)
}
