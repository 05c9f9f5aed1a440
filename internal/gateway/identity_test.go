package gateway

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestIdentitiesAreSignedOncePerCallerAndReuse(t *testing.T) {
	signed := 0
	c := &identityCache{sign: func(uid int64, now time.Time) string { signed++; return now.String() }}
	a := c.get(1)
	require.Equal(t, a, c.get(1), "reused within the reuse period")
	require.NotEqual(t, a, c.get(2))
	require.Equal(t, 2, signed)

	// Older than the reuse period: signed again, so the upstream always gets one valid long enough.
	v, _ := c.m.Load(int64(1))
	v.(*signedIdentity).at = time.Now().Add(-identityReuse)
	require.NotEqual(t, a, c.get(1))
	require.Equal(t, 3, signed)

	// Bounded: past the maximum the cache starts over.
	for uid := range int64(identityCacheMax + 1) {
		c.get(uid + 10)
	}
	n := 0
	c.m.Range(func(any, any) bool { n++; return true })
	require.LessOrEqual(t, n, identityCacheMax)
}
