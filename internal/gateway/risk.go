package gateway

import (
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/zhibo-live/zhibo/internal/gateway/pool"
	"github.com/zhibo-live/zhibo/internal/platform/httpx"
)

// Reasons of the requests the risk rules refuse (the envelope's data.reason and the label of
// zhibo_gateway_denied_total).
const (
	reasonDeniedUID    = "denied_uid"
	reasonDeniedIP     = "denied_ip"
	reasonDeniedDevice = "denied_device"
	reasonVelocity     = "velocity"
)

// DenyConfig lists callers refused outright (403 with the reason), on every path but health and
// metrics.
type DenyConfig struct {
	// UIDs are users refused whatever they call, known by their verified token.
	UIDs []int64 `yaml:"uids"`
	// IPs are client addresses or CIDR ranges (10.1.2.3, 10.1.0.0/16, 2001:db8::/32) refused;
	// the client address is the one gateway.trusted_proxies makes it.
	IPs []string `yaml:"ips"`
	// Devices are device ids, as the client sends them in DeviceHeader, refused.
	Devices []string `yaml:"devices"`
	// DeviceHeader names the request header carrying the client's device id (empty = none:
	// devices must then be empty).
	DeviceHeader string `yaml:"device_header"`
}

// RegisterFlags binds the deny lists to flags under prefix.
func (d *DenyConfig) RegisterFlags(fs *flag.FlagSet, prefix string) {
	fs.Func(prefix+"uids", "user ids refused (403 denied_uid) on every route, comma-separated (empty = none).", func(v string) error {
		d.UIDs = nil
		for _, s := range splitList(v) {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil || n <= 0 {
				return fmt.Errorf("bad user id %q", s)
			}
			d.UIDs = append(d.UIDs, n)
		}
		return nil
	})
	fs.Func(prefix+"ips", "client addresses and CIDR ranges refused (403 denied_ip), comma-separated (empty = none).", func(v string) error {
		d.IPs = splitList(v)
		return nil
	})
	fs.Func(prefix+"devices", "device ids (in device_header) refused (403 denied_device), comma-separated (empty = none).", func(v string) error {
		d.Devices = splitList(v)
		return nil
	})
	fs.StringVar(&d.DeviceHeader, prefix+"device_header", "X-Device-Id", "request header carrying the client's device id, matched against devices.")
}

func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// Validate checks the lists.
func (d *DenyConfig) Validate() error {
	if _, err := newDenyList(*d); err != nil {
		return fmt.Errorf("gateway.deny: %w", err)
	}
	return nil
}

// denyList is DenyConfig ready to match.
type denyList struct {
	uids    map[int64]bool
	addrs   map[netip.Addr]bool
	ranges  []netip.Prefix
	devices map[string]bool
	header  string
}

func newDenyList(d DenyConfig) (*denyList, error) {
	if strings.ContainsAny(d.DeviceHeader, " \t:\r\n") || (d.DeviceHeader == "" && len(d.Devices) > 0) {
		return nil, fmt.Errorf("device_header %q: want a header name (devices are matched against it)", d.DeviceHeader)
	}
	l := &denyList{uids: map[int64]bool{}, addrs: map[netip.Addr]bool{}, devices: map[string]bool{},
		header: http.CanonicalHeaderKey(d.DeviceHeader)}
	for _, u := range d.UIDs {
		if u <= 0 {
			return nil, fmt.Errorf("uids: %d is no user id", u)
		}
		l.uids[u] = true
	}
	var errs []error
	for _, s := range d.IPs {
		if strings.Contains(s, "/") {
			p, err := netip.ParsePrefix(s)
			if err != nil {
				errs = append(errs, fmt.Errorf("ips: %q: %w", s, err))
				continue
			}
			l.ranges = append(l.ranges, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("ips: %q is neither an address nor a CIDR range", s))
			continue
		}
		l.addrs[a.Unmap()] = true
	}
	for _, dev := range d.Devices {
		if dev == "" || len(dev) > 256 {
			errs = append(errs, errors.New("devices: an id must be 1-256 bytes"))
			continue
		}
		l.devices[dev] = true
	}
	return l, errors.Join(errs...)
}

