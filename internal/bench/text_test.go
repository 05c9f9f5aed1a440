package bench

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/protocol"
)

func TestStampSurvivesDanmuEncoding(t *testing.T) {
	st := stamp{sender: 123456, seq: 9_876_543_210, sentNS: time.Now().UnixNano()}
	text := appendText(nil, st, minMsgSize)
	require.Len(t, text, minMsgSize, "the largest stamp fits the minimum size")
	text = appendText(nil, stamp{sender: 1, seq: 2, sentNS: 3}, 100)
	require.Len(t, text, 100)

	body := protocol.Danmu{ID: 1, UID: 2, Uname: "u", Text: string(appendText(nil, st, 80)), SendTime: time.Now(), RoomID: 9}.JSON()
	got, ok := scanDanmu(body)
	require.True(t, ok)
	require.Equal(t, st, got)

	_, ok = scanDanmu(protocol.Danmu{ID: 1, UID: 2, Uname: "u", Text: "hello", SendTime: time.Now(), RoomID: 9}.JSON())
	require.False(t, ok, "a comment not sent by a bench")
	_, ok = scanDanmu([]byte(`{"cmd":"SEND_GIFT","data":{"uname":"zbench|1|2|3|"}}`))
	require.False(t, ok, "another command")
	_, ok = scanDanmu([]byte(`{"cmd":"DANMU_MSG","info":[[],"zbench|1|x|3|"]}`))
	require.False(t, ok, "a malformed stamp")
}

func TestFrameDecoderReadsEveryVersion(t *testing.T) {
	var bodies [][]byte
	var want []stamp
	for i := range 5 {
		st := stamp{sender: i, seq: int64(i + 1), sentNS: int64(1000 + i)}
		want = append(want, st)
		bodies = append(bodies, protocol.Danmu{ID: int64(i), UID: 1, Uname: "u", Text: string(appendText(nil, st, 64)), SendTime: time.Now()}.JSON())
	}
	bodies = append(bodies, []byte(`{"cmd":"WATCHED_CHANGE","data":{"num":1}}`))
	c := newFrameCache()
	for _, ver := range []uint16{protocol.VerPlain, protocol.VerZlib, protocol.VerBrotli} {
		unit, err := protocol.EncodeBatch(ver, bodies)
		require.NoError(t, err)
		for range 2 { // decoded, then from the cache
			got, err := c.stamps(unit)
			require.NoError(t, err, "version %d", ver)
			require.Equal(t, want, got, "version %d", ver)
		}
		var d frameDecoder
		got, err := d.decode(nil, unit)
		require.NoError(t, err)
		require.Equal(t, want, got)
	}
	_, err := c.stamps([]byte{0, 0, 0, 40, 0, 16, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0})
	require.Error(t, err, "a truncated packet")
}

func TestSeqCheck(t *testing.T) {
	var s seqCheck
	for _, seq := range []int64{1, 2, 4, 3, 3, 200} {
		s.add(seq)
	}
	require.Equal(t, int64(5), s.distinct)
	require.Equal(t, int64(1), s.dups)
	require.Equal(t, int64(1), s.outOfOrder)
	require.Equal(t, int64(200), s.highest)
}
