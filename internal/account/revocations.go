package account

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/zhibo-live/zhibo/internal/platform/queue"
)

// Logouts broadcast. With a queue, every account process watches the key-value bucket
// RevokedBucket, and a logout, a logout everywhere or a password change made through any of
// them writes the user's key there: each process drops its cached sessions of that user as
// the change arrives (milliseconds), so a revoked token is refused everywhere at once, and a
// process may keep a user's sessions cached for revocation_ttl_watched (5 min) rather than
// re-reading them every revocation_ttl (10 s) on an active user's requests. While the watch
// is not running (before it starts, after it broke off) the short TTL applies again, and a
// write that fails leaves the other processes on their TTL.

// RevokedBucket is the key-value bucket of the broadcast: key = the uid, value = when.
const RevokedBucket = "account_revoked"

// broadcastTimeout bounds the write of a revocation to the bucket.
const broadcastTimeout = 2 * time.Second

// revocations writes and watches the bucket.
type revocations struct {
	kv     jetstream.KeyValue
	cancel context.CancelFunc
	ended  <-chan struct{}
}

// startRevocations makes the bucket and watches it: each change drops its user's sessions
// from s's cache. The cache keeps entries for the watched TTL while the watch runs.
func (s *Service) startRevocations(ctx context.Context, q *queue.Queue) (*revocations, error) {
	kv, err := q.EnsureKV(ctx, revokedSpec(s.cfg.TokenTTL))
	if err != nil {
		return nil, err
	}
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	ended, err := queue.WatchKVChanges(wctx, kv, "account revocations", s.log, decodeRevoked, func(uid int64) {
		s.sessions.drop(uid)
		s.m.revocationsSeen.Inc()
	})
	if err != nil {
		cancel()
		return nil, err
	}
	s.sessions.setTTL(s.cfg.RevocationTTLWatched)
	go func() {
		<-ended
		s.sessions.setTTL(s.cfg.RevocationTTL)
		if wctx.Err() == nil {
			s.log.Warn("account: the revocation broadcast stopped; sessions are read again every revocation_ttl")
		}
	}()
	return &revocations{kv: kv, cancel: cancel, ended: ended}, nil
}

func decodeRevoked(e jetstream.KeyValueEntry) (int64, error) {
	uid, err := strconv.ParseInt(e.Key(), 10, 64)
	if err != nil || uid <= 0 {
		return 0, fmt.Errorf("key %q is not a uid", e.Key())
	}
	return uid, nil
}

// stop ends the watch.
func (r *revocations) stop() {
	r.cancel()
	<-r.ended
}

// revoked drops uid's cached sessions here and, with a queue, in every other account process.
func (s *Service) revoked(ctx context.Context, uid int64) {
	s.sessions.drop(uid)
	if s.revs == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), broadcastTimeout)
	defer cancel()
	key := strconv.FormatInt(uid, 10)
	if _, err := s.revs.kv.Put(ctx, key, strconv.AppendInt(nil, s.now().UnixMilli(), 10)); err != nil {
		s.m.broadcasts.WithLabelValues("error").Inc()
		s.log.LogAttrs(ctx, slog.LevelWarn, "account: revocation not broadcast; other processes see it within revocation_ttl_watched",
			slog.Int64("uid", uid), slog.Any("err", err))
		return
	}
	s.m.broadcasts.WithLabelValues("ok").Inc()
}
