package media

import (
	"hash/maphash"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/q191201771/lal/pkg/base"
	"github.com/q191201771/lal/pkg/httpflv"
	"github.com/q191201771/lal/pkg/remux"
	"github.com/q191201771/lal/pkg/rtmp"
)

// maxGOPFrames bounds the messages (audio and video) cached of one GOP, about 40 s of 30 fps
// video with AAC: a publisher that stops sending keyframes cannot grow the cache without end;
// messages past it are not cached (new viewers still start on the keyframe, and see a gap).
const maxGOPFrames = 3000

// maxHLSClients bounds the HLS viewer table of one stream (distinct clients remembered).
const maxHLSClients = 100_000

// stream is one room's published video: the GOP cache and the HTTP-FLV viewers, fed tag by
// tag on the publisher's connection goroutine, and the in-memory HLS segments.
type stream struct {
	e       *lalEngine
	room    int64
	key     string
	session *rtmp.ServerSession
	started time.Time

	ingested atomic.Int64
	cutting  atomic.Bool
	cutOnce  sync.Once

	// Publisher goroutine only.
	secStart time.Time
	secBytes int64
	overSecs int
	ts       *remux.Rtmp2MpegtsRemuxer
	rec      FLVSink // nil: not recorded

	mu      sync.Mutex
	ended   bool
	gop     *remux.GopCache
	flv     map[*flvViewer]struct{}
	hlsSeen map[uint64]time.Time // HLS clients by hash of address and user agent → last playlist read

	hls *hlsSegments
}

// flvViewer is one HTTP-FLV response: the tags queued for it, and gone closed when it was
// dropped or the stream ended.
type flvViewer struct {
	ch      chan []byte
	gone    chan struct{}
	waitKey bool // no GOP was cached at join: skip until a keyframe
}

func newStream(e *lalEngine, room int64, key string, s *rtmp.ServerSession) *stream {
	st := &stream{e: e, room: room, key: key, session: s, started: e.now(), secStart: e.now(),
		gop: remux.NewGopCache("flv", s.UniqueKey(), e.cfg.GOPCache, 0),
		flv: map[*flvViewer]struct{}{}, hlsSeen: map[uint64]time.Time{},
		hls: newHLSSegments(e.cfg.HLSSegment, e.cfg.HLSWindow)}
	st.ts = remux.NewRtmp2MpegtsRemuxer(st.hls)
	return st
}

// OnReadRtmpAvMsg implements rtmp.IPubSessionObserver: one audio, video or metadata message
// from the publisher (lal reuses msg's memory after the call).
func (st *stream) OnReadRtmpAvMsg(msg base.RtmpMsg) {
	if st.cutting.Load() {
		return
	}
	n := len(msg.Payload)
	st.ingested.Add(int64(n))
	st.e.m.ingest.Add(float64(n))
	if st.overBitrate(n) {
		st.cut(reasonBitrate)
		return
	}
	switch msg.Header.MsgTypeId {
	case base.RtmpTypeIdMetadata:
		payload, err := rtmp.MetadataEnsureWithoutSdf(msg.Payload)
		if err != nil {
			return // not onMetaData: nothing a player needs
		}
		tag := httpflv.PackHttpflvTag(base.RtmpTypeIdMetadata, msg.Header.TimestampAbs, payload)
		st.mu.Lock()
		st.gop.SetMetadata(tag, tag)
		st.broadcast(tag, false, true)
		st.mu.Unlock()
		st.record(tag)
		return
	case base.RtmpTypeIdAudio:
		if n < 2 {
			return
		}
		if msg.AudioCodecId() != base.RtmpSoundFormatAac || !st.allowed(CodecAAC) {
			st.cut(reasonCodec)
			return
		}
	case base.RtmpTypeIdVideo:
		if n < 5 {
			return
		}
		codec := ""
		switch msg.VideoCodecId() {
		case base.RtmpCodecIdAvc:
			codec = CodecH264
		case base.RtmpCodecIdHevc:
			codec = CodecH265
		}
		if !st.allowed(codec) {
			st.cut(reasonCodec)
			return
		}
	default:
		return
	}
	tag := remux.RtmpMsg2FlvTag(msg).Raw
	st.mu.Lock()
	st.gop.Feed(msg, tag)
	st.broadcast(tag, msg.IsVideoKeyNalu(), msg.IsVideoKeySeqHeader() || msg.IsAacSeqHeader())
	st.mu.Unlock()
	st.record(tag)
	st.ts.FeedRtmpMessage(msg) // → st.hls, on this goroutine
}

// record hands tag to the recording, if any (publisher goroutine).
func (st *stream) record(tag []byte) {
	if st.rec != nil {
		st.rec.Write(tag)
	}
}

