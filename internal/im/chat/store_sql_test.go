package chat

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/platform/sqlstore"
	"github.com/zhibo-live/zhibo/internal/platform/sqlstore/sqltest"
)

func newStore(t *testing.T, db *sqlstore.DB) Store {
	s := NewSQLStore(db)
	require.NoError(t, s.Migrate(context.Background()))
	return s
}

func msg(id, from, to int64, text string) Message {
	return Message{ID: id, From: from, To: to, Text: text, Ts: 1000 + id}
}

func TestStoreWriteDiffusionAndUnread(t *testing.T) {
	sqltest.ForEach(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		s := newStore(t, db)
		a, err := s.Apply(ctx, []Message{msg(1, 10, 20, "hi"), msg(2, 10, 20, "there"), msg(3, 20, 10, "yo"), msg(4, 30, 20, "hey")})
		require.NoError(t, err)
		require.Equal(t, 4, a.Stored)
		convs, totals, err := s.States(ctx, []Message{msg(1, 10, 20, "hi"), msg(3, 20, 10, "yo"), msg(4, 30, 20, "hey")})
		require.NoError(t, err)
		require.Len(t, convs, 4, "10↔20 both sides, 30→20 both sides")
		require.Len(t, totals, 2, "20 and 10 have unread messages")
		v1 := map[pair]int64{}
		for _, c := range convs {
			v1[pair{c.UID, c.Peer}] = c.Version
		}

		// Applying the same messages again (a redelivered batch), or a batch overlapping it,
		// changes nothing twice.
		a, err = s.Apply(ctx, []Message{msg(2, 10, 20, "there"), msg(4, 30, 20, "hey"), msg(5, 10, 20, "new")})
		require.NoError(t, err)
		require.Equal(t, 1, a.Stored)
		convs, _, err = s.States(ctx, []Message{msg(2, 10, 20, "there"), msg(4, 30, 20, "hey")})
		require.NoError(t, err)
		for _, c := range convs {
			p := pair{c.UID, c.Peer}
			if p == (pair{30, 20}) || p == (pair{20, 30}) {
				require.Equal(t, v1[p], c.Version, "a redelivery changes no version")
			} else {
				require.Greater(t, c.Version, v1[p], "a change counts the version up")
			}
		}

		total, err := s.Unread(ctx, 20)
		require.NoError(t, err)
		require.EqualValues(t, 4, total) // 1, 2, 5 from 10 and 4 from 30
		total, err = s.Unread(ctx, 10)
		require.NoError(t, err)
		require.EqualValues(t, 1, total)

		list, err := s.Conversations(ctx, 20, FolderAll, Cursor{}, 10)
		require.NoError(t, err)
		require.Len(t, list, 2)
		// 20 wrote to 10 (message 3), never to 30: 30's is a stranger's conversation.
		require.Equal(t, Conversation{Peer: 10, LastID: 5, Mtime: 1005, Unread: 3}, list[0])
		require.Equal(t, Conversation{Peer: 30, LastID: 4, Mtime: 1004, Unread: 1, Stranger: true}, list[1])
		main, err := s.Conversations(ctx, 20, FolderMain, Cursor{}, 10)
		require.NoError(t, err)
		require.Len(t, main, 1)
		strangers, err := s.Conversations(ctx, 20, FolderStrangers, Cursor{}, 10)
		require.NoError(t, err)
		require.Len(t, strangers, 1)
		require.EqualValues(t, 30, strangers[0].Peer)
		others, err := s.Conversations(ctx, 30, FolderAll, Cursor{}, 10)
		require.NoError(t, err)
		require.False(t, others[0].Stranger, "the sender's side is never a stranger's")

		h, err := s.History(ctx, 10, 20, 0, 10)
		require.NoError(t, err)
		require.Equal(t, []int64{5, 3, 2, 1}, idsOf(h))
		h, err = s.History(ctx, 10, 20, 3, 10)
		require.NoError(t, err)
		require.Equal(t, []int64{2, 1}, idsOf(h))

		// Reading up to 2 leaves 5 unread; the total follows.
		c, err := s.MarkRead(ctx, 20, 10, 2)
		require.NoError(t, err)
		require.EqualValues(t, 1, c.Conv.Unread)
		require.EqualValues(t, 2, c.Conv.ReadID)
		total, _ = s.Unread(ctx, 20)
		require.EqualValues(t, 2, total)
		// An older position changes nothing; a position past the newest is capped.
		c, err = s.MarkRead(ctx, 20, 10, 1)
		require.NoError(t, err)
		require.EqualValues(t, 2, c.Conv.ReadID)
		c, err = s.MarkRead(ctx, 20, 10, 1<<60)
		require.NoError(t, err)
		require.EqualValues(t, 0, c.Conv.Unread)
		require.EqualValues(t, 5, c.Conv.ReadID)
		total, _ = s.Unread(ctx, 20)
		require.EqualValues(t, 1, total)
		_, err = s.MarkRead(ctx, 20, 99, 1)
		require.ErrorIs(t, err, ErrNoConversation)

		// A message already read (from its push, before it was stored) is not unread.
		_, err = s.MarkRead(ctx, 20, 30, 4)
		require.NoError(t, err)
		_, err = s.Apply(ctx, []Message{msg(6, 30, 20, "late")})
		require.NoError(t, err)
		total, _ = s.Unread(ctx, 20)
		require.EqualValues(t, 1, total)

		// A reply moves the conversation out of the strangers folder, for good.
		_, err = s.Apply(ctx, []Message{msg(7, 20, 30, "thanks")})
		require.NoError(t, err)
		_, err = s.Apply(ctx, []Message{msg(8, 30, 20, "welcome")})
		require.NoError(t, err)
		strangers, err = s.Conversations(ctx, 20, FolderStrangers, Cursor{}, 10)
		require.NoError(t, err)
		require.Empty(t, strangers)

		since, err := s.Since(ctx, 20, 2, 10)
		require.NoError(t, err)
		require.Equal(t, []int64{3, 4, 5, 6, 7, 8}, idsOf(since))
	})
}