// deny is the reason r is refused, or "".
func (l *denyList) deny(r *http.Request) string {
	if len(l.addrs) > 0 || len(l.ranges) > 0 {
		if a, err := netip.ParseAddr(httpx.ClientIP(r)); err == nil {
			a = a.Unmap().WithZone("")
			if l.addrs[a] {
				return reasonDeniedIP
			}
			for _, p := range l.ranges {
				if p.Contains(a) {
					return reasonDeniedIP
				}
			}
		}
	}
	if len(l.devices) > 0 && l.header != "" {
		if dev := strings.TrimSpace(r.Header.Get(l.header)); dev != "" && l.devices[dev] {
			return reasonDeniedDevice
		}
	}
	if len(l.uids) > 0 {
		if uid, ok := httpx.UID(r.Context()); ok && l.uids[uid] {
			return reasonDeniedUID
		}
	}
	return ""
}

// VelocityRule bounds how often one caller may use a sensitive route (sending gifts,
// registering, logging in): Count requests per Window per user — a signed-in caller by uid, an
// anonymous one (registration, login) by client IP. It is a bucket of Count refilled evenly
// over Window: at most Count at once, Count per Window sustained. Over it: 429, reason velocity.
type VelocityRule struct {
	// Name identifies the rule in metrics and refusals, like a limit rule's.
	Name string `yaml:"name" json:"name"`
	// Match is a net/http ServeMux pattern, e.g. "POST /api/auth/login".
	Match string `yaml:"match" json:"match"`
	// Count is how many requests one caller may make per Window (>= 1).
	Count int `yaml:"count" json:"count"`
	// Window is the period Count applies to, e.g. "1m" or "1h".
	Window Span `yaml:"window" json:"window"`
}

// Span is a duration written as in Go ("90s", "10m", "1h") in YAML and JSON alike.
type Span = pool.Duration

// asLimits turns velocity rules into user-scoped limit rules.
func asLimits(vs []VelocityRule) ([]LimitRule, error) {
	out := make([]LimitRule, 0, len(vs))
	var errs []error
	for _, v := range vs {
		if v.Count < 1 || v.Window < Span(time.Second) || v.Window > Span(7*24*time.Hour) {
			errs = append(errs, fmt.Errorf("gateway.velocity %q: want count >= 1 and window 1s..168h", v.Name))
			continue
		}
		out = append(out, LimitRule{Name: v.Name, Match: v.Match, Scope: ScopeUser, Burst: v.Count,
			Rate: float64(v.Count) / time.Duration(v.Window).Seconds()})
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if err := validateRules(out); err != nil {
		return nil, fmt.Errorf("gateway.velocity: %w", err)
	}
	return out, nil
}

// risk applies the deny lists and the velocity rules; both are swapped whole on reload.
type risk struct {
	deny     atomic.Pointer[denyList]
	velocity *routeLimits
	denied   *prometheus.CounterVec // reason
}

// neverDenied are health and metrics: a deny list cannot take a node's probes away.
func neverDenied(p string) bool {
	return p == "/healthz" || p == "/readyz" || p == "/metrics"
}

func newRisk(cfg Config, m *limitMetrics) (*risk, error) {
	k := &risk{denied: m.denied, velocity: &routeLimits{limited: m.limited, scope: reasonVelocity}}
	if err := k.reload(cfg); err != nil {
		return nil, err
	}
	return k, nil
}

// reload swaps the deny lists and the velocity rules; on an error neither changes.
func (k *risk) reload(cfg Config) error {
	d, err := newDenyList(cfg.Deny)
	if err != nil {
		return fmt.Errorf("gateway.deny: %w", err)
	}
	v, err := asLimits(cfg.Velocity)
	if err != nil {
		return err
	}
	if err := k.velocity.reload(v); err != nil {
		return err
	}
	k.deny.Store(d)
	return nil
}

func guard(k *risk, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if neverDenied(r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		if reason := k.deny.Load().deny(r); reason != "" {
			k.denied.WithLabelValues(reason).Inc()
			refuse(w, errDenied.Status, errDenied.Code, errDenied.Message, reason, "")
			return
		}
		if f := k.velocity.check(r); f != nil {
			f.reason = reasonVelocity
			refuseLimited(w, f)
			return
		}
		next.ServeHTTP(w, r)
	})
}
