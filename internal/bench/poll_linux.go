package bench

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gobwas/ws"

	"github.com/zhibo-live/zhibo/internal/platform/epoll"
	"github.com/zhibo-live/zhibo/internal/protocol"
)

// Viewers read through epoll. A goroutine per connection makes every pushed frame wake a
// goroutine of its own: with 10,000 viewers of one room, each server write made 10,000 of
// them runnable, the generator took CPU the server under test needed, and its own senders
// waited behind the readers (a comment stamped, then sent late, counts as latency). Here
// one goroutine per core waits in its epoll set (level-triggered) and reads each ready
// socket once per wake-up into a shared buffer, parsing whole units (WebSocket messages or
// TCP packets) in place; only the start of a unit cut by the read is kept per connection.

// pollBuf is each poller's read buffer.
const pollBuf = 256 << 10

type pollers struct {
	r     *run
	sets  []*pollSet
	next  atomic.Uint32
	quit  atomic.Bool
	wg    sync.WaitGroup
	close sync.Once
}

type pollSet struct {
	set   *epoll.Set
	mu    sync.Mutex
	conns []*viewerConn // the event data is the index
}

func newPollers(r *run) (*pollers, error) {
	p := &pollers{r: r}
	for range runtime.GOMAXPROCS(0) {
		set, err := epoll.New()
		if err != nil {
			p.closeSets()
			return nil, fmt.Errorf("bench: %w", err)
		}
		p.sets = append(p.sets, &pollSet{set: set})
	}
	for _, ps := range p.sets {
		p.wg.Go(func() { p.loop(ps) })
	}
	return p, nil
}

// add hands c's reading to a poller; false leaves it to a reader goroutine. The socket
// leaves Go's own netpoller (which would otherwise be woken by every frame too): a
// duplicate of its descriptor is kept and the net.Conn closed.
func (p *pollers) add(c *viewerConn) bool {
	nc, buffered := c.vc.Detach()
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		return false
	}
	fd, err := epoll.Detach(tc) // the socket stays open through fd
	if err != nil {
		return false
	}
	c.polled, c.fd = true, fd
	if len(buffered) > 0 {
		// Bytes read with the auth reply: parse them first (nothing else reads c yet).
		rest, err := p.r.units(c, buffered, time.Now().UnixNano())
		if err != nil {
			p.r.ended(c, err)
			return true
		}
		c.pend = append(c.pend, rest...)
	}
	ps := p.sets[p.next.Add(1)%uint32(len(p.sets))]
	ps.mu.Lock()
	defer ps.mu.Unlock()
	ps.conns = append(ps.conns, c)
	if err := ps.set.Add(fd, unix.EPOLLIN|unix.EPOLLRDHUP, uint64(len(ps.conns)-1)); err != nil {
		p.r.ended(c, fmt.Errorf("bench: %w", err))
	}
	return true
}

// stop ends the pollers; the connections' descriptors may be closed once it returns.
func (p *pollers) stop() {
	p.close.Do(func() {
		p.quit.Store(true)
		p.wg.Wait()
		p.closeSets()
	})
}

func (p *pollers) closeSets() {
	for _, ps := range p.sets {
		ps.set.Close()
	}
}

func (p *pollers) loop(ps *pollSet) {
	events := make([]unix.EpollEvent, 256)
	buf := make([]byte, pollBuf)
	for !p.quit.Load() {
		n, err := ps.set.Wait(events, 50)
		if err != nil {
			p.r.log.Error("bench poller", "err", err)
			return
		}
		if n == 0 {
			continue
		}
		ps.mu.Lock()
		conns := ps.conns
		ps.mu.Unlock()
		for i := range n {
			c := conns[epoll.ID(&events[i])]
			if err := p.r.readOne(c, buf); err != nil {
				p.r.ended(c, err)
				_ = ps.set.Del(c.fd)
			}
		}
	}
}

func closeFD(fd int) error { return unix.Close(fd) }

