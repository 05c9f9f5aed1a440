package account

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/zhibo-live/zhibo/internal/platform/apierr"
	"github.com/zhibo-live/zhibo/internal/platform/httpx"
	"github.com/zhibo-live/zhibo/internal/platform/ratelimit"
)

// guard keeps password work (bcrypt) from being a lever against the process or an account:
// token buckets per client IP and per account name, growing waits and lockouts after failed
// logins, and a bound on the hashes running at once in the whole process, so a flood queues
// for a few slots instead of taking every core. Its state is in memory, per process.
type guard struct {
	now     func() time.Time
	log     *slog.Logger
	m       *metrics
	loginIP *ratelimit.Keyed[string]
	account *ratelimit.Keyed[string]
	regIP   *ratelimit.Keyed[string]
	byName  *failures
	byIP    *failures

	// checking holds the accounts with a password check in flight: one at a time per
	// account, so parallel guesses cannot all pass before the first failure is counted.
	checkMu  sync.Mutex
	checking map[string]struct{}

	slots    chan struct{}
	wait     time.Duration
	inFlight atomic.Int64
	peak     atomic.Int64 // most hashes ever run at once (tests check the bound)
}

func newGuard(cfg Config, now func() time.Time, log *slog.Logger, m *metrics) *guard {
	l := cfg.Limits
	n := cfg.BcryptConcurrency
	if n == 0 {
		n = max(1, runtime.NumCPU()/2)
	}
	g := &guard{now: now, log: log, m: m, wait: cfg.BcryptWait, slots: make(chan struct{}, n), checking: map[string]struct{}{},
		loginIP: ratelimit.NewKeyed[string](0, 0),
		account: ratelimit.NewKeyed[string](0, 0),
		regIP:   ratelimit.NewKeyed[string](0, 0),
		byName:  newFailures(l.FreeFailures, l.LockoutFailures, l.Backoff, l.Lockout, l.failureMemory(), l.maxTracked()),
		byIP:    newFailures(l.FreeFailuresIP, l.LockoutFailuresIP, l.Backoff, l.Lockout, l.failureMemory(), l.maxTracked()),
	}
	g.setRates(l)
	return g
}

// setRates sets the token buckets of password work from l; existing buckets keep their tokens.
func (g *guard) setRates(l LimitsConfig) {
	now := g.now()
	g.loginIP.SetLimit(l.LoginIPRate, l.LoginIPBurst, now)
	g.account.SetLimit(l.AccountRate, l.AccountBurst, now)
	g.regIP.SetLimit(float64(l.RegisterPerIPHour)/3600, l.RegisterPerIPHour, now)
}

// limitedError is a 429 or 503 kind carrying when to try again, for Retry-After.
type limitedError struct {
	kind *apierr.Error
	wait time.Duration
}

func (e *limitedError) Error() string { return e.kind.Error() }
func (e *limitedError) Unwrap() error { return e.kind }

func (g *guard) refuse(reason string, kind *apierr.Error, wait time.Duration) error {
	g.m.refused.WithLabelValues(reason).Inc()
	return &limitedError{kind: kind, wait: wait}
}

// admitLogin lets a login or password check on account (a skeleton) from ip go on to bcrypt,
// or refuses it with the wait; done must be called when the check is over. An empty ip (an
// in-process caller) skips the per-IP limits.
func (g *guard) admitLogin(ip, account string) (done func(), err error) {
	if err := g.admitLimits(ip, account); err != nil {
		return nil, err
	}
	g.checkMu.Lock()
	defer g.checkMu.Unlock()
	if _, busy := g.checking[account]; busy {
		return nil, g.refuse("concurrent", ErrTooManyAttempts.Withf("a login on this account is already being checked, try again"), time.Second)
	}
	g.checking[account] = struct{}{}
	return func() {
		g.checkMu.Lock()
		delete(g.checking, account)
		g.checkMu.Unlock()
	}, nil
}

