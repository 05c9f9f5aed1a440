// Package job delivers pushes: it consumes the durable push stream, merges each room's
// messages into batches, and hands each batch to the comets that hold the room (route.go),
// which encode it once per room.
//
// Delivery: a message is acknowledged once every comet its batch was routed to has taken the
// batch, or has been declared dead (its pushes failing for comet_dead_after, or its queue of
// comet_queue batches full). Until then a failed push is retried. So a message acknowledged
// by the queue reached every live comet that holds its room; a job that dies before that
// leaves its messages unacknowledged and the next job delivers them again (at least once: a
// viewer on a comet that had taken the batch may get it twice).
//
// The merge window adapts to the room (merge.go): a message to a room that has had no batch
// in the last Window leaves at once; a busy room's messages are merged until Window has
// passed since its last batch (or MaxBatch of them wait). A quiet room's latency is
// therefore the path's own, not the window's, while a busy room gets at most one batch per
// window, which is what keeps the fan-out's throughput.
package job

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/zhibo-live/zhibo/internal/platform/lease"
	"github.com/zhibo-live/zhibo/internal/platform/obs"
	"github.com/zhibo-live/zhibo/internal/platform/queue"
	"github.com/zhibo-live/zhibo/internal/presence"
	"github.com/zhibo-live/zhibo/internal/push"
)

// Comet is what job needs of a comet: delivery of one batch to its connections.
type Comet interface {
	PushRoom(ctx context.Context, roomID int64, msgs [][]byte) error
	PushUsers(ctx context.Context, uids []int64, msgs [][]byte) error
	Broadcast(ctx context.Context, msgs [][]byte) error
}

// Deps are the job component's collaborators.
type Deps struct {
	Logger   *slog.Logger
	Registry prometheus.Registerer
	Queue    *queue.Queue
	// Comets are the fixed comets: the one in this process, or those peers.comets names.
	Comets []Comet
	// Presence, when set, routes each room's batches to the comets that hold it and finds
	// comets by their reports (route.go); Dial connects to a comet found so. Without it every
	// batch goes to every fixed comet.
	Presence *presence.Table
	Dial     func(addr string) (Comet, error)
	// Leases, when set, let one job of the cluster consume at a time (standby).
	Leases *lease.Node
}

// Service is the job component.
type Service struct {
	stopOnce sync.Once // Stop runs once; later calls return its result
	stopErr  error

	cfg  Config
	deps Deps
	log  *slog.Logger
	m    *metrics

	mu    sync.Mutex // guards merge, and makes each hand-off follow the decision in order
	merge *merger
	kick  chan struct{} // a window opened while none was: the flusher sets its timer

	stopConsume func()
	quit        chan struct{}
	wg          sync.WaitGroup
	senders     []*sender // guarded by mu once started (comets come and go with presence)
	route       *router   // nil without presence
	stopping    bool      // guarded by mu: no sender is added any more
	stopRoutes  context.CancelFunc
	active      *lease.Lease // nil when this job is alone
	sendersWG   sync.WaitGroup
	sendCtx     context.Context // canceled when Stop runs out of time: queued batches are dropped
	cancelSend  context.CancelFunc
}

// New builds the service; Start begins consuming.
func New(cfg Config, deps Deps) (*Service, error) {
	if deps.Queue == nil {
		return nil, errors.New("job: Queue is required")
	}
	if len(deps.Comets) == 0 && deps.Presence == nil {
		return nil, errors.New("job: at least one comet is required")
	}
	return &Service{cfg: cfg, deps: deps, log: deps.Logger, m: newMetrics(deps.Registry),
		merge: newMerger(cfg.Window, cfg.MaxBatch, cfg.Burst), kick: make(chan struct{}, 1), quit: make(chan struct{})}, nil
}

// Start begins consuming the push stream.
func (s *Service) Start(ctx context.Context) error {
	q := s.deps.Queue
	if err := push.EnsureStream(ctx, q); err != nil {
		return fmt.Errorf("job: %w", err)
	}
	s.sendCtx, s.cancelSend = context.WithCancel(context.Background())
	for i, c := range s.deps.Comets {
		name := fmt.Sprintf("comet-%d", i)
		if named, ok := c.(fmt.Stringer); ok { // a remote comet names its address
			name = named.String()
		}
		s.newSender(c, name)
	}
	s.m.comets.Set(float64(len(s.senders)))
	rctx, cancel := context.WithCancel(context.Background())
	s.stopRoutes = cancel
	if err := s.startRouting(rctx); err != nil {
		cancel()
		s.closeSenders(ctx)
		return fmt.Errorf("job: %w", err)
	}
	s.wg.Add(1)
	go s.flusher()
	if s.deps.Leases != nil {
		s.active = s.deps.Leases.Lease(activeLease)
		s.active.Start(ctx)
		s.wg.Add(1)
		go s.standby()
		return nil
	}
	stop, err := s.consume(ctx)
	if err != nil {
		close(s.quit)
		s.wg.Wait()
		s.closeSenders(ctx)
		return fmt.Errorf("job: %w", err)
	}
	s.stopConsume = stop
	return nil
}

