package comet

import (
	"errors"
	"fmt"
	"io"
	"runtime"
	"time"
)

// Pollers. Between heartbeats (every 30 s) an authenticated viewer sends
// nothing, and a reader goroutine blocked on its socket would hold a 4 KiB
// stack for nothing. Instead the connection is parked: its socket joins the
// epoll set of one of the Service's pollers (one goroutine each, blocked in
// epoll_wait) with EPOLLONESHOT, and nothing else runs for it. When the
// socket becomes readable the poller takes the connection out of its set of
// parked connections and starts readLoop, which reads and answers one
// packet with the connection's own read state and parks it again. A parked
// connection has no read deadline running, so each poller sweeps its parked
// connections every sweepEvery and drops those silent for longer than
// heartbeat_timeout.
//
// Ownership: a connection is held by exactly one of its reading goroutine
// or its poller's map. Parking (map insert + epoll re-arm) and taking it
// out (for an event, a close from elsewhere, the sweep, or the poller's
// stop) happen under the poller's lock, and parking refuses a closed
// connection, so whoever takes a connection out of the map, or keeps it
// when parking is refused, is the one that finishes it.

// errPollerUnsupported is what newPoller returns where there is no epoll.
var errPollerUnsupported = errors.New("comet: poller not supported on " + runtime.GOOS)

// Sweep period bounds: a quarter of heartbeat_timeout, at most a second
// (the drop comes at most that late), at least 10 ms.
const (
	maxSweepEvery = time.Second
	minSweepEvery = 10 * time.Millisecond
)

func sweepEvery(heartbeatTimeout time.Duration) time.Duration {
	return max(min(heartbeatTimeout/4, maxSweepEvery), minSweepEvery)
}

// newPollers opens GOMAXPROCS pollers when the configuration asks for them
// and the platform has them; none (a reader goroutine per connection)
// otherwise. Their loops start with startPollers.
func (s *Service) newPollers() error {
	if !s.cfg.Poller {
		return nil
	}
	n := runtime.GOMAXPROCS(0)
	for range n {
		p, err := newPoller(s)
		if err != nil {
			s.closePollers()
			if errors.Is(err, errPollerUnsupported) {
				s.log.Info("comet poller unavailable; one reader goroutine per connection", "err", err)
				return nil
			}
			return fmt.Errorf("comet: poller: %w", err)
		}
		s.pollers = append(s.pollers, p)
	}
	return nil
}

// startPollers starts the loops of the pollers newPollers opened; s.mu is
// held by Start.
func (s *Service) startPollers() {
	s.wg.Add(len(s.pollers))
	for _, p := range s.pollers {
		go p.run()
	}
}

// closePollers releases pollers whose loops never started.
func (s *Service) closePollers() {
	for _, p := range s.pollers {
		p.close()
	}
	s.pollers = nil
}

// stopPollers makes every poller loop exit; Stop calls it after closing
// every connection, and waits for the loops with the other goroutines.
func (s *Service) stopPollers() {
	for _, p := range s.pollers {
		p.stop()
	}
}

// park hands c, which its caller holds and which is between packets, to its
// poller. It reports false when the caller keeps c: there is no poller, c
// holds bytes epoll cannot see, c is closed (the caller then finishes it),
// or the poller refused it.
func (s *Service) park(c *conn) bool {
	if c.poller == nil || c.buffered() {
		return false
	}
	return c.poller.park(c)
}

// buffered reports whether bytes of c wait in the comet's memory rather than
// in the socket: the start of a WebSocket stream the HTTP server had read
// ahead. Once they are consumed the reader reads the socket directly.
func (c *conn) buffered() bool {
	wr, ok := c.rd.(*wsReader)
	if !ok {
		return false
	}
	h, ok := wr.src.(*headReader)
	if !ok {
		return false
	}
	if len(h.head) > 0 {
		return true
	}
	wr.src = c.nc
	return false
}

// headReader reads head, then r.
type headReader struct {
	head []byte
	r    io.Reader
}

func (h *headReader) Read(p []byte) (int, error) {
	if len(h.head) == 0 {
		return h.r.Read(p)
	}
	n := copy(p, h.head)
	h.head = h.head[n:]
	return n, nil
}
