package comet

import (
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