// activeLease is held by the one job of a cluster that consumes the push stream.
const activeLease = "job-active"

// consume starts taking messages from the push stream.
func (s *Service) consume(ctx context.Context) (func(), error) {
	q := s.deps.Queue
	return q.Consume(ctx, queue.ConsumerSpec{
		Stream: q.Stream(push.Stream), Durable: s.cfg.Durable,
		AckWait: s.cfg.AckWait, MaxPending: s.cfg.MaxPending,
	}, s.handle)
}

// standby consumes while this job holds the active lease and stands by otherwise. Two jobs
// consuming one room's messages at once would each merge and send their share, and a
// room's messages would reach viewers out of order; so one job of the cluster consumes and
// the others take over within lease.ttl + lease.renew when it dies (at once when it stops).
func (s *Service) standby() {
	defer s.wg.Done()
	t := time.NewTicker(activePoll)
	defer t.Stop()
	var stop func()
	defer func() {
		if stop != nil {
			stop()
		}
	}()
	for {
		switch held := s.active.Held(); {
		case held && stop == nil:
			var err error
			if stop, err = s.consume(context.Background()); err != nil {
				s.log.Warn("job: cannot consume the push stream; retrying", "err", err)
				stop = nil
			} else {
				s.m.active.Set(1)
				s.log.Info("job active: consuming the push stream")
			}
		case !held && stop != nil:
			stop()
			stop = nil
			s.m.active.Set(0)
			s.log.Warn("job standing by: the active lease was lost")
		}
		select {
		case <-s.quit:
			return
		case <-t.C:
		}
	}
}

// activePoll is how often a standing-by job checks whether it holds the active lease.
const activePoll = 200 * time.Millisecond

// Stop stops consuming, sends what is merged, and waits — for slow comets only as long as ctx
// allows; what they have not taken by then is dropped.
func (s *Service) Stop(ctx context.Context) error {
	s.stopOnce.Do(func() { s.stopErr = s.shutdown(ctx) })
	return s.stopErr
}

// shutdown is Stop's first run.
func (s *Service) shutdown(ctx context.Context) error {
	if s.stopConsume != nil {
		s.stopConsume()
	}
	close(s.quit)
	if s.stopRoutes != nil {
		s.stopRoutes()
	}
	s.wg.Wait() // the flusher's last batches are queued
	s.closeSenders(ctx)
	if s.active != nil {
		// Released after the last acknowledgement, so the next job starts where this one ended.
		return s.active.Stop(ctx)
	}
	return nil
}

// closeSenders lets every comet's sender deliver what is queued, then waits for them; when ctx
// ends first, the rest is dropped.
func (s *Service) closeSenders(ctx context.Context) {
	s.mu.Lock()
	s.stopping = true
	for _, sd := range s.senders {
		close(sd.q)
	}
	s.senders = nil
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.sendersWG.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		s.cancelSend()
		<-done
	}
	s.cancelSend()
}

func (s *Service) handle(m queue.Msg) {
	p, err := push.Unmarshal(m.Data())
	if err != nil {
		s.m.bad.Inc()
		s.log.Warn("dropping malformed push", "subject", m.Subject(), "err", err)
		_ = m.Term()
		return
	}
	s.m.in.Add(float64(len(p.Msgs)))
	switch p.Target {
	case push.TargetRoom:
		sent := publishedAt(m)
		s.mu.Lock()
		idle := s.merge.idle()
		b := s.merge.add(time.Now(), p.RoomID, p.Msgs, m, sent)
		if b != nil {
			s.handOff(b)
		}
		s.mu.Unlock()
		if idle {
			select {
			case s.kick <- struct{}{}:
			default:
			}
		}
	case push.TargetUser:
		s.mu.Lock()
		d := newDelivery(func() { _ = m.Ack() })
		s.fanout(s.senders, d, func(ctx context.Context, c Comet) error { return c.PushUsers(ctx, p.UIDs, p.Msgs) })
		d.done()
		s.mu.Unlock()
	case push.TargetAll:
		s.mu.Lock()
		d := newDelivery(func() { _ = m.Ack() })
		s.fanout(s.senders, d, func(ctx context.Context, c Comet) error { return c.Broadcast(ctx, p.Msgs) })
		d.done()
		s.mu.Unlock()
	}
}

