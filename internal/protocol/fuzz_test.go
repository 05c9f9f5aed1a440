package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

// seedPackets are valid and broken streams shared by the fuzz targets.
func seedPackets(f *testing.F) [][]byte {
	f.Helper()
	batch2, err := EncodeBatch(VerZlib, testBodies(2))
	if err != nil {
		f.Fatal(err)
	}
	batch3, err := EncodeBatch(VerBrotli, testBodies(2))
	if err != nil {
		f.Fatal(err)
	}
	return [][]byte{
		nil,
		AppendHeartbeat(nil, 1),
		AppendAuth(nil, 1, AuthBody{UID: 1, RoomID: 2, ProtoVer: 3, Platform: "web", Type: 2, Key: "k"}),
		AppendHeartbeatReply(nil, 1, 99),
		AppendAuthReply(nil, 1, AuthCodeReject),
		AppendPacket(nil, VerPlain, OpMessage, 0, LiveMsg(1)),
		batch2,
		batch3,
		header(16, 12, 1, OpAuth),
		header(8, 16, 1, OpAuth),
		header(0xffffffff, 16, 1, OpAuth),
		header(16, 16, 1, 0xdead),
		header(16, 16, 7, OpAuth),
		header(40, 16, 2, OpMessage),
		append(AppendHeartbeat(nil, 1), 0, 0, 0),
	}
}

func FuzzReadPacket(f *testing.F) {
	for _, s := range seedPackets(f) {
		f.Add(s, 1024)
	}
	// Packets larger than the 64-byte scratch buffer, whose buffer grows as
	// their bytes arrive: whole, and cut short inside the body.
	big := AppendPacket(nil, VerPlain, OpMessage, 9, bytes.Repeat([]byte("z"), 5000))
	f.Add(big, 8192)
	f.Add(big[:3000], 8192)
	f.Add(append(header(MaxAuthPacket, 16, 1, OpAuth), 'x'), MaxAuthPacket)
	f.Add(header(64<<10, 16, 1, OpAuth), MaxAuthPacket)
	f.Fuzz(func(t *testing.T, b []byte, maxSize int) {
		r := bytes.NewReader(b)
		// The same bytes one at a time: the growing buffer must not change
		// what is read.
		slow := iotest.OneByteReader(bytes.NewReader(b))
		buf, slowBuf := make([]byte, 64), make([]byte, 64)
		consumed := 0
		for {
			p, err := ReadPacket(r, buf, maxSize)
			sp, serr := ReadPacket(slow, slowBuf, maxSize)
			if (err == nil) != (serr == nil) || !bytes.Equal(p.Body, sp.Body) || p.Op != sp.Op {
				t.Fatalf("one byte per read differs: %v %v", err, serr)
			}
			if err != nil {
				if Reason(err) == "" && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Fatalf("unexpected error kind: %v", err)
				}
				return
			}
			limit := maxSize
			if limit <= 0 {
				limit = DefaultMaxPacket
			}
			if n := HeaderLen + len(p.Body); n > limit || !KnownOp(p.Op) || p.Ver > maxVer {
				t.Fatalf("accepted invalid packet: len %d op %d ver %d", n, p.Op, p.Ver)
			}
			// Re-encoding reproduces the bytes read.
			enc := AppendPacket(nil, p.Ver, p.Op, p.Seq, p.Body)
			if !bytes.Equal(enc, b[consumed:consumed+len(enc)]) {
				t.Fatalf("re-encoded packet differs")
			}
			consumed += len(enc)
		}
	})
}

func FuzzDecodeAll(f *testing.F) {
	for _, s := range seedPackets(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		const maxSize = 4096
		ps, err := DecodeAll(b, maxSize)
		if err != nil {
			if Reason(err) == "" {
				t.Fatalf("error is not a protocol error: %v", err)
			}
			return
		}
		for _, p := range ps {
			if HeaderLen+len(p.Body) > maxSize || !KnownOp(p.Op) {
				t.Fatalf("accepted invalid packet op %d len %d", p.Op, len(p.Body))
			}
			if p.Op == OpMessage && (p.Ver == VerZlib || p.Ver == VerBrotli) {
				t.Fatalf("compressed packet left in output")
			}
		}
	})
}

func FuzzParseAuth(f *testing.F) {
	for _, s := range []string{
		`{"uid":0,"roomid":123,"protover":3,"platform":"web","type":2,"key":"token"}`,
		`{"roomid":1}`, `{"roomid":0}`, `{"roomid":1,"protover":9}`, `null`, `[]`, `{`, ``,
		`{"roomid":1,"uid":-1}`, `{"roomid":1e3}`, `{"roomid":1,"key":"\u0000"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := ParseAuth(b)
		if err != nil {
			if !errors.Is(err, ErrAuth) {
				t.Fatalf("error does not wrap ErrAuth: %v", err)
			}
			return
		}
		if a.RoomID < 0 || a.UID < 0 || a.ProtoVer < 0 || a.ProtoVer > 3 || len(b) > MaxAuthBody {
			t.Fatalf("accepted invalid auth %+v", a)
		}
		// What we accept survives a round trip.
		enc, _ := json.Marshal(a)
		if b2, err := ParseAuth(enc); err != nil || b2 != a {
			t.Fatalf("round trip: %+v %v", b2, err)
		}
	})
}

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "a\"b", "\xff", "中文", "\u2028", "<script>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := json.Marshal(s)
		if got := appendString(nil, s); !bytes.Equal(got, want) {
			t.Fatalf("appendString(%q) = %s, want %s", s, got, want)
		}
	})
}
