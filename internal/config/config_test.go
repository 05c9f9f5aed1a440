package config

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/gateway"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestDefaultsAreValid(t *testing.T) {
	c := Defaults()
	require.NoError(t, c.Validate())
	require.Equal(t, ":8080", c.Gateway.HTTPAddr)
	require.Equal(t, "sqlite", c.Store.Driver)
}

func TestLoadOrderDefaultsYAMLEnvFlags(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "zhibo.yaml")
	require.NoError(t, os.WriteFile(file, []byte(`
data_dir: /from/yaml
gateway:
  http_addr: ":1111"
  request_timeout: 3s
comet:
  buckets: 7
account:
  bcrypt_cost: 11
`), 0o644))
	var out bytes.Buffer
	c, rest, err := Load("t", []string{"-config", file, "-comet.buckets", "9", "extra"},
		env(map[string]string{"ZHIBO_GATEWAY_HTTP_ADDR": ":2222", "ZHIBO_COMET_BUCKETS": "8"}), &out, nil)
	require.NoError(t, err)
	require.Equal(t, []string{"extra"}, rest)
	require.Equal(t, "/from/yaml", c.DataDir)                 // YAML over default
	require.Equal(t, 3*time.Second, c.Gateway.RequestTimeout) // YAML duration
	require.Equal(t, ":2222", c.Gateway.HTTPAddr)             // env over YAML
	require.Equal(t, 9, c.Comet.Buckets)                      // flag over env
	require.Equal(t, 11, c.Account.BcryptCost)
	require.Equal(t, "auto", c.Log.Format) // untouched default
}

func TestUnknownKeysAndBadValuesAreErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "bad.yaml")
	require.NoError(t, os.WriteFile(file, []byte("gateway:\n  http_adr: \":1\"\n"), 0o644))
	var out bytes.Buffer
	_, _, err := Load("t", []string{"-config", file}, env(nil), &out, nil)
	require.ErrorContains(t, err, "http_adr")

	_, _, err = Load("t", nil, env(map[string]string{"ZHIBO_COMET_BUCKETS": "many"}), &out, nil)
	require.ErrorContains(t, err, "ZHIBO_COMET_BUCKETS")

	_, _, err = Load("t", []string{"-no.such.flag", "1"}, env(nil), &out, nil)
	require.Error(t, err)

	c := Defaults()
	c.Store.Driver = "oracle"
	c.Job.Window = time.Second
	err = c.Validate()
	require.ErrorContains(t, err, "oracle")
	require.ErrorContains(t, err, "job.window")
}

func TestYAMLRedactsSecretAndRoundTrips(t *testing.T) {
	c := Defaults()
	c.Secret = "a-very-secret-key-123"
	b, err := c.YAML()
	require.NoError(t, err)
	require.NotContains(t, string(b), "a-very-secret-key-123")
	require.Contains(t, string(b), "http_addr: :8080")

	// What print shows loads back as the same config (secret aside).
	file := filepath.Join(t.TempDir(), "printed.yaml")
	require.NoError(t, os.WriteFile(file, b, 0o644))
	var out bytes.Buffer
	back, _, err := Load("t", []string{"-config", file}, env(nil), &out, nil)
	require.NoError(t, err)
	again, err := back.YAML()
	require.NoError(t, err)
	require.Equal(t, string(b), string(again))
}

func TestDocListsEverySetting(t *testing.T) {
	var b bytes.Buffer
	Doc(&b)
	for _, want := range []string{"`comet.tcp_addr`", "`ZHIBO_COMET_TCP_ADDR`", "`store.dsn`", "`gift.initial_balance`", "`ZHIBO_CONFIG`"} {
		require.True(t, strings.Contains(b.String(), want), want)
	}
}

// docs/config.md carries the table Doc prints; regenerate it with `zhibo config doc` when a
// setting changes.
func TestConfigDocIsCurrent(t *testing.T) {
	var b bytes.Buffer
	Doc(&b)
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "config.md"))
	require.NoError(t, err)
	require.True(t, strings.Contains(string(doc), b.String()),
		"docs/config.md is stale: run scripts/configdoc.sh")
}

// List-valued flags given on the command line survive the file and environment passes.
func TestListFlagsFromCommandLine(t *testing.T) {
	var out bytes.Buffer
	c, _, err := Load("t", []string{"-peers.comets", "a:1,b:2", "-logic.hosts", "h:1:2"},
		env(map[string]string{"ZHIBO_PEERS_LOGIC": "l:9"}), &out, nil)
	require.NoError(t, err)
	require.Equal(t, []string{"a:1", "b:2"}, c.Peers.Comets)
	require.Equal(t, "l:9", c.Peers.Logic)
	require.Len(t, c.Logic.Hosts, 1)
}

// One banned-word list, at the root, serves every text field; the old danmaku.banned_words
// key is gone (a file still using it fails loudly instead of banning nothing).
func TestBannedWordsAtRoot(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "zhibo.yaml")
	require.NoError(t, os.WriteFile(file, []byte("banned_words: [spam, 广告]\n"), 0o644))
	var out bytes.Buffer
	c, _, err := Load("t", []string{"-config", file}, env(nil), &out, nil)
	require.NoError(t, err)
	require.Equal(t, []string{"spam", "广告"}, c.BannedWords)
	require.True(t, c.Words().Found("ｓｐ\u200bａｍ"))

	c, _, err = Load("t", nil, env(map[string]string{"ZHIBO_BANNED_WORDS": " a, ,b "}), &out, nil)
	require.NoError(t, err)
	require.Equal(t, []string{"a", "b"}, c.BannedWords)

	c.BannedWords = []string{"a,b"}
	require.ErrorContains(t, c.Validate(), "banned_words")

	require.NoError(t, os.WriteFile(file, []byte("danmaku:\n  banned_words: [spam]\n"), 0o644))
	_, _, err = Load("t", []string{"-config", file}, env(nil), &out, nil)
	require.ErrorContains(t, err, "banned_words")
}

// A shared limit rule needs the Redis it is counted in.
func TestSharedLimitNeedsRedis(t *testing.T) {
	c := Defaults()
	c.Gateway.Limits = []gateway.LimitRule{{Name: "g", Match: "POST /api/rooms/{id}/gifts", Scope: "user", Rate: 1, Burst: 1, Shared: true}}
	require.ErrorContains(t, c.Validate(), "redis.addr")
	c.Redis.Addr = "127.0.0.1:6379"
	require.NoError(t, c.Validate())
}

// room.live_timeout must outlast the offline grace and two heartbeats of media, or a room
// would expire between confirmations, or flap while its encoder reconnects; 0 turns expiry off.
func TestLiveTimeoutOutlastsGraceAndHeartbeats(t *testing.T) {
	c := Defaults()
	require.Equal(t, 25*time.Second, c.Room.LiveTimeout)
	require.Equal(t, 5*time.Second, c.Media.LiveHeartbeat)
	c.Room.LiveTimeout = 20 * time.Second // = 10 s grace + 2 × 5 s
	require.ErrorContains(t, c.Validate(), "room.live_timeout")
	c.Media.OfflineGrace = 9 * time.Second
	require.NoError(t, c.Validate())
	c.Room.LiveTimeout = 0
	require.NoError(t, c.Validate())
	c.Room.LiveTimeout = -time.Second
	require.ErrorContains(t, c.Validate(), "room.live_timeout must not be negative")
}
