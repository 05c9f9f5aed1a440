package account

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestFailuresExpire(t *testing.T) {
	f := newFailures(2, 4, time.Second, time.Minute, time.Hour, 100)
	t0 := time.Unix(1_800_000_000, 0)
	require.False(t, f.fail("a", t0))
	require.False(t, f.fail("a", t0))
	require.Equal(t, time.Second, f.wait("a", t0))
	require.Zero(t, f.wait("a", t0.Add(time.Second)))
	require.False(t, f.fail("b", t0))
	// An hour after its last failure an entry is forgotten: counting starts again.
	later := t0.Add(time.Hour)
	require.False(t, f.fail("a", later))
	require.Zero(t, f.wait("a", later), "one failure is free again")
	require.Equal(t, 1, f.size(), "b was swept")
	// Waits double up to the lockout, which is reported once per lock.
	require.False(t, f.fail("a", later))
	require.Equal(t, time.Second, f.wait("a", later))
	require.False(t, f.fail("a", later))
	require.Equal(t, 2*time.Second, f.wait("a", later))
	require.True(t, f.fail("a", later))
	require.Equal(t, time.Minute, f.wait("a", later))
	f.reset("a")
	require.Zero(t, f.wait("a", later))
}

// TestFailuresBounded: a flood of new keys never grows the table past max, and pushes out
// entries with few failures, not the locked one.
func TestFailuresBounded(t *testing.T) {
	f := newFailures(2, 4, time.Second, time.Minute, 24*time.Hour, 100)
	t0 := time.Unix(1_800_000_000, 0)
	for range 4 {
		f.fail("victim", t0)
	}
	for i := range 10_000 {
		f.fail(fmt.Sprintf("k%d", i), t0)
		require.LessOrEqual(t, f.size(), 100)
	}
	require.Equal(t, time.Minute, f.wait("victim", t0), "the locked entry was kept")
}

func TestFailuresDelayCapped(t *testing.T) {
	f := newFailures(1, 0, time.Second, 0, time.Hour, 100)
	require.Equal(t, time.Hour, f.delay(200), "no overflow, capped at an hour without a lockout")
	f = newFailures(1, 40, time.Second, 15*time.Minute, time.Hour, 100)
	require.Equal(t, 15*time.Minute, f.delay(39))
}

func TestClientIP(t *testing.T) {
	for addr, want := range map[string]string{
		"192.0.2.7:4242":             "192.0.2.7",
		"[::ffff:192.0.2.7]:4242":    "192.0.2.7",
		"[2001:db8:1:2:aaaa::1]:443": "2001:db8:1:2::/64",
		"[2001:db8:1:2:bbbb::9]:443": "2001:db8:1:2::/64",
		"not-an-address":             "not-an-address",
	} {
		require.Equal(t, want, clientIP(&http.Request{RemoteAddr: addr}), addr)
	}
}
