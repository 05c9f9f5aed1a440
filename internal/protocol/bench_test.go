package protocol

import (
	"bytes"
	"testing"
)

func BenchmarkAppendPacket(b *testing.B) {
	body := testBodies(1)[0]
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	b.SetBytes(int64(HeaderLen + len(body)))
	for b.Loop() {
		buf = AppendPacket(buf[:0], VerPlain, OpMessage, 0, body)
	}
}

func BenchmarkReadPacket(b *testing.B) {
	pkt := AppendHeartbeat(nil, 1)
	pkt = AppendAuth(pkt, 2, AuthBody{UID: 1, RoomID: 2, ProtoVer: 3, Platform: "web", Type: 2, Key: "token"})
	r := bytes.NewReader(pkt)
	buf := make([]byte, 512)
	b.ReportAllocs()
	b.SetBytes(int64(len(pkt)))
	for b.Loop() {
		r.Reset(pkt)
		if _, err := ReadPacket(r, buf, 0); err != nil {
			b.Fatal(err)
		}
		if _, err := ReadPacket(r, buf, 0); err != nil {
			b.Fatal(err)
		}
	}
}

// benchBatch encodes a typical room batch: 20 danmaku in one 100 ms window.
func benchBatch(b *testing.B, ver uint16) {
	bodies := testBodies(20)
	raw := 0
	for _, x := range bodies {
		raw += HeaderLen + len(x)
	}
	buf := make([]byte, 0, raw+64)
	var out []byte
	b.ReportAllocs()
	b.SetBytes(int64(raw))
	for b.Loop() {
		var err error
		out, err = AppendBatch(buf[:0], ver, bodies)
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(out))/float64(raw), "ratio")
}

func BenchmarkEncodeBatchPlain(b *testing.B)  { benchBatch(b, VerPlain) }
func BenchmarkEncodeBatchZlib(b *testing.B)   { benchBatch(b, VerZlib) }
func BenchmarkEncodeBatchBrotli(b *testing.B) { benchBatch(b, VerBrotli) }

func BenchmarkDanmuJSON(b *testing.B) {
	d := Danmu{ID: 1, UID: 2, Uname: "观众", Text: "主播好！", RoomID: 3}
	b.ReportAllocs()
	for b.Loop() {
		_ = d.JSON()
	}
}
