// Package config is the root configuration: one field per component, each owning its own
// defaults, flags and validation. Values load in this order, later winning:
// defaults → YAML file → ZHIBO_* environment → command-line flags. Unknown YAML keys are errors.
package config

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/zhibo-live/zhibo/internal/account"
	"github.com/zhibo-live/zhibo/internal/bff"
	"github.com/zhibo-live/zhibo/internal/comet"
	"github.com/zhibo-live/zhibo/internal/danmaku"
	"github.com/zhibo-live/zhibo/internal/gateway"
	"github.com/zhibo-live/zhibo/internal/gift"
	"github.com/zhibo-live/zhibo/internal/im/chat"
	"github.com/zhibo-live/zhibo/internal/im/group"
	"github.com/zhibo-live/zhibo/internal/im/notice"
	"github.com/zhibo-live/zhibo/internal/job"
	"github.com/zhibo-live/zhibo/internal/logic"
	"github.com/zhibo-live/zhibo/internal/media"
	"github.com/zhibo-live/zhibo/internal/platform/cache"
	"github.com/zhibo-live/zhibo/internal/platform/connlimit"
	"github.com/zhibo-live/zhibo/internal/platform/flagx"
	"github.com/zhibo-live/zhibo/internal/platform/lease"
	"github.com/zhibo-live/zhibo/internal/platform/obs"
	"github.com/zhibo-live/zhibo/internal/platform/queue"
	"github.com/zhibo-live/zhibo/internal/platform/sqlstore"
	"github.com/zhibo-live/zhibo/internal/platform/textnorm"
	"github.com/zhibo-live/zhibo/internal/room"
	"github.com/zhibo-live/zhibo/pkg/ids"
)

// Config is everything a zhibo process can be told.
type Config struct {
	// DataDir holds the embedded database, the embedded queue and the generated secret.
	DataDir string `yaml:"data_dir"`
	// Secret signs user and connection tokens; every process of a cluster needs the same one.
	// Empty = generated once and kept in <data_dir>/secret.
	Secret string `yaml:"secret"`
	// Node numbers this process for id generation (0..1023); unique per process in a cluster.
	Node int64 `yaml:"node"`
	// GRPCAddr is where this process serves its local logic and comet to the rest of a
	// cluster; empty = no gRPC server (all-in-one needs none).
	GRPCAddr string `yaml:"grpc_addr"`
	// GRPCTLSCertFile and GRPCTLSKeyFile, when set, make grpc_addr serve TLS (re-read when they
	// change); GRPCTLSClientCAFile then also requires every caller to present a certificate
	// that CA signed (peers.tls_cert_file).
	GRPCTLSCertFile     string `yaml:"grpc_tls_cert_file"`
	GRPCTLSKeyFile      string `yaml:"grpc_tls_key_file"`
	GRPCTLSClientCAFile string `yaml:"grpc_tls_client_ca_file"`
	// Peers name the components that run in other processes.
	Peers Peers `yaml:"peers"`
	// Admins are the user ids allowed to call operator routes (/api/push, /api/admin).
	Admins []int64 `yaml:"admins"`
	// BannedWords are refused anywhere in every user-visible text field — comments, room
	// titles and areas — matched on skeletons (textnorm.Words: case, width, invisible
	// characters and look-alike letters do not hide a word). Empty = no word is banned.
	BannedWords []string `yaml:"banned_words"`
	// Conns is the connection budget every public listener of the process shares.
	Conns connlimit.Config `yaml:"conns"`

	Log      obs.LogConfig   `yaml:"log"`
	Trace    obs.TraceConfig `yaml:"trace"`
	Store    sqlstore.Config `yaml:"store"`
	Queue    queue.Config    `yaml:"queue"`
	Lease    lease.Config    `yaml:"lease"`
	Redis    cache.Config    `yaml:"redis"`
	Gateway  gateway.Config  `yaml:"gateway"`
	Account  account.Config  `yaml:"account"`
	Room     room.Config     `yaml:"room"`
	Danmaku  danmaku.Config  `yaml:"danmaku"`
	Gift     gift.Config     `yaml:"gift"`
	BFF      bff.Config      `yaml:"bff"`
	Logic    logic.Config    `yaml:"logic"`
	Comet    comet.Config    `yaml:"comet"`
	Job      job.Config      `yaml:"job"`
	Media    media.Config    `yaml:"media"`
	IMChat   chat.Config     `yaml:"im_chat"`
	IMGroup  group.Config    `yaml:"im_group"`
	IMNotice notice.Config   `yaml:"im_notice"`

	// File is the YAML file the config was loaded from (empty = none); a running process
	// watches it for changes (see docs/config.md, "Changing settings without a restart").
	File string `yaml:"-"`
}

