package danmaku

import (
	"flag"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/pkg/hotkey"
)

func TestConfigFlags(t *testing.T) {
	var c Config
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	c.RegisterFlags(fs, "danmaku.")
	require.NotNil(t, fs.Lookup("danmaku.hotkeys.k"))
	c.HotKeys = hotkey.Config{} // the detector's own flags are tested in pkg/hotkey
	require.Equal(t, Config{MaxRunes: 100, Rate: 1, Burst: 3, HistorySize: 50, PushTimeout: 3 * time.Second, RelayInterval: time.Second, MuteCacheTTL: time.Second,
		HotThreshold: 5000, HotHistoryTTL: time.Second, ReplyWindow: 24 * time.Hour}, c)
	require.NoError(t, c.Validate())
	for _, name := range []string{"max_runes", "rate", "burst", "history_size", "push_timeout", "mute_cache_ttl", "hot_threshold", "hot_history_ttl", "reply_window"} {
		f := fs.Lookup("danmaku." + name)
		require.NotNil(t, f, name)
		require.NotEmpty(t, f.Usage, name)
	}
	require.NoError(t, fs.Parse([]string{
		"-danmaku.rate", "0.5", "-danmaku.burst", "10",
		"-danmaku.max_runes", "20", "-danmaku.history_size", "7", "-danmaku.push_timeout", "1s", "-danmaku.mute_cache_ttl", "0",
		"-danmaku.hot_threshold", "0", "-danmaku.hot_history_ttl", "0", "-danmaku.reply_window", "0",
	}))
	require.Equal(t, Config{MaxRunes: 20, Rate: 0.5, Burst: 10,
		HistorySize: 7, PushTimeout: time.Second, RelayInterval: time.Second, MuteCacheTTL: 0}, c)
	def := DefaultConfig()
	def.HotKeys = hotkey.Config{}
	require.Equal(t, def, Config{MaxRunes: 100, Rate: 1, Burst: 3, HistorySize: 50, PushTimeout: 3 * time.Second, RelayInterval: time.Second, MuteCacheTTL: time.Second,
		HotThreshold: 5000, HotHistoryTTL: time.Second, ReplyWindow: 24 * time.Hour})
}

func TestConfigValidate(t *testing.T) {
	for _, c := range []struct {
		edit func(*Config)
		err  string
	}{
		{func(c *Config) { c.MaxRunes = 0 }, "danmaku.max_runes"},
		{func(c *Config) { c.HotThreshold = -1 }, "danmaku.hot_threshold"},
		{func(c *Config) { c.HotHistoryTTL = -time.Second }, "danmaku.hot_history_ttl"},
		{func(c *Config) { c.MaxRunes = 501 }, "danmaku.max_runes"},
		{func(c *Config) { c.Rate = -1 }, "danmaku.rate"},
		{func(c *Config) { c.Burst = 0 }, "danmaku.burst"},
		{func(c *Config) { c.HistorySize = 0 }, "danmaku.history_size"},
		{func(c *Config) { c.HistorySize = 1001 }, "danmaku.history_size"},
		{func(c *Config) { c.PushTimeout = -time.Second }, "danmaku.push_timeout"},
		{func(c *Config) { c.MuteCacheTTL = -time.Second }, "danmaku.mute_cache_ttl"},
		{func(c *Config) { c.ReplyWindow = -time.Second }, "danmaku.reply_window"},
	} {
		cfg := DefaultConfig()
		c.edit(&cfg)
		require.ErrorContains(t, cfg.Validate(), c.err)
	}
	cfg := DefaultConfig()
	cfg.Rate, cfg.Burst = 0, 0 // no limit: burst is irrelevant
	require.NoError(t, cfg.Validate())
}