func idsOf(ms []Message) []int64 {
	out := make([]int64, len(ms))
	for i, m := range ms {
		out[i] = m.ID
	}
	return out
}

func TestStoreClientIDIsOneMessage(t *testing.T) {
	sqltest.ForEach(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		s := newStore(t, db)
		a := msg(1, 10, 20, "once")
		a.ClientID = "c-1"
		b := a
		b.ID = 2 // the same send replayed under a new id
		got, err := s.Apply(ctx, []Message{a, b})
		require.NoError(t, err)
		require.Equal(t, 1, got.Stored)
		got, err = s.Apply(ctx, []Message{b})
		require.NoError(t, err)
		require.Equal(t, 0, got.Stored)
		chk, err := s.CheckSend(ctx, 10, 20, "c-1")
		require.NoError(t, err)
		require.EqualValues(t, 1, chk.SentID)
		chk, err = s.CheckSend(ctx, 10, 20, "c-2")
		require.NoError(t, err)
		require.Zero(t, chk.SentID, "a client id never sent")
		chk, err = s.CheckSend(ctx, 11, 20, "c-1")
		require.NoError(t, err)
		require.Zero(t, chk.SentID, "another sender's client id")
		total, _ := s.Unread(ctx, 20)
		require.EqualValues(t, 1, total)
	})
}

// Batches applied at once by several writers (two consumers of one stream, a redelivery
// overlapping the first delivery) store every message once and count it unread once.
func TestStoreConcurrentOverlappingBatches(t *testing.T) {
	sqltest.ForEach(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		s := newStore(t, db)
		var all []Message
		for i := int64(1); i <= 200; i++ {
			all = append(all, msg(i, 100+i%5, 200+i%3, fmt.Sprint("m", i)))
		}
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for w := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for start := w * 10; start < len(all); start += 40 {
					_, err := s.Apply(ctx, all[start:min(start+60, len(all))])
					if err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
		var sum int64
		for r := int64(200); r < 203; r++ {
			n, err := s.Unread(ctx, r)
			require.NoError(t, err)
			sum += n
			list, err := s.Conversations(ctx, r, FolderAll, Cursor{}, 100)
			require.NoError(t, err)
			var per int64
			for _, c := range list {
				per += c.Unread
			}
			require.Equal(t, n, per, "total of %d is the sum of its conversations", r)
		}
		require.EqualValues(t, len(all), sum)
	})
}

