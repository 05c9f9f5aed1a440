package app

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/config"
	"github.com/zhibo-live/zhibo/internal/im/chat"
	"github.com/zhibo-live/zhibo/internal/im/group"
	"github.com/zhibo-live/zhibo/internal/im/notice"
	"github.com/zhibo-live/zhibo/internal/platform/grpcx"
	"github.com/zhibo-live/zhibo/internal/platform/queue/queuetest"
)

// The IM components answer over gRPC what they answer in process — the inbox's reads: a page
// of conversations with its last messages and the unread total, a page of groups with their
// unread counts, unread notices by kind — and an error keeps its kind across the wire.
func TestRemoteIMClientsMatchLocal(t *testing.T) {
	natsURL := queuetest.URL(t)
	a, _ := startAll(t, filepath.Join(t.TempDir(), "data"), func(c *config.Config) {
		c.GRPCAddr = "127.0.0.1:0"
		c.Queue.URL, c.Queue.Namespace = natsURL, queuetest.Namespace(t, natsURL, "remoteim")
	})
	cc, err := grpcx.Dial(a.GRPCAddr().String())
	require.NoError(t, err)
	t.Cleanup(func() { cc.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	alice, err := a.Account.SignUp(ctx, "im_alice", "password1")
	require.NoError(t, err)
	bob, err := a.Account.SignUp(ctx, "im_bob", "password1")
	require.NoError(t, err)

	// im-chat
	sent, _, err := a.IMChat.Send(ctx, alice.UID, chat.SendInput{To: bob.UID, Text: "over the wire", ClientID: "w1"})
	require.NoError(t, err)
	require.Eventually(t, func() bool { n, err := a.IMChat.Unread(ctx, bob.UID); return err == nil && n == 1 },
		10*time.Second, 10*time.Millisecond, "stored")
	chats := chat.NewRemote(cc)
	for _, folder := range []int{chat.FolderAll, chat.FolderMain, chat.FolderStrangers} {
		got, err := chats.Conversations(ctx, bob.UID, folder, "", 10)
		require.NoError(t, err)
		want, err := a.IMChat.Conversations(ctx, bob.UID, folder, "", 10)
		require.NoError(t, err)
		require.Equal(t, want, got, "folder %s", chat.FolderName(folder))
	}
	got, err := chats.Conversations(ctx, bob.UID, chat.FolderAll, "", 10)
	require.NoError(t, err)
	require.Len(t, got.Items, 1)
	require.Equal(t, "im_alice", got.Items[0].PeerName)
	require.Equal(t, sent.ID, got.Items[0].Last.ID)
	require.Equal(t, "over the wire", got.Items[0].Last.Text)
	require.EqualValues(t, 1, got.Items[0].Unread)
	n, err := chats.Unread(ctx, bob.UID)
	require.NoError(t, err)
	require.EqualValues(t, 1, n)
	_, err = chats.Conversations(ctx, bob.UID, chat.FolderAll, "not-a-cursor", 10)
	require.ErrorIs(t, err, chat.ErrBadInput, "the refusal keeps its kind across gRPC")

	// im-group
	g, err := a.IMGroup.Create(ctx, alice.UID, "wire group", []int64{bob.UID})
	require.NoError(t, err)
	_, _, err = a.IMGroup.Send(ctx, alice.UID, g.ID, group.SendInput{Text: "to the group"})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		p, err := a.IMGroup.Groups(ctx, bob.UID, "", 10)
		return err == nil && len(p.Items) == 1 && p.Items[0].Unread == 1
	}, 10*time.Second, 10*time.Millisecond, "stored")
	groups := group.NewRemote(cc)
	gotGroups, err := groups.Groups(ctx, bob.UID, "", 10)
	require.NoError(t, err)
	wantGroups, err := a.IMGroup.Groups(ctx, bob.UID, "", 10)
	require.NoError(t, err)
	require.Equal(t, wantGroups, gotGroups)
	require.Equal(t, "to the group", gotGroups.Items[0].Last.Text)
	_, err = groups.Groups(ctx, bob.UID, "bad", 10)
	require.ErrorIs(t, err, group.ErrBadInput)

	// im-notice
	notices := notice.NewRemote(cc)
	unread, err := notices.UnreadByKind(ctx, bob.UID)
	require.NoError(t, err)
	require.Equal(t, map[string]int64{"system": 0, "mention": 0, "like": 0, "follow": 0, "reply": 0}, unread)
	_, err = a.IMNotice.Send(ctx, notice.Batch{Notice: notice.Notice{Business: "test", Kind: notice.KindSystem,
		Lane: notice.LaneHigh, Title: "hello", Body: "over the wire"}, Recipients: notice.Recipients{UIDs: []int64{bob.UID}}})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		u, err := a.IMNotice.UnreadByKind(ctx, bob.UID)
		return err == nil && u["system"] == 1
	}, 10*time.Second, 10*time.Millisecond, "delivered")
	unread, err = notices.UnreadByKind(ctx, bob.UID)
	require.NoError(t, err)
	local, err := a.IMNotice.UnreadByKind(ctx, bob.UID)
	require.NoError(t, err)
	require.Equal(t, local, unread)
	require.Equal(t, map[string]int64{"system": 1, "mention": 0, "like": 0, "follow": 0, "reply": 0}, unread)

	// A caller's deadline crosses the wire: the serving side's context ends when the caller's
	// does.
	s := grpcx.NewServer("127.0.0.1:0", a.logger("test"))
	seen := make(chan time.Time, 1)
	chat.RegisterGRPC(s, deadlineSeen{Client: a.IMChat, seen: seen})
	require.NoError(t, s.Start(ctx))
	t.Cleanup(func() { _ = s.Stop(context.Background()) })
	cc2, err := grpcx.Dial(s.Addr().String())
	require.NoError(t, err)
	t.Cleanup(func() { cc2.Close() })
	deadline := time.Now().Add(5 * time.Second)
	dctx, stop := context.WithDeadline(ctx, deadline)
	defer stop()
	_, err = chat.NewRemote(cc2).Unread(dctx, bob.UID)
	require.NoError(t, err)
	require.WithinDuration(t, deadline, <-seen, 100*time.Millisecond)
}

// deadlineSeen is a chat.Client that reports the deadline of each Unread call's context.
type deadlineSeen struct {
	chat.Client
	seen chan<- time.Time
}

func (d deadlineSeen) Unread(ctx context.Context, uid int64) (int64, error) {
	dl, _ := ctx.Deadline()
	d.seen <- dl
	return d.Client.Unread(ctx, uid)
}
