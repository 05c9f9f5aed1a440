package app

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/config"
	"github.com/zhibo-live/zhibo/internal/platform/obs"
	"github.com/zhibo-live/zhibo/internal/room"
)

// zhibo backup copies a running node's store and key; a node started on the copy has the
// users, rooms and comments of the moment of the backup, and the tokens it had issued still
// hold. What was written after the backup is not in it.
func TestBackupAndRestore(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	cfg := config.Defaults()
	cfg.DataDir = data
	cfg.Gateway.HTTPAddr, cfg.Comet.TCPAddr, cfg.Media.RTMPAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.Account.BcryptCost = 4
	a, err := New(cfg, AllNames(), obs.Discard())
	require.NoError(t, err)
	require.NoError(t, a.Start(context.Background()))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sess, err := a.Account.SignUp(ctx, "kept", "password1")
	require.NoError(t, err)
	rm, err := a.Room.Create(ctx, sess.UID, room.Fields{Title: ptr("before the backup")})
	require.NoError(t, err)
	_, err = a.Danmaku.Send(ctx, rm.ID, sess.UID, "kept comment", 0, 0, 0)
	require.NoError(t, err)

	out := filepath.Join(dir, "backup")
	var stdout, stderr bytes.Buffer
	require.Equal(t, 0, Main([]string{"backup", "-data_dir", data, "-out", out}, &stdout, &stderr), stderr.String())
	require.Contains(t, stdout.String(), "room     in zhibo.db")
	require.Contains(t, stdout.String(), "secret   in secret")
	require.Equal(t, 1, Main([]string{"backup", "-data_dir", data, "-out", out}, &stdout, &stderr), "the directory must be new")

	late, err := a.Account.SignUp(ctx, "after_backup", "password1")
	require.NoError(t, err)
	require.NoError(t, a.Stop(context.Background()))

	// Restore into a fresh data dir and start there.
	restored := filepath.Join(dir, "restored")
	require.NoError(t, os.Mkdir(restored, 0o700))
	for _, f := range []string{"zhibo.db", "secret"} {
		b, err := os.ReadFile(filepath.Join(out, f))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(restored, f), b, 0o600))
	}
	b, _ := startAll(t, restored, nil)
	uid, err := b.Account.Verify(ctx, sess.Token)
	require.NoError(t, err, "the signing key came back: earlier tokens still hold")
	require.Equal(t, sess.UID, uid)
	got, err := b.Room.Get(ctx, rm.ID)
	require.NoError(t, err)
	require.Equal(t, "before the backup", got.Title)
	hist, err := b.Danmaku.History(ctx, rm.ID, 10)
	require.NoError(t, err)
	require.Len(t, hist, 1)
	require.Equal(t, "kept comment", hist[0].Text)
	_, err = b.Account.User(ctx, late.UID)
	require.Error(t, err, "what came after the backup is not in it")
}