// RegisterFlags binds every field to a flag and installs the defaults.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.DataDir, "data_dir", "./data", "folder of the embedded database, queue and secret.")
	fs.StringVar(&c.Secret, "secret", "", "key signing user and connection tokens, at least 16 characters (empty = generated into <data_dir>/secret).")
	fs.Int64Var(&c.Node, "node", 0, "this process's number for id generation, 0..1023, unique within a cluster.")
	fs.StringVar(&c.GRPCAddr, "grpc_addr", "", "gRPC listen address serving this process's components to the other processes of a cluster (empty = none).")
	fs.StringVar(&c.GRPCTLSCertFile, "grpc_tls_cert_file", "", "PEM certificate of grpc_addr: TLS between components when set with grpc_tls_key_file (peers then need peers.tls_ca_file).")
	fs.StringVar(&c.GRPCTLSKeyFile, "grpc_tls_key_file", "", "PEM private key of grpc_tls_cert_file.")
	fs.StringVar(&c.GRPCTLSClientCAFile, "grpc_tls_client_ca_file", "", "with grpc TLS: callers must present a certificate this CA signed (peers.tls_cert_file); empty = any caller.")
	c.Peers.RegisterFlags(fs, "peers.")
	fs.Func("admins", "user ids allowed to call operator routes (/api/push, /api/admin), comma-separated (empty = nobody).", func(v string) error {
		c.Admins = nil
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s == "" {
				continue
			}
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil || n <= 0 {
				return fmt.Errorf("bad user id %q", s)
			}
			c.Admins = append(c.Admins, n)
		}
		return nil
	})
	flagx.Strings(fs, "banned_words", "comma-separated words refused anywhere in comments, room titles and areas, seen through case, full-width forms, invisible characters and look-alike letters (empty = none).", &c.BannedWords)
	fs.StringVar(&c.Log.Level, "log.level", "info", "log level: debug, info, warn or error.")
	c.Trace.RegisterFlags(fs, "trace.")
	fs.StringVar(&c.Log.Format, "log.format", "auto", "log format: json, text, or auto (text when stderr is a terminal, JSON otherwise).")
	c.Conns.RegisterFlags(fs, "conns.")
	c.Store.RegisterFlags(fs, "store.")
	c.Queue.RegisterFlags(fs, "queue.")
	c.Lease.RegisterFlags(fs, "lease.")
	c.Redis.RegisterFlags(fs, "redis.")
	c.Gateway.RegisterFlags(fs, "gateway.")
	c.Account.RegisterFlags(fs, "account.")
	c.Room.RegisterFlags(fs, "room.")
	c.Danmaku.RegisterFlags(fs, "danmaku.")
	c.Gift.RegisterFlags(fs, "gift.")
	c.BFF.RegisterFlags(fs, "bff.")
	c.Logic.RegisterFlags(fs, "logic.")
	c.Comet.RegisterFlags(fs, "comet.")
	c.Job.RegisterFlags(fs, "job.")
	c.Media.RegisterFlags(fs, "media.")
	c.IMChat.RegisterFlags(fs, "im_chat.")
	c.IMGroup.RegisterFlags(fs, "im_group.")
	c.IMNotice.RegisterFlags(fs, "im_notice.")
}

