package chat

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

// fixedStore is a Store whose Recent answers a fixed timeline (the tier's tests need no other
// method of it).
type fixedStore struct {
	Store
	recent []Entry
}

func (f fixedStore) Recent(_ context.Context, _ int64, limit int) ([]Entry, error) {
	return f.recent[:min(limit, len(f.recent))], nil
}

// The timeline's scripts: nothing is written for a user the tier does not hold; a warm sets
// the floor; a sync or a history page reaching below it is not answered; trimming raises it;
// an entry deleted, or below the floor, is not brought back by a late event.
func TestTimelineTierFloorAndDeletes(t *testing.T) {
	h := testTier(t, 100)
	h.timelineCap = 10
	ctx := context.Background()
	const uid, peerA, peerB = 7, 8, 9
	require.NoError(t, h.addEntries(ctx, []Entry{{UID: uid, ID: 1, Peer: peerA}}))
	_, err := h.since(ctx, uid, 0, 10)
	require.ErrorIs(t, err, errCold, "not in the tier: the event was not kept")

	// 12 entries in the store, newest first: ids 120, 110, … 10; the tier keeps the newest 10.
	var recent []Entry
	for id := int64(120); id >= 10; id -= 10 {
		peer := int64(peerA)
		if id%20 == 0 {
			peer = peerB
		}
		recent = append(recent, Entry{UID: uid, ID: id, Peer: peer})
	}
	require.NoError(t, h.warmTimeline(ctx, fixedStore{recent: recent}, uid))
	got, err := h.since(ctx, uid, 20, 100)
	require.NoError(t, err)
	require.Equal(t, []int64{30, 40, 50, 60, 70, 80, 90, 100, 110, 120}, got, "every entry after the floor (20, the newest left out)")
	_, err = h.since(ctx, uid, 19, 100)
	require.ErrorIs(t, err, errDeep, "the entry 20 is not held")
	got, err = h.since(ctx, uid, 100, 1)
	require.NoError(t, err)
	require.Equal(t, []int64{110}, got)

	got, err = h.history(ctx, uid, peerA, 0, 3)
	require.NoError(t, err)
	require.Equal(t, []int64{110, 90, 70}, got)
	got, err = h.history(ctx, uid, peerA, 0, 5)
	require.NoError(t, err)
	require.Equal(t, []int64{110, 90, 70, 50, 30}, got, "every entry with peerA above the floor")
	_, err = h.history(ctx, uid, peerA, 0, 6)
	require.ErrorIs(t, err, errDeep, "a page of 6 reaches below the floor")

	// A new entry trims the oldest kept and raises the floor; a late one below it is dropped.
	require.NoError(t, h.addEntries(ctx, []Entry{{UID: uid, ID: 130, Peer: peerA}, {UID: uid, ID: 5, Peer: peerA}}))
	_, err = h.since(ctx, uid, 29, 100)
	require.ErrorIs(t, err, errDeep, "the floor rose to 30")
	got, err = h.since(ctx, uid, 30, 100)
	require.NoError(t, err)
	require.Equal(t, []int64{40, 50, 60, 70, 80, 90, 100, 110, 120, 130}, got)

	// Deleted: gone at once, and an event delivered again does not bring it back.
	require.NoError(t, h.dropEntry(ctx, uid, 110))
	require.NoError(t, h.addEntries(ctx, []Entry{{UID: uid, ID: 110, Peer: peerA}}))
	got, err = h.history(ctx, uid, peerA, 0, 3)
	require.NoError(t, err)
	require.Equal(t, []int64{130, 90, 70}, got)

	// A user with fewer entries than the cap is held whole: any page is answered.
	const small = 70
	require.NoError(t, h.warmTimeline(ctx, fixedStore{recent: []Entry{{UID: small, ID: 3, Peer: peerA}, {UID: small, ID: 2, Peer: peerB}}}, small))
	got, err = h.history(ctx, small, peerA, 0, 50)
	require.NoError(t, err)
	require.Equal(t, []int64{3}, got)
	got, err = h.since(ctx, small, 0, 50)
	require.NoError(t, err)
	require.Equal(t, []int64{2, 3}, got)
}

// Events applied while a timeline is being built are kept, and a trim they cause meanwhile
// raises the floor the build ends with.
func TestTimelineTierBuiltUnderEvents(t *testing.T) {
	h := testTier(t, 100)
	h.timelineCap = 10
	ctx := context.Background()
	const uid = 11
	keys := h.timelineKeys(uid)
	require.NoError(t, h.c.Do(ctx, h.c.B().Set().Key(keys[1]).Value("w").Build()).Error())
	var es []Entry
	for id := int64(1); id <= 12; id++ { // events while building: 12 entries, 2 trimmed
		es = append(es, Entry{UID: uid, ID: id * 10, Peer: 5})
	}
	require.NoError(t, h.addEntries(ctx, es))
	_, err := h.since(ctx, uid, 0, 10)
	require.ErrorIs(t, err, errCold, "not readable while being built")
	require.NoError(t, finishTimeline.Exec(ctx, h.c, keys[1:3], []string{floorAll, h.ttlMs()}).Error())
	_, err = h.since(ctx, uid, 19, 10)
	require.ErrorIs(t, err, errDeep, "the snapshot held every entry, but the trim meanwhile left 20 out")
	got, err := h.since(ctx, uid, 20, 3)
	require.NoError(t, err)
	require.Equal(t, []int64{30, 40, 50}, got)
}
