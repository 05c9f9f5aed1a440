package protocol

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseAuth(t *testing.T) {
	a, err := ParseAuth([]byte(`{"uid":160148624,"roomid":22608112,"protover":3,"platform":"web","type":2,"key":"0vpT==","buvid":"x"}`))
	require.NoError(t, err)
	require.Equal(t, AuthBody{UID: 160148624, RoomID: 22608112, ProtoVer: 3, Platform: "web", Type: 2, Key: "0vpT=="}, a)
	require.Equal(t, VerBrotli, a.MessageVer())

	a, err = ParseAuth([]byte(` {"roomid":7}`))
	require.NoError(t, err)
	require.Equal(t, VerPlain, a.MessageVer(), "missing protover means plain")

	for pv, want := range map[int]uint16{0: VerPlain, 1: VerPlain, 2: VerZlib, 3: VerBrotli} {
		require.Equal(t, want, AuthBody{ProtoVer: pv}.MessageVer())
	}
}

func TestParseAuthRejects(t *testing.T) {
	cases := map[string]string{
		"empty":         ``,
		"null":          `null`,
		"array":         `[1]`,
		"string":        `"x"`,
		"not json":      `{roomid:1}`,
		"trailing":      `{"roomid":1} {}`,
		"negative room": `{"roomid":-3}`,
		"negative uid":  `{"uid":-1,"roomid":3}`,
		"protover 4":    `{"roomid":3,"protover":4}`,
		"protover -1":   `{"roomid":3,"protover":-1}`,
		"room string":   `{"roomid":"3"}`,
		"room float":    `{"roomid":3.5}`,
		"key number":    `{"roomid":3,"key":5}`,
		"too large":     `{"roomid":3,"key":"` + strings.Repeat("k", MaxAuthBody) + `"}`,
	}
	for name, body := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := ParseAuth([]byte(body))
			require.ErrorIs(t, err, ErrAuth)
			require.Equal(t, "bad_auth", Reason(err))
		})
	}
}

// Room 0 is a user's own channel: the parser takes it, logic decides with the token.
func TestParseAuthUserChannel(t *testing.T) {
	for _, body := range []string{`{"uid":1}`, `{"uid":1,"roomid":0,"key":"k"}`} {
		a, err := ParseAuth([]byte(body))
		require.NoError(t, err)
		require.Zero(t, a.RoomID)
	}
}

func TestAuthReplyBody(t *testing.T) {
	require.Equal(t, `{"code":0}`, string(AuthReplyBody(AuthCodeOK)))
	require.Equal(t, `{"code":-101}`, string(AuthReplyBody(AuthCodeReject)))
}

func TestAppendAuthRoundTrip(t *testing.T) {
	in := AuthBody{UID: 1, RoomID: 2, ProtoVer: 2, Platform: "web", Type: 2, Key: `a"b`}
	ps, err := DecodeAll(AppendAuth(nil, 1, in), 0)
	require.NoError(t, err)
	require.Len(t, ps, 1)
	require.Equal(t, VerInt, ps[0].Ver)
	require.Equal(t, OpAuth, ps[0].Op)
	out, err := ParseAuth(ps[0].Body)
	require.NoError(t, err)
	require.Equal(t, in, out)
}