func TestStoreKeysetPages(t *testing.T) {
	sqltest.ForEach(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		s := newStore(t, db)
		var batch []Message
		for i := int64(1); i <= 25; i++ {
			m := msg(i, 1000+i, 7, "x")
			if i > 20 {
				m.Ts = 1020 // equal times: the peer breaks the tie
			}
			batch = append(batch, m)
		}
		_, err := s.Apply(ctx, batch)
		require.NoError(t, err)
		var got []int64
		var c Cursor
		for {
			page, err := s.Conversations(ctx, 7, FolderAll, c, 4)
			require.NoError(t, err)
			if len(page) == 0 {
				break
			}
			for _, cv := range page {
				got = append(got, cv.Peer)
			}
			last := page[len(page)-1]
			c = Cursor{Mtime: last.Mtime, Peer: last.Peer}
		}
		require.Len(t, got, 25)
		for i := 1; i < len(got); i++ {
			require.NotEqual(t, got[i-1], got[i])
		}
		require.EqualValues(t, 1025, got[0])
		require.EqualValues(t, 1001, got[24])
	})
}

func TestStoreRecallDeleteBlocksSettings(t *testing.T) {
	sqltest.ForEach(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		s := newStore(t, db)
		_, err := s.Apply(ctx, []Message{msg(1, 10, 20, "oops"), msg(2, 10, 20, "fine")})
		require.NoError(t, err)
		_, err = s.Recall(ctx, 20, 1, 0)
		require.ErrorIs(t, err, ErrNoMessage, "only the sender recalls")
		_, err = s.Recall(ctx, 10, 1, 2000)
		require.ErrorIs(t, err, ErrRecallLate)
		m, err := s.Recall(ctx, 10, 1, 1000)
		require.NoError(t, err)
		require.True(t, m.Recalled)
		require.Empty(t, m.Text)
		got, err := s.Messages(ctx, []int64{1, 2})
		require.NoError(t, err)
		require.True(t, got[1].Recalled)
		require.Equal(t, "fine", got[2].Text)

		require.NoError(t, s.Delete(ctx, 20, 2))
		require.ErrorIs(t, s.Delete(ctx, 20, 2), ErrNoMessage)
		h, err := s.History(ctx, 20, 10, 0, 10)
		require.NoError(t, err)
		require.Equal(t, []int64{1}, idsOf(h))
		h, err = s.History(ctx, 10, 20, 0, 10)
		require.NoError(t, err)
		require.Equal(t, []int64{2, 1}, idsOf(h), "delete for me leaves the other side's copy")
		recent, err := s.Recent(ctx, 20, 10)
		require.NoError(t, err)
		require.Equal(t, []Entry{{UID: 20, ID: 1, Peer: 10}}, recent, "what the hot timeline is built from: without the deleted")
		recent, err = s.Recent(ctx, 10, 1)
		require.NoError(t, err)
		require.Equal(t, []Entry{{UID: 10, ID: 2, Peer: 20}}, recent, "newest first, limit kept")

		ch, err := s.SetMuted(ctx, 20, 10, true)
		require.NoError(t, err)
		require.True(t, ch.Changed)
		require.True(t, ch.Conv.Muted)
		c, ok, err := s.Conversation(ctx, 20, 10)
		require.NoError(t, err)
		require.True(t, ok)
		require.True(t, c.Muted)
		_, err = s.SetMuted(ctx, 20, 11, true)
		require.ErrorIs(t, err, ErrNoConversation)

		require.NoError(t, s.Block(ctx, 20, 10, 5))
		require.NoError(t, s.Block(ctx, 20, 10, 6))
		require.NoError(t, s.Block(ctx, 20, 11, 7))
		chk, err := s.CheckSend(ctx, 10, 20, "")
		require.NoError(t, err)
		require.True(t, chk.Blocked)
		require.Equal(t, AllowEveryone, chk.Settings.Allow)
		chk, err = s.CheckSend(ctx, 12, 20, "")
		require.NoError(t, err)
		require.False(t, chk.Blocked, "20 blocked 10 and 11, not 12")
		chk, err = s.CheckSend(ctx, 10, 20, "")
		require.NoError(t, err)
		require.False(t, chk.Wrote, "20 never wrote to 10")
		chk, err = s.CheckSend(ctx, 20, 10, "")
		require.NoError(t, err)
		require.True(t, chk.Wrote, "10 wrote to 20")
		chk, err = s.CheckSend(ctx, 12, 10, "")
		require.NoError(t, err)
		require.False(t, chk.Wrote, "no conversation")
		list, err := s.Blocks(ctx, 20, 10)
		require.NoError(t, err)
		require.Equal(t, []int64{11, 10}, list)
		ok, err = s.Unblock(ctx, 20, 10)
		require.NoError(t, err)
		require.True(t, ok)
		ok, err = s.Unblock(ctx, 20, 10)
		require.NoError(t, err)
		require.False(t, ok)

		st, err := s.Settings(ctx, 20)
		require.NoError(t, err)
		require.Equal(t, AllowEveryone, st.Allow)
		require.NoError(t, s.SetSettings(ctx, 20, Settings{Allow: AllowNobody}))
		require.NoError(t, s.SetSettings(ctx, 20, Settings{Allow: AllowNobody}))
		st, _ = s.Settings(ctx, 20)
		require.Equal(t, AllowNobody, st.Allow)
		require.NoError(t, s.SetSettings(ctx, 20, Settings{Allow: AllowFollowers}))
		chk, err = s.CheckSend(ctx, 12, 20, "")
		require.NoError(t, err)
		require.Equal(t, AllowFollowers, chk.Settings.Allow)
	})
}

