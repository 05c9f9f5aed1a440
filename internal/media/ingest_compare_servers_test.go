package media

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mp4 "github.com/abema/go-mp4"
	"github.com/bluenviron/gortmplib"
	"github.com/bluenviron/gortmplib/pkg/message"
	"github.com/q191201771/lal/pkg/base"
	"github.com/q191201771/lal/pkg/rtmp"
	"github.com/stretchr/testify/require"
)

// The two ingest servers of BenchmarkIngestCompare and the fan-out they share. Each accepts
// one publish on 127.0.0.1:0 and hands every audio/video message to icFanout.deliver as the
// bytes of an FLV tag body (what zhibo's FLV viewers, GOP cache and recording are fed), on the
// connection's goroutine.

// icMsg is one tag as the subscribers get it.
type icMsg struct {
	ts      uint32
	payload []byte
}

// icFanout copies each payload once and queues it to every subscriber, blocking when one is
// full (nothing is dropped here, so every loss is the library's). Subscriber 0 checks each tag
// against the source; the others count.
type icFanout struct {
	src     *icSource
	want    int
	rebuilt bool // sequence headers come back re-encoded
	subs    []chan icMsg
	got     []atomic.Int64
	next    int     // tags delivered (server goroutine only)
	at      []int64 // unix ns each tag reached deliver (latency runs only)
	sentAt  []int64 // unix ns just before the publisher wrote each tag (latency runs only)
	bytes   int64   // bytes subscriber 0 received, once wait returned

	ready    chan struct{}
	readyOne sync.Once
	failed   chan error
	results  chan icResult
	wg       sync.WaitGroup
}

type icResult struct {
	sub   int
	bytes int64
	err   error
}

func newICFanout(src *icSource, want int, timed, rebuilt bool) *icFanout {
	f := &icFanout{src: src, want: want, rebuilt: rebuilt, subs: make([]chan icMsg, icSubscribers),
		got: make([]atomic.Int64, icSubscribers), ready: make(chan struct{}),
		failed: make(chan error, 1), results: make(chan icResult, icSubscribers)}
	if timed {
		f.at, f.sentAt = make([]int64, want), make([]int64, want)
	}
	for i := range f.subs {
		f.subs[i] = make(chan icMsg, icQueue)
		f.wg.Add(1)
		go f.subscribe(i)
	}
	return f
}

// accepted is called by a server when the publish is accepted.
func (f *icFanout) accepted() { f.readyOne.Do(func() { close(f.ready) }) }

// fail is called by a server whose connection ended before the run did.
func (f *icFanout) fail(err error) {
	select {
	case f.failed <- err:
	default:
	}
}

// deliver hands one tag to every subscriber; payload may be reused after it returns.
func (f *icFanout) deliver(ts uint32, payload []byte) {
	if f.at != nil && f.next < len(f.at) {
		f.at[f.next] = time.Now().UnixNano()
	}
	f.next++
	m := icMsg{ts: ts, payload: slices.Clone(payload)}
	for _, c := range f.subs {
		c <- m
	}
}

func (f *icFanout) subscribe(i int) {
	defer f.wg.Done()
	var n, size int64
	var err error
	for m := range f.subs[i] {
		if int(n) < f.want && i == 0 && err == nil {
			t, ts := f.src.at(int(n))
			if m.ts != ts || !icSame(m.payload, t, f.rebuilt) {
				err = fmt.Errorf("tag %d: got %d bytes at %d ms, sent %d bytes at %d ms (or different bytes)",
					n, len(m.payload), m.ts, len(t.payload), ts)
			}
		}
		n++
		size += int64(len(m.payload))
		f.got[i].Store(n)
		if int(n) == f.want {
			f.results <- icResult{sub: i, bytes: size, err: err}
		}
	}
}

// icHeaderSlack is the most a rebuilt sequence header may lack: the 4 bytes of an AVC High
// 4:4:4 extension (chroma format, bit depths, no SPS extension) that gortmplib's parser
// (go-mp4) only reads for profiles 100, 110 and 122, or the 3 bytes of the explicit no-SBR sync
// extension ffmpeg's AAC encoder appends to its AudioSpecificConfig, which mediacommon drops.
const icHeaderSlack = 4

// icSame reports whether got is the tag body sent. A library that gives sequence headers back
// only as parsed structures (gortmplib's message level), rebuilt here, passes with a prefix of
// the header sent that lacks at most icHeaderSlack trailing bytes: what a decoder reads from
// it (the parameter sets, the audio object type, rate and channels) is unchanged. Every other
// tag must come back byte for byte.
func icSame(got []byte, sent *icTag, rebuilt bool) bool {
	if bytes.Equal(got, sent.payload) {
		return true
	}
	return rebuilt && sent.header && bytes.HasPrefix(sent.payload, got) &&
		len(got) >= len(sent.payload)-icHeaderSlack
}

// wait returns once every subscriber has every tag, or why not.
func (f *icFanout) wait(limit time.Duration) error {
	timeout := time.After(limit)
	for range f.subs {
		select {
		case r := <-f.results:
			if r.err != nil {
				return r.err
			}
			if r.sub == 0 {
				f.bytes = r.bytes
			}
		case err := <-f.failed:
			return fmt.Errorf("the server's connection ended after %d of %d tags: %w", f.got[0].Load(), f.want, err)
		case <-timeout:
			return fmt.Errorf("subscriber 0 got %d of %d tags in %s", f.got[0].Load(), f.want, limit)
		}
	}
	return nil
}