func publishedAt(m queue.Msg) time.Time {
	if md, err := m.Metadata(); err == nil {
		return md.Timestamp
	}
	return time.Now()
}

// flusher closes the rooms' windows as they come due: it sleeps until the oldest open window
// closes, or until a window opens while none was (kick). On Stop it sends what waits.
// Every job process runs one, on the messages it consumed (the durable consumer shares them
// out): it is per-process work, not once per cluster.
func (s *Service) flusher() {
	defer s.wg.Done()
	t := time.NewTimer(time.Hour)
	t.Stop()
	for {
		var next time.Time
		s.flush(func(m *merger) (out []*batch) {
			out, next = m.expire(time.Now())
			return out
		})
		if !next.IsZero() {
			t.Reset(time.Until(next))
		}
		select {
		case <-s.quit:
			t.Stop()
			s.flush((*merger).drain)
			return
		case <-t.C:
		case <-s.kick:
			t.Stop()
		}
	}
}

// flush hands off the batches take returns.
func (s *Service) flush(take func(*merger) []*batch) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, b := range take(s.merge) {
		s.handOff(b)
	}
}

// handOff gives a room batch to every comet that holds the room, split at MaxBatch messages;
// its queue messages are acknowledged once every one of those comets has taken every part,
// or has been declared dead. It runs under s.mu, so a room's batches reach each comet's queue
// in the order the merger made them.
func (s *Service) handOff(b *batch) {
	s.m.roomBatches[b.reason].Inc()
	to := s.targets(b.room)
	sc, end := s.traceBatch(b)
	d := newDelivery(func() { s.acked(b); end() })
	defer d.done() // after every part is queued: a batch for no comet is acknowledged here
	var published time.Time
	for _, t := range b.sent {
		if t.After(published) {
			published = t
		}
	}
	for msgs := b.msgs; len(msgs) > 0; {
		n := min(len(msgs), s.cfg.MaxBatch)
		part := msgs[:n]
		msgs = msgs[n:]
		s.fanout(to, d, func(ctx context.Context, c Comet) error {
			return c.PushRoom(trace.ContextWithSpanContext(ctx, sc), b.room, part)
		})
		s.remember(b.room, published, part, to)
		s.m.batchSize.Observe(float64(n))
	}
}

// traceBatch continues the trace of the batch's first message (the others are linked): when
// that trace is sampled, the batch is a span of it, ended once the batch is delivered. sc is
// what the comets' calls carry.
func (s *Service) traceBatch(b *batch) (sc trace.SpanContext, end func()) {
	if len(b.acks) == 0 || b.acks[0] == nil {
		return trace.SpanContext{}, func() {}
	}
	ctx := queue.MsgContext(context.Background(), b.acks[0])
	parent := trace.SpanContextFromContext(ctx)
	if !parent.IsSampled() {
		return parent, func() {}
	}
	var links []trace.Link
	for _, m := range b.acks[1:min(len(b.acks), 9)] {
		if l := trace.SpanContextFromContext(queue.MsgContext(context.Background(), m)); l.IsValid() {
			links = append(links, trace.Link{SpanContext: l})
		}
	}
	_, span := obs.Tracer().Start(ctx, "job batch", trace.WithSpanKind(trace.SpanKindConsumer), trace.WithLinks(links...),
		trace.WithAttributes(attribute.Int64("zhibo.room", b.room), attribute.Int("zhibo.messages", len(b.msgs)),
			attribute.String("zhibo.batch_reason", string(b.reason))))
	return span.SpanContext(), func() { span.End() }
}

// acked acknowledges a batch's queue messages once it is delivered (on the sender that
// delivered its last part).
func (s *Service) acked(b *batch) {
	done := time.Now()
	for i, m := range b.acks {
		_ = m.Ack()
		s.m.latency.Observe(done.Sub(b.sent[i]).Seconds())
	}
}

// delivery counts the comets (and parts) a push still waits for; the last to finish
// acknowledges it. It starts at one, for the caller, who calls done once every part is
// queued, so an acknowledgement never comes before the last hand-off.
type delivery struct {
	left atomic.Int64
	ack  func()
}

func newDelivery(ack func()) *delivery {
	d := &delivery{ack: ack}
	d.left.Store(1)
	return d
}