// A muted conversation does not disturb: its messages count in its own unread, not in the
// user's total; muting takes them out of the total, unmuting puts them back, once each.
func TestStoreMutedConversationsLeaveTheBadge(t *testing.T) {
	sqltest.ForEach(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		s := newStore(t, db)
		total := func() int64 {
			n, err := s.Unread(ctx, 20)
			require.NoError(t, err)
			return n
		}
		conv := func(peer int64) Conversation {
			c, ok, err := s.Conversation(ctx, 20, peer)
			require.NoError(t, err)
			require.True(t, ok)
			return c
		}
		_, err := s.Apply(ctx, []Message{msg(1, 10, 20, "a"), msg(2, 11, 20, "b"), msg(3, 10, 20, "c")})
		require.NoError(t, err)
		require.EqualValues(t, 3, total())

		ch, err := s.SetMuted(ctx, 20, 10, true)
		require.NoError(t, err)
		require.True(t, ch.Changed)
		require.EqualValues(t, 1, ch.Total.Total, "the change carries the new total")
		require.EqualValues(t, 1, total(), "10's two unread messages left the badge")
		ch, err = s.SetMuted(ctx, 20, 10, true)
		require.NoError(t, err)
		require.False(t, ch.Changed, "muted already")
		require.EqualValues(t, 1, total())

		_, err = s.Apply(ctx, []Message{msg(4, 10, 20, "d"), msg(5, 11, 20, "e")})
		require.NoError(t, err)
		require.EqualValues(t, 2, total(), "only 11's new message")
		require.EqualValues(t, 3, conv(10).Unread, "the muted conversation still counts its own")

		_, err = s.MarkRead(ctx, 20, 10, 3)
		require.NoError(t, err)
		require.EqualValues(t, 1, conv(10).Unread)
		require.EqualValues(t, 2, total(), "reading a muted conversation leaves the badge as it is")

		_, err = s.SetMuted(ctx, 20, 10, false)
		require.NoError(t, err)
		require.EqualValues(t, 3, total(), "unmuted: its one unread message is back")
		_, err = s.MarkRead(ctx, 20, 10, 4)
		require.NoError(t, err)
		require.EqualValues(t, 2, total())
	})
}

// Replays of the same sends under different ids, applied at once by several writers, are one
// message each. On MySQL im_sends' key holds msg_id (it is partitioned by it), so this rests
// on the writer's locking read of the client ids, not on the key.
func TestStoreConcurrentReplaysAreOneMessage(t *testing.T) {
	sqltest.ForEach(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		s := newStore(t, db)
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for w := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var batch []Message
				for i := range 30 {
					m := msg(int64(w*1000+i+1), 10, 20, "x")
					m.ClientID = fmt.Sprint("c-", i)
					batch = append(batch, m)
				}
				if _, err := s.Apply(ctx, batch); err != nil {
					errs <- err
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
		for _, table := range []string{"im_messages", "im_sends"} {
			var n int
			require.NoError(t, db.QueryRow("SELECT COUNT(*) FROM "+table).Scan(&n))
			require.Equal(t, 30, n, table)
		}
		total, err := s.Unread(ctx, 20)
		require.NoError(t, err)
		require.EqualValues(t, 30, total)
	})
}

