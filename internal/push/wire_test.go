package push

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestPushRoundTrip(t *testing.T) {
	for _, p := range []Push{
		{Target: TargetRoom, RoomID: 7, Msgs: [][]byte{[]byte(`{"cmd":"A"}`), []byte(`{"cmd":"B"}`)}},
		{Target: TargetUser, UIDs: []int64{1, 2, 1 << 40}, Msgs: [][]byte{[]byte(`{}`)}},
		{Target: TargetAll, Msgs: [][]byte{}},
	} {
		got, err := Unmarshal(Marshal(p))
		require.NoError(t, err)
		require.Equal(t, p.Target, got.Target)
		require.Equal(t, p.RoomID, got.RoomID)
		require.Equal(t, p.UIDs, got.UIDs)
		require.Equal(t, len(p.Msgs), len(got.Msgs))
		for i := range p.Msgs {
			require.Equal(t, p.Msgs[i], got.Msgs[i])
		}
	}
}

func TestPushRejectsMalformed(t *testing.T) {
	good := Marshal(Push{Target: TargetRoom, RoomID: 7, Msgs: [][]byte{[]byte("abc")}})
	for _, b := range [][]byte{nil, {1}, {2, 1}, {1, 9}, good[:len(good)-1], append(append([]byte{}, good...), 0),
		Marshal(Push{Target: TargetRoom, RoomID: 0})} {
		_, err := Unmarshal(b)
		require.ErrorIs(t, err, ErrBadPush, "%v", b)
	}
}

func FuzzUnmarshal(f *testing.F) {
	f.Add(Marshal(Push{Target: TargetRoom, RoomID: 7, Msgs: [][]byte{[]byte(`{"cmd":"DANMU_MSG"}`)}}))
	f.Add(Marshal(Push{Target: TargetUser, UIDs: []int64{1, 2}, Msgs: [][]byte{[]byte("x")}}))
	f.Add([]byte{1, 1, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := Unmarshal(b)
		if err != nil {
			return
		}
		again, err := Unmarshal(Marshal(p))
		require.NoError(t, err)
		require.Equal(t, len(p.Msgs), len(again.Msgs))
	})
}
