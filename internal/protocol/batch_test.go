package protocol

import (
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

func testBodies(n int) [][]byte {
	bodies := make([][]byte, n)
	for i := range bodies {
		bodies[i] = Danmu{ID: int64(i), UID: 1000 + int64(i), Uname: fmt.Sprintf("user%d", i),
			Text: fmt.Sprintf("弹幕 number %d", i), RoomID: 1}.JSON()
	}
	return bodies
}

func TestEncodeBatch(t *testing.T) {
	bodies := testBodies(5)
	for _, ver := range []uint16{VerPlain, VerZlib, VerBrotli} {
		t.Run(fmt.Sprint("ver", ver), func(t *testing.T) {
			b, err := EncodeBatch(ver, bodies)
			require.NoError(t, err)
			h, err := ParseHeader(b, len(b))
			require.NoError(t, err)
			require.Equal(t, ver, h.Ver)
			require.Equal(t, OpMessage, h.Op)
			if ver != VerPlain {
				require.Equal(t, len(b), h.PacketLen, "one outer packet")
			}
			ps, err := DecodeAll(b, 0)
			require.NoError(t, err)
			require.Len(t, ps, len(bodies))
			for i, p := range ps {
				require.Equal(t, VerPlain, p.Ver)
				require.Equal(t, OpMessage, p.Op)
				require.Equal(t, bodies[i], p.Body)
			}
		})
	}
}

func TestEncodeBatchRejectsVerInt(t *testing.T) {
	_, err := EncodeBatch(VerInt, testBodies(1))
	require.ErrorIs(t, err, ErrVersion)
	_, err = EncodeBatch(9, testBodies(1))
	require.ErrorIs(t, err, ErrVersion)
}

func TestEncodeBatchEmpty(t *testing.T) {
	b, err := EncodeBatch(VerPlain, nil)
	require.NoError(t, err)
	require.Empty(t, b)
	b, err = EncodeBatch(VerBrotli, nil)
	require.NoError(t, err)
	ps, err := DecodeAll(b, 0)
	require.NoError(t, err)
	require.Empty(t, ps)
}

// AppendBatch keeps what the caller put in front (room for a frame header).
func TestAppendBatchKeepsPrefix(t *testing.T) {
	for _, ver := range []uint16{VerPlain, VerZlib, VerBrotli} {
		prefix := []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
		b, err := AppendBatch(prefix, ver, testBodies(3))
		require.NoError(t, err)
		require.Equal(t, []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, b[:10])
		ps, err := DecodeAll(b[10:], 0)
		require.NoError(t, err)
		require.Len(t, ps, 3)
	}
}

func TestEncodeBatchConcurrent(t *testing.T) {
	bodies := testBodies(20)
	want := map[uint16][]byte{}
	for _, ver := range []uint16{VerZlib, VerBrotli} {
		b, err := EncodeBatch(ver, bodies)
		require.NoError(t, err)
		want[ver] = b
	}
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Go(func() {
			for j := 0; j < 20; j++ {
				ver := []uint16{VerZlib, VerBrotli}[(i+j)%2]
				b, err := EncodeBatch(ver, bodies)
				if err != nil || string(b) != string(want[ver]) {
					t.Errorf("ver %d: pooled encoder produced different output (err %v)", ver, err)
					return
				}
			}
		})
	}
	wg.Wait()
}