// Validate checks every section and reports all problems at once.
func (c *Config) Validate() error {
	var errs []error
	if c.DataDir == "" {
		errs = append(errs, errors.New("data_dir must not be empty"))
	}
	if c.Secret != "" && len(c.Secret) < 16 {
		errs = append(errs, errors.New("secret must be at least 16 characters"))
	}
	if (c.GRPCTLSCertFile == "") != (c.GRPCTLSKeyFile == "") {
		errs = append(errs, errors.New("grpc_tls_cert_file and grpc_tls_key_file go together"))
	}
	if c.GRPCTLSClientCAFile != "" && c.GRPCTLSCertFile == "" {
		errs = append(errs, errors.New("grpc_tls_client_ca_file needs grpc_tls_cert_file (client certificates are checked over TLS)"))
	}
	for _, w := range c.BannedWords {
		if strings.ContainsRune(w, ',') {
			errs = append(errs, fmt.Errorf("banned_words %q: a word may not contain a comma", w))
		}
	}
	if c.Gateway.SharedLimits() && c.Redis.Addr == "" {
		errs = append(errs, errors.New("gateway.limits: a shared rule needs redis.addr (the Redis every gateway counts it in)"))
	}
	// A room live by its video outlives a missed confirmation or two, and a media process
	// restarted within the offline grace (its encoder reconnecting) does not make it flap.
	if floor := c.Media.OfflineGrace + 2*c.Media.LiveHeartbeat; c.Room.LiveTimeout > 0 && c.Room.LiveTimeout <= floor {
		errs = append(errs, fmt.Errorf("room.live_timeout %s must be above media.offline_grace + 2 × media.live_heartbeat (%s), or 0", c.Room.LiveTimeout, floor))
	}
	if c.Node < 0 || c.Node > ids.MaxNode {
		errs = append(errs, fmt.Errorf("node must be in 0..%d", ids.MaxNode))
	}
	for _, name := range []string{"account", "room", "gift", "danmaku", "im-chat", "im-group", "im-notice"} {
		sc := c.StoreOf(name)
		if err := sc.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("%s.store: %w", name, err))
		}
	}
	for _, v := range []interface{ Validate() error }{&c.Log, &c.Trace, &c.Peers, &c.Conns, &c.Store, &c.Queue, &c.Lease, &c.Redis, &c.Gateway, &c.Account,
		&c.Room, &c.Danmaku, &c.Gift, &c.BFF, &c.Logic, c.Comet, &c.Job, &c.Media, &c.IMChat, &c.IMGroup, &c.IMNotice} {
		if err := v.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// StoreOf is the store a component keeps its tables in: its own store section over the
// shared one. Components without tables get the shared one.
func (c *Config) StoreOf(component string) sqlstore.Config {
	own := map[string]sqlstore.Own{"account": c.Account.Store, "room": c.Room.Store, "gift": c.Gift.Store,
		"danmaku": c.Danmaku.Store, "im-chat": c.IMChat.Store, "im-group": c.IMGroup.Store,
		"im-notice": c.IMNotice.Store}[component]
	return own.Over(c.Store)
}

// Peers are the gRPC targets of components running in other processes: "host:port", or
// "dns:///name:port" to follow DNS.
type Peers struct {
	// Account is where account runs when it is not in this process (room, gift, danmaku and
	// the gateway's token checks call it).
	Account string `yaml:"account"`
	// Room is where room runs when it is not in this process (gift and danmaku call it).
	Room string `yaml:"room"`
	// Gift is where gift runs when it is not in this process (account reads balances from it;
	// the BFF its catalog, balances and ranks).
	Gift string `yaml:"gift"`
	// Danmaku is where danmaku runs when it is not in this process (the BFF reads recent
	// comments and mutes from it).
	Danmaku string `yaml:"danmaku"`
	// Logic is where logic runs when it is not in this process (comets and rooms call it).
	Logic string `yaml:"logic"`
	// Comets are every comet a job in this process delivers to, when no comet runs here.
	Comets []string `yaml:"comets"`
	// Media is where media runs when it is not in this process (room reads the video viewers
	// of its stats from it; empty = stats carry no video_viewers unless media runs here).
	Media string `yaml:"media"`
	// IMChat, IMGroup and IMNotice are where im-chat, im-group and im-notice run when they
	// are not in this process (the BFF's inbox reads them; empty = the inbox's modules of a
	// component that runs nowhere here are null).
	IMChat   string `yaml:"im_chat"`
	IMGroup  string `yaml:"im_group"`
	IMNotice string `yaml:"im_notice"`
	// CacheTTL is how long this process keeps what a remote account or room told it about a
	// token, a user or a room (0 = ask every time). A revoked token or a changed room is seen
	// here at most this late.
	CacheTTL time.Duration `yaml:"cache_ttl"`
	// TLSCAFile, when set, makes every call to a peer TLS, trusting the peers' certificates
	// this CA signed (the peers serve grpc_tls_cert_file). The name checked is the target's
	// host (dns:///zhibo-room:9000 → zhibo-room).
	TLSCAFile string `yaml:"tls_ca_file"`
	// TLSCertFile and TLSKeyFile are this process's client certificate, for peers that
	// require one (grpc_tls_client_ca_file).
	TLSCertFile string `yaml:"tls_cert_file"`
	TLSKeyFile  string `yaml:"tls_key_file"`
	// Elastic names a second target per peer for the calls of requests marked for the
	// elastic pool (package elastic: the gateway marks requests over a route's overflow
	// threshold); empty = marked calls go to the peer above like every other.
	Elastic ElasticPeers `yaml:"elastic"`
}

// ElasticPeers are the gRPC targets of the elastic pool of each peer: the calls a marked
// request causes go there, so a burst the gateway sent to the elastic pool stays in it. Each
// needs the peer's normal target (a component running in this process is called in process).
type ElasticPeers struct {
	Account string `yaml:"account"`
	Room    string `yaml:"room"`
	Gift    string `yaml:"gift"`
	Danmaku string `yaml:"danmaku"`
	Logic   string `yaml:"logic"`
	Media   string `yaml:"media"`
}

// Of is the elastic target of component ("" = none, or not a peer with one).
func (e ElasticPeers) Of(component string) string {
	return map[string]string{"account": e.Account, "room": e.Room, "gift": e.Gift, "danmaku": e.Danmaku,
		"logic": e.Logic, "media": e.Media}[component]
}

// RegisterFlags binds the peers to flags under prefix.
func (p *Peers) RegisterFlags(fs *flag.FlagSet, prefix string) {
	fs.StringVar(&p.TLSCAFile, prefix+"tls_ca_file", "", "PEM CA that signed the peers' gRPC certificates: calls to peers use TLS when set.")
	fs.StringVar(&p.TLSCertFile, prefix+"tls_cert_file", "", "PEM client certificate presented to peers that require one (with tls_ca_file).")
	fs.StringVar(&p.TLSKeyFile, prefix+"tls_key_file", "", "PEM private key of tls_cert_file.")
	fs.DurationVar(&p.CacheTTL, prefix+"cache_ttl", time.Second, "how long answers of a remote account (tokens, users) and room (rooms) are kept (0 = no cache); with a queue, a logged-out token is dropped at once (the logouts broadcast) and tokens are kept for account.revocation_ttl_watched instead.")
	fs.StringVar(&p.Account, prefix+"account", "", "gRPC target of a remote account, host:port or dns:///name:port (empty = account runs here, or none).")
	fs.StringVar(&p.Room, prefix+"room", "", "gRPC target of a remote room, host:port or dns:///name:port (empty = room runs here).")
	fs.StringVar(&p.Gift, prefix+"gift", "", "gRPC target of a remote gift, host:port or dns:///name:port (empty = gift runs here, or none: /api/me shows no balance).")
	fs.StringVar(&p.Danmaku, prefix+"danmaku", "", "gRPC target of a remote danmaku, host:port or dns:///name:port (empty = danmaku runs here).")
	fs.StringVar(&p.Logic, prefix+"logic", "", "gRPC target of a remote logic, host:port or dns:///name:port (empty = logic runs here).")
	fs.StringVar(&p.Media, prefix+"media", "", "gRPC target of a remote media, host:port or dns:///name:port (empty = media runs here, or none: room stats carry no video_viewers).")
	for _, c := range []struct {
		name string
		v    *string
	}{{"im_chat", &p.IMChat}, {"im_group", &p.IMGroup}, {"im_notice", &p.IMNotice}} {
		component := strings.ReplaceAll(c.name, "_", "-")
		fs.StringVar(c.v, prefix+c.name, "", "gRPC target of a remote "+component+", host:port or dns:///name:port (empty = "+
			component+" runs here, or none: the BFF's inbox shows its modules as null).")
	}
	flagx.Strings(fs, prefix+"comets", "gRPC targets of the remote comets a job delivers to, comma-separated (empty = the comet runs here).", &p.Comets)
	for _, e := range []struct {
		name string
		v    *string
	}{{"account", &p.Elastic.Account}, {"room", &p.Elastic.Room}, {"gift", &p.Elastic.Gift},
		{"danmaku", &p.Elastic.Danmaku}, {"logic", &p.Elastic.Logic}, {"media", &p.Elastic.Media}} {
		fs.StringVar(e.v, prefix+"elastic."+e.name, "", "gRPC target of the elastic pool of the remote "+e.name+
			", called instead of peers."+e.name+" for requests marked for the elastic pool (X-Zhibo-Pool from a trusted proxy); empty = marked calls go to peers."+e.name+".")
	}
}

// Validate checks the peers.
func (p *Peers) Validate() error {
	if (p.TLSCertFile == "") != (p.TLSKeyFile == "") {
		return errors.New("peers.tls_cert_file and peers.tls_key_file go together")
	}
	if p.TLSCertFile != "" && p.TLSCAFile == "" {
		return errors.New("peers.tls_cert_file needs peers.tls_ca_file (a client certificate is only sent over TLS)")
	}
	e := p.Elastic
	for _, c := range append([]string{p.Account, p.Room, p.Gift, p.Danmaku, p.Logic, p.Media, p.IMChat, p.IMGroup, p.IMNotice,
		e.Account, e.Room, e.Gift, e.Danmaku, e.Logic, e.Media}, p.Comets...) {
		if strings.ContainsAny(c, " \t") {
			return fmt.Errorf("peers: bad target %q", c)
		}
	}
	for _, c := range []struct{ name, fixed, elastic string }{{"account", p.Account, e.Account}, {"room", p.Room, e.Room},
		{"gift", p.Gift, e.Gift}, {"danmaku", p.Danmaku, e.Danmaku}, {"logic", p.Logic, e.Logic}, {"media", p.Media, e.Media}} {
		if c.elastic != "" && c.fixed == "" {
			return fmt.Errorf("peers.elastic.%s needs peers.%s (a %s running in this process is called in process)", c.name, c.name, c.name)
		}
	}
	return nil
}

// EnvName is the environment variable overriding a flag: comet.tcp_addr → ZHIBO_COMET_TCP_ADDR.
func EnvName(flagName string) string {
	return "ZHIBO_" + strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(flagName))
}

