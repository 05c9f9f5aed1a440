package app

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/zhibo-live/zhibo/internal/account"
	"github.com/zhibo-live/zhibo/internal/platform/queue"
)

// remoteRevocations keeps a process's cache of account's answers (account in another process,
// peers.cache_ttl) in step with the logouts broadcast: a token logged out anywhere is refused
// here at once, and a token is kept for account.revocation_ttl_watched meanwhile
// (account.Remote.WatchRevocations).
type remoteRevocations struct {
	remote   *account.Remote
	q        *queue.Queue
	tokenTTL time.Duration
	watched  time.Duration // account.revocation_ttl_watched: the tokens' TTL while watched
	log      *slog.Logger
	seen     prometheus.Counter
	cancel   context.CancelFunc
	ended    <-chan struct{}
}

// revocationWatch is the watch this process needs: with a queue, account in another process
// and its answers cached; nil otherwise.
func (a *App) revocationWatch() lifecycle {
	rm, ok := a.accounts.(*account.Remote)
	if !ok || a.q == nil || a.cfg.Peers.CacheTTL <= 0 {
		return nil
	}
	seen := prometheus.NewCounter(prometheus.CounterOpts{Name: "zhibo_account_remote_revocations_total",
		Help: "Revocations the logouts broadcast brought to this process's cache of tokens verified by account in another process."})
	a.Reg.MustRegister(seen)
	return &remoteRevocations{remote: rm, q: a.q, tokenTTL: a.cfg.Account.TokenTTL, watched: a.cfg.Account.RevocationTTLWatched,
		log: a.logger("account"), seen: seen}
}

func (w *remoteRevocations) Start(ctx context.Context) error {
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	ended, err := w.remote.WatchRevocations(wctx, w.q, w.tokenTTL, w.watched, w.log, w.seen.Inc)
	if err != nil {
		cancel()
		return err
	}
	w.cancel, w.ended = cancel, ended
	return nil
}

func (w *remoteRevocations) Stop(context.Context) error {
	if w.cancel != nil {
		w.cancel()
		if w.ended != nil {
			<-w.ended
		}
	}
	return nil
}
