package chat

import (
	"hash/maphash"
	"slices"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
)

// The spam check: one text sent to many people. A sender whose same text (after the text
// policy) has reached im_chat.spam_receivers different users within im_chat.spam_window is
// refused that text for anyone else until the window since its first send has passed; other
// texts, and the same text to those users again, go on. Bots and customer-service accounts
// answer everyone and are not checked. The check is per process, like the per-user rate: a
// sender spread over n im-chat processes by the balancer reaches at most n times the limit.
type spamCheck struct {
	mu       sync.Mutex
	seen     *lru.Cache[spamKey, *spamEntry]
	seed     maphash.Seed
	receiver int // receivers of one text allowed per window (0 = no check)
	window   time.Duration
}

type spamKey struct {
	from int64
	text uint64 // maphash of the text
}

type spamEntry struct {
	first time.Time
	to    []int64 // at most receiver users
}

// spamTexts bounds the (sender, text) pairs remembered; the least recently sent go first.
const spamTexts = 100_000

func newSpamCheck(receivers int, window time.Duration) *spamCheck {
	seen, _ := lru.New[spamKey, *spamEntry](spamTexts) // errors only for a size <= 0
	return &spamCheck{seen: seen, seed: maphash.MakeSeed(), receiver: receivers, window: window}
}

// allow records that from sends text to to at now and says whether it may.
func (c *spamCheck) allow(from, to int64, text string, now time.Time) bool {
	if c.receiver <= 0 {
		return true
	}
	k := spamKey{from, maphash.String(c.seed, text)}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.seen.Get(k)
	if !ok || now.Sub(e.first) >= c.window {
		c.seen.Add(k, &spamEntry{first: now, to: []int64{to}})
		return true
	}
	if slices.Contains(e.to, to) {
		return true
	}
	if len(e.to) >= c.receiver {
		return false
	}
	e.to = append(e.to, to)
	return true
}
