// Package job delivers pushes: it consumes the durable push stream, merges each room's
// messages over a short window into one batch, and hands the batch to every comet, which
// encodes it once per room. Messages are acknowledged only after the comets have the batch,
// so a job that dies mid-window loses nothing: another job (or the restarted one) gets the
// unacknowledged messages again.
package job

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/zhibo-live/zhibo/internal/platform/queue"
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
	Comets   []Comet
}

// Service is the job component.
type Service struct {
	stopOnce sync.Once // Stop runs once; later calls return its result
	stopErr  error

	cfg  Config
	deps Deps
	log  *slog.Logger
	m    *metrics

	mu    sync.Mutex
	rooms map[int64]*pending
	full  chan struct{} // a room reached MaxBatch

	stopConsume func()
	quit        chan struct{}
	wg          sync.WaitGroup
	senders     []*sender
	sendersWG   sync.WaitGroup
	sendCtx     context.Context // canceled when Stop runs out of time: queued batches are dropped
	cancelSend  context.CancelFunc
}

// pending is a room's batch being merged.
type pending struct {
	first time.Time
	msgs  [][]byte
	acks  []queue.Msg
	sent  []time.Time // publish time of each queue message, for latency
}

// New builds the service; Start begins consuming.
func New(cfg Config, deps Deps) (*Service, error) {
	if deps.Queue == nil {
		return nil, errors.New("job: Queue is required")
	}
	if len(deps.Comets) == 0 {
		return nil, errors.New("job: at least one comet is required")
	}
	return &Service{cfg: cfg, deps: deps, log: deps.Logger, m: newMetrics(deps.Registry),
		rooms: map[int64]*pending{}, full: make(chan struct{}, 1), quit: make(chan struct{})}, nil
}

// Start begins consuming the push stream.
func (s *Service) Start(ctx context.Context) error {
	q := s.deps.Queue
	if err := push.EnsureStream(ctx, q); err != nil {
		return fmt.Errorf("job: %w", err)
	}
	s.sendCtx, s.cancelSend = context.WithCancel(context.Background())
	for i, c := range s.deps.Comets {
		sd := &sender{c: c, name: fmt.Sprintf("comet-%d", i), q: make(chan func(context.Context, Comet) error, s.cfg.CometQueue)}
		if named, ok := c.(fmt.Stringer); ok { // a remote comet names its address
			sd.name = named.String()
		}
		s.senders = append(s.senders, sd)
	}
	for _, sd := range s.senders {
		s.sendersWG.Add(1)
		go s.runSender(sd)
	}
	s.wg.Add(1)
	go s.flusher()
	stop, err := q.Consume(ctx, queue.ConsumerSpec{
		Stream: q.Stream(push.Stream), Durable: s.cfg.Durable,
		AckWait: 30 * time.Second, MaxPending: s.cfg.MaxPending,
	}, s.handle)
	if err != nil {
		close(s.quit)
		s.wg.Wait()
		s.closeSenders(ctx)
		return fmt.Errorf("job: %w", err)
	}
	s.stopConsume = stop
	return nil
}

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
	s.wg.Wait() // the flusher's last batches are queued
	s.closeSenders(ctx)
	return nil
}

// closeSenders lets every comet's sender deliver what is queued, then waits for them; when ctx
// ends first, the rest is dropped.
func (s *Service) closeSenders(ctx context.Context) {
	for _, sd := range s.senders {
		close(sd.q)
	}
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
		s.mu.Lock()
		b := s.rooms[p.RoomID]
		if b == nil {
			b = &pending{first: time.Now()}
			s.rooms[p.RoomID] = b
		}
		b.msgs = append(b.msgs, p.Msgs...)
		b.acks = append(b.acks, m)
		b.sent = append(b.sent, publishedAt(m))
		full := len(b.msgs) >= s.cfg.MaxBatch
		s.mu.Unlock()
		if full {
			select {
			case s.full <- struct{}{}:
			default:
			}
		}
	case push.TargetUser:
		s.fanout(func(ctx context.Context, c Comet) error { return c.PushUsers(ctx, p.UIDs, p.Msgs) })
		_ = m.Ack()
	case push.TargetAll:
		s.fanout(func(ctx context.Context, c Comet) error { return c.Broadcast(ctx, p.Msgs) })
		_ = m.Ack()
	}
}

func publishedAt(m queue.Msg) time.Time {
	if md, err := m.Metadata(); err == nil {
		return md.Timestamp
	}
	return time.Now()
}

// flusher is the only goroutine that sends room batches, so a room's batches leave in order.
// Every job process runs one, on the messages it consumed (the durable consumer shares them
// out): it is per-process work, not once per cluster.
func (s *Service) flusher() {
	defer s.wg.Done()
	tick := max(s.cfg.Window/4, time.Millisecond)
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-s.quit:
			s.flush(true)
			return
		case <-t.C:
			s.flush(false)
		case <-s.full:
			s.flush(false)
		}
	}
}

// flush sends every room whose window is over or whose batch is full (all when final).
func (s *Service) flush(final bool) {
	now := time.Now()
	type ready struct {
		room int64
		b    *pending
	}
	var out []ready
	s.mu.Lock()
	for id, b := range s.rooms {
		if final || now.Sub(b.first) >= s.cfg.Window || len(b.msgs) >= s.cfg.MaxBatch {
			out = append(out, ready{id, b})
			delete(s.rooms, id)
		}
	}
	s.mu.Unlock()
	for _, r := range out {
		for msgs := r.b.msgs; len(msgs) > 0; {
			n := min(len(msgs), s.cfg.MaxBatch)
			batch := msgs[:n]
			msgs = msgs[n:]
			s.fanout(func(ctx context.Context, c Comet) error { return c.PushRoom(ctx, r.room, batch) })
			s.m.batchSize.Observe(float64(n))
		}
		done := time.Now()
		for i, m := range r.b.acks {
			_ = m.Ack()
			s.m.latency.Observe(done.Sub(r.b.sent[i]).Seconds())
		}
	}
}

// fanout hands one batch to every comet's sender. Each comet has its own goroutine and bounded
// queue, so a dead or slow comet only delays (and, once its queue is full, misses) its own
// batches: the others are never held up. A comet's batches keep their order.
func (s *Service) fanout(send func(context.Context, Comet) error) {
	for _, c := range s.senders {
		select {
		case c.q <- send:
		default:
			s.m.cometDropped.Inc()
			s.log.Warn("comet queue full, batch dropped for it", "comet", c.name)
		}
	}
}

// sender delivers one comet's batches in order, each bounded by PushTimeout.
type sender struct {
	c    Comet
	name string
	q    chan func(context.Context, Comet) error
}

func (s *Service) runSender(c *sender) {
	defer s.sendersWG.Done()
	for send := range c.q {
		if s.sendCtx.Err() != nil {
			s.m.cometDropped.Inc() // stopping and out of time
			continue
		}
		ctx, cancel := context.WithTimeout(s.sendCtx, s.cfg.PushTimeout)
		err := send(ctx, c.c)
		cancel()
		if err != nil {
			s.m.cometErrors.Inc()
			s.log.Warn("comet push failed", "comet", c.name, "err", err)
			continue
		}
		s.m.batches.Inc()
	}
}
