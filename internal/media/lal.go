package media

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/q191201771/lal/pkg/httpflv"
	"github.com/q191201771/lal/pkg/rtmp"
)

// lalEngine is the Engine built on lal (github.com/q191201771/lal): its rtmp package reads
// the handshake and chunk stream of each connection, its remux package turns RTMP messages
// into FLV tags and MPEG-TS; the listener, the streams, the GOP cache, the viewers and the
// in-memory HLS segments are ours (see docs/media.md for why not lal's own server).
type lalEngine struct {
	cfg   Config
	hooks Hooks
	log   *slog.Logger
	m     *metrics
	now   func() time.Time

	mu       sync.Mutex
	ln       net.Listener
	conns    map[net.Conn]*rtmpConn
	sessions map[*rtmp.ServerSession]*rtmpConn
	streams  map[int64]*stream
	stopped  bool

	wg   sync.WaitGroup // accept loop, connections, viewer tick
	stop chan struct{}
}

// rtmpConn is one accepted RTMP connection and, once its publish is accepted, its stream.
type rtmpConn struct {
	conn    net.Conn
	guard   *chunkGuard // read on the connection's goroutine only
	session *rtmp.ServerSession
	stream  *stream
}

var _ Engine = (*lalEngine)(nil)

func newLalEngine(cfg Config, hooks Hooks, log *slog.Logger, m *metrics) *lalEngine {
	bridgeLalLog(log)
	return &lalEngine{cfg: cfg, hooks: hooks, log: log, m: m, now: time.Now,
		conns: map[net.Conn]*rtmpConn{}, sessions: map[*rtmp.ServerSession]*rtmpConn{},
		streams: map[int64]*stream{}, stop: make(chan struct{})}
}

// Start implements Engine.
func (e *lalEngine) Start(ln net.Listener) error {
	e.mu.Lock()
	e.ln = ln
	e.mu.Unlock()
	e.wg.Add(2)
	go e.acceptLoop(ln)
	go e.tickLoop()
	return nil
}

func (e *lalEngine) acceptLoop(ln net.Listener) {
	defer e.wg.Done()
	for {
		conn, err := ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return // closed by Stop
		}
		e.mu.Lock()
		if e.stopped {
			e.mu.Unlock()
			_ = conn.Close()
			return
		}
		c := &rtmpConn{conn: conn}
		e.conns[conn] = c
		e.wg.Add(1)
		e.mu.Unlock()
		go e.serve(c)
	}
}

// serve runs one connection: lal's session reads it on this goroutine and calls back into
// the engine (OnNewRtmpPubSession, stream.OnReadRtmpAvMsg) from here. A panic in the library
// on malformed input ends this connection only.
func (e *lalEngine) serve(c *rtmpConn) {
	defer e.wg.Done()
	defer func() {
		if p := recover(); p != nil {
			e.m.rtmpErrs.Inc()
			e.log.Warn("rtmp connection fault", "remote", c.conn.RemoteAddr().String(), "panic", fmt.Sprint(p))
		}
		_ = c.conn.Close()
		e.closed(c)
	}()
	// Until a publish is accepted the whole connection has HandshakeTimeout; lal then sets
	// its own read deadline per read, and the write deadline is lifted (onPublish).
	_ = c.conn.SetDeadline(e.now().Add(e.cfg.HandshakeTimeout))
	c.guard = newChunkGuard()
	s := rtmp.NewServerSession(e, &guardConn{Conn: c.conn, g: c.guard})
	e.mu.Lock()
	c.session = s
	e.sessions[s] = c
	e.mu.Unlock()
	_ = s.RunLoop()
}

// closed forgets a connection; a publishing one ends its stream.
func (e *lalEngine) closed(c *rtmpConn) {
	e.mu.Lock()
	delete(e.conns, c.conn)
	if c.session != nil {
		delete(e.sessions, c.session)
	}
	st := c.stream
	if st != nil && e.streams[st.room] == st {
		delete(e.streams, st.room)
		e.m.streams.Dec()
	}
	e.mu.Unlock()
	if st == nil {
		return
	}
	st.end()
	e.log.Info("publish stopped", "room", st.room, "seconds", int(e.now().Sub(st.started).Seconds()),
		"ingest_bytes", st.ingested.Load())
	if e.hooks.Unpublished != nil {
		e.hooks.Unpublished(st.room)
	}
}

// OnRtmpConnect implements rtmp.IServerSessionObserver.
func (e *lalEngine) OnRtmpConnect(*rtmp.ServerSession, rtmp.ObjectPairArray) {}

