package bench

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/protocol"
)

// stream returns what a comet writes to a viewer: batches of bench comments from sender 0
// (seq 1..n in order), a heartbeat reply between them, and on WebSocket a ping and
// messages holding several packets back to back.
func stream(t *testing.T, isWS bool, n int) []byte {
	t.Helper()
	var out []byte
	seq := int64(0)
	batch := func(k int) []byte {
		var bodies [][]byte
		for range k {
			seq++
			st := stamp{sender: 0, seq: seq, sentNS: time.Now().UnixNano()}
			bodies = append(bodies, protocol.Danmu{ID: seq, UID: 1, Uname: "u", Text: string(appendText(nil, st, 64)), SendTime: time.Now()}.JSON())
		}
		unit, err := protocol.EncodeBatch(protocol.VerZlib, bodies)
		require.NoError(t, err)
		return unit
	}
	frame := func(op ws.OpCode, payload []byte) []byte {
		f, err := ws.CompileFrame(ws.NewFrame(op, true, payload))
		require.NoError(t, err)
		return f
	}
	for int(seq) < n {
		a, b := batch(3), batch(1+int(seq)%5)
		if isWS {
			out = append(out, frame(ws.OpBinary, a)...)
			out = append(out, frame(ws.OpPing, nil)...)
			out = append(out, frame(ws.OpBinary, append(b, batch(2)...))...) // two packets in one message
			out = append(out, frame(ws.OpBinary, protocol.AppendHeartbeatReply(nil, 1, 42))...)
		} else {
			out = append(out, a...)
			out = append(out, b...)
			out = append(out, protocol.AppendHeartbeatReply(nil, 1, 42)...)
		}
	}
	return out
}

// However the reads cut the stream, every comment is counted once and in order.
func TestFeedWholeUnitsAcrossReads(t *testing.T) {
	for _, isWS := range []bool{false, true} {
		data := stream(t, isWS, 200)
		want := int64(0)
		{
			c := &viewerConn{ws: isWS, sampled: true, seqs: make([]seqCheck, 1)}
			r := testRun()
			require.NoError(t, r.feed(c, data, time.Now().UnixNano()))
			want = c.delivered
			require.Empty(t, c.pend)
		}
		require.GreaterOrEqual(t, want, int64(200))
		rng := rand.New(rand.NewPCG(1, uint64(len(data))))
		for trial := range 50 {
			c := &viewerConn{ws: isWS, sampled: true, seqs: make([]seqCheck, 1)}
			r := testRun()
			for rest := data; len(rest) > 0; {
				n := min(len(rest), 1+rng.IntN(1+trial*trial*4)) // from single bytes to large reads
				chunk := append([]byte(nil), rest[:n]...)        // a read buffer is reused
				require.NoError(t, r.feed(c, chunk, time.Now().UnixNano()))
				clear(chunk)
				rest = rest[n:]
			}
			require.Empty(t, c.pend, "ws=%v trial %d", isWS, trial)
			require.Equal(t, want, c.delivered, "ws=%v trial %d", isWS, trial)
			s := c.seqs[0]
			require.Equal(t, want, s.distinct)
			require.Zero(t, s.dups)
			require.Zero(t, s.outOfOrder)
		}
	}
}

// A bad unit is an error, not a guess.
func TestFeedRejectsBadUnits(t *testing.T) {
	r := testRun()
	masked, err := ws.CompileFrame(ws.MaskFrame(ws.NewBinaryFrame([]byte("x"))))
	require.NoError(t, err)
	require.Error(t, r.feed(&viewerConn{ws: true}, masked, 0), "masked server frame")
	text, err := ws.CompileFrame(ws.NewTextFrame([]byte("x")))
	require.NoError(t, err)
	require.Error(t, r.feed(&viewerConn{ws: true}, text, 0), "text frame")
	closeFrame, err := ws.CompileFrame(ws.NewCloseFrame(nil))
	require.NoError(t, err)
	require.ErrorIs(t, r.feed(&viewerConn{ws: true}, closeFrame, 0), errPeerClosed)
	require.Error(t, r.feed(&viewerConn{}, []byte{0, 0, 0, 3, 0, 16, 0, 1, 0, 0, 0, 5, 0, 0, 0, 0}, 0), "packet shorter than its header")
}

func testRun() *run {
	return &run{cache: newFrameCache(), hist: NewHist(1), senders: 1}
}
