package media

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/q191201771/lal/pkg/base"
	"github.com/q191201771/lal/pkg/httpflv"

	"github.com/zhibo-live/zhibo/internal/media/rtmppub"
)

// BenchmarkIngestCompare measures the RTMP ingest of the two candidate libraries — lal
// v0.37.4 (what the engine uses) and bluenviron's gortmplib — with everything else the same:
// one in-process publisher sends the tags of one pre-encoded FLV (ffmpeg testsrc 720p, x264
// ultrafast, 2.5 Mbit/s CBR, 1 s GOP, AAC), each library's server reads the handshake, chunk
// stream, AMF commands and codec sequence headers, and hands every audio/video payload to the
// same fan-out of icSubscribers channels. Subscriber 0 compares every payload and timestamp
// with what was sent, so a library that drops, reorders or corrupts a tag fails the run
// (gortmplib's sequence headers are the one allowance: see icFanout.subscribe).
//
//   - throughput: b.N tags sent as fast as the socket takes them; ns/op and allocs/op are per
//     tag (publisher, library and fan-out together: only the library differs).
//   - latency: the source sent once in real time; the time from just before the publisher's
//     socket write of a tag to the fan-out being handed it, as p50/p95/p99 in µs.
//
// go test -run XXX -bench IngestCompare -benchmem -count 3 ./internal/media/
func BenchmarkIngestCompare(b *testing.B) {
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		b.Skip("ffmpeg not installed (apt-get install ffmpeg; .ci/run installs it)")
	}
	bridgeLalLog(slog.New(slog.DiscardHandler)) // lal's logger set up as the engine sets it
	src := icEncode(b)
	libs := []struct {
		name    string
		start   func(testing.TB, *icFanout) net.Addr
		rebuilt bool // gives sequence headers back re-encoded (see icFanout.subscribe)
	}{{"lal", icStartLal, false}, {"gortmplib", icStartGortmplib, true}}
	for _, lib := range libs {
		b.Run(lib.name+"/throughput", func(b *testing.B) {
			fan, tags := icRun(b, lib.start, lib.rebuilt, src, b.N, false)
			b.ReportMetric(float64(fan.bytes)/1e6/b.Elapsed().Seconds(), "MB/s")
			b.ReportMetric(float64(tags)/b.Elapsed().Seconds(), "tags/s")
		})
	}
	for _, lib := range libs {
		b.Run(lib.name+"/latency", func(b *testing.B) {
			fan, _ := icRun(b, lib.start, lib.rebuilt, src, b.N*len(src.first), true)
			lat := make([]time.Duration, len(fan.at))
			for k := range fan.at {
				lat[k] = time.Duration(fan.at[k] - fan.sentAt[k])
			}
			slices.Sort(lat)
			for _, q := range []struct {
				unit string
				q    float64
			}{{"p50-µs", 0.50}, {"p95-µs", 0.95}, {"p99-µs", 0.99}} {
				b.ReportMetric(float64(lat[int(q.q*float64(len(lat)-1))].Microseconds()), q.unit)
			}
		})
	}
}

// icSubscribers is how many in-memory viewers the fan-out feeds; icQueue bounds each one.
const (
	icSubscribers = 4
	icQueue       = 512
	icWait        = 60 * time.Second // for the server to accept the publish, and to drain
)

