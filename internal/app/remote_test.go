package app

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/account"
	"github.com/zhibo-live/zhibo/internal/config"
	"github.com/zhibo-live/zhibo/internal/danmaku"
	"github.com/zhibo-live/zhibo/internal/gift"
	"github.com/zhibo-live/zhibo/internal/media"
	"github.com/zhibo-live/zhibo/internal/platform/apierr"
	"github.com/zhibo-live/zhibo/internal/platform/grpcx"
	"github.com/zhibo-live/zhibo/internal/platform/queue/queuetest"
	"github.com/zhibo-live/zhibo/internal/room"
)

// Every business component answers over gRPC what it answers in process: the remote client
// (what another process uses, through the same Go interface) gets the same values, and an
// error keeps its kind across the wire, so errors.Is against the component's sentinel holds.
func TestRemoteClientsMatchLocal(t *testing.T) {
	natsURL := queuetest.URL(t)
	a, _ := startAll(t, filepath.Join(t.TempDir(), "data"), func(c *config.Config) {
		c.GRPCAddr = "127.0.0.1:0"
		c.Queue.URL, c.Queue.Namespace = natsURL, queuetest.Namespace(t, natsURL, "remote")
		c.Gift.InitialBalance = 70
	})
	cc, err := grpcx.Dial(a.GRPCAddr().String())
	require.NoError(t, err)
	t.Cleanup(func() { cc.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	sess, err := a.Account.SignUp(ctx, "remote_owner", "password1")
	require.NoError(t, err)
	rm, err := a.Room.Create(ctx, sess.UID, room.Fields{Title: ptr("over the wire")})
	require.NoError(t, err)
	_, err = a.Room.SetLive(ctx, sess.UID, rm.ID, true)
	require.NoError(t, err)

	// account
	accounts := account.NewRemote(cc, 0)
	uid, err := accounts.Verify(ctx, sess.Token)
	require.NoError(t, err)
	require.Equal(t, sess.UID, uid)
	_, err = accounts.Verify(ctx, sess.Token+"x")
	require.ErrorIs(t, err, account.ErrTokenInvalid)
	require.Equal(t, 401, apierr.From(err).Status)
	u, err := accounts.User(ctx, sess.UID)
	require.NoError(t, err)
	local, err := a.Account.User(ctx, sess.UID)
	require.NoError(t, err)
	require.Equal(t, local, u)
	_, err = accounts.User(ctx, 999_999)
	require.ErrorIs(t, err, account.ErrUserNotFound)
	many := make([]int64, 2500) // more than one call carries
	for i := range many {
		many[i] = int64(i + 1)
	}
	names, err := accounts.Names(ctx, many)
	require.NoError(t, err)
	require.Equal(t, map[int64]string{sess.UID: "remote_owner"}, names)
	byName, err := accounts.UIDs(ctx, []string{"Remote_Owner", "nobody"})
	require.NoError(t, err)
	require.Equal(t, map[string]int64{"Remote_Owner": sess.UID}, byName)
	follower, err := a.Account.SignUp(ctx, "remote_follower", "password1")
	require.NoError(t, err)
	require.NoError(t, a.Account.Follow(ctx, follower.UID, sess.UID))
	pairs := make([]account.FollowPair, 1500) // more than one call carries, the answer in order
	pairs[1] = account.FollowPair{Follower: follower.UID, Followee: sess.UID}
	pairs[1200] = account.FollowPair{Follower: sess.UID, Followee: follower.UID}
	pairs[1499] = account.FollowPair{Follower: follower.UID, Followee: sess.UID}
	follows, err := accounts.Follows(ctx, pairs)
	require.NoError(t, err)
	require.Len(t, follows, len(pairs))
	var yes []int
	for i, f := range follows {
		if f {
			yes = append(yes, i)
		}
	}
	require.Equal(t, []int{1, 1499}, yes)

	// room
	rooms := room.NewRemote(cc, 0)
	got, err := rooms.Get(ctx, rm.ID)
	require.NoError(t, err)
	want, err := a.Room.Get(ctx, rm.ID)
	require.NoError(t, err)
	require.Equal(t, want, got, "every field, the stream key and live state included")
	require.True(t, got.Live)
	require.NotEmpty(t, got.StreamKey)
	require.NoError(t, rooms.SetTag(ctx, rm.ID, "lottery", true))
	got, err = a.Room.Get(ctx, rm.ID)
	require.NoError(t, err)
	require.Contains(t, got.Tags, "lottery")
	_, err = a.Room.SetRoomSwitches(ctx, rm.ID, []string{"rank"})
	require.NoError(t, err)
	got, err = rooms.Get(ctx, rm.ID)
	require.NoError(t, err)
	require.Equal(t, []string{"rank"}, got.Off, "the switches cross the wire")
	gotRoom, gotView, err := rooms.View(ctx, rm.ID, sess.UID)
	require.NoError(t, err)
	wantRoom, wantView, err := a.Room.View(ctx, rm.ID, sess.UID)
	require.NoError(t, err)
	require.Equal(t, wantRoom, gotRoom)
	require.Equal(t, wantView, gotView, "every module of the view, the owner's stream key included")
	require.NotEmpty(t, gotView.Live.StreamKey)
	gotPage, err := rooms.List(ctx, "", 10, 0)
	require.NoError(t, err)
	wantPage, err := a.Room.List(ctx, "", 10, 0)
	require.NoError(t, err)
	require.Equal(t, wantPage, gotPage)
	_, _, err = rooms.View(ctx, 424242, 0)
	require.ErrorIs(t, err, room.ErrRoomNotFound)
	_, err = rooms.Get(ctx, 424242)
	require.ErrorIs(t, err, room.ErrRoomNotFound)
	require.ErrorIs(t, rooms.SetTag(ctx, 424242, "lottery", true), room.ErrRoomNotFound)
	// the media path: a stream key names its room, a wrong one is refused with its kind, and
	// the video sets the live status
	keyRoom, err := rooms.StreamRoom(ctx, got.StreamKey)
	require.NoError(t, err)
	require.Equal(t, rm.ID, keyRoom)
	_, err = rooms.StreamRoom(ctx, "live_wrong")
	require.ErrorIs(t, err, room.ErrBadStreamKey)
	require.NoError(t, rooms.SetStreamLive(ctx, rm.ID, false))
	got, err = a.Room.Get(ctx, rm.ID)
	require.NoError(t, err)
	require.False(t, got.Live)
	require.ErrorIs(t, rooms.SetStreamLive(ctx, 424242, true), room.ErrRoomNotFound)
	require.NoError(t, rooms.ConfirmStreams(ctx, "media-remote", []int64{rm.ID, 424242}))
	err = rooms.ConfirmStreams(ctx, "media-remote", make([]int64, 10001))
	require.ErrorIs(t, err, room.ErrBadRoom, "too many rooms in one confirmation, its kind across the wire")

	// gift
	gifts := gift.NewRemote(cc)
	bal, err := gifts.Balance(ctx, sess.UID)
	require.NoError(t, err)
	require.EqualValues(t, 70, bal)
	catalog, err := gifts.Gifts(ctx)
	require.NoError(t, err)
	require.Equal(t, a.Gift.Catalog(), catalog)
	rank, err := gifts.RankOf(ctx, wantRoom, 5)
	require.NoError(t, err)
	localRank, err := a.Gift.RankOf(ctx, wantRoom, 5)
	require.NoError(t, err)
	require.Equal(t, localRank, rank)

	// danmaku
	comments := danmaku.NewRemote(cc)
	id, err := comments.Send(ctx, rm.ID, sess.UID, "hello from afar", 0xFF0000, 5, 0)
	require.NoError(t, err)
	reply, err := comments.Send(ctx, rm.ID, sess.UID, "and a reply", 0, 0, id)
	require.NoError(t, err)
	hist, err := comments.History(ctx, rm.ID, 10)
	require.NoError(t, err)
	localHist, err := a.Danmaku.History(ctx, rm.ID, 10)
	require.NoError(t, err)
	require.Equal(t, localHist, hist)
	require.Len(t, hist, 2)
	require.Equal(t, id, hist[0].ID)
	require.Equal(t, reply, hist[1].ID)
	require.Equal(t, id, hist[1].ReplyTo, "a reply's fields cross the wire")
	require.Equal(t, sess.UID, hist[1].ReplyUID)
	require.NotEmpty(t, hist[1].ReplyUname)
	_, err = comments.Send(ctx, rm.ID, sess.UID, "", 0, 0, 0)
	require.ErrorIs(t, err, danmaku.ErrBadInput)
	_, err = comments.Send(ctx, rm.ID, sess.UID, "to nothing", 0, 0, 1)
	require.ErrorIs(t, err, danmaku.ErrReplyNotFound, "the refusal keeps its kind across gRPC")
	fan, err := a.Account.SignUp(ctx, "remote_fan", "password1")
	require.NoError(t, err)
	muted, err := comments.IsMuted(ctx, rm.ID, fan.UID)
	require.NoError(t, err)
	require.False(t, muted)
	_, err = a.Danmaku.Mute(ctx, rm.ID, sess.UID, fan.UID)
	require.NoError(t, err)
	muted, err = comments.IsMuted(ctx, rm.ID, fan.UID)
	require.NoError(t, err)
	require.True(t, muted)
	_, err = a.Room.SetRoomSwitches(ctx, rm.ID, []string{"comments"})
	require.NoError(t, err)
	_, err = comments.Send(ctx, rm.ID, sess.UID, "while off", 0, 0, 0)
	require.ErrorIs(t, err, danmaku.ErrCommentsOff, "the refusal keeps its kind across gRPC")
	_, err = comments.Send(ctx, 424242, sess.UID, "nobody here", 0, 0, 0)
	require.True(t, errors.Is(err, room.ErrRoomNotFound) || apierr.From(err).Status == 404, "unknown room: %v", err)

	// media
	videos := media.NewRemote(cc)
	vv, err := videos.VideoViewers(ctx, []int64{rm.ID, rm.ID + 1})
	require.NoError(t, err)
	localVV, err := a.Media.VideoViewers(ctx, []int64{rm.ID, rm.ID + 1})
	require.NoError(t, err)
	require.Equal(t, localVV, vv)
	_, err = videos.VideoViewers(ctx, make([]int64, 10001))
	require.Equal(t, 400, apierr.From(err).Status, "too many rooms in one call")

	// The server counted those calls by method and code.
	handled := func(code string) float64 {
		fams, err := a.Reg.Gather()
		require.NoError(t, err)
		for _, f := range fams {
			if f.GetName() != "grpc_server_handled_total" {
				continue
			}
			for _, m := range f.GetMetric() {
				l := map[string]string{}
				for _, p := range m.GetLabel() {
					l[p.GetName()] = p.GetValue()
				}
				if l["grpc_service"] == "zhibo.account.v1.AccountService" && l["grpc_method"] == "Verify" && l["grpc_code"] == code {
					return m.GetCounter().GetValue()
				}
			}
		}
		return -1
	}
	require.Equal(t, 1.0, handled("OK"))
	require.Equal(t, 1.0, handled("Unauthenticated"))
}

// With peers.cache_ttl a remote keeps what it was told for that long: a changed room is seen
// at most the TTL late, a SetTag through the remote drops its copy at once, and an unknown
// room is asked again every time (errors are not kept).
func TestRemoteCacheTTL(t *testing.T) {
	natsURL := queuetest.URL(t)
	a, _ := startAll(t, filepath.Join(t.TempDir(), "data"), func(c *config.Config) {
		c.GRPCAddr = "127.0.0.1:0"
		c.Queue.URL, c.Queue.Namespace = natsURL, queuetest.Namespace(t, natsURL, "cache")
	})
	cc, err := grpcx.Dial(a.GRPCAddr().String())
	require.NoError(t, err)
	t.Cleanup(func() { cc.Close() })
	ctx := context.Background()
	sess, err := a.Account.SignUp(ctx, "cache_owner", "password1")
	require.NoError(t, err)
	rm, err := a.Room.Create(ctx, sess.UID, room.Fields{Title: ptr("before")})
	require.NoError(t, err)

	const ttl = 2 * time.Second // long enough for the steps below on a loaded machine
	// Within the TTL the kept copy answers. A round (Get, Update, Get) that a busy machine
	// stretched past the TTL asserts nothing — its copy may have gone meanwhile — and is done
	// again on a fresh cache; a round that stays within the TTL must see the kept copy.
	var (
		rooms *room.Remote
		title string
		got   room.Room
	)
	for round := 1; ; round++ {
		require.LessOrEqual(t, round, 5, "no round of Get, Update, Get stayed within the TTL")
		start := time.Now() // the copy is kept from after start: it lasts at least until start+ttl
		rooms = room.NewRemote(cc, ttl)
		kept, err := rooms.Get(ctx, rm.ID)
		require.NoError(t, err)
		title = fmt.Sprintf("after %d", round)
		_, err = a.Room.Update(ctx, sess.UID, rm.ID, room.Fields{Title: ptr(title)})
		require.NoError(t, err)
		got, err = rooms.Get(ctx, rm.ID)
		require.NoError(t, err)
		if took := time.Since(start); took >= ttl {
			t.Logf("round %d took %s, past the TTL: again", round, took)
			continue
		}
		require.Equal(t, kept.Title, got.Title, "within the TTL the kept copy answers")
		require.NotEqual(t, title, got.Title)
		break
	}
	require.Eventually(t, func() bool { got, err := rooms.Get(ctx, rm.ID); return err == nil && got.Title == title },
		10*time.Second, 20*time.Millisecond, "after the TTL the room is asked again")
	require.NoError(t, rooms.SetTag(ctx, rm.ID, "lottery", true))
	got, err = rooms.Get(ctx, rm.ID)
	require.NoError(t, err)
	require.Contains(t, got.Tags, "lottery", "SetTag dropped the kept copy")
	// View is never kept: a switch set a moment ago shows there at once, in Get after the TTL.
	_, err = a.Room.SetRoomSwitches(ctx, rm.ID, []string{"rank"})
	require.NoError(t, err)
	viewed, _, err := rooms.View(ctx, rm.ID, 0)
	require.NoError(t, err)
	require.Equal(t, []string{"rank"}, viewed.Off)
	require.Eventually(t, func() bool { got, err := rooms.Get(ctx, rm.ID); return err == nil && len(got.Off) == 1 },
		10*time.Second, 20*time.Millisecond, "after the TTL the switches are seen through Get too")

	accounts := account.NewRemote(cc, ttl)
	u, err := accounts.User(ctx, sess.UID)
	require.NoError(t, err)
	require.Equal(t, "cache_owner", u.Name)
	uid, err := accounts.Verify(ctx, sess.Token)
	require.NoError(t, err)
	require.Equal(t, sess.UID, uid)
	_, err = accounts.Verify(ctx, "not-a-token")
	require.ErrorIs(t, err, account.ErrTokenInvalid, "refusals are not kept, nor turned into acceptances")
}

func ptr[T any](v T) *T { return &v }

// BenchmarkRemoteCall measures what a call to another process adds: room.Get and
// account.Verify in process and over gRPC on loopback (a real server, the same codec and
// interceptors a cluster uses), reporting p50 and p99 per call.
//
//	go test -run '^$' -bench RemoteCall -benchtime 20000x ./internal/app
func BenchmarkRemoteCall(b *testing.B) {
	natsURL := queuetest.URL(b)
	a, _ := startAll(b, filepath.Join(b.TempDir(), "data"), func(c *config.Config) {
		c.GRPCAddr = "127.0.0.1:0"
		c.Queue.URL, c.Queue.Namespace = natsURL, queuetest.Namespace(b, natsURL, "bench")
		c.Log.Level = "error"
	})
	cc, err := grpcx.Dial(a.GRPCAddr().String())
	require.NoError(b, err)
	b.Cleanup(func() { cc.Close() })
	ctx := context.Background()
	sess, err := a.Account.SignUp(ctx, "bench_owner", "password1")
	require.NoError(b, err)
	rm, err := a.Room.Create(ctx, sess.UID, room.Fields{Title: ptr("bench")})
	require.NoError(b, err)
	remoteRooms, remoteAccounts := room.NewRemote(cc, 0), account.NewRemote(cc, 0)
	for _, bc := range []struct {
		name string
		call func() error
	}{
		{"room.Get/local", func() error { _, err := a.Room.Get(ctx, rm.ID); return err }},
		{"room.Get/grpc", func() error { _, err := remoteRooms.Get(ctx, rm.ID); return err }},
		{"account.Verify/local", func() error { _, err := a.Account.Verify(ctx, sess.Token); return err }},
		{"account.Verify/grpc", func() error { _, err := remoteAccounts.Verify(ctx, sess.Token); return err }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			require.NoError(b, bc.call()) // warm: connection, caches
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for range b.N {
				start := time.Now()
				if err := bc.call(); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(start))
			}
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2])/1e3, "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100])/1e3, "p99-µs")
		})
	}
}
