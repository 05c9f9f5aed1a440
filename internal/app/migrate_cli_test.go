package app

import (
	"context"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/config"
	"github.com/zhibo-live/zhibo/internal/platform/obs"
)

func TestEveryStoreOwnerHasASchema(t *testing.T) {
	for _, c := range registry {
		require.Equal(t, c.Store, c.schema != nil, c.Name)
		if c.schema != nil {
			require.NotEmpty(t, c.schema(), c.Name)
		}
	}
}

// zhibo migrate status shows what a store lacks without applying it; up applies it; a node
// then starts on the migrated stores.
func TestMigrateCommand(t *testing.T) {
	dir := t.TempDir()
	code, out, errs := run("migrate", "status", "-data_dir", dir)
	require.Equal(t, 0, code, errs)
	require.Regexp(t, `(?m)^room +sqlite \(data_dir\) +none +v1 rooms, v2 likes, v3 covers, v4 switches, v5 stream key index, v6 stream confirmations$`, out)
	require.Regexp(t, `(?m)^danmaku .* none +v1 comments and mutes, v2 comment outbox, v3 comment replies$`, out)

	code, out, errs = run("migrate", "up", "-data_dir", dir, "-components", "room,danmaku")
	require.Equal(t, 0, code, errs)
	require.Regexp(t, `(?m)^room .* v6 stream confirmations +none$`, out)
	require.NotContains(t, out, "account", "only the named components")

	code, out, _ = run("migrate", "status", "-data_dir", dir)
	require.Equal(t, 0, code)
	require.Regexp(t, `(?m)^room .* v6 stream confirmations +none$`, out)
	require.Regexp(t, `(?m)^account .* none +v1 users`, out, "account was not named, so not migrated")
	require.Len(t, regexp.MustCompile(`(?m) none$`).FindAllString(out, -1), 2, "room and danmaku have nothing pending:\n%s", out)

	code, _, errs = run("migrate", "up", "-data_dir", dir, "-components", "comet")
	require.Equal(t, 1, code)
	require.Contains(t, errs, `"comet" is not a component that owns tables`)
	code, _, _ = run("migrate", "sideways")
	require.Equal(t, 1, code)

	cfg := config.Defaults()
	cfg.DataDir = dir
	cfg.Gateway.HTTPAddr, cfg.Comet.TCPAddr, cfg.Media.RTMPAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	a, err := New(cfg, AllNames(), obs.Discard())
	require.NoError(t, err)
	require.NoError(t, a.Start(context.Background()))
	require.NoError(t, a.Stop(context.Background()))
	code, out, _ = run("migrate", "status", "-data_dir", dir)
	require.Equal(t, 0, code)
	require.Len(t, regexp.MustCompile(`(?m) none$`).FindAllString(out, -1), 7, "the node applied the rest at start:\n%s", out)
}
