package config

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/gift"
)

// Every setting has one name: the YAML path Diff compares is the flag name, for every flag.
func TestDiffKeysAreTheFlags(t *testing.T) {
	f, err := flatten(Defaults())
	require.NoError(t, err)
	var keys, flags []string
	for k := range f {
		keys = append(keys, k)
	}
	var c Config
	fs, _ := c.FlagSet("t")
	fs.VisitAll(func(fl *flag.Flag) {
		if fl.Name != "config" {
			flags = append(flags, fl.Name)
		}
	})
	sort.Strings(keys)
	sort.Strings(flags)
	require.Equal(t, flags, keys)
	for _, k := range LiveKeys() {
		require.Contains(t, flags, k, "a live key names a setting")
	}
}

func TestDiffNamesWhatChanged(t *testing.T) {
	a := Defaults()
	b := Defaults()
	d, err := Diff(a, b)
	require.NoError(t, err)
	require.Empty(t, d)

	b.Danmaku.Rate = 7
	b.Gateway.HTTPAddr = ":1"
	b.Admins = []int64{3}
	b.Gift.Catalog = append(gift.DefaultCatalog(), gift.Gift{ID: 99, Name: "x", Price: 1, CoinType: gift.CoinGold})
	b.Secret = "another-secret-0123456789"
	b.File = "/elsewhere.yaml" // where it was read from is not a setting
	d, err = Diff(a, b)
	require.NoError(t, err)
	require.Equal(t, []string{"admins", "danmaku.rate", "gateway.http_addr", "gift.catalog", "secret"}, d)

	require.True(t, IsLive("danmaku.rate"))
	require.True(t, IsLive("gift.catalog"))
	require.True(t, IsLive("banned_words"))
	require.False(t, IsLive("gateway.http_addr"))
	require.False(t, IsLive("secret"))
	require.NotEqual(t, a.Hash(), b.Hash())
	require.Equal(t, a.Hash(), Defaults().Hash())
}

// Load remembers the file it read, for the process to watch.
func TestLoadRemembersTheFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "z.yaml")
	require.NoError(t, os.WriteFile(file, []byte("danmaku:\n  rate: 2\n"), 0o600))
	var out bytes.Buffer
	c, _, err := Load("t", nil, env(map[string]string{"ZHIBO_CONFIG": file}), &out, nil)
	require.NoError(t, err)
	require.Equal(t, file, c.File)
	c, _, err = Load("t", nil, env(nil), &out, nil)
	require.NoError(t, err)
	require.Empty(t, c.File)

	c.Log.Level = "loud"
	require.ErrorContains(t, c.Validate(), "log.level")
}

func TestDocSaysWhichSettingsAreLive(t *testing.T) {
	var b bytes.Buffer
	Doc(&b)
	rows := map[string]string{}
	for _, line := range strings.Split(b.String(), "\n") {
		cells := strings.Split(line, " | ")
		if len(cells) >= 5 && strings.HasPrefix(cells[0], "| `") {
			rows[strings.Trim(cells[0], "| `")] = cells[3]
		}
	}
	require.Equal(t, "yes", rows["danmaku.rate"])
	require.Equal(t, "yes", rows["admins"])
	require.Equal(t, "no", rows["gateway.http_addr"])
	require.Equal(t, "no", rows["store.dsn"])
	for _, k := range LiveKeys() {
		require.Equal(t, "yes", rows[k], k)
	}
}