// icRun starts a server with start, publishes n audio/video tags of src to it (paced at their
// timestamps or as fast as possible), and waits until every subscriber has every tag. The
// timer covers the tags only, not the set-up.
func icRun(b *testing.B, start func(testing.TB, *icFanout) net.Addr, rebuilt bool, src *icSource, n int, paced bool) (*icFanout, int) {
	b.Helper()
	fan := newICFanout(src, n, paced, rebuilt)
	addr := start(b, fan)
	ctx, cancel := context.WithTimeout(context.Background(), icWait)
	defer cancel()
	pub, err := rtmppub.Dial(ctx, addr.String(), "live", "bench", icWait)
	if err != nil {
		b.Fatal(err)
	}
	defer pub.Close()
	if meta := src.meta; meta != nil {
		if err := pub.Send(meta.typ, 0, meta.payload); err != nil {
			b.Fatal(err)
		}
	}
	select {
	case <-fan.ready:
	case err := <-fan.failed:
		b.Fatal(err)
	case <-ctx.Done():
		b.Fatal("the server did not accept the publish")
	}
	b.ResetTimer()
	begin := time.Now()
	for k := range n {
		t, ts := src.at(k)
		if paced {
			if d := time.Until(begin.Add(time.Duration(ts) * time.Millisecond)); d > 0 {
				time.Sleep(d)
			}
			fan.sentAt[k] = time.Now().UnixNano()
		}
		if err := pub.Send(t.typ, ts, t.payload); err != nil {
			b.Fatalf("publish tag %d: %v", k, err)
		}
	}
	if err := fan.wait(icWait); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	return fan, n
}

// icTag is one tag of the source file.
type icTag struct {
	typ     uint8
	ts      uint32 // ms
	payload []byte
	header  bool // a sequence header: sent once, not on each loop
}

// icSource is the pre-encoded file: first is every audio/video tag in file order, body the
// same without sequence headers (what each further loop sends, span ms later).
type icSource struct {
	meta        *icTag
	first, body []icTag
	span        uint32
}

// at is the k-th audio/video tag the publisher sends, with its timestamp.
func (s *icSource) at(k int) (*icTag, uint32) {
	if k < len(s.first) {
		return &s.first[k], s.first[k].ts
	}
	k -= len(s.first)
	loop := uint32(1 + k/len(s.body))
	t := &s.body[k%len(s.body)]
	return t, t.ts + loop*s.span
}

// icEncode makes the source once per benchmark run, as `zhibo bench media` does.
func icEncode(b *testing.B) *icSource {
	b.Helper()
	path := filepath.Join(b.TempDir(), "source.flv")
	out, err := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=1280x720:rate=30",
		"-f", "lavfi", "-i", "sine=frequency=440", "-t", "10", "-c:v", "libx264", "-preset", "ultrafast",
		"-g", "30", "-b:v", "2500k", "-minrate", "2500k", "-maxrate", "2500k", "-bufsize", "2500k",
		"-x264-params", "nal-hrd=cbr", "-c:a", "aac", "-f", "flv", path).CombinedOutput()
	if err != nil {
		b.Fatalf("encode the source: %v: %s", err, out)
	}
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if _, err := io.ReadFull(f, make([]byte, len(httpflv.FlvHeader))); err != nil {
		b.Fatal(err)
	}
	src := &icSource{}
	var last, lastVideo, prevVideo uint32
	for {
		t, err := httpflv.ReadTag(f)
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			break
		}
		if err != nil {
			b.Fatal(err)
		}
		tag := icTag{typ: t.Header.Type, ts: t.Header.Timestamp, payload: t.Payload()}
		switch {
		case t.IsMetadata():
			src.meta = &tag
			continue
		case t.IsVideoKeySeqHeader() || t.IsAacSeqHeader():
			tag.header = true
		case t.Header.Type == httpflv.TagTypeVideo:
			if len(tag.payload) < 2 || tag.payload[1] != base.RtmpAvcPacketTypeNalu {
				continue // ffmpeg ends the file with an end-of-sequence tag
			}
			prevVideo, lastVideo = lastVideo, tag.ts
		case t.Header.Type != httpflv.TagTypeAudio:
			continue
		}
		last = max(last, tag.ts)
		src.first = append(src.first, tag)
		if !tag.header {
			src.body = append(src.body, tag)
		}
	}
	if len(src.body) == 0 || lastVideo == 0 {
		b.Fatal("the source has no video")
	}
	src.span = last + max(1, lastVideo-prevVideo)
	return src
}