// close ends the subscribers; the server must have stopped delivering.
func (f *icFanout) close() {
	for _, c := range f.subs {
		close(c)
	}
	f.wg.Wait()
}

// icServe listens on 127.0.0.1:0 and runs serve on the first connection; the cleanup closes
// both, waits for serve, then ends the fan-out.
func icServe(tb testing.TB, fan *icFanout, serve func(net.Conn) error) net.Addr {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(tb, err)
	var closing atomic.Bool
	conns := make(chan net.Conn, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		conns <- c
		err = serve(c)
		if !closing.Load() {
			fan.fail(err)
		}
	}()
	tb.Cleanup(func() {
		closing.Store(true)
		_ = ln.Close()
		select {
		case c := <-conns:
			_ = c.Close()
		default:
		}
		<-done
		fan.close()
	})
	return ln.Addr()
}

// icStartLal serves with lal's rtmp.ServerSession, as the engine does (without the chunk
// guard and the checks of lal_stream.go, which would be the same whichever library reads).
func icStartLal(tb testing.TB, fan *icFanout) net.Addr {
	return icServe(tb, fan, func(c net.Conn) error {
		return rtmp.NewServerSession(&icLal{fan: fan}, c).RunLoop()
	})
}

type icLal struct{ fan *icFanout }

func (l *icLal) OnRtmpConnect(*rtmp.ServerSession, rtmp.ObjectPairArray) {}

func (l *icLal) OnNewRtmpPubSession(s *rtmp.ServerSession) error {
	s.SetPubSessionObserver(l)
	l.fan.accepted()
	return nil
}

func (l *icLal) OnNewRtmpSubSession(*rtmp.ServerSession) error { return errors.New("play refused") }

// OnReadRtmpAvMsg gets the message body as it arrived, which is the FLV tag body.
func (l *icLal) OnReadRtmpAvMsg(msg base.RtmpMsg) {
	switch msg.Header.MsgTypeId {
	case base.RtmpTypeIdAudio, base.RtmpTypeIdVideo:
		l.fan.deliver(msg.Header.TimestampAbs, msg.Payload)
	}
}

// icStartGortmplib serves with gortmplib's ServerConn at its message level (Read), the level
// that keeps each frame whole as FLV forwarding needs; its track-level Reader would also split
// every access unit into NAL units, which zhibo's FLV path does not need.
func icStartGortmplib(tb testing.TB, fan *icFanout) net.Addr {
	return icServe(tb, fan, func(c net.Conn) error {
		sc := &gortmplib.ServerConn{RW: c}
		if err := sc.Initialize(); err != nil {
			return err
		}
		if err := sc.AcceptConn(); err != nil {
			return err
		}
		if !sc.Publish {
			return errors.New("play refused")
		}
		if err := sc.AcceptAction(); err != nil {
			return err
		}
		fan.accepted()
		var body []byte // reused: deliver copies
		for {
			msg, err := sc.Read()
			if err != nil {
				return err
			}
			switch m := msg.(type) {
			case *message.Video:
				if body, err = icVideoBody(body[:0], m); err != nil {
					return err
				}
				fan.deliver(uint32(m.DTS/time.Millisecond), body)
			case *message.Audio:
				if body, err = icAudioBody(body[:0], m); err != nil {
					return err
				}
				fan.deliver(uint32(m.DTS/time.Millisecond), body)
			}
		}
	})
}

// icVideoBody rebuilds the FLV video tag body gortmplib parsed m from (legacy, non-enhanced
// header: frame type, codec id, packet type, composition time).
func icVideoBody(dst []byte, m *message.Video) ([]byte, error) {
	frame := byte(2) // inter frame
	if m.IsKeyFrame {
		frame = 1
	}
	cts := uint32(int32(m.PTSDelta / time.Millisecond))
	dst = append(dst, frame<<4|m.Codec, byte(m.Type), byte(cts>>16), byte(cts>>8), byte(cts))
	switch {
	case m.Type == message.VideoTypeAU:
		return append(dst, m.AU...), nil
	case m.Type == message.VideoTypeConfig && m.AVCConfig != nil:
		w := bytes.NewBuffer(dst)
		_, err := mp4.Marshal(w, m.AVCConfig, mp4.Context{})
		return w.Bytes(), err
	case m.Type == message.VideoTypeConfig && m.HEVCConfig != nil:
		w := bytes.NewBuffer(dst)
		_, err := mp4.Marshal(w, m.HEVCConfig, mp4.Context{})
		return w.Bytes(), err
	}
	return dst, nil
}

// icAudioBody rebuilds the FLV audio tag body gortmplib parsed m from.
func icAudioBody(dst []byte, m *message.Audio) ([]byte, error) {
	b0 := m.Codec<<4 | byte(m.Rate)<<2 | byte(m.Depth)<<1
	if m.IsStereo {
		b0 |= 1
	}
	dst = append(dst, b0)
	if m.Codec != message.CodecMPEG4Audio {
		return append(dst, m.AU...), nil
	}
	dst = append(dst, byte(m.AACType))
	if m.AACType == message.AudioAACTypeConfig && m.AACConfig != nil {
		asc, err := m.AACConfig.Marshal()
		return append(dst, asc...), err
	}
	return append(dst, m.AU...), nil
}
