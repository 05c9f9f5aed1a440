package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// FollowScenario: a user follows an anchor (twice: one edge, one notice), the anchor's
// followers page and counts show it, the anchor gets one follow notice; with "followers" in
// who-may-message-me a stranger is refused and the follower is not, and an unfollow shuts the
// door again without a notice. Written once, run all-in-one and with every component alone
// (im-chat asks account over gRPC, im-notice reads account's events from NATS).
func FollowScenario(t *testing.T, n Node) {
	suffix := time.Now().UnixNano() % 1e6
	anchor := register(t, n, fmt.Sprintf("fanchor%d", suffix))
	fan := register(t, n, fmt.Sprintf("ffan%d", suffix))
	stranger := register(t, n, fmt.Sprintf("fstranger%d", suffix))
	follow := fmt.Sprintf("/api/users/%d/follow", anchor.UID)
	type relation struct {
		Followers int64 `json:"followers"`
		Followed  bool  `json:"followed"`
	}
	var rel relation
	for range 2 {
		code, _ := api(t, n, "PUT", follow, fan.Token, nil, &rel)
		require.Equal(t, 200, code)
		require.Equal(t, relation{Followers: 1, Followed: true}, rel)
	}
	// The anchor's room page carries the relation (the BFF asks account, over gRPC when split).
	var room struct {
		ID int64 `json:"id"`
	}
	code, _ := api(t, n, "POST", "/api/rooms", anchor.Token, map[string]string{"title": "followed"}, &room)
	require.Equal(t, 200, code)
	var enter struct {
		Anchor relation `json:"anchor"`
	}
	code, _ = api(t, n, "GET", fmt.Sprintf("/api/room/enter?id=%d", room.ID), fan.Token, nil, &enter)
	require.Equal(t, 200, code)
	require.Equal(t, relation{Followers: 1, Followed: true}, enter.Anchor)
	code, ecode := api(t, n, "PUT", fmt.Sprintf("/api/users/%d/follow", fan.UID), fan.Token, nil, nil)
	require.Equal(t, 400, code)
	require.Equal(t, -40013, ecode)
	code, ecode = api(t, n, "PUT", "/api/users/987654321/follow", fan.Token, nil, nil)
	require.Equal(t, 404, code)
	require.Equal(t, -40005, ecode)
	var page struct {
		Items []struct {
			UID  int64  `json:"uid"`
			Name string `json:"name"`
		} `json:"items"`
	}
	code, _ = api(t, n, "GET", fmt.Sprintf("/api/users/%d/followers", anchor.UID), "", nil, &page)
	require.Equal(t, 200, code)
	require.Len(t, page.Items, 1)
	require.Equal(t, fan.UID, page.Items[0].UID)

	type notices struct {
		Items []struct {
			Title  string `json:"title"`
			Sender int64  `json:"sender"`
		} `json:"items"`
	}
	followNotices := func() notices {
		var in notices
		code, _ := api(t, n, "GET", "/api/im/notices?kind=follow", anchor.Token, nil, &in)
		require.Equal(t, 200, code)
		return in
	}
	require.Eventually(t, func() bool { return len(followNotices().Items) == 1 }, 15*time.Second, 50*time.Millisecond, "follow notice")
	require.Equal(t, fmt.Sprintf("ffan%d followed you", suffix), followNotices().Items[0].Title)

	code, _ = api(t, n, "PUT", "/api/im/settings", anchor.Token, map[string]int{"allow": 1}, nil)
	require.Equal(t, 200, code)
	send := func(from session) (int, int) {
		return api(t, n, "POST", "/api/im/messages", from.Token, map[string]any{"to": anchor.UID, "text": "hello"}, nil)
	}
	code, ecode = send(stranger)
	require.Equal(t, 403, code)
	require.Equal(t, -70013, ecode)
	code, _ = send(fan)
	require.Equal(t, 200, code)
	code, _ = api(t, n, "DELETE", follow, fan.Token, nil, &rel)
	require.Equal(t, 200, code)
	require.Equal(t, relation{}, rel)
	code, ecode = send(fan)
	require.Equal(t, 403, code, "an unfollow applies at once")
	require.Equal(t, -70013, ecode)

	// The stranger follows: one notice more (the unfollow gave none), and may now write.
	code, _ = api(t, n, "PUT", follow, stranger.Token, nil, nil)
	require.Equal(t, 200, code)
	require.Eventually(t, func() bool { return len(followNotices().Items) == 2 }, 15*time.Second, 50*time.Millisecond, "second follow notice")
	time.Sleep(300 * time.Millisecond) // a third would have come by now (not require.Never: its last call may outlive the test)
	require.Len(t, followNotices().Items, 2)
	code, _ = send(stranger)
	require.Equal(t, 200, code)
}

func TestFollowAllInOne(t *testing.T) {
	FollowScenario(t, startAllInOne(t))
}
