package gift

import (
	"encoding/json"
	"flag"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/platform/obs"
	"github.com/zhibo-live/zhibo/internal/platform/sqlstore/sqltest"
	"github.com/zhibo-live/zhibo/pkg/hotkey"
)

func TestConfigDefaultsAndFlags(t *testing.T) {
	var cfg Config
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	cfg.RegisterFlags(fs, "gift.")
	require.NoError(t, cfg.Validate())
	require.Zero(t, cfg.InitialBalance, "wallets start empty unless the operator says otherwise")
	require.Equal(t, int64(9999), cfg.MaxNum)
	require.Equal(t, 20, cfg.RankSize)
	require.Equal(t, time.Second, cfg.AggregateWindow)
	require.Equal(t, time.Second, cfg.RelayInterval)
	require.Equal(t, int64(5000), cfg.HotThreshold)
	require.Equal(t, DefaultCatalog(), cfg.Catalog)
	for _, name := range []string{"initial_balance", "max_topup", "catalog", "max_num", "rank_size", "aggregate_window", "relay_interval", "hot_threshold"} {
		require.NotNil(t, fs.Lookup("gift."+name), name)
	}

	require.NoError(t, fs.Parse([]string{
		"-gift.initial_balance=5", "-gift.max_topup=50", "-gift.max_num=3", "-gift.rank_size=7",
		"-gift.aggregate_window=250ms", "-gift.relay_interval=2s", "-gift.hot_threshold=7",
		`-gift.catalog=[{"id":9,"name":"Star","price":3,"coin_type":"silver"}]`,
	}))
	require.NoError(t, cfg.Validate())
	cfg.HotKeys = hotkey.Config{} // the detector's own flags are tested in pkg/hotkey
	require.Equal(t, Config{InitialBalance: 5, MaxTopup: 50, MaxNum: 3, RankSize: 7, AggregateWindow: 250 * time.Millisecond,
		RelayInterval: 2 * time.Second, HotCacheTTL: time.Second, HotThreshold: 7,
		Catalog: []Gift{{ID: 9, Name: "Star", Price: 3, CoinType: CoinSilver}}}, cfg)

	err := fs.Parse([]string{`-gift.catalog=[{"id":1,"nam":"x"}]`})
	require.ErrorContains(t, err, "unknown field")
}

func TestConfigValidate(t *testing.T) {
	cases := []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"negative balance", func(c *Config) { c.InitialBalance = -1 }, "initial_balance"},
		{"balance past the limit", func(c *Config) { c.InitialBalance = MaxBalance + 1 }, "initial_balance"},
		{"max_topup zero", func(c *Config) { c.MaxTopup = 0 }, "max_topup"},
		{"max_topup past the limit", func(c *Config) { c.MaxTopup = MaxBalance + 1 }, "max_topup"},
		{"max_num zero", func(c *Config) { c.MaxNum = 0 }, "max_num"},
		{"max_num huge", func(c *Config) { c.MaxNum = 10_000_000 }, "max_num"},
		{"rank_size zero", func(c *Config) { c.RankSize = 0 }, "rank_size"},
		{"window zero", func(c *Config) { c.AggregateWindow = 0 }, "aggregate_window"},
		{"relay zero", func(c *Config) { c.RelayInterval = 0 }, "relay_interval"},
		{"empty catalog", func(c *Config) { c.Catalog = nil }, "at least one gift"},
		{"duplicate id", func(c *Config) { c.Catalog[1].ID = c.Catalog[0].ID }, "used twice"},
		{"zero id", func(c *Config) { c.Catalog[0].ID = 0 }, "must be positive"},
		{"negative id", func(c *Config) { c.Catalog[0].ID = -4 }, "must be positive"},
		{"zero price", func(c *Config) { c.Catalog[2].Price = 0 }, "price 0"},
		{"negative price", func(c *Config) { c.Catalog[2].Price = -10 }, "price -10"},
		{"price too high", func(c *Config) { c.Catalog[2].Price = maxPrice + 1 }, "price"},
		{"empty name", func(c *Config) { c.Catalog[3].Name = " " }, "name must not be empty"},
		{"long name", func(c *Config) { c.Catalog[3].Name = strings.Repeat("名", 65) }, "at most 64"},
		{"coin type", func(c *Config) { c.Catalog[4].CoinType = "bitcoin" }, "coin_type"},
	}
	for _, c := range cases {
		cfg := testConfig(t)
		c.mod(&cfg)
		err := cfg.Validate()
		require.ErrorContains(t, err, c.want, c.name)
		_, err = New(cfg, Deps{})
		require.Error(t, err, c.name)
	}
	_, err := New(testConfig(t), Deps{Logger: obs.Discard(), Registry: prometheus.NewRegistry()})
	require.ErrorContains(t, err, "every dependency")
}

func TestCatalogAndWalletHTTP(t *testing.T) {
	e := newEnv(t, sqltest.OpenSQLite(t), nil)
	status, env := e.call(t, "GET", "/api/gifts", 0, nil)
	require.Equal(t, http.StatusOK, status)
	var got struct {
		Gifts []map[string]any `json:"gifts"`
	}
	require.NoError(t, json.Unmarshal(env.Data, &got))
	require.Len(t, got.Gifts, len(DefaultCatalog()))
	require.Equal(t, map[string]any{"id": 1.0, "name": "Glow Stick", "price": 1.0, "coin_type": "silver"}, got.Gifts[0])
	require.Equal(t, DefaultCatalog(), e.svc.Catalog())

	status, env = e.call(t, "GET", "/api/wallet", 0, nil)
	require.Equal(t, http.StatusUnauthorized, status)
	require.Equal(t, -401, env.Code)
	e.accounts.Add(12345) // a user outside the fixture, who has never had a wallet
	require.Equal(t, int64(1000), e.balance(t, 12345), "a wallet is created on first read")
	require.Equal(t, int64(1), e.count(t, "SELECT COUNT(*) FROM gift_wallets"))
	b, err := e.svc.Balance(t.Context(), 12345)
	require.NoError(t, err)
	require.Equal(t, int64(1000), b)
	_, err = e.svc.Balance(t.Context(), 0)
	require.ErrorIs(t, err, ErrBadUID)
}

func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	var doc struct {
		Paths      map[string]map[string]json.RawMessage `json:"paths"`
		Components struct {
			Schemas map[string]json.RawMessage `json:"schemas"`
		} `json:"components"`
	}
	require.NoError(t, json.Unmarshal(OpenAPI(), &doc))
	want := map[string][]string{
		"/api/gifts":                     {"get"},
		"/api/wallet":                    {"get"},
		"/api/rooms/{id}/gifts":          {"post"},
		"/api/rooms/{id}/rank":           {"get"},
		"/api/admin/wallets/{uid}/topup": {"post"},
		"/api/admin/wallets/credits":     {"get"},
	}
	require.Len(t, doc.Paths, len(want))
	for path, methods := range want {
		for _, m := range methods {
			require.Contains(t, doc.Paths[path], m, path)
		}
	}
	// Every $ref points at something the fragment defines.
	for _, ref := range strings.Split(string(OpenAPI()), `"$ref": "#/components/`)[1:] {
		name := ref[:strings.IndexByte(ref, '"')]
		require.Contains(t, string(OpenAPI()), `"`+name[strings.LastIndexByte(name, '/')+1:]+`": {`, name)
	}
	require.Contains(t, doc.Components.Schemas, "GiftOrder")
	require.Contains(t, doc.Components.Schemas, "GiftCredit")
}
