package app

import (
	"context"
	"crypto/sha256"
	_ "embed"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/zhibo-live/zhibo/internal/config"
	"github.com/zhibo-live/zhibo/internal/platform/apierr"
	"github.com/zhibo-live/zhibo/internal/platform/httpx"
	"github.com/zhibo-live/zhibo/internal/platform/obs"
)

// A running process re-reads its config on SIGHUP, when the config file's content changes, and
// on POST /api/admin/config/reload (`zhibo config reload`). The new config is read the way the
// process first read it (file, environment, the same command-line flags, which keep winning),
// validated whole, compared with the running one, and applied only if every setting that
// changed is one the process can change live (config.LiveKeys): each component swaps those
// values in place (atomics, small locked swaps), nothing is rebuilt and no request is dropped.
// Anything else — a file that does not parse, a value Validate refuses, a changed listen
// address, an admin uid no one has registered — refuses the reload whole; the running config
// stays, the reason is logged and counted.

// Triggers and results of a reload: the label values of zhibo_config_reloads_total.
const (
	triggerSignal = "signal"
	triggerFile   = "file"
	triggerAPI    = "api"

	resultApplied   = "applied"
	resultUnchanged = "unchanged"
	resultRefused   = "refused"
)

// configPoll is how often a running process reads its config file for changes: a change is
// applied within two polls.
const configPoll = 250 * time.Millisecond

// errReloadRefused is the answer of the reload API when the new config is refused.
var errReloadRefused = apierr.New(http.StatusConflict, -409, "config reload refused")

//go:embed openapi.json
var reloadOpenAPI []byte

// ReloadResult is what a reload did.
type ReloadResult struct {
	// Result is applied, unchanged or refused.
	Result string `json:"result"`
	// Changed are the settings that changed, named like their flags (empty unless applied).
	Changed []string `json:"changed"`
	// Hash identifies the config in force afterwards (config.Config.Hash).
	Hash string `json:"hash"`
	// Reason says why a reload was refused.
	Reason string `json:"reason,omitempty"`
}

// reloader holds the config in force and what reloads need.
type reloader struct {
	mu   sync.Mutex // one reload at a time; guards load and cur
	load func() (config.Config, error)
	cur  config.Config
	// file is the hash of the config file's content when the process was built, just after
	// the config was read: the watcher starts from it, so an edit made while the process was
	// starting is not taken for the content in force.
	file [sha256.Size]byte

	admins atomic.Pointer[[]int64] // who may call operator routes, read on every such request

	reloads *prometheus.CounterVec
	lastOK  prometheus.Gauge
	info    *prometheus.GaugeVec
}

func newReloader(cfg config.Config, reg prometheus.Registerer) *reloader {
	f := promauto.With(reg)
	r := &reloader{
		cur: cfg,
		reloads: f.NewCounterVec(prometheus.CounterOpts{Name: "zhibo_config_reloads_total",
			Help: "Config reloads by trigger (signal, file, api) and result (applied, unchanged, refused)."}, []string{"trigger", "result"}),
		lastOK: f.NewGauge(prometheus.GaugeOpts{Name: "zhibo_config_last_reload_success_timestamp_seconds",
			Help: "Unix time the config in force was loaded: at start, then at each applied or unchanged reload."}),
		info: f.NewGaugeVec(prometheus.GaugeOpts{Name: "zhibo_config_info",
			Help: "1, labelled with the hash of the config in force (the sha-256 of zhibo config print, secret left out)."}, []string{"hash"}),
	}
	for _, t := range []string{triggerSignal, triggerFile, triggerAPI} {
		for _, res := range []string{resultApplied, resultUnchanged, resultRefused} {
			r.reloads.WithLabelValues(t, res)
		}
	}
	admins := slices.Clone(cfg.Admins)
	r.admins.Store(&admins)
	r.file, _ = fileHash(cfg.File)
	r.lastOK.SetToCurrentTime()
	r.info.WithLabelValues(cfg.Hash()).Set(1)
	return r
}