func (g *guard) admitLimits(ip, account string) error {
	now := g.now()
	if ip != "" {
		if w := g.byIP.wait(ip, now); w > 0 {
			return g.refuse("backoff_ip", ErrTooManyAttempts.Withf("too many failed logins from this address, try again in %s", roundUp(w)), w)
		}
	}
	if w := g.byName.wait(account, now); w > 0 {
		return g.refuse("backoff", ErrTooManyAttempts.Withf("too many failed logins on this account, try again in %s", roundUp(w)), w)
	}
	if ip != "" {
		if ok, w := g.loginIP.Allow(ip, now); !ok {
			return g.refuse("ip_rate", ErrTooManyAttempts.Withf("too many logins from this address, slow down"), w)
		}
	}
	if ok, w := g.account.Allow(account, now); !ok {
		return g.refuse("account_rate", ErrTooManyAttempts.Withf("too many attempts on this account, slow down"), w)
	}
	return nil
}

// admitRegister lets a registration of account (a skeleton) from ip go on to bcrypt.
func (g *guard) admitRegister(ip, account string) error {
	now := g.now()
	if ip != "" {
		if ok, w := g.regIP.Allow(ip, now); !ok {
			return g.refuse("register_ip", ErrTooManyAccounts, w)
		}
	}
	if ok, w := g.account.Allow(account, now); !ok {
		return g.refuse("account_rate", ErrTooManyAttempts.Withf("too many attempts on this name, slow down"), w)
	}
	return nil
}

// failed records a failed login on account from ip; a failure that starts a lockout is
// counted and logged.
func (g *guard) failed(ctx context.Context, ip, account, name string) {
	now := g.now()
	if g.byName.fail(account, now) {
		g.m.lockouts.WithLabelValues("account").Inc()
		g.log.WarnContext(ctx, "account locked after failed logins", "account", name, "ip", ip)
	}
	if ip != "" && g.byIP.fail(ip, now) {
		g.m.lockouts.WithLabelValues("ip").Inc()
		g.log.WarnContext(ctx, "client IP locked after failed logins", "ip", ip, "account", name)
	}
}

// succeeded forgets the account's failures. The IP's stay: a valid account of its own must
// not let an address wipe its record between guesses at others.
func (g *guard) succeeded(account string) { g.byName.reset(account) }

// work runs fn (one bcrypt call) in one of the process's slots, waiting at most bcrypt_wait
// for one; ErrBusy (503, Retry-After 1s) when none frees up in time.
func (g *guard) work(ctx context.Context, fn func()) error {
	select {
	case g.slots <- struct{}{}:
	default:
		if g.wait <= 0 {
			return g.refuse("busy", ErrBusy, time.Second)
		}
		t := time.NewTimer(g.wait)
		select {
		case g.slots <- struct{}{}:
			t.Stop()
		case <-t.C:
			return g.refuse("busy", ErrBusy, time.Second)
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
	}
	n := g.inFlight.Add(1)
	for p := g.peak.Load(); n > p && !g.peak.CompareAndSwap(p, n); p = g.peak.Load() {
	}
	g.m.bcryptInFlight.Inc()
	defer func() {
		g.m.bcryptInFlight.Dec()
		g.inFlight.Add(-1)
		<-g.slots
	}()
	fn()
	return nil
}

// hash is bcrypt.GenerateFromPassword in a slot.
func (g *guard) hash(ctx context.Context, password string, cost int) (string, error) {
	var h []byte
	var err error
	if werr := g.work(ctx, func() { h, err = bcrypt.GenerateFromPassword([]byte(password), cost) }); werr != nil {
		return "", werr
	}
	return string(h), err
}

// check is bcrypt.CompareHashAndPassword in a slot: (matches, error of the slot wait).
func (g *guard) check(ctx context.Context, hash, password string) (bool, error) {
	var ok bool
	err := g.work(ctx, func() { ok = bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) == nil })
	return ok, err
}

// clientIP is the request's client address (httpx.ClientIP: the direct peer, or the client a
// trusted proxy names, see gateway.trusted_proxies). IPv6 clients count per /64, the block one
// subscriber gets.
func clientIP(r *http.Request) string {
	host := httpx.ClientIP(r)
	a, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	if a = a.Unmap(); a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

func roundUp(d time.Duration) time.Duration {
	return ((d + time.Second - 1) / time.Second) * time.Second
}
