package bench

import (
	"github.com/gobwas/ws"

	"context"
	"fmt"
	"github.com/zhibo-live/zhibo/internal/protocol"
	"math"
	"net"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/zhibo-live/zhibo/internal/viewer"
)

// viewerConn is one bench viewer: its connection and what it received. Its counters are
// written only by its reader goroutine and read after that goroutine has exited.
type viewerConn struct {
	id      int
	room    int // index into the run's rooms
	ws      bool
	vc      *viewer.Conn
	sampled bool

	// Polled (poll_linux.go): the run owns the socket's descriptor fd, vc is closed, and
	// pend (the start of a unit whose rest has not arrived) belongs to its poller.
	polled bool
	fd     int
	hbSeq  uint32
	pend   []byte

	delivered int64 // bench comments received, duplicates included
	foreign   int64 // bench comments from a sender this run does not know
	err       error // why the connection ended before the run closed it
	seqs      []seqCheck
}

// seqCheck is what a sampled connection saw of one sender: which sequence numbers arrived,
// how many twice, and how many after a larger one.
type seqCheck struct {
	seen       []uint64 // bit per sequence number
	distinct   int64
	highest    int64
	dups       int64
	outOfOrder int64
}

func (s *seqCheck) add(seq int64) {
	if seq <= 0 {
		return
	}
	w := int(seq / 64)
	for w >= len(s.seen) {
		s.seen = append(s.seen, 0)
	}
	bit := uint64(1) << uint(seq%64)
	if s.seen[w]&bit != 0 {
		s.dups++
		return
	}
	s.seen[w] |= bit
	s.distinct++
	if seq < s.highest {
		s.outOfOrder++
	}
	s.highest = max(s.highest, seq)
}

// dialOptions is where and how viewer i connects.
func (r *run) dialOptions(i int) viewer.Options {
	room := r.rooms[i%len(r.rooms)]
	o := viewer.Options{RoomID: room.id, Token: r.token(i%len(r.rooms), i/len(r.rooms)), ProtoVer: r.cfg.ProtoVer}
	// WebSocket for the share ws_ratio of each room's viewers, interleaved with raw TCP.
	j := float64(i / len(r.rooms))
	if math.Floor((j+1)*r.cfg.WSRatio) > math.Floor(j*r.cfg.WSRatio) {
		o.WS, o.Addr = true, r.wsURLs[i%len(r.wsURLs)]
	} else {
		o.Addr = r.tcpAddrs[i%len(r.tcpAddrs)]
	}
	if len(r.sources) > 0 {
		o.Local = r.sources[i%len(r.sources)]
	}
	return o
}

// connect opens every connection with at most cfg.Dialers in flight and, when cfg.Ramp is
// set, at that rate; each connection's reader starts as soon as it is up.
func (r *run) connect(ctx context.Context) {
	var lim *rate.Limiter
	if r.cfg.Ramp > 0 {
		lim = rate.NewLimiter(rate.Limit(r.cfg.Ramp), max(1, int(r.cfg.Ramp/20)))
	}
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range min(r.cfg.Dialers, r.cfg.Conns) {
		wg.Go(func() {
			for i := range jobs {
				r.dialOne(ctx, i)
			}
		})
	}
	for i := range r.cfg.Conns {
		if lim != nil && lim.Wait(ctx) != nil {
			break
		}
		select {
		case jobs <- i:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	close(jobs)
	wg.Wait()
}

func (r *run) dialOne(ctx context.Context, i int) {
	o := r.dialOptions(i)
	dctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	vc, err := viewer.Dial(dctx, o)
	cancel()
	if err != nil {
		if r.dialFailed.Add(1) == 1 {
			r.firstDialErr.Store(fmt.Sprintf("%s (connection %d from %v)", err, i, localIP(o.Local)))
		}
		return
	}
	c := &viewerConn{id: i, room: i % len(r.rooms), ws: o.WS, vc: vc, sampled: i < r.cfg.Sample}
	if c.sampled {
		c.seqs = make([]seqCheck, r.senders)
	}
	r.mu.Lock()
	r.conns = append(r.conns, c)
	r.mu.Unlock()
	r.up.Add(1)
	if r.polls != nil && r.polls.add(c) {
		return
	}
	r.readers.Go(func() { r.read(c) })
}

func localIP(a *net.TCPAddr) string {
	if a == nil {
		return "default source"
	}
	return a.IP.String()
}

// read consumes the connection until the run closes it (the reader of a connection that
// is not polled). Every message of a frame arrived at the same instant, so the clock is
// read once per frame.
func (r *run) read(c *viewerConn) {
	for {
		unit, err := c.vc.NextFrame(r.readDeadline)
		if err != nil {
			r.ended(c, err)
			return
		}
		if err := r.consume(c, unit, time.Now().UnixNano()); err != nil {
			r.ended(c, err)
			_ = c.vc.Close()
			return
		}
	}
}

// ended records why a connection stopped delivering, unless the run is closing it.
func (r *run) ended(c *viewerConn, err error) {
	if !r.closing.Load() {
		c.err = err
		r.dropped.Add(1)
	}
}

// consume counts the bench comments of one transport unit (a WebSocket message or a TCP
// packet) that arrived at now.
func (r *run) consume(c *viewerConn, unit []byte, now int64) error {
	sts, err := r.cache.stamps(unit)
	if err != nil {
		return err
	}
	shard := c.id % r.hist.Shards()
	for _, st := range sts {
		if st.sender < 0 || st.sender >= r.senders || st.sentNS < r.startNS {
			c.foreign++
			continue
		}
		c.delivered++
		r.hist.RecordN(shard, time.Duration(now-st.sentNS), 1)
		if c.sampled {
			c.seqs[st.sender].add(st.seq)
		}
	}
	return nil
}

// heartbeats sends op 2 on every connection each interval until ctx ends.
func (r *run) heartbeats(ctx context.Context) {
	t := time.NewTicker(r.cfg.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		r.mu.Lock()
		conns := append([]*viewerConn(nil), r.conns...)
		r.mu.Unlock()
		for _, c := range conns {
			if ctx.Err() != nil {
				return
			}
			_ = c.heartbeat()
		}
	}
}

// closeAll ends every connection and waits for the readers.
func (r *run) closeAll() {
	r.closing.Store(true)
	if r.polls != nil {
		r.polls.stop() // before the descriptors close
	}
	r.mu.Lock()
	for _, c := range r.conns {
		if c.polled {
			_ = closeFD(c.fd)
		} else {
			_ = c.vc.Close()
		}
	}
	r.mu.Unlock()
	r.readers.Wait()
}

// heartbeat sends op 2 on c.
func (c *viewerConn) heartbeat() error {
	if !c.polled {
		return c.vc.Heartbeat()
	}
	c.hbSeq++
	b := protocol.AppendHeartbeat(nil, c.hbSeq)
	if c.ws {
		var err error
		if b, err = ws.CompileFrame(ws.MaskFrame(ws.NewBinaryFrame(b))); err != nil {
			return err
		}
	}
	return writeFD(c.fd, b)
}