// FlagSet returns a flag set bound to c (defaults installed) plus the -config flag.
func (c *Config) FlagSet(name string) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	c.RegisterFlags(fs)
	file := fs.String("config", "", "YAML config file (env ZHIBO_CONFIG).")
	return fs, file
}

// Load builds the config from args (flags after the sub-command), the environment and the
// YAML file named by -config or ZHIBO_CONFIG. It returns the remaining arguments.
// extra, when not nil, adds flags of the sub-command itself (e.g. --components).
func Load(name string, args []string, getenv func(string) string, out io.Writer, extra func(*flag.FlagSet)) (Config, []string, error) {
	var c Config
	fs, file := c.FlagSet(name)
	if extra != nil {
		extra(fs)
	}
	if err := parse(fs, args, out); err != nil {
		return c, nil, err
	}
	path := *file
	if path == "" {
		path = getenv("ZHIBO_CONFIG")
	}
	if path != "" {
		if err := c.loadYAML(path); err != nil {
			return c, nil, err
		}
		c.File = path
	}
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if f.Name == "config" {
			return
		}
		if v := getenv(EnvName(f.Name)); v != "" {
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", EnvName(f.Name), err))
			}
		}
	})
	// The command line wins over the file and the environment: parse it once more, so every
	// flag (including list-valued ones) is set exactly as it was given.
	if err := fs.Parse(args); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return c, nil, err
	}
	return c, fs.Args(), nil
}

