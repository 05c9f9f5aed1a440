package room

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/zhibo-live/zhibo/internal/platform/lease"
	"github.com/zhibo-live/zhibo/internal/platform/queue"
	"github.com/zhibo-live/zhibo/internal/platform/sqlstore"
	"github.com/zhibo-live/zhibo/internal/push"
	"github.com/zhibo-live/zhibo/pkg/aggregate"
)

// The fold of likes, through pkg/aggregate's durable mode: each window's like events are
// claimed by id in room_likes_applied (aggregate.ClaimIDs) and their per-room sums added to
// room_likes in ONE transaction, acknowledged only after the commit, so an accepted like is
// never lost nor counted twice across redeliveries, re-publishes and crashes. After each
// committed flush every changed room gets LIKE_INFO_V3_UPDATE with its new total (best effort:
// the next flush of that room corrects a lost one).
const (
	likesMaxPending   = 100_000
	likesAckWait      = 10 * time.Second // redelivery after this long unacknowledged, e.g. after a crash
	likesAppliedTable = "room_likes_applied"
	likesIDRetention  = likesStreamMaxAge + 24*time.Hour // every copy of an event is gone by then
	likesPruneEvery   = time.Hour
	likesPushBudget   = 2 * time.Second // all pushes of one flush
)

// likeFold runs the durable aggregation of likes.
type likeFold struct {
	d      *aggregate.Durable[int64]
	sink   *likeSink
	db     *sql.DB
	q      *queue.Queue
	log    *slog.Logger
	pusher push.Client
	now    func() time.Time
	cache  *likesCache // totals for the stats module
	leases *lease.Node

	accepted prometheus.Counter
	rejected prometheus.Counter
	events   *prometheus.CounterVec

	cancel context.CancelFunc // ends the pruning
	wg     sync.WaitGroup
}

func newLikeFold(cfg LikesConfig, deps Deps, now func() time.Time) (*likeFold, error) {
	f := &likeFold{db: deps.DB.DB, q: deps.Queue, log: deps.Logger, pusher: deps.Pusher, now: now, leases: deps.Leases,
		sink: &likeSink{db: deps.DB, now: now}, cache: newLikesCache(cfg.Window, now),
		accepted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zhibo_room_likes_accepted_total", Help: "Likes stored on the LIKES stream (acknowledged to clients).",
		}),
		rejected: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zhibo_room_likes_limited_total", Help: "Like requests refused by the per-user rate limit.",
		}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "zhibo_room_like_events_total", Help: "Like events folded (applied) or skipped as replays (skipped).",
		}, []string{"result"}),
	}
	for _, c := range []prometheus.Collector{f.accepted, f.rejected, f.events} {
		if err := deps.Registry.Register(c); err != nil {
			return nil, fmt.Errorf("room: likes metrics: %w", err)
		}
	}
	q := deps.Queue
	d, err := aggregate.NewDurable[int64](aggregate.DurableConfig{
		Config: aggregate.Config{Window: cfg.Window, MaxPending: likesMaxPending},
		Stream: q.Stream(LikesStreamName),
		Consumer: jetstream.ConsumerConfig{
			Durable: LikesConsumer, FilterSubject: q.Subject(LikesSubjectPrefix + ">"),
			AckWait: likesAckWait, MaxAckPending: likesMaxPending, DeliverPolicy: jetstream.DeliverAllPolicy,
		},
		OnFlush: f.flushed,
	}, q.JS, f.db, f.sink, aggregate.Options{Name: LikesConsumer, Logger: deps.Logger, Registry: deps.Registry})
	if err != nil {
		return nil, fmt.Errorf("room: likes: %w", err)
	}
	f.d = d
	return f, nil
}

// start ensures the stream, starts consuming and the pruning of old claimed ids. Every room
// process consumes (one durable consumer shares the events out); one per cluster prunes,
// under likesPruneLease: the same DELETE from every process would only repeat the work.
func (f *likeFold) start(ctx context.Context) error {
	if err := EnsureLikesStream(ctx, f.q); err != nil {
		return fmt.Errorf("room: likes: %w", err)
	}
	if err := f.d.Start(ctx); err != nil {
		return fmt.Errorf("room: likes: %w", err)
	}
	pruneCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	f.cancel = cancel
	pruner := aggregate.Pruner{DB: f.db, Table: likesAppliedTable, Keep: likesIDRetention, Now: f.now, Log: f.log}
	f.wg.Go(func() { f.leases.Run(pruneCtx, likesPruneLease, likesPruneEvery, pruner.Prune) })
	return nil
}