// Totals counted before muted conversations left them are counted again without them (v6).
func TestStoreTotalsRecountedWithoutMuted(t *testing.T) {
	sqltest.ForEach(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		require.NoError(t, db.Migrate(ctx, "im-chat", Migrations()[:5]))
		s := NewSQLStore(db)
		_, err := s.Apply(ctx, []Message{msg(1, 10, 20, "a"), msg(2, 11, 20, "b"), msg(3, 10, 20, "c")})
		require.NoError(t, err)
		// Muted as it was before v7: the flag alone, the total left as it was.
		_, err = db.ExecContext(ctx, "UPDATE im_conversations SET muted = 1 WHERE uid = 20 AND peer = 10")
		require.NoError(t, err)
		n, err := s.Unread(ctx, 20)
		require.NoError(t, err)
		require.EqualValues(t, 3, n)
		require.NoError(t, s.Migrate(ctx))
		n, err = s.Unread(ctx, 20)
		require.NoError(t, err)
		require.EqualValues(t, 1, n, "10's two unread messages are out of the total")
		_, err = s.SetMuted(ctx, 20, 10, false)
		require.NoError(t, err)
		n, err = s.Unread(ctx, 20)
		require.NoError(t, err)
		require.EqualValues(t, 3, n)
	})
}

// Settings are stored and replaced whole: do-not-disturb hours beside allow, kept while off,
// and gone when settings without them are stored.
func TestStoreSettingsWithDND(t *testing.T) {
	sqltest.ForEach(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		s := newStore(t, db)
		st, err := s.Settings(ctx, 20)
		require.NoError(t, err)
		require.Equal(t, Settings{}, st, "never set: everyone, no hours")

		want := Settings{Allow: AllowFollowers, DND: DND{On: true, From: "22:30", To: "07:15", TZ: "America/Argentina/Buenos_Aires"}}
		require.NoError(t, s.SetSettings(ctx, 20, want))
		st, err = s.Settings(ctx, 20)
		require.NoError(t, err)
		require.Equal(t, want, st)
		other, err := s.Settings(ctx, 21)
		require.NoError(t, err)
		require.Equal(t, Settings{}, other, "another user's row")

		want.DND.On = false // off, the hours kept
		require.NoError(t, s.SetSettings(ctx, 20, want))
		st, err = s.Settings(ctx, 20)
		require.NoError(t, err)
		require.Equal(t, want, st)

		require.NoError(t, s.SetSettings(ctx, 20, Settings{Allow: AllowNobody}))
		st, err = s.Settings(ctx, 20)
		require.NoError(t, err)
		require.Equal(t, Settings{Allow: AllowNobody}, st, "replaced whole: no hours")
		chk, err := s.CheckSend(ctx, 10, 20, "")
		require.NoError(t, err)
		require.Equal(t, AllowNobody, chk.Settings.Allow)
	})
}

// A settings row stored before v7 keeps its allow and has do-not-disturb off, with no hours;
// it takes hours after.
func TestStoreSettingsMigratedToDND(t *testing.T) {
	sqltest.ForEach(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		require.NoError(t, db.Migrate(ctx, "im-chat", Migrations()[:6]))
		_, err := db.ExecContext(ctx, "INSERT INTO im_settings (uid, allow) VALUES (20, 1)")
		require.NoError(t, err)
		s := NewSQLStore(db)
		require.NoError(t, s.Migrate(ctx))
		st, err := s.Settings(ctx, 20)
		require.NoError(t, err)
		require.Equal(t, Settings{Allow: AllowFollowers}, st)
		want := Settings{Allow: AllowFollowers, DND: DND{On: true, From: "23:00", To: "06:00", TZ: "Europe/Berlin"}}
		require.NoError(t, s.SetSettings(ctx, 20, want))
		st, err = s.Settings(ctx, 20)
		require.NoError(t, err)
		require.Equal(t, want, st)
	})
}
