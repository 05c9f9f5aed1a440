package pool

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

func TestValidate(t *testing.T) {
	valid := func() Config {
		return Config{Name: "room", Addrs: []string{"http://10.0.0.1:8080", "https://room.internal", "h2c://10.0.0.2:9000"}}
	}
	c := valid()
	require.NoError(t, c.Validate())

	for name, tc := range map[string]struct {
		edit func(*Config)
		want string
	}{
		"no name":          {func(c *Config) { c.Name = "" }, `group "": name: must not be empty`},
		"no addrs":         {func(c *Config) { c.Addrs = nil }, `group "room": addrs: must list at least one address`},
		"bad scheme":       {func(c *Config) { c.Addrs[0] = "ftp://10.0.0.1:21" }, `group "room": addrs[0]: "ftp://10.0.0.1:21": scheme must be http, https or h2c`},
		"no scheme":        {func(c *Config) { c.Addrs[0] = "10.0.0.1:8080" }, `group "room": addrs[0]`},
		"path":             {func(c *Config) { c.Addrs[1] = "https://room.internal/api" }, `addrs[1]: "https://room.internal/api": want scheme://host:port`},
		"no host":          {func(c *Config) { c.Addrs[0] = "http://:8080" }, `addrs[0]: "http://:8080": no host`},
		"duplicate":        {func(c *Config) { c.Addrs = append(c.Addrs, "http://10.0.0.1:8080") }, `addrs[3]: "http://10.0.0.1:8080" is the same host:port as addrs[0]`},
		"duplicate port":   {func(c *Config) { c.Addrs = append(c.Addrs, "https://ROOM.internal:443") }, `addrs[3]: "https://ROOM.internal:443" is the same host:port as addrs[1]`},
		"balance":          {func(c *Config) { c.Balance = "random" }, `balance: "random" is not "least_request" or "round_robin"`},
		"retries":          {func(c *Config) { c.Retries = -1 }, `retries: -1 is negative`},
		"budget":           {func(c *Config) { c.RetryBudget = 1.5 }, `retry_budget: 1.5 is not between 0 and 1`},
		"budget nan":       {func(c *Config) { c.RetryBudget = math.NaN() }, `retry_budget`},
		"health path":      {func(c *Config) { c.Health.Path = "healthz" }, `health.path: "healthz" does not start with /`},
		"health interval":  {func(c *Config) { c.Health.Interval = -1 }, `health.interval`},
		"health timeout":   {func(c *Config) { c.Health.Timeout = -1 }, `health.timeout`},
		"health fails":     {func(c *Config) { c.Health.Fails = -2 }, `health.fails: -2 is negative`},
		"health passes":    {func(c *Config) { c.Health.Passes = -1 }, `health.passes`},
		"eject failures":   {func(c *Config) { c.Eject.Failures = -2 }, `eject.failures: -2`},
		"eject for":        {func(c *Config) { c.Eject.For = Duration(-time.Second) }, `eject.for: -1s is negative`},
		"eject percent":    {func(c *Config) { c.Eject.MaxPercent = 101 }, `eject.max_percent: 101 is not between 0 and 100`},
		"eject percent <0": {func(c *Config) { c.Eject.MaxPercent = -1 }, `eject.max_percent`},
	} {
		t.Run(name, func(t *testing.T) {
			c := valid()
			tc.edit(&c)
			err := c.Validate()
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.want)
			_, err = New(c, nil, nil)
			require.Error(t, err, "New validates")
		})
	}

	c = valid()
	c.Eject.Failures = EjectOff
	require.NoError(t, c.Validate(), "-1 turns ejection off")
	c.Balance, c.Retries = "nope", -1
	require.ErrorContains(t, c.Validate(), "retries", "every problem is reported")
}

func TestWithDefaults(t *testing.T) {
	c := Config{Name: "x", Addrs: []string{"http://a:1"}}
	d := c.WithDefaults()
	require.Equal(t, Config{Name: "x", Addrs: []string{"http://a:1"}, Balance: BalanceLeastRequest, RetryBudget: 0.2,
		Health: Health{Interval: Duration(2 * time.Second), Timeout: Duration(time.Second), Fails: 2, Passes: 1},
		Eject:  Eject{Failures: 5, For: Duration(30 * time.Second), MaxPercent: 50}}, d)
	d.Addrs[0] = "http://b:1"
	require.Equal(t, "http://a:1", c.Addrs[0], "WithDefaults copies Addrs")

	off := Config{Eject: Eject{Failures: EjectOff}}.WithDefaults()
	require.Equal(t, EjectOff, off.Eject.Failures)

	g, err := New(c, slog.New(slog.DiscardHandler), nil)
	require.NoError(t, err)
	require.Equal(t, c.WithDefaults(), g.Config())
}

func TestConfigYAMLAndJSON(t *testing.T) {
	const doc = `
name: room
addrs: ["http://127.0.0.1:8080", "h2c://127.0.0.1:9000"]
balance: round_robin
health: {path: /healthz, interval: 500ms, timeout: 1m30s, fails: 3, passes: 2}
retries: 1
retry_budget: 0.1
eject: {failures: -1, for: 10s, max_percent: 30}
`
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader([]byte(doc)))
	dec.KnownFields(true)
	require.NoError(t, dec.Decode(&c))
	want := Config{Name: "room", Addrs: []string{"http://127.0.0.1:8080", "h2c://127.0.0.1:9000"}, Balance: BalanceRoundRobin,
		Health:  Health{Path: "/healthz", Interval: Duration(500 * time.Millisecond), Timeout: Duration(90 * time.Second), Fails: 3, Passes: 2},
		Retries: 1, RetryBudget: 0.1, Eject: Eject{Failures: -1, For: Duration(10 * time.Second), MaxPercent: 30}}
	require.Equal(t, want, c)

	out, err := yaml.Marshal(c)
	require.NoError(t, err)
	require.Contains(t, string(out), "interval: 500ms")
	var back Config
	require.NoError(t, yaml.Unmarshal(out, &back))
	require.Equal(t, want, back)

	j, err := json.Marshal(c)
	require.NoError(t, err)
	require.Contains(t, string(j), `"timeout":"1m30s"`)
	require.Contains(t, string(j), `"retry_budget":0.1`)
	require.Contains(t, string(j), `"max_percent":30`)
	back = Config{}
	require.NoError(t, json.Unmarshal(j, &back))
	require.Equal(t, want, back)

	require.Error(t, json.Unmarshal([]byte(`{"health":{"interval":"soon"}}`), &back))
}

func TestStatusJSON(t *testing.T) {
	j, err := json.Marshal([]AddrStatus{{Addr: "http://a:1", Up: true}, {Addr: "http://b:1", Ejected: true,
		EjectedUntil: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), InFlight: 2, Failures: 1}})
	require.NoError(t, err)
	require.JSONEq(t, `[{"addr":"http://a:1","up":true,"ejected":false,"in_flight":0,"failures":0},
		{"addr":"http://b:1","up":false,"ejected":true,"ejected_until":"2026-01-02T03:04:05Z","in_flight":2,"failures":1}]`, string(j))
}
