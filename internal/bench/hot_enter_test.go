package bench_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/bench"
	"github.com/zhibo-live/zhibo/internal/config"
)

// A short functional run of the enter target with the hot room pinned through the admin API:
// the pages are read without errors, the report names what the enters cost downstream, and
// the probe of the pinned room costs the room component no read. Not a measurement.
func TestReadStormEnterPinned(t *testing.T) {
	url, token := startNodeWithOperator(t, func(c *config.Config) {
		c.BFF.HotRefresh = time.Hour // the pinned page is loaded once, when pinned
	})
	ctx := context.Background()

	rc := bench.DefaultReadStormConfig()
	rc.URL = url
	rc.Target, rc.AdminToken = bench.TargetEnter, token
	rc.Rooms, rc.Concurrency, rc.Duration, rc.Probe = 20, 4, time.Second, 20
	s, err := bench.NewReadStorm(rc, bench.Deps{Progress: &bytes.Buffer{}})
	require.NoError(t, err)
	rep, err := s.Run(ctx)
	require.NoError(t, err)
	var out bytes.Buffer
	require.NoError(t, rep.WriteTable(&out))
	t.Log("\n" + out.String())

	require.Zero(t, rep.Errors, rep.FirstError)
	require.True(t, rep.Pinned)
	require.Positive(t, rep.Hot.Reads)
	require.Positive(t, rep.Background.Reads)
	require.NotNil(t, rep.Downstream)
	require.Equal(t, float64(rep.Hot.Reads), rep.Downstream.BFFFromMemory, "every enter of the pinned room served from the BFF's memory")
	require.Equal(t, float64(rep.Background.Reads), rep.Downstream.RoomReads, "one room read per enter of any other room")
	require.Contains(t, out.String(), "downstream")
	require.Equal(t, int64(20), rep.Probe.Reads)
	require.NotNil(t, rep.Probe.Downstream)
	require.Zero(t, rep.Probe.Downstream.RoomReads, "the probe of the pinned room read no room")
	require.Equal(t, float64(20), rep.Probe.Downstream.BFFFromMemory)
}