// EnsureLikesStream creates or updates the LIKES stream; room and the other consumers of
// like events (im-notice) call it, whichever starts first.
func EnsureLikesStream(ctx context.Context, q *queue.Queue) error {
	return q.EnsureStream(ctx, queue.StreamSpec{
		Name: q.Stream(LikesStreamName), Subjects: []string{q.Subject(LikesSubjectPrefix + ">")},
		MaxAge: likesStreamMaxAge, Duplicates: likesStreamDuplicates,
	})
}

// stopFold stops consuming and flushes what was received.
func (f *likeFold) stopFold(ctx context.Context) error {
	if f.cancel != nil {
		f.cancel()
		f.wg.Wait()
		f.cancel = nil
	}
	if err := f.d.Stop(ctx); err != nil {
		return fmt.Errorf("room: likes: %w", err)
	}
	return nil
}

// flushed counts a flush and, when it committed, pushes the changed rooms' totals.
func (f *likeFold) flushed(r aggregate.FlushReport) {
	totals := f.sink.take()
	if r.Err != nil {
		return
	}
	f.events.WithLabelValues("applied").Add(float64(r.Applied))
	f.events.WithLabelValues("skipped").Add(float64(r.Messages - r.Applied))
	if len(totals) == 0 {
		return
	}
	f.cache.put(totals, f.now())
	ctx, cancel := context.WithTimeout(context.Background(), likesPushBudget)
	defer cancel()
	for _, id := range slices.Sorted(maps.Keys(totals)) {
		if err := f.pusher.PushRoom(ctx, id, likeInfoMsg(totals[id])); err != nil {
			f.log.Warn("LIKE_INFO_V3_UPDATE push failed", "room_id", id, "err", err)
		}
	}
}

// likeInfoMsg is Bilibili's LIKE_INFO_V3_UPDATE: the room's total likes.
func likeInfoMsg(total int64) []byte {
	b, _ := json.Marshal(map[string]any{"cmd": "LIKE_INFO_V3_UPDATE", "data": map[string]int64{"click_count": total}})
	return b
}

// likeSink decodes like events and adds the fresh ones to room_likes. It keeps the new totals
// of the rooms of its last Apply for the flush's pushes (flushes run one at a time).
type likeSink struct {
	db  *sqlstore.DB
	now func() time.Time

	mu   sync.Mutex
	last map[int64]int64
}

func (*likeSink) Decode(data []byte) (aggregate.Event[int64], error) {
	var ev LikeEvent
	if err := json.Unmarshal(data, &ev); err != nil {
		return aggregate.Event[int64]{}, fmt.Errorf("like event: %w", err)
	}
	if ev.Room <= 0 || ev.Count < 1 || ev.Count > MaxLikeCount {
		return aggregate.Event[int64]{}, fmt.Errorf("like event %d: room %d count %d", ev.ID, ev.Room, ev.Count)
	}
	return aggregate.Event[int64]{ID: ev.ID, Deltas: []aggregate.Delta[int64]{{Key: ev.Room, N: ev.Count}}}, nil
}

func (s *likeSink) Apply(ctx context.Context, tx *sql.Tx, b aggregate.Batch[int64]) (aggregate.Result, error) {
	now := s.now().UnixMilli()
	fresh, err := aggregate.ClaimIDs(ctx, tx, likesAppliedTable, b.Events, now)
	if err != nil {
		return aggregate.Result{}, err
	}
	totals, err := addLikesTx(ctx, tx, s.db, aggregate.Fold(fresh), now)
	if err != nil {
		return aggregate.Result{}, err
	}
	s.mu.Lock()
	s.last = totals
	s.mu.Unlock()
	return aggregate.Result{Applied: len(fresh), Keys: len(totals)}, nil
}

func (s *likeSink) take() map[int64]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.last
	s.last = nil
	return t
}
