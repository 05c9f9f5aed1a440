package media

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/zhibo-live/zhibo/internal/room"
)

// liveRetries is how many times a live status change is tried before it is given up (logged
// and counted).
const liveRetries = 3

// liveStatus makes a room's live status follow its video: live when a publish starts,
// preparing when the publish stopped and no new one came within the grace. Changes reach
// room in order through one worker, so a quick stop and start cannot arrive swapped.
type liveStatus struct {
	rooms room.Client
	grace time.Duration
	log   *slog.Logger
	m     *metrics

	mu      sync.Mutex
	pending map[int64]*time.Timer // rooms whose video stopped, waiting out the grace
	stopped bool

	changes chan liveChange
	done    chan struct{}
}

type liveChange struct {
	room int64
	on   bool
}

func newLiveStatus(rooms room.Client, grace time.Duration, log *slog.Logger, m *metrics) *liveStatus {
	return &liveStatus{rooms: rooms, grace: grace, log: log, m: m, pending: map[int64]*time.Timer{},
		changes: make(chan liveChange, 4096), done: make(chan struct{})}
}

func (l *liveStatus) start() { go l.work() }

// published: the room goes live now; a stop waiting out its grace is forgotten.
func (l *liveStatus) published(id int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if t, ok := l.pending[id]; ok {
		t.Stop()
		delete(l.pending, id)
	}
	l.send(liveChange{id, true})
}

// unpublished: the room goes preparing after the grace unless it publishes again.
func (l *liveStatus) unpublished(id int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stopped {
		return
	}
	if t, ok := l.pending[id]; ok {
		t.Stop()
	}
	var t *time.Timer
	t = time.AfterFunc(l.grace, func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.pending[id] != t {
			return // published again, or superseded
		}
		delete(l.pending, id)
		l.send(liveChange{id, false})
	})
	l.pending[id] = t
}

// waiting lists the rooms whose video stopped and that wait out their grace: still live for
// room until then, so they are confirmed with the publishing ones.
func (l *liveStatus) waiting() []int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	ids := make([]int64, 0, len(l.pending))
	for id := range l.pending {
		ids = append(ids, id)
	}
	return ids
}

// send queues a change (l.mu held).
func (l *liveStatus) send(c liveChange) {
	if l.stopped {
		return
	}
	select {
	case l.changes <- c:
	default:
		l.m.liveErrs.Inc()
		l.log.Error("live status change dropped: queue full", "room", c.room, "live", c.on)
	}
}

func (l *liveStatus) work() {
	defer close(l.done)
	for c := range l.changes {
		l.apply(c)
	}
}

func (l *liveStatus) apply(c liveChange) {
	var err error
	for try := 0; try < liveRetries; try++ {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		err = l.rooms.SetStreamLive(ctx, c.room, c.on)
		cancel()
		if err == nil {
			return
		}
		time.Sleep(time.Duration(try+1) * 200 * time.Millisecond)
	}
	l.m.liveErrs.Inc()
	l.log.Error("live status not changed", "room", c.room, "live", c.on, "err", err)
}

// stop sets every room still waiting out its grace preparing now (the process is going
// away, nobody would end the grace), finishes the queued changes and returns.
func (l *liveStatus) stop(ctx context.Context) {
	l.mu.Lock()
	if l.stopped {
		l.mu.Unlock()
		return
	}
	for id, t := range l.pending {
		t.Stop()
		delete(l.pending, id)
		l.send(liveChange{id, false})
	}
	l.stopped = true
	close(l.changes)
	l.mu.Unlock()
	select {
	case <-l.done:
	case <-ctx.Done():
	}
}