// writeFD writes b to a non-blocking descriptor; a full socket buffer is an error.
func writeFD(fd int, b []byte) error {
	n, err := unix.Write(fd, b)
	if err == nil && n < len(b) {
		err = fmt.Errorf("bench: short write (%d of %d bytes)", n, len(b))
	}
	return err
}

var errPeerClosed = errors.New("connection closed by the server")

// readOne reads what c's socket holds into buf and consumes every whole unit of it. The
// clock is read once per read, not once per epoll_wait: the last of a few hundred ready
// sockets is read a few milliseconds after the first, and that wait is a viewer's latency too.
func (r *run) readOne(c *viewerConn, buf []byte) error {
	n, err := unix.Read(c.fd, buf)
	now := time.Now().UnixNano()
	switch {
	case errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR):
		return nil
	case err != nil:
		return err
	case n == 0:
		return errPeerClosed
	}
	return r.feed(c, buf[:n], now)
}

// feed consumes the whole units of what c had pending followed by data, and keeps the
// start of a unit cut at the end.
func (r *run) feed(c *viewerConn, data []byte, now int64) error {
	if len(c.pend) > 0 {
		c.pend = append(c.pend, data...)
		data = c.pend
	}
	rest, err := r.units(c, data, now)
	if err != nil {
		return err
	}
	if len(c.pend) > 0 {
		c.pend = c.pend[:copy(c.pend, rest)] // rest is the tail of c.pend
	} else {
		c.pend = append(c.pend, rest...)
	}
	return nil
}

// units consumes the whole units at the start of data and returns the rest.
func (r *run) units(c *viewerConn, data []byte, now int64) ([]byte, error) {
	for len(data) > 0 {
		var unit []byte
		var n int
		if c.ws {
			h, hl, ok, err := wsHeader(data)
			if err != nil || !ok {
				return data, err
			}
			if int64(len(data)-hl) < h.Length {
				return data, nil
			}
			n = hl + int(h.Length)
			switch h.OpCode {
			case ws.OpBinary:
				unit = data[hl:n]
			case ws.OpClose:
				return nil, errPeerClosed
			case ws.OpPing, ws.OpPong:
			default:
				return nil, fmt.Errorf("bench: unexpected WebSocket frame %v", h.OpCode)
			}
		} else {
			if len(data) < protocol.HeaderLen {
				return data, nil
			}
			size := int(binary.BigEndian.Uint32(data))
			if size < protocol.HeaderLen || size > maxPacket {
				return nil, fmt.Errorf("bench: bad packet length %d", size)
			}
			if len(data) < size {
				return data, nil
			}
			n, unit = size, data[:size]
		}
		if unit != nil {
			if err := r.consume(c, unit, now); err != nil {
				return nil, err
			}
		}
		data = data[n:]
	}
	return data, nil
}

// wsHeader parses a server frame's header at the start of b: ok is false while it is
// incomplete.
func wsHeader(b []byte) (h ws.Header, n int, ok bool, err error) {
	if len(b) < 2 {
		return h, 0, false, nil
	}
	h.Fin = b[0]&0x80 != 0
	h.OpCode = ws.OpCode(b[0] & 0x0f)
	if b[1]&0x80 != 0 {
		return h, 0, false, errors.New("bench: masked frame from the server")
	}
	if !h.Fin {
		return h, 0, false, errors.New("bench: fragmented frame from the server")
	}
	n = 2
	switch l := b[1] & 0x7f; l {
	case 126:
		if len(b) < 4 {
			return h, 0, false, nil
		}
		h.Length, n = int64(binary.BigEndian.Uint16(b[2:])), 4
	case 127:
		if len(b) < 10 {
			return h, 0, false, nil
		}
		h.Length, n = int64(binary.BigEndian.Uint64(b[2:])), 10
	default:
		h.Length = int64(l)
	}
	if h.Length > maxPacket {
		return h, 0, false, fmt.Errorf("bench: frame of %d bytes", h.Length)
	}
	return h, n, true, nil
}
