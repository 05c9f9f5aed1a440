package comet

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/protocol"
)

// The comet reports distinct viewers per room: a guest by its token session, a logged-in user
// by uid, however many connections each has; the count follows joins and leaves.
func TestOnlineCountsDistinctViewers(t *testing.T) {
	e := startEnv(t, nil)
	const room = 31
	join := func(uid int64, key string, isWS bool) *client {
		c := e.dial(t, isWS)
		p := c.auth(protocol.AuthBody{UID: uid, RoomID: room, ProtoVer: 3, Key: key})
		require.JSONEq(t, `{"code":0}`, string(p.Body))
		return c
	}
	var guest []*client
	for i := range 5 { // one guest token, five sockets
		guest = append(guest, join(0, "sess:9", i%2 == 0))
	}
	user := []*client{join(42, "sess:10", false), join(42, "sess:11", true)} // one user, two tokens
	other := join(0, "sess:12", false)
	eventually(t, func() bool { return e.svc.Online()[room] == 3 }, "three viewers")
	require.Equal(t, map[int64]int64{room: 3}, e.svc.Online())

	for _, c := range guest[:4] {
		c.nc.Close()
	}
	user[0].nc.Close()
	eventually(t, func() bool { return e.logic.disconnectCount() == 5 }, "five left")
	require.Equal(t, map[int64]int64{room: 3}, e.svc.Online(), "every viewer still has a connection")
	guest[4].nc.Close()
	eventually(t, func() bool { return e.svc.Online()[room] == 2 }, "the guest left")
	other.nc.Close()
	user[1].nc.Close()
	eventually(t, func() bool { return len(e.svc.Online()) == 0 }, "room gone")

	e.logic.mu.Lock()
	defer e.logic.mu.Unlock()
	require.ElementsMatch(t, []int64{9, 9, 9, 9, 9, 10, 11, 12}, e.logic.sessions, "Disconnect hands back each connection's session")
}

// A room's viewer map follows joins and leaves, also across the rebuild that gives memory
// back after a crowd left.
func TestRoomViewersRebuild(t *testing.T) {
	b := newBucket()
	var cs []*conn
	for i := range 3000 {
		c := &conn{idx: -1, roomID: 1, session: int64(i/2 + 1)} // two connections per guest
		if i%10 == 0 {
			c.uid = 7 // and one user on many
		}
		joined, _ := b.join(c, 0)
		require.True(t, joined)
		cs = append(cs, c)
	}
	distinct := func() int {
		b.mu.RLock()
		defer b.mu.RUnlock()
		return len(b.rooms[1].viewers)
	}
	want := map[int64]int{}
	for _, c := range cs {
		want[c.viewer()]++
	}
	require.Equal(t, len(want), distinct())
	for _, c := range cs[:2900] {
		b.leave(c)
		if want[c.viewer()]--; want[c.viewer()] == 0 {
			delete(want, c.viewer())
		}
	}
	require.Equal(t, len(want), distinct())
	b.mu.RLock()
	for v, n := range b.rooms[1].viewers {
		require.Equal(t, want[v], int(n), "viewer %d", v)
	}
	require.Less(t, b.rooms[1].viewersPeak, 1024, "rebuilt")
	b.mu.RUnlock()
	for _, c := range cs[2900:] {
		b.leave(c)
	}
	require.Empty(t, b.rooms)
}

// Each report names the users of logic's last answer (watched) that hold a connection here —
// in a room or on their own channel — and no longer one who left; users not watched are never
// named.
func TestReportNamesWatchedUsers(t *testing.T) {
	e := startEnv(t, nil)
	e.logic.mu.Lock()
	e.logic.watched = []int64{42, 43, 44}
	e.logic.mu.Unlock()
	users := func() []int64 {
		e.logic.mu.Lock()
		defer e.logic.mu.Unlock()
		return e.logic.users
	}
	join := func(uid, room int64, key string, isWS bool) *client {
		c := e.dial(t, isWS)
		p := c.auth(protocol.AuthBody{UID: uid, RoomID: room, ProtoVer: 3, Key: key})
		require.JSONEq(t, `{"code":0}`, string(p.Body))
		return c
	}
	viewer := join(42, 31, "sess:1", false)
	own := join(43, 0, "sess:2", true)
	join(45, 31, "sess:3", false)
	eventually(t, func() bool { return slices.Equal(users(), []int64{42, 43}) }, "42 in a room, 43 on its channel")
	viewer.nc.Close()
	eventually(t, func() bool { return slices.Equal(users(), []int64{43}) }, "42 left")
	own.nc.Close()
	eventually(t, func() bool { return len(users()) == 0 }, "43 left")
}
