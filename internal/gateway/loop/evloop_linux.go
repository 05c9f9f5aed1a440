package loop

import (
	"bufio"
	"bytes"
	"container/heap"
	"net"
	"runtime"
	"sync"
	"time"

	"github.com/zhibo-live/zhibo/internal/platform/epoll"
	"golang.org/x/sys/unix"
)

// evloop is one event loop: an epoll set of client and upstream connections and the goroutine
// that waits on it. Everything of a loop is touched by its goroutine only, but the task queue
// (post), which other goroutines fill and wake it for.
type evloop struct {
	s   *Server
	set *epoll.Set // Woken: tasks were posted

	mu    sync.Mutex
	tasks []task
	done  bool // stopped: a task posted now is dropped (drop), its descriptors closed

	slots []slot   // by the low 32 bits of an event's data
	free  []uint32 // free slots
	// idle are the connections to each upstream address (host:port) waiting for an exchange,
	// the most recently used last.
	idle     map[string][]*upconn
	deadline deadlines // exchanges by deadline
	dirty    []*client // clients with output to write at the end of the batch
	br       *bufio.Reader
	hr       bytes.Reader // the head being parsed, under br
	rbuf     []byte       // what each read reads into
	clients  map[*client]struct{}
	shutting bool
	lastTick time.Time
}

// slot holds a registered descriptor's handler; gen tells a stale event from a live one.
type slot struct {
	h   handler
	gen uint32
}

type handler interface {
	event(ev uint32)
}

type taskKind int

const (
	taskAdopt taskKind = iota
	taskShutdown
	taskStop
	taskDialed
)

type task struct {
	kind taskKind
	fd   int
	conn net.Conn
	// taskDialed: a connection to an upstream address, for exchange x's dial n
	x   *exchange
	n   uint64
	err error
}

const (
	pollBatch = 256
	tick      = 250 * time.Millisecond // how often connections' timeouts are checked
)

func newLoop(s *Server) (*evloop, error) {
	set, err := epoll.New()
	if err != nil {
		return nil, err
	}
	return &evloop{s: s, set: set, idle: map[string][]*upconn{}, clients: map[*client]struct{}{},
		br: bufio.NewReaderSize(nil, s.MaxHeaderBytes+4096), rbuf: make([]byte, 64<<10)}, nil
}

// post queues t for the loop and wakes it. Once the loop has stopped, t is dropped: a dial
// that ends after the loop (or a connection adopted as it stops) leaves no descriptor open.
func (l *evloop) post(t task) {
	l.mu.Lock()
	if l.done {
		l.mu.Unlock()
		t.drop(l.s)
		return
	}
	l.tasks = append(l.tasks, t)
	l.mu.Unlock()
	l.set.Wake() // nothing once the loop closed its set
}

// drop disposes of a task no loop will run: the descriptors and connection it carries are
// closed, an adopted client uncounted.
func (t task) drop(s *Server) {
	switch t.kind {
	case taskAdopt:
		_ = unix.Close(t.fd)
		_ = t.conn.Close()
		s.connClosed()
	case taskDialed:
		if t.fd >= 0 {
			_ = unix.Close(t.fd)
		}
	}
}

// register adds fd to the set with events, for h; it returns the registration's data.
func (l *evloop) register(fd int, events uint32, h handler) (uint64, error) {
	var idx uint32
	if n := len(l.free); n > 0 {
		idx = l.free[n-1]
		l.free = l.free[:n-1]
	} else {
		idx = uint32(len(l.slots))
		l.slots = append(l.slots, slot{})
	}
	sl := &l.slots[idx]
	sl.gen++
	sl.h = h
	data := uint64(idx) | uint64(sl.gen)<<32
	if err := l.set.Add(fd, events, data); err != nil {
		sl.h = nil
		l.free = append(l.free, idx)
		return 0, err
	}
	return data, nil
}

// modify changes the events fd, registered as data, waits for.
func (l *evloop) modify(fd int, data uint64, events uint32) {
	_ = l.set.Mod(fd, events, data)
}

// unregister takes fd out of the set and frees its slot (the caller closes fd).
func (l *evloop) unregister(fd int, data uint64) {
	_ = l.set.Del(fd)
	idx := uint32(data)
	if int(idx) < len(l.slots) && l.slots[idx].gen == uint32(data>>32) {
		l.slots[idx].h = nil
		l.free = append(l.free, idx)
	}
}