// OnNewRtmpPubSession implements rtmp.IServerSessionObserver: a publish is accepted only
// under app "live", with a key that names a room, for a room not already publishing, within
// media.max_streams. A non-nil error makes lal close the connection.
func (e *lalEngine) OnNewRtmpPubSession(s *rtmp.ServerSession) error {
	remote := ""
	e.mu.Lock()
	c := e.sessions[s]
	e.mu.Unlock()
	if c != nil {
		remote = c.conn.RemoteAddr().String()
	}
	refuse := func(reason string, room int64, err error) error {
		e.m.refused.WithLabelValues(reason).Inc()
		e.log.Warn("publish refused", "reason", reason, "room", room, "remote", remote, "err", err)
		return fmt.Errorf("publish refused: %s", reason)
	}
	if s.AppName() != "live" {
		return refuse(reasonApp, 0, fmt.Errorf("app %q, want live", truncate(s.AppName(), 64)))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	room, key, err := e.hooks.Authorize(ctx, s.StreamName(), s.RawQuery())
	cancel()
	if err != nil {
		return refuse(refusalReason(err), room, err)
	}
	e.mu.Lock()
	switch {
	case c == nil || e.stopped:
		e.mu.Unlock()
		return refuse(reasonStop, room, errors.New("stopping"))
	case e.streams[room] != nil:
		e.mu.Unlock()
		return refuse(reasonBusy, room, errors.New("the room already has a publisher"))
	case len(e.streams) >= e.cfg.MaxStreams:
		e.mu.Unlock()
		return refuse(reasonLimit, room, fmt.Errorf("media.max_streams (%d) reached", e.cfg.MaxStreams))
	}
	st := newStream(e, room, key, s)
	c.stream = st
	c.guard.published = true
	e.streams[room] = st
	e.m.streams.Inc()
	e.mu.Unlock()
	// Before the first tag (the observer), on this goroutine, which also ends the stream.
	if e.hooks.Record != nil {
		if st.rec = e.hooks.Record(room, st.started); st.rec != nil {
			st.rec.Write(httpflv.FlvHeader)
		}
	}
	s.SetPubSessionObserver(st)
	_ = c.conn.SetWriteDeadline(time.Time{}) // acks to the encoder from now on; reads: lal's deadline
	e.m.publishes.Inc()
	e.log.Info("publish started", "room", room, "remote", remote)
	if e.hooks.Published != nil {
		e.hooks.Published(room)
	}
	return nil
}

// OnDelRtmpPubSession implements rtmp.IServerSessionObserver; serve's end does the work.
func (e *lalEngine) OnDelRtmpPubSession(*rtmp.ServerSession) {}

// OnNewRtmpSubSession implements rtmp.IServerSessionObserver: playback is HTTP-FLV and HLS
// only, so an RTMP play is refused.
func (e *lalEngine) OnNewRtmpSubSession(*rtmp.ServerSession) error {
	e.m.refused.WithLabelValues(reasonPlay).Inc()
	return errors.New("rtmp playback is not offered")
}

// OnDelRtmpSubSession implements rtmp.IServerSessionObserver.
func (e *lalEngine) OnDelRtmpSubSession(*rtmp.ServerSession) {}

// Kick implements Engine.
func (e *lalEngine) Kick(room int64, reason string) bool {
	e.mu.Lock()
	st := e.streams[room]
	e.mu.Unlock()
	if st == nil {
		return false
	}
	st.cut(reason)
	return true
}

// Publishing implements Engine.
func (e *lalEngine) Publishing() map[int64]string {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make(map[int64]string, len(e.streams))
	for id, st := range e.streams {
		out[id] = st.key
	}
	return out
}

// Viewers implements Engine.
func (e *lalEngine) Viewers(room int64) Viewers {
	st := e.stream(room)
	if st == nil {
		return Viewers{}
	}
	return st.viewers()
}

func (e *lalEngine) stream(room int64) *stream {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.streams[room]
}

// tickLoop refreshes the viewer gauges once a second (HLS viewers expire by time).
func (e *lalEngine) tickLoop() {
	defer e.wg.Done()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-e.stop:
			e.m.viewers.WithLabelValues("hls").Set(0)
			return
		case <-t.C:
			e.mu.Lock()
			streams := make([]*stream, 0, len(e.streams))
			for _, st := range e.streams {
				streams = append(streams, st)
			}
			e.mu.Unlock()
			hls := 0
			for _, st := range streams {
				hls += st.viewers().HLS
			}
			e.m.viewers.WithLabelValues("hls").Set(float64(hls))
		}
	}
}

// Stop implements Engine.
func (e *lalEngine) Stop(ctx context.Context) error {
	e.mu.Lock()
	if e.stopped {
		e.mu.Unlock()
		return nil
	}
	e.stopped = true
	ln := e.ln
	var idle []net.Conn
	var streams []*stream
	for _, c := range e.conns {
		if c.stream != nil {
			streams = append(streams, c.stream)
		} else {
			idle = append(idle, c.conn)
		}
	}
	e.mu.Unlock()
	close(e.stop)
	if ln != nil {
		_ = ln.Close()
	}
	for _, st := range streams {
		st.cut(reasonStop)
	}
	for _, c := range idle {
		_ = c.Close()
	}
	done := make(chan struct{})
	go func() { e.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("media: connections still open at stop: %w", ctx.Err())
	}
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