func (c *Config) loadYAML(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	return nil
}

// YAML renders the effective config with the secret redacted.
func (c Config) YAML() ([]byte, error) {
	if c.Secret != "" {
		c.Secret = "<redacted>"
	}
	return yaml.Marshal(c)
}

// Doc writes a Markdown table of every setting: flag, environment variable, default, whether a
// running process applies a change of it (live), meaning.
func Doc(w io.Writer) {
	var c Config
	fs, _ := c.FlagSet("zhibo")
	var rows []*flag.Flag
	fs.VisitAll(func(f *flag.Flag) { rows = append(rows, f) })
	sort.Slice(rows, func(i, j int) bool { return rows[i].Name < rows[j].Name })
	fmt.Fprintln(w, "| flag / YAML path | environment | default | live | meaning |")
	fmt.Fprintln(w, "|---|---|---|---|---|")
	for _, f := range rows {
		env := EnvName(f.Name)
		if f.Name == "config" {
			env = "ZHIBO_CONFIG"
		}
		def := f.DefValue
		if def == "" || def == "[]" {
			def = "(empty)"
		}
		live := "no"
		if IsLive(f.Name) {
			live = "yes"
		}
		fmt.Fprintf(w, "| `%s` | `%s` | `%s` | %s | %s |\n", f.Name, env, def, live, strings.ReplaceAll(f.Usage, "|", "\\|"))
	}
}

// Words is the banned-word matcher built from BannedWords, one for every component that
// checks user-visible text; build it once and share it.
func (c *Config) Words() textnorm.Words { return textnorm.NewWords(c.BannedWords) }

// Defaults is the config with every default and nothing else applied.
func Defaults() Config {
	var c Config
	c.FlagSet("defaults")
	return c
}