// done marks one comet's part delivered (or given up on); nil does nothing (replays).
func (d *delivery) done() {
	if d != nil && d.left.Add(-1) == 0 {
		d.ack()
	}
}

// item is one batch queued for one comet.
type item struct {
	send func(context.Context, Comet) error
	d    *delivery
}

// fanout hands one batch to each of the given comets' senders; s.mu is held. Each comet has
// its own goroutine and bounded queue, so a dead or slow comet only delays (and, once its
// queue is full or it is declared dead, misses) its own batches: the others are never held
// up. A comet's batches keep their order.
func (s *Service) fanout(to []*sender, d *delivery, send func(context.Context, Comet) error) {
	for _, c := range to {
		s.enqueue(c, d, send)
	}
}

// enqueue hands one batch to one comet's sender; s.mu is held. A comet whose queue is full
// is given up on for this batch (counted): it is too slow or down.
func (s *Service) enqueue(c *sender, d *delivery, send func(context.Context, Comet) error) {
	if d != nil {
		d.left.Add(1)
	}
	select {
	case c.q <- item{send: send, d: d}:
	default:
		s.m.cometDropped.Inc()
		s.log.Warn("comet queue full, batch dropped for it", "comet", c.name)
		d.done()
	}
}

// sender delivers one comet's batches in order, each bounded by PushTimeout.
type sender struct {
	c     Comet
	name  string // the comet's address, or comet-N for one in this process
	found bool   // found through presence (not a fixed comet): let go when it is gone
	q     chan item

	// Only the sender's goroutine touches these.
	failing time.Time // when pushes began to fail (zero: the last one succeeded)
	dead    bool      // failing for comet_dead_after: each batch gets one try, then is given up
}

// newSender starts delivering to c; s.mu is held once the service has started.
func (s *Service) newSender(c Comet, name string) *sender {
	sd := &sender{c: c, name: name, q: make(chan item, s.cfg.CometQueue)}
	s.senders = append(s.senders, sd)
	s.sendersWG.Add(1)
	go s.runSender(sd)
	return sd
}

// removeSender stops delivering to a comet once what is queued for it is sent; s.mu is held.
func (s *Service) removeSender(sd *sender) {
	s.senders = slices.DeleteFunc(s.senders, func(x *sender) bool { return x == sd })
	close(sd.q) // its goroutine sends what is queued, then closes the connection
}

func (s *Service) runSender(c *sender) {
	defer s.sendersWG.Done()
	if cl, ok := c.c.(io.Closer); ok && c.found {
		defer cl.Close() // a comet found through presence is this job's own connection
	}
	for it := range c.q {
		if s.sendCtx.Err() != nil {
			// Stopping and out of time: not acknowledged, so another job delivers it again.
			s.m.cometDropped.Inc()
			continue
		}
		s.deliver(c, it)
	}
}

// deliver pushes one batch to the comet, retrying (with back-off) while the comet has been
// failing for less than comet_dead_after. A comet failing longer is declared dead: each of
// its batches gets one try and is given up on, until a push succeeds again. The batch's
// delivery is done either way, except when the job stops first (then it stays
// unacknowledged and is delivered again by the next job).
func (s *Service) deliver(c *sender, it item) {
	backoff := 50 * time.Millisecond
	for {
		ctx, cancel := context.WithTimeout(s.sendCtx, s.cfg.PushTimeout)
		err := it.send(ctx, c.c)
		cancel()
		if err == nil {
			if c.dead {
				s.log.Info("comet answers again", "comet", c.name)
			}
			c.failing, c.dead = time.Time{}, false
			s.m.batches.Inc()
			it.d.done()
			return
		}
		s.m.cometErrors.Inc()
		if s.sendCtx.Err() != nil {
			return
		}
		now := time.Now()
		if c.failing.IsZero() {
			c.failing = now
		}
		if c.dead || now.Sub(c.failing) >= s.cfg.CometDeadAfter {
			if !c.dead {
				c.dead = true
				s.m.cometDeaths.Inc()
				s.log.Warn("comet declared dead: its batches are given up on until it answers again",
					"comet", c.name, "failing_for", now.Sub(c.failing).String(), "err", err)
			}
			s.m.cometDropped.Inc()
			it.d.done()
			return
		}
		s.log.Warn("comet push failed; retrying", "comet", c.name, "err", err)
		select {
		case <-time.After(backoff):
		case <-s.sendCtx.Done():
			return
		}
		backoff = min(2*backoff, time.Second)
	}
}