// current is the config in force.
func (r *reloader) current() config.Config {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cur
}

// isAdmin reports whether uid is named in admins, as last reloaded.
func (r *reloader) isAdmin(uid int64) bool { return slices.Contains(*r.admins.Load(), uid) }

// ReloadFrom tells the process how to read its config again: load returns it as the process
// would read it now. Without it, a reload is refused.
func (a *App) ReloadFrom(load func() (config.Config, error)) {
	a.reload.mu.Lock()
	defer a.reload.mu.Unlock()
	a.reload.load = load
}

// Reload reads the config again and applies it if it can change live, else refuses it whole
// and keeps the running one; trigger says what asked for it (signal, file or api).
func (a *App) Reload(ctx context.Context, trigger string) (ReloadResult, error) {
	r := a.reload
	r.mu.Lock()
	defer r.mu.Unlock()
	changed, err := a.applyNext(ctx)
	if err != nil {
		r.reloads.WithLabelValues(trigger, resultRefused).Inc()
		a.log.Error("config reload refused, the running config stays", "trigger", trigger, "changed", changed, "err", err)
		return ReloadResult{Result: resultRefused, Changed: []string{}, Hash: r.cur.Hash(), Reason: err.Error()}, err
	}
	res := ReloadResult{Result: resultApplied, Changed: changed, Hash: r.cur.Hash()}
	if len(changed) == 0 {
		res.Result, res.Changed = resultUnchanged, []string{}
		a.log.Info("config reloaded: nothing changed", "trigger", trigger, "hash", res.Hash)
	} else {
		a.log.Info("config reloaded", "trigger", trigger, "changed", changed, "hash", res.Hash)
	}
	r.reloads.WithLabelValues(trigger, res.Result).Inc()
	r.lastOK.SetToCurrentTime()
	r.info.Reset()
	r.info.WithLabelValues(res.Hash).Set(1)
	return res, nil
}

// applyNext reads, checks and applies the next config; it returns the changed settings. An
// error means nothing was applied. r.mu is held.
func (a *App) applyNext(ctx context.Context) ([]string, error) {
	r := a.reload
	if r.load == nil {
		return nil, errors.New("this process was not told how to read its config again")
	}
	next, err := r.load()
	if err != nil {
		return nil, err
	}
	if err := next.Validate(); err != nil {
		return nil, fmt.Errorf("config invalid: %w", err)
	}
	changed, err := config.Diff(r.cur, next)
	if err != nil {
		return nil, err
	}
	var fixed []string
	for _, k := range changed {
		if !config.IsLive(k) {
			fixed = append(fixed, k)
		}
	}
	if len(fixed) > 0 {
		return changed, fmt.Errorf("%s cannot change while the process runs: put back the running value, "+
			"or restart the process to change it", strings.Join(fixed, ", "))
	}
	if len(changed) == 0 {
		return nil, nil
	}
	has := func(k string) bool { return slices.Contains(changed, k) }
	under := func(prefix string) bool {
		return slices.ContainsFunc(changed, func(k string) bool { return strings.HasPrefix(k, prefix) })
	}
	if has("admins") && a.Account != nil {
		missing, err := a.unregisteredAdmins(ctx, next.Admins)
		if err != nil {
			return changed, err
		}
		if len(missing) > 0 {
			return changed, fmt.Errorf("admins names uid %s, which no one has registered: register the "+
				"operator's account first, then name the uid it was given", joinInts(missing))
		}
	}
	// The log level is the one change that can fail to apply (a logger not built by obs):
	// apply it first, so a failure leaves everything else as it was.
	if has("log.level") {
		if err := obs.SetLevel(a.log, next.Log.Level); err != nil {
			return changed, err
		}
	}
	// From here nothing can fail: the whole config passed Validate, and each component's
	// Reload checks no more than its section's Validate did.
	var errs []error
	if has("banned_words") {
		words := next.Words()
		if a.Account != nil {
			a.Account.SetWords(words)
		}
		if a.Room != nil {
			a.Room.SetWords(words)
		}
		if a.Danmaku != nil {
			a.Danmaku.SetWords(words)
		}
		if a.IMChat != nil {
			a.IMChat.SetWords(words)
		}
		if a.IMGroup != nil {
			a.IMGroup.SetWords(words)
		}
	}
	if has("admins") {
		admins := slices.Clone(next.Admins)
		r.admins.Store(&admins)
	}
	if under("gateway.") && a.Gateway != nil {
		errs = append(errs, a.Gateway.Reload(next.Gateway))
	}
	if under("account.") && a.Account != nil {
		errs = append(errs, a.Account.Reload(next.Account))
	}
	if under("room.") && a.Room != nil {
		errs = append(errs, a.Room.Reload(next.Room))
	}
	if under("danmaku.") && a.Danmaku != nil {
		errs = append(errs, a.Danmaku.Reload(next.Danmaku))
	}
	if under("gift.") && a.Gift != nil {
		errs = append(errs, a.Gift.Reload(next.Gift))
	}
	if under("im_chat.") && a.IMChat != nil {
		errs = append(errs, a.IMChat.Reload(next.IMChat))
	}
	if under("im_group.") && a.IMGroup != nil {
		errs = append(errs, a.IMGroup.Reload(next.IMGroup))
	}
	if under("logic.") && a.Logic != nil {
		errs = append(errs, a.Logic.Reload(next.Logic))
	}
	r.cur = next
	if err := errors.Join(errs...); err != nil {
		// Not expected: Validate passed. Say plainly that part of the config was applied.
		a.log.Error("config reload applied in part", "changed", changed, "err", err)
	}
	return changed, nil
}

