package gateway

import (
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/zhibo-live/zhibo/internal/platform/httpx"
	"github.com/zhibo-live/zhibo/internal/platform/ratelimit"

	"github.com/zhibo-live/zhibo/internal/gateway/table"
)

// Reasons given in the data of a refusal's envelope ({"reason": …, "rule": …}).
const (
	reasonRoute      = "route_limit"
	reasonUser       = "user_limit"
	reasonIP         = "ip_limit"
	reasonOverloaded = "overloaded"
)

// rateRule is the name of the gateway's default per-IP limit (rate_per_ip) in metrics and
// refusals.
const rateRule = "rate_per_ip"

// routeLimits applies the per-route rules of gateway.limits. The rule set is swapped whole on
// reload; a request sees either the old set or the new one.
type routeLimits struct {
	set     atomic.Pointer[[]*liveRule]
	mu      sync.Mutex     // serialises reloads
	shared  *sharedLimiter // counts the rules marked shared (nil for velocity rules, never shared)
	limited *prometheus.CounterVec
	// scope, when set, is the scope label of every rule's refusals (velocity rules are counted
	// as scope velocity); else each rule's own scope.
	scope string
}

// liveRule is a rule with its matcher and its local buckets.
type liveRule struct {
	LimitRule
	m     table.Pattern
	local *ratelimit.Keyed[string]
}

func newRouteLimits(rules []LimitRule, shared *sharedLimiter, limited *prometheus.CounterVec) (*routeLimits, error) {
	l := &routeLimits{shared: shared, limited: limited}
	if err := l.reload(rules); err != nil {
		return nil, err
	}
	return l, nil
}

// reload replaces the rule set. A rule whose name, match, scope and sharing are unchanged keeps
// its buckets (with the new rate and burst from now on), so a reload hands nobody a fresh burst.
func (l *routeLimits) reload(rules []LimitRule) error {
	if err := validateRules(rules); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	old := map[string]*liveRule{}
	if p := l.set.Load(); p != nil {
		for _, r := range *p {
			old[r.Name] = r
		}
	}
	now := time.Now()
	set := make([]*liveRule, 0, len(rules))
	for _, r := range rules {
		m, _ := table.NewPattern(r.Match) // validated above
		lr := &liveRule{LimitRule: r, m: m}
		if o := old[r.Name]; o != nil && o.Match == r.Match && o.Scope == r.Scope && o.Shared == r.Shared {
			lr.local = o.local
			lr.local.SetLimit(r.Rate, r.Burst, now)
		} else {
			lr.local = ratelimit.NewKeyed[string](r.Rate, r.Burst)
		}
		l.limited.WithLabelValues(r.Name, l.scopeLabel(r.Scope))
		set = append(set, lr)
	}
	l.set.Store(&set)
	return nil
}

func (l *routeLimits) scopeLabel(scope string) string {
	if l.scope != "" {
		return l.scope
	}
	return scope
}

// refusal is why a request is not served.
type refusal struct {
	reason string
	rule   string
	wait   time.Duration
}

// check takes one token of every rule r matches, in order, and returns the first refusal.
func (l *routeLimits) check(r *http.Request) *refusal {
	for _, rule := range *l.set.Load() {
		if !rule.m.Match(r) {
			continue
		}
		key, reason := limitKey(rule.Scope, r)
		var ok bool
		var wait time.Duration
		if rule.Shared && l.shared != nil {
			ok, wait = l.shared.allow(r.Context(), rule, key)
		} else {
			ok, wait = rule.local.Allow(key, time.Now())
		}
		if !ok {
			l.limited.WithLabelValues(rule.Name, l.scopeLabel(rule.Scope)).Inc()
			return &refusal{reason: reason, rule: rule.Name, wait: wait}
		}
	}
	return nil
}

// shares reports whether r is under a rule counted in Redis: a round trip per request, which
// the gateway's event loop leaves to the lane.
func (l *routeLimits) shares(r *http.Request) bool {
	if l.shared == nil || l.shared.client == nil {
		return false
	}
	for _, rule := range *l.set.Load() {
		if rule.Shared && rule.m.Match(r) {
			return true
		}
	}
	return false
}

// limitKey is the bucket of r under scope, and the reason a refusal under it gives.
func limitKey(scope string, r *http.Request) (key, reason string) {
	switch scope {
	case ScopeUser:
		if uid, ok := httpx.UID(r.Context()); ok {
			return "u:" + strconv.FormatInt(uid, 10), reasonUser
		}
		return "ip:" + httpx.ClientIP(r), reasonUser
	case ScopeIP:
		return httpx.ClientIP(r), reasonIP
	default:
		return "", reasonRoute
	}
}

// limitRoutes answers 429 to a request over any of its route rules.
func limitRoutes(l *routeLimits, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f := l.check(r); f != nil {
			refuseLimited(w, f)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// refuseLimited writes a 429 with Retry-After (whole seconds, at least 1).
func refuseLimited(w http.ResponseWriter, f *refusal) {
	w.Header().Set("Retry-After", strconv.Itoa(max(1, int((f.wait+time.Second-1)/time.Second))))
	refuse(w, errLimited.Status, errLimited.Code, errLimited.Message, f.reason, f.rule)
}

// refuse writes the JSON envelope of a refusal with its reason (and rule, when one applies).
func refuse(w http.ResponseWriter, status, code int, msg, reason, rule string) {
	data := map[string]string{"reason": reason}
	if rule != "" {
		data["rule"] = rule
	}
	writeEnvelope(w, status, httpx.Envelope{Code: code, Message: msg, Data: data})
}