func (l *evloop) run() {
	defer l.s.wg.Done()
	events := make([]unix.EpollEvent, pollBatch)
	l.lastTick = time.Now()
	for {
		// What is ready now first, without the scheduler knowing (Poll): under load it mostly
		// is. A wait in a system call longer than the runtime's monitor tick has the P
		// handed to another thread and keeps the monitor waking every 20 µs; one yield and
		// a second look keep those waits to the times the loop has nothing to do.
		n, err := l.set.Poll(events)
		if n == 0 && err == nil {
			runtime.Gosched()
			if n, err = l.set.Poll(events); n == 0 && err == nil {
				n, err = l.set.Wait(events, l.waitMillis(time.Now()))
			}
		}
		if err != nil {
			l.s.Log.Error("gateway loop failed; closing its connections", "err", err)
			l.stop()
			return
		}
		for i := range n {
			ev := &events[i]
			d := epoll.ID(ev)
			if d == epoll.Woken {
				if l.runTasks() {
					l.stop()
					return
				}
				continue
			}
			idx := uint32(d)
			if int(idx) >= len(l.slots) {
				continue
			}
			sl := &l.slots[idx]
			if sl.h == nil || sl.gen != uint32(d>>32) {
				continue // an event of a registration since ended
			}
			sl.h.event(ev.Events)
		}
		l.flushDirty()
		now := time.Now()
		l.expire(now)
		if now.Sub(l.lastTick) >= tick {
			l.lastTick = now
			l.sweep(now)
		}
	}
}

// waitMillis is how long epoll_wait may wait: until the next exchange's deadline or tick.
func (l *evloop) waitMillis(now time.Time) int {
	until := l.lastTick.Add(tick)
	if len(l.deadline) > 0 && l.deadline[0].deadline.Before(until) {
		until = l.deadline[0].deadline
	}
	d := until.Sub(now)
	if d <= 0 {
		return 0
	}
	return int((d + time.Millisecond - 1) / time.Millisecond)
}

// runTasks runs the queued tasks; true: stop the loop.
func (l *evloop) runTasks() bool {
	l.set.Drain()
	l.mu.Lock()
	tasks := l.tasks
	l.tasks = nil
	l.mu.Unlock()
	stop := false
	for _, t := range tasks {
		switch t.kind {
		case taskAdopt:
			l.adopt(t.fd, t.conn)
		case taskShutdown:
			l.shutting = true
			for c := range l.clients {
				if !c.busy && !c.closed && !c.gone {
					c.read() // a request already sent is served, not cut off
				}
				c.closeIfIdle()
			}
		case taskStop:
			stop = true
		case taskDialed:
			t.x.dialed(t.fd, t.err, t.n)
		}
	}
	return stop
}

// stop closes everything of the loop, and drops the tasks it will not run.
func (l *evloop) stop() {
	l.mu.Lock()
	l.done = true
	rest := l.tasks
	l.tasks = nil
	l.mu.Unlock()
	for _, t := range rest {
		t.drop(l.s)
	}
	for c := range l.clients {
		if c.x.active {
			c.x.fail(errShutdown)
		}
		c.close()
	}
	for host, list := range l.idle {
		for _, u := range list {
			u.close()
		}
		delete(l.idle, host)
	}
	l.set.Close()
}

func (l *evloop) adopt(fd int, outer net.Conn) {
	c := newClient(l, fd, outer)
	if err := c.start(); err != nil {
		l.s.Log.Warn("gateway loop: refused a connection", "err", err)
		c.release()
		return
	}
	if l.shutting {
		c.closeIfIdle()
	}
}

// flushDirty writes the output the batch's events left to the clients.
func (l *evloop) flushDirty() {
	for i, c := range l.dirty {
		c.dirtyMark = false
		c.flush()
		l.dirty[i] = nil
	}
	l.dirty = l.dirty[:0]
}

// expire fails the exchanges whose deadline passed.
func (l *evloop) expire(now time.Time) {
	for len(l.deadline) > 0 && !l.deadline[0].deadline.After(now) {
		x := heap.Pop(&l.deadline).(*exchange)
		x.heapIdx = -1
		x.timedOut()
	}
}

// sweep closes the connections past their timeouts and the idle upstream connections too
// old to reuse.
func (l *evloop) sweep(now time.Time) {
	for c := range l.clients {
		c.checkTimeouts(now)
	}
	for host, list := range l.idle {
		keep := list[:0]
		for _, u := range list {
			if now.Sub(u.since) >= idleTimeout {
				u.close()
				continue
			}
			keep = append(keep, u)
		}
		clear(list[len(keep):])
		if len(keep) == 0 {
			delete(l.idle, host)
		} else {
			l.idle[host] = keep
		}
	}
}

// deadlines is a min-heap of exchanges by deadline.
type deadlines []*exchange

func (d deadlines) Len() int           { return len(d) }
func (d deadlines) Less(i, j int) bool { return d[i].deadline.Before(d[j].deadline) }
func (d deadlines) Swap(i, j int) {
	d[i], d[j] = d[j], d[i]
	d[i].heapIdx, d[j].heapIdx = i, j
}
func (d *deadlines) Push(x any) {
	e := x.(*exchange)
	e.heapIdx = len(*d)
	*d = append(*d, e)
}
func (d *deadlines) Pop() any {
	old := *d
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*d = old[:len(old)-1]
	return e
}
