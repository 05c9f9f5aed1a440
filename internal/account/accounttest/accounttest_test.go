package accounttest

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/account"
	"github.com/zhibo-live/zhibo/internal/platform/apierr"
)

// TestFixedUsers: only the users of New and Add exist.
func TestFixedUsers(t *testing.T) {
	ctx := context.Background()
	f := New(map[int64]string{1: "alice"})
	f.Add(2)
	uid, err := f.Verify(ctx, Token(2))
	require.NoError(t, err)
	require.Equal(t, int64(2), uid)
	_, err = f.Verify(ctx, Token(3))
	require.ErrorIs(t, err, apierr.Unauthorized)
	_, err = f.User(ctx, 3)
	require.ErrorIs(t, err, account.ErrUserNotFound)
	names, err := f.Names(ctx, []int64{1, 2, 3})
	require.NoError(t, err)
	require.Equal(t, map[int64]string{1: "alice", 2: "user2"}, names)
	uids, err := f.UIDs(ctx, []string{"ALICE", "user2", "user3"})
	require.NoError(t, err)
	require.Equal(t, map[string]int64{"ALICE": 1, "user2": 2}, uids)
}

// TestKnowAll: every positive uid is a user, named user<uid> unless named in New.
func TestKnowAll(t *testing.T) {
	ctx := context.Background()
	f := New(map[int64]string{1: "alice"})
	f.KnowAll()
	uid, err := f.Verify(ctx, Token(12345))
	require.NoError(t, err)
	require.Equal(t, int64(12345), uid)
	_, err = f.Verify(ctx, Token(0))
	require.ErrorIs(t, err, apierr.Unauthorized)
	u, err := f.User(ctx, 7)
	require.NoError(t, err)
	require.Equal(t, account.User{UID: 7, Name: "user7"}, u)
	_, err = f.User(ctx, -1)
	require.ErrorIs(t, err, account.ErrUserNotFound)
	names, err := f.Names(ctx, []int64{1, 7, 0})
	require.NoError(t, err)
	require.Equal(t, map[int64]string{1: "alice", 7: "user7"}, names)
	uids, err := f.UIDs(ctx, []string{"alice", "User7", "user1", "user07", "user", "userx"})
	require.NoError(t, err)
	require.Equal(t, map[string]int64{"alice": 1, "User7": 7}, uids, "user1 is alice, user07 nobody's name")

	down := errors.New("connection refused")
	f.Fail(down)
	_, err = f.User(ctx, 7)
	require.ErrorIs(t, err, down)
}
