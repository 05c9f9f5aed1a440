package chat_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/platform/sqlstore"
	"github.com/zhibo-live/zhibo/internal/platform/sqlstore/sqltest"
)

// "Followers" in who-may-message-me: a user who does not follow the receiver is refused with
// its own code and says how to get through; following lets them in and unfollowing shuts them
// out again at once. The users the receiver follows, and those the receiver has written to,
// may message them too, so the receiver's own conversations keep working.
func TestFollowersOnly(t *testing.T) {
	sqltest.ForEach(t, func(t *testing.T, db *sqlstore.DB) {
		h := newHarness(t, db, nil)
		refused := func(from int64) {
			t.Helper()
			code, raw, _ := h.call(from, "POST", "/api/im/messages", `{"to":202,"text":"hi"}`)
			require.Equal(t, 403, code, "%s", raw)
			var env struct {
				Code    int
				Message string
			}
			require.NoError(t, json.Unmarshal(raw, &env))
			require.Equal(t, -70013, env.Code)
			require.Equal(t, "user 202 accepts private messages only from their followers: follow them first", env.Message)
		}
		code, _, _ := h.call(bob, "PUT", "/api/im/settings", `{"allow":1}`)
		require.Equal(t, 200, code)
		code, data, _ := h.call(bob, "GET", "/api/im/settings", "")
		require.Equal(t, 200, code)
		require.JSONEq(t, `{"allow":1,"dnd":{"on":false,"from":"","to":"","tz":""}}`, string(data))

		refused(alice)
		require.Equal(t, 1.0, metric(h, "zhibo_im_refused_total", "not_follower"))
		h.users.Follow(alice, bob, true)
		h.send(alice, bob, "a follower", "")
		h.users.Follow(alice, bob, false)
		refused(alice)

		h.users.Follow(bob, carol, true) // whom bob follows may write to him
		h.send(carol, bob, "followed by bob", "")
		h.users.Follow(bob, carol, false)
		h.waitFor("stored", func() bool { return unread(h, bob) == 2 })

		// bob answers alice: from then on alice may answer him, follower or not.
		h.send(bob, alice, "write back", "")
		h.waitFor("bob's reply stored", func() bool { return unread(h, alice) == 1 })
		h.send(alice, bob, "answering", "")
		h.waitFor("alice's answer stored", func() bool { return unread(h, bob) == 3 })

		// Account away: 503, not a refusal, for a sender bob never wrote to.
		h.users.Fail(errors.New("account down"))
		code, raw, _ := h.call(carol, "POST", "/api/im/messages", `{"to":202,"text":"hi"}`)
		require.Equal(t, 503, code, "%s", raw)
		h.users.Fail(nil)
		refused(carol)
		require.Equal(t, 3.0, metric(h, "zhibo_im_refused_total", "not_follower"))

		code, _, _ = h.call(bob, "PUT", "/api/im/settings", `{"allow":0}`)
		require.Equal(t, 200, code)
		h.send(carol, bob, "everyone again", "")
	})
}
