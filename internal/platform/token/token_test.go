package token

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestSignVerify(t *testing.T) {
	s, err := NewSigner([]byte("0123456789abcdef"))
	require.NoError(t, err)
	now := time.Unix(1_800_000_000, 0)
	tok := s.Sign("user", Claims{UID: 42, Exp: now.Add(time.Hour).Unix()})
	c, err := s.Verify("user", tok, now)
	require.NoError(t, err)
	require.Equal(t, int64(42), c.UID)

	_, err = s.Verify("user", tok, now.Add(2*time.Hour))
	require.ErrorIs(t, err, ErrExpired)
	_, err = s.Verify("conn", tok, now) // another kind
	require.ErrorIs(t, err, ErrInvalid)

	other, _ := NewSigner([]byte("fedcba9876543210"))
	_, err = other.Verify("user", tok, now)
	require.ErrorIs(t, err, ErrInvalid)

	p, sig, _ := strings.Cut(tok, ".")
	forged := s.Sign("user", Claims{UID: 1, Exp: now.Add(time.Hour).Unix()})
	fp, _, _ := strings.Cut(forged, ".")
	for _, bad := range []string{"", "x", p, p + ".", fp + "." + sig, tok + "x", strings.Repeat("a", MaxLen+1)} {
		_, err = s.Verify("user", bad, now)
		require.ErrorIs(t, err, ErrInvalid, bad)
	}
	_, err = NewSigner([]byte("short"))
	require.Error(t, err)
}

// A genuine token is remembered, and the memory changes no answer: it still expires, is still
// of its kind only; what was never genuine is never remembered; the memory is bounded.
func TestVerifiedTokensAreRemembered(t *testing.T) {
	s, err := NewSigner([]byte("0123456789abcdef"))
	require.NoError(t, err)
	now := time.Unix(1_800_000_000, 0)
	tok := s.Sign("user", Claims{UID: 7, Exp: now.Add(time.Minute).Unix()})
	_, err = s.Verify("user", tok, now)
	require.NoError(t, err)
	_, ok := s.verified.Load(tok)
	require.True(t, ok)
	c, err := s.Verify("user", tok, now.Add(30*time.Second))
	require.NoError(t, err)
	require.EqualValues(t, 7, c.UID)
	_, err = s.Verify("user", tok, now.Add(time.Minute))
	require.ErrorIs(t, err, ErrExpired)
	_, err = s.Verify("conn", tok, now)
	require.ErrorIs(t, err, ErrInvalid)
	_, err = s.Verify("user", tok+"x", now)
	require.ErrorIs(t, err, ErrInvalid)
	_, ok = s.verified.Load(tok + "x")
	require.False(t, ok)

	for i := range verifiedMax + 1 {
		_, err := s.Verify("user", s.Sign("user", Claims{UID: int64(i + 1), Exp: now.Add(time.Hour).Unix()}), now)
		require.NoError(t, err)
	}
	n := 0
	s.verified.Range(func(any, any) bool { n++; return true })
	require.LessOrEqual(t, n, verifiedMax)
}

// TestClaimsCompatible: version and id travel in the token, and tokens without them (issued
// before they existed, or of other kinds) still verify with zero values.
func TestClaimsCompatible(t *testing.T) {
	s, err := NewSigner([]byte("0123456789abcdef"))
	require.NoError(t, err)
	now := time.Unix(1_800_000_000, 0)
	exp := now.Add(time.Hour).Unix()
	c, err := s.Verify("user", s.Sign("user", Claims{UID: 7, Exp: exp, Ver: 3, ID: "abc"}), now)
	require.NoError(t, err)
	require.Equal(t, Claims{UID: 7, Exp: exp, Ver: 3, ID: "abc"}, c)
	tok := s.Sign("conn", Claims{UID: 7, RoomID: 9, Exp: exp})
	p, _, _ := strings.Cut(tok, ".")
	raw, err := b64.DecodeString(p)
	require.NoError(t, err)
	require.NotContains(t, string(raw), "ver")
	require.NotContains(t, string(raw), "jti")
	c, err = s.Verify("conn", tok, now)
	require.NoError(t, err)
	require.Equal(t, Claims{UID: 7, RoomID: 9, Exp: exp}, c)
}

func TestLoadOrCreateKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "secret")
	k1, err := LoadOrCreateKey("", path)
	require.NoError(t, err)
	k2, err := LoadOrCreateKey("", path)
	require.NoError(t, err)
	require.Equal(t, k1, k2)
	if runtime.GOOS != "windows" {
		for p, want := range map[string]os.FileMode{path: 0o600, filepath.Dir(path): 0o700} {
			info, err := os.Stat(p)
			require.NoError(t, err)
			require.Equal(t, want, info.Mode().Perm(), "%s holds the token secret: owner-only", p)
		}
	}
	k3, err := LoadOrCreateKey("a-configured-secret", path)
	require.NoError(t, err)
	require.Equal(t, []byte("a-configured-secret"), k3)
	_, err = LoadOrCreateKey("short", path)
	require.Error(t, err)
}