func (st *stream) allowed(codec string) bool {
	for _, c := range st.e.cfg.Codecs {
		if c == codec {
			return true
		}
	}
	return false
}

// overBitrate counts the bytes of each second; it reports true once media.bitrate_grace
// seconds in a row were over media.max_ingest_kbps.
func (st *stream) overBitrate(n int) bool {
	limit := st.e.cfg.MaxIngestKbps
	if limit <= 0 {
		return false
	}
	st.secBytes += int64(n)
	now := st.e.now()
	el := now.Sub(st.secStart)
	if el < time.Second {
		return false
	}
	kbps := st.secBytes * 8 * int64(time.Second) / int64(el) / 1000
	st.secStart, st.secBytes = now, 0
	if kbps > int64(limit) {
		st.overSecs++
	} else {
		st.overSecs = 0
	}
	if st.overSecs >= int(st.e.cfg.BitrateGrace/time.Second) {
		st.e.log.Warn("publisher over the bitrate limit", "room", st.room, "kbps", kbps, "limit_kbps", limit)
		return true
	}
	return false
}

// broadcast queues tag to every viewer (st.mu held); a viewer whose queue is full is dropped.
// A viewer waiting for a keyframe gets only headers (metadata, sequence headers: a viewer
// that joined before the publisher sent them needs them to decode) until the keyframe.
func (st *stream) broadcast(tag []byte, key, header bool) {
	for v := range st.flv {
		if v.waitKey && !header {
			if !key {
				continue
			}
			v.waitKey = false
		}
		select {
		case v.ch <- tag:
		default:
			delete(st.flv, v)
			close(v.gone)
			st.e.m.dropped.Inc()
			st.e.log.Info("slow flv viewer dropped", "room", st.room)
		}
	}
}

// cut ends the publish: lal's session closes the connection, and the engine ends the stream
// when the connection's goroutine returns.
func (st *stream) cut(reason string) {
	st.cutOnce.Do(func() {
		st.cutting.Store(true)
		st.e.m.cut.WithLabelValues(reason).Inc()
		st.e.log.Warn("publisher cut", "room", st.room, "reason", reason)
		_ = st.session.Dispose()
	})
}

// end closes every viewer and the recording; the stream takes no new ones.
func (st *stream) end() {
	if st.rec != nil {
		st.rec.Close()
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	st.ended = true
	for v := range st.flv {
		close(v.gone)
	}
	st.flv = map[*flvViewer]struct{}{}
}

// join adds an FLV viewer and returns what it must be sent first: the FLV header, metadata,
// sequence headers and the cached GOPs (so it starts on a keyframe).
func (st *stream) join() (*flvViewer, [][]byte, bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.ended {
		return nil, nil, false
	}
	first := [][]byte{httpflv.FlvHeader}
	for _, b := range [][]byte{st.gop.MetadataEnsureWithoutSetDataFrame, st.gop.VideoSeqHeader, st.gop.AacSeqHeader} {
		if b != nil {
			first = append(first, b)
		}
	}
	n := st.gop.GetGopCount()
	for i := 0; i < n; i++ {
		first = append(first, st.gop.GetGopDataAt(i)...)
	}
	v := &flvViewer{ch: make(chan []byte, st.e.cfg.ViewerQueue), gone: make(chan struct{}), waitKey: n == 0}
	st.flv[v] = struct{}{}
	return v, first, true
}

func (st *stream) leave(v *flvViewer) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if _, ok := st.flv[v]; ok {
		delete(st.flv, v)
		close(v.gone)
	}
}

// sawHLS records an HLS client reading the playlist.
func (st *stream) sawHLS(r *http.Request) {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	var h maphash.Hash
	h.SetSeed(hlsSeed)
	_, _ = h.WriteString(host)
	_, _ = h.WriteString(r.UserAgent())
	st.mu.Lock()
	defer st.mu.Unlock()
	if len(st.hlsSeen) < maxHLSClients {
		st.hlsSeen[h.Sum64()] = st.e.now()
	}
}

// hlsSeed keys the HLS client hashes; fixed for the process, it holds no state.
var hlsSeed = maphash.MakeSeed()

// viewers counts FLV responses and recent HLS clients, forgetting the HLS clients gone.
func (st *stream) viewers() Viewers {
	active := 3 * time.Duration(st.e.cfg.HLSWindow) * st.e.cfg.HLSSegment
	now := st.e.now()
	st.mu.Lock()
	defer st.mu.Unlock()
	for k, t := range st.hlsSeen {
		if now.Sub(t) > active {
			delete(st.hlsSeen, k)
		}
	}
	return Viewers{FLV: len(st.flv), HLS: len(st.hlsSeen)}
}
