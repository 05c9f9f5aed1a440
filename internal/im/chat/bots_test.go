package chat_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/im/chat"
	"github.com/zhibo-live/zhibo/internal/platform/sqlstore/sqltest"
)

// A message to a bot goes to its webhook, signed; the webhook's answer comes back as the bot's
// reply, once even when the webhook failed first and was called again.
func TestBotAnswersThroughItsWebhook(t *testing.T) {
	const secret = "bot-secret-0123456789"
	var calls, bad atomic.Int32
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		ts, _ := strconv.ParseInt(r.Header.Get(chat.HeaderTimestamp), 10, 64)
		if r.Header.Get(chat.HeaderSignature) != chat.Sign(secret, ts, body) {
			bad.Add(1)
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		if calls.Add(1) == 1 {
			http.Error(w, "not yet", http.StatusInternalServerError)
			return
		}
		var c chat.BotCall
		_ = json.Unmarshal(body, &c)
		if c.Message.Text == "quiet" {
			w.WriteHeader(http.StatusOK)
			return
		}
		_ = json.NewEncoder(w).Encode(chat.BotAnswer{Reply: "echo: " + c.Message.Text})
	}))
	defer hook.Close()
	h := newHarness(t, sqltest.OpenSQLite(t), func(c *chat.Config) {
		c.Bots = []chat.Bot{{UID: carol, URL: hook.URL, Secret: secret}}
		c.Rate, c.Burst = 1, 1 // the bot answers past any limit
	})
	h.send(alice, carol, "hello bot", "")
	h.waitFor("the bot's reply", func() bool {
		items := history(h, alice, carol, "").Items
		return len(items) == 2 && items[0].From == carol
	})
	items := history(h, alice, carol, "").Items
	require.Equal(t, "echo: hello bot", items[0].Text)
	require.Zero(t, bad.Load(), "every call signed")
	require.EqualValues(t, 2, calls.Load(), "called again after the failure, answered once")
	h.clock.Advance(time.Second)
	h.send(alice, carol, "quiet", "")
	h.clock.Advance(time.Second)
	h.send(alice, carol, "again", "")
	// The bot's messages are handled in order: once "again" is answered, "quiet" was too.
	h.waitFor("the answer to again", func() bool {
		items := history(h, alice, carol, "").Items
		return len(items) >= 5 && items[0].Text == "echo: again"
	})
	var texts []string
	for _, m := range history(h, alice, carol, "").Items {
		texts = append(texts, m.Text)
	}
	require.Equal(t, []string{"echo: again", "again", "quiet", "echo: hello bot", "hello bot"}, texts, "no answer, no reply")
}

func TestBotsConfig(t *testing.T) {
	c := chat.DefaultConfig()
	c.Bots = []chat.Bot{{UID: 1, URL: "ftp://x", Secret: "0123456789abcdef"}}
	require.ErrorContains(t, c.Validate(), "http or https")
	c.Bots = []chat.Bot{{UID: 1, URL: "https://x.example/hook", Secret: "short"}}
	require.ErrorContains(t, c.Validate(), "secret")
	c.Bots = []chat.Bot{{UID: 1, URL: "https://x.example/hook", Secret: "0123456789abcdef"}, {UID: 1, URL: "https://y.example", Secret: "0123456789abcdef"}}
	require.ErrorContains(t, c.Validate(), "once")
}