// WatchConfig reloads the config on SIGHUP and when the content of the config file changes
// (read every poll; a change is applied once the file has stayed the same for one more poll,
// so a file caught half-written is not refused for it), until ctx ends or stop is called.
func (a *App) WatchConfig(ctx context.Context, poll time.Duration) (stop func()) {
	path := a.reload.current().File
	ctx, cancel := context.WithCancel(ctx)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	var wg sync.WaitGroup
	handled := a.reload.file // the content in force
	wg.Go(func() {
		defer signal.Stop(hup)
		seen := handled // the content at the last poll
		var tick <-chan time.Time
		if path != "" {
			t := time.NewTicker(poll)
			defer t.Stop()
			tick = t.C
		}
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				_, _ = a.Reload(ctx, triggerSignal)
				handled, _ = fileHash(path)
				seen = handled
			case <-tick:
				h, err := fileHash(path)
				switch {
				case err != nil: // gone for a moment (an editor's rename); look again next poll
				case h == handled:
					seen = h
				case h != seen:
					seen = h // changed: wait until it stays so for one poll
				default:
					handled = h
					_, _ = a.Reload(ctx, triggerFile)
				}
			}
		}
	})
	return func() {
		cancel()
		wg.Wait()
	}
}

// fileHash is the SHA-256 of the file at path ("" = no file: the zero hash).
func fileHash(path string) ([sha256.Size]byte, error) {
	if path == "" {
		return [sha256.Size]byte{}, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return [sha256.Size]byte{}, err
	}
	return sha256.Sum256(b), nil
}

// reloadRoutes serves POST /api/admin/config/reload, for admins.
type reloadRoutes struct{ a *App }

func (h reloadRoutes) Register(mux *http.ServeMux) {
	mux.Handle("POST /api/admin/config/reload", httpx.Handle(h.a.logger("config"), h.handle))
}

func (h reloadRoutes) handle(w http.ResponseWriter, r *http.Request) error {
	uid, err := httpx.RequireAdmin(r, h.a.isAdmin)
	if err != nil {
		return err
	}
	h.a.log.InfoContext(r.Context(), "config reload asked", "by", uid)
	res, err := h.a.Reload(context.WithoutCancel(r.Context()), triggerAPI)
	if err != nil {
		return errReloadRefused.Withf("config reload refused, the running config stays: %s", res.Reason)
	}
	return httpx.OK(w, res)
}
