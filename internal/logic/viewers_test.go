package logic

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

func TestTokenAdmitsBoundedConnections(t *testing.T) {
	s, _, c := newLogic(t)
	ctx := context.Background()
	tok, err := s.tokens.IssueConnToken(ctx, 0, 7)
	require.NoError(t, err)
	var session int64
	for _, server := range []string{"c1", "c1", "c2"} {
		_, session, _, err = s.Connect(ctx, server, tok, 0, 7)
		require.NoError(t, err)
	}
	for range 100 {
		_, _, _, err = s.Connect(ctx, "c3", tok, 0, 7)
		require.ErrorIs(t, err, ErrConnRejected, "a 4th connection of one token")
	}
	require.Equal(t, 100.0, testutil.ToFloat64(s.m.connects.WithLabelValues(connectTokenBusy)))
	require.Equal(t, 1.0, testutil.ToFloat64(s.m.leases))

	// Another token of the same room is another viewer with its own slots.
	other, err := s.tokens.IssueConnToken(ctx, 0, 7)
	require.NoError(t, err)
	_, otherSession, _, err := s.Connect(ctx, "c3", other, 0, 7)
	require.NoError(t, err)
	require.NotEqual(t, session, otherSession)

	// A connection that leaves frees its slot.
	require.NoError(t, s.Disconnect(ctx, "c1", 0, 7, session))
	_, _, _, err = s.Connect(ctx, "c3", tok, 0, 7)
	require.NoError(t, err)
	_, _, _, err = s.Connect(ctx, "c3", tok, 0, 7)
	require.ErrorIs(t, err, ErrConnRejected)

	// A comet that stops reporting takes its slots with it: c1 and c3 report, c2 does not.
	_, _, _ = s.ReportOnline(ctx, "c2", "", map[int64]int64{7: 1}, nil)
	c.add(11 * time.Second)
	_, _, _ = s.ReportOnline(ctx, "c1", "", map[int64]int64{7: 1}, nil)
	_, _, _ = s.ReportOnline(ctx, "c3", "", map[int64]int64{7: 2}, nil)
	s.expireComets()
	_, _, _, err = s.Connect(ctx, "c1", tok, 0, 7)
	require.NoError(t, err, "c2's slot freed when c2 was dropped")

	// A slot whose Disconnect was lost is freed when the token expires: no Connect can name
	// it any more, so the lease is swept.
	c.add(time.Minute)
	s.sweep()
	require.Equal(t, 0.0, testutil.ToFloat64(s.m.leases))
	require.Empty(t, s.leases)
}

func TestUnlimitedTokenConnections(t *testing.T) {
	s, _, _ := newLogic(t, func(c *Config) { c.MaxConnsPerToken = 0 })
	tok, err := s.tokens.IssueConnToken(context.Background(), 0, 7)
	require.NoError(t, err)
	for range 50 {
		_, _, _, err = s.Connect(context.Background(), "c1", tok, 0, 7)
		require.NoError(t, err)
	}
}

func TestWatchedCountsDistinctViewers(t *testing.T) {
	s, _, c := newLogic(t)
	ctx := context.Background()
	guest, err := s.tokens.IssueConnToken(ctx, 0, 7)
	require.NoError(t, err)
	for range 200 { // one guest token reconnecting
		_, session, _, err := s.Connect(ctx, "c1", guest, 0, 7)
		require.NoError(t, err)
		require.NoError(t, s.Disconnect(ctx, "c1", 0, 7, session))
	}
	for uid := int64(1); uid <= 3; uid++ { // three users, each on two devices
		for range 2 {
			tok, err := s.tokens.IssueConnToken(ctx, uid, 7)
			require.NoError(t, err)
			_, _, _, err = s.Connect(ctx, "c1", tok, uid, 7)
			require.NoError(t, err)
		}
	}
	counts, _ := s.Counts(ctx, []int64{7})
	require.Equal(t, int64(4), counts[7].Watched)

	// A big room stays within the sketch's error, in bounded memory.
	s.mu.Lock()
	w := s.watchedIn(8)
	for v := int64(1); v <= 200000; v++ {
		w.add(viewerKey(v, 0), c.now())
		w.add(viewerKey(0, v), c.now()) // the guest keys of as many sessions
	}
	s.mu.Unlock()
	counts, _ = s.Counts(ctx, []int64{8})
	require.InDelta(t, 400000, counts[8].Watched, 400000*0.02)

	// A room nobody is in forgets its count a day after its last entry; one with viewers
	// keeps it.
	_, _, _ = s.ReportOnline(ctx, "c1", "", map[int64]int64{7: 1}, nil)
	c.add(watchedIdle + time.Second)
	_, _, _ = s.ReportOnline(ctx, "c1", "", map[int64]int64{7: 1}, nil)
	s.sweep()
	counts, _ = s.Counts(ctx, []int64{7, 8})
	require.Equal(t, int64(4), counts[7].Watched)
	require.Zero(t, counts[8].Watched)
}

func TestEntryAnnouncedOncePerInterval(t *testing.T) {
	s, _, c := newLogic(t)
	ctx := context.Background()
	announced := func() float64 { return testutil.ToFloat64(s.m.entries.WithLabelValues(entryAnnounced)) }
	enter := func(uid, room int64) {
		t.Helper()
		tok, err := s.tokens.IssueConnToken(ctx, uid, room)
		require.NoError(t, err)
		_, session, _, err := s.Connect(ctx, "c1", tok, uid, room)
		require.NoError(t, err)
		require.NoError(t, s.Disconnect(ctx, "c1", uid, room, session))
	}
	for range 500 {
		enter(5, 7)
	}
	require.Equal(t, 1.0, announced(), "500 entries of one user within the interval")
	require.Equal(t, 499.0, testutil.ToFloat64(s.m.entries.WithLabelValues(entryRepeat)))
	enter(6, 7) // another user
	enter(5, 8) // the same user in another room
	require.Equal(t, 3.0, announced())
	enter(0, 7) // guests are never announced
	require.Equal(t, 3.0, announced())

	c.add(time.Minute)
	enter(5, 7)
	require.Equal(t, 4.0, announced(), "announced again after the interval")

	// Expired entries are forgotten.
	c.add(2 * time.Minute)
	s.sweep()
	s.mu.Lock()
	n := len(s.entries)
	s.mu.Unlock()
	require.Zero(t, n)
}

func TestEntryRoomRate(t *testing.T) {
	s, _, _ := newLogic(t, func(c *Config) { c.EntryRoomRate = 2 })
	ctx := context.Background()
	for uid := int64(10); uid < 20; uid++ { // the test clock stands still: one second
		tok, err := s.tokens.IssueConnToken(ctx, uid, 7)
		require.NoError(t, err)
		_, _, _, err = s.Connect(ctx, "c1", tok, uid, 7)
		require.NoError(t, err)
	}
	require.Equal(t, 2.0, testutil.ToFloat64(s.m.entries.WithLabelValues(entryAnnounced)))
	require.Equal(t, 8.0, testutil.ToFloat64(s.m.entries.WithLabelValues(entryRoomRate)))
}
