package comet

import (
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/zhibo-live/zhibo/internal/platform/epoll"
	"golang.org/x/sys/unix"
)

// pollBatch is how many events one epoll_wait returns at most.
const pollBatch = 128

// poller is one epoll set of parked connections and the goroutine waiting
// on it (see poller.go). An event carries a registration id, new each time
// a connection is parked, rather than the descriptor: an event fetched for
// a registration that has since ended (or whose descriptor number was
// reused) finds nothing in conns.
type poller struct {
	s   *Service
	set *epoll.Set // stop wakes it so that run returns (epoll.Woken)

	mu      sync.Mutex
	conns   map[uint64]*conn // parked connections by registration id, from 1 on
	seq     uint64           // last registration id handed out
	stopped bool             // the set is closed
}

func newPoller(s *Service) (*poller, error) {
	set, err := epoll.New()
	if err != nil {
		return nil, err
	}
	return &poller{s: s, set: set, conns: make(map[uint64]*conn)}, nil
}

// connFD returns the descriptor behind raw (conn.raw: plain TCP only). Any other kind
// (TLS, a wrapper) may hold read bytes of its own that epoll cannot see, so
// it is never parked.
func connFD(raw syscall.RawConn) int32 {
	if raw == nil {
		return fdNone
	}
	fd := int32(fdNone)
	if raw.Control(func(f uintptr) { fd = int32(f) }) != nil {
		return fdNone
	}
	return fd
}

// park adds c to the set (first time) or re-arms it, one-shot, for input or
// hang-up. See Service.park.
func (p *poller) park(c *conn) bool {
	if c.fd == fdUnknown {
		c.fd = connFD(c.raw)
	}
	if c.fd < 0 {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	// c is open here, and a close from elsewhere detaches it under p.mu
	// before closing the socket: its descriptor is still this socket's.
	if p.stopped || c.isClosed() {
		return false
	}
	p.seq++
	id := p.seq
	events := uint32(unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT)
	var err error
	if c.inSet {
		err = p.set.Mod(int(c.fd), events, id)
	} else {
		err = p.set.Add(int(c.fd), events, id)
	}
	if err != nil {
		p.s.log.Warn("comet poller refused a connection; it keeps a reader goroutine", "remote", c.remote(), "err", err)
		return false
	}
	c.inSet = true
	c.pollID = id
	p.conns[id] = c
	p.s.m.parked.Inc()
	return true
}

// take removes c from the map and the epoll set (if there); p.mu is held.
// It reports whether c was parked, that is whether the caller now holds it.
func (p *poller) take(c *conn) bool {
	parked := c.pollID != 0
	if parked {
		delete(p.conns, c.pollID)
		c.pollID = 0
		p.s.m.parked.Dec()
	}
	if c.inSet && !p.stopped {
		_ = p.set.Del(int(c.fd))
	}
	c.inSet = false
	return parked
}

// detach is called by conn.close, after marking c closed and before closing
// its socket: c leaves the epoll set and, if it was parked, is finished
// here since no goroutine holds it.
func (p *poller) detach(c *conn) {
	p.mu.Lock()
	parked := p.take(c)
	p.mu.Unlock()
	if parked {
		go p.s.finish(c)
	}
}

// run waits for events until stop, starting a reader for each connection
// that became readable and sweeping silent ones.
func (p *poller) run() {
	defer p.s.wg.Done()
	events := make([]unix.EpollEvent, pollBatch)
	every := sweepEvery(p.s.cfg.HeartbeatTimeout)
	next := time.Now().Add(every)
	for {
		wait := max(time.Until(next), 0)
		n, err := p.set.Wait(events, int((wait+time.Millisecond-1)/time.Millisecond))
		if err != nil {
			// Only a broken epoll descriptor gets here: give the
			// connections back rather than leave them unwatched.
			p.s.log.Error("comet poller failed; closing its connections", "err", err)
			p.shutdown()
			return
		}
		stop := false
		for i := range n {
			id := epoll.ID(&events[i])
			if id == epoll.Woken {
				stop = true
				continue
			}
			p.ready(id)
		}
		if stop {
			p.shutdown()
			return
		}
		if now := time.Now(); !now.Before(next) {
			p.sweep()
			next = now.Add(every)
		}
	}
}

// ready starts a reader for the connection registered as id, if it is
// still parked.
func (p *poller) ready(id uint64) {
	p.mu.Lock()
	c := p.conns[id]
	if c != nil {
		delete(p.conns, id)
		c.pollID = 0
		p.s.m.parked.Dec()
	}
	p.mu.Unlock()
	if c != nil {
		go p.s.readLoop(c)
	}
}

// errSilent is the error heartbeat-timeout drops of parked connections log.
var errSilent = fmt.Errorf("no packet within heartbeat_timeout: %w", os.ErrDeadlineExceeded)

// sweep drops parked connections silent for longer than heartbeat_timeout,
// as a read deadline does for a connection being read.
func (p *poller) sweep() {
	limit := p.s.now() - int64(p.s.cfg.HeartbeatTimeout)
	var silent []*conn
	p.mu.Lock()
	for _, c := range p.conns {
		if c.lastRead.Load() < limit {
			silent = append(silent, c)
		}
	}
	for _, c := range silent {
		p.take(c)
	}
	p.mu.Unlock()
	for _, c := range silent {
		p.s.drop(c, dropHeartbeatTimeout, errSilent)
		go p.s.finish(c)
	}
}

// stop makes run return. Connections still parked then (Stop has closed
// them all before) are closed and finished by run.
func (p *poller) stop() { p.set.Wake() } // nothing once the set is closed (its epoll failed)

// shutdown closes the poller's descriptors and gives back every connection
// still parked.
func (p *poller) shutdown() {
	p.mu.Lock()
	left := make([]*conn, 0, len(p.conns))
	for _, c := range p.conns {
		left = append(left, c)
	}
	for _, c := range left {
		p.take(c)
	}
	p.closeLocked()
	p.mu.Unlock()
	for _, c := range left {
		c.close(closeShutdown)
		go p.s.finish(c)
	}
}

// close releases the descriptors of a poller whose loop never ran.
func (p *poller) close() {
	p.mu.Lock()
	p.closeLocked()
	p.mu.Unlock()
}

func (p *poller) closeLocked() {
	if p.stopped {
		return
	}
	p.stopped = true
	p.set.Close()
}
