// Package leasetest gives component tests lease nodes on a shared queue and reads what each
// node did, so a test can run two "processes" of a component and check that work meant to
// run once per cluster ran on one of them.
package leasetest

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/platform/lease"
	"github.com/zhibo-live/zhibo/internal/platform/obs"
	"github.com/zhibo-live/zhibo/internal/platform/queue"
)

// Config is short enough for tests and long enough that a loaded machine does not miss
// renewals: three renewals fit in a TTL.
var Config = lease.Config{TTL: 2 * time.Second, Renew: 500 * time.Millisecond}

// Node is a lease node on q with its own registry, as one process of a cluster would have.
func Node(t testing.TB, q *queue.Queue) (*lease.Node, *prometheus.Registry) {
	reg := prometheus.NewRegistry()
	n, err := lease.New(Config, lease.Deps{Queue: q, Logger: obs.Discard(), Registry: reg})
	require.NoError(t, err)
	return n, reg
}

// Runs is how many times the node behind g ran the task of the lease name.
func Runs(t testing.TB, g prometheus.Gatherer, name string) float64 {
	return counter(t, g, "zhibo_lease_runs_total", map[string]string{"lease": name})
}

// Acquired is how many holds of the lease name the node behind g began.
func Acquired(t testing.TB, g prometheus.Gatherer, name string) float64 {
	return counter(t, g, "zhibo_lease_changes_total", map[string]string{"lease": name, "change": "acquired"})
}

// counter sums the series of the counter family whose labels include labels.
func counter(t testing.TB, g prometheus.Gatherer, family string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	require.NoError(t, err)
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != family {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			got := map[string]string{}
			for _, lp := range m.GetLabel() {
				got[lp.GetName()] = lp.GetValue()
			}
			for k, v := range labels {
				if got[k] != v {
					continue series
				}
			}
			sum += m.GetCounter().GetValue()
		}
	}
	return sum
}
