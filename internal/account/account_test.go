package account

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/platform/httpx"
	"github.com/zhibo-live/zhibo/internal/platform/obs"
	"github.com/zhibo-live/zhibo/internal/platform/sqlstore"
	"github.com/zhibo-live/zhibo/internal/platform/sqlstore/sqltest"
	"github.com/zhibo-live/zhibo/internal/platform/textnorm"
	"github.com/zhibo-live/zhibo/internal/platform/token"
)

type fakeWallets struct{ err error }

func (f fakeWallets) Balance(context.Context, int64) (int64, error) { return 1000, f.err }

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newService(t *testing.T, db *sqlstore.DB, w Wallets) (*Service, *clock) {
	signer, err := token.NewSigner([]byte("test-key-0123456789"))
	require.NoError(t, err)
	c := &clock{t: time.Now()}
	s, err := New(Config{TokenTTL: time.Hour, BcryptCost: 4, MinPassword: 6},
		Deps{Logger: obs.Discard(), Registry: prometheus.NewRegistry(), DB: db, Signer: signer, Wallets: w, Now: c.now})
	require.NoError(t, err)
	require.NoError(t, s.Start(context.Background()))
	return s, c
}

func TestSignUpLoginVerify(t *testing.T) {
	sqltest.ForEach(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		s, c := newService(t, db, nil)
		sess, err := s.SignUp(ctx, "Alice", "secret1")
		require.NoError(t, err)
		uid, err := s.Verify(context.Background(), sess.Token)
		require.NoError(t, err)
		require.Equal(t, sess.UID, uid)

		_, err = s.SignUp(ctx, "alice", "another1")
		require.ErrorIs(t, err, ErrNameTaken)

		got, err := s.Login(ctx, "ALICE", "secret1")
		require.NoError(t, err)
		require.Equal(t, sess.UID, got.UID)
		require.Equal(t, "Alice", got.Name)
		_, err = s.Login(ctx, "alice", "wrong-password")
		require.ErrorIs(t, err, ErrBadCredentials)
		_, err = s.Login(ctx, "nobody", "secret1")
		require.ErrorIs(t, err, ErrBadCredentials)

		names, err := s.Names(ctx, []int64{sess.UID, 999999})
		require.NoError(t, err)
		require.Equal(t, map[int64]string{sess.UID: "Alice"}, names)
		_, err = s.User(ctx, 999999)
		require.ErrorIs(t, err, ErrUserNotFound)

		c.t = c.t.Add(2 * time.Hour)
		_, err = s.Verify(context.Background(), sess.Token)
		require.ErrorIs(t, err, ErrTokenExpired)
		_, err = s.Verify(context.Background(), "garbage")
		require.ErrorIs(t, err, ErrTokenInvalid)
	})
}

// Users are found by name as login finds them: without regard to case; unknown and
// impossible names are absent, and too many names in one call are refused.
func TestUIDs(t *testing.T) {
	sqltest.ForEach(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		s, _ := newService(t, db, nil)
		alice, err := s.SignUp(ctx, "Alice", "secret1")
		require.NoError(t, err)
		bob, err := s.SignUp(ctx, "bob_2", "secret1")
		require.NoError(t, err)
		got, err := s.UIDs(ctx, []string{"alice", "ALICE", "bob_2", "nobody", "x", "no spaces"})
		require.NoError(t, err)
		require.Equal(t, map[string]int64{"alice": alice.UID, "ALICE": alice.UID, "bob_2": bob.UID}, got)
		got, err = s.UIDs(ctx, nil)
		require.NoError(t, err)
		require.Empty(t, got)
		_, err = s.UIDs(ctx, make([]string, maxNames+1))
		require.Error(t, err)
	})
}

func TestSignUpValidation(t *testing.T) {
	s, _ := newService(t, sqltest.OpenSQLite(t), nil)
	ctx := context.Background()
	for _, c := range []struct{ name, pw string }{
		{"a", "secret1"}, {strings.Repeat("n", 33), "secret1"}, {"bad name", "secret1"}, {"<b>x</b>", "secret1"},
		{"bob", "short"}, {"bob", strings.Repeat("p", 73)},
	} {
		_, err := s.SignUp(ctx, c.name, c.pw)
		require.Error(t, err, c)
	}
	_, err := s.SignUp(ctx, "主播小明", "secret1")
	require.NoError(t, err)
	_, err = s.Login(ctx, "bob", "secret1")
	require.ErrorIs(t, err, ErrBadCredentials) // nothing was created by the rejected attempts
}

func TestHTTP(t *testing.T) {
	s, _ := newService(t, sqltest.OpenSQLite(t), fakeWallets{})
	mux := http.NewServeMux()
	s.Register(mux)
	srv := httptest.NewServer(httpx.Identify(s, nil, mux))
	defer srv.Close()

	do := func(method, path, tok, body string) (int, map[string]any) {
		r, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		if tok != "" {
			r.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := http.DefaultClient.Do(r)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var env map[string]any
		require.NoError(t, json.Unmarshal(b, &env), string(b))
		return resp.StatusCode, env
	}
	code, env := do("POST", "/api/auth/register", "", `{"name":"viewer","password":"secret1"}`)
	require.Equal(t, 200, code)
	tok := env["data"].(map[string]any)["token"].(string)
	code, env = do("GET", "/api/me", tok, "")
	require.Equal(t, 200, code)
	require.Equal(t, "viewer", env["data"].(map[string]any)["name"])
	require.Equal(t, 1000.0, env["data"].(map[string]any)["balance"])

	code, _ = do("GET", "/api/me", "", "")
	require.Equal(t, 401, code)
	code, _ = do("GET", "/api/me", tok+"x", "")
	require.Equal(t, 401, code)
	code, _ = do("POST", "/api/auth/register", "", `{"name":"viewer","password":"secret1"}`)
	require.Equal(t, 409, code)
	code, _ = do("POST", "/api/auth/register", "", `{"name":"x2","password":"secret1","admin":true}`)
	require.Equal(t, 400, code)
	code, _ = do("POST", "/api/auth/login", "", `{"name":"x2","password":"secret1"}`)
	require.Equal(t, 401, code) // the rejected registration created nothing
	code, env = do("POST", "/api/auth/login", "", `{"name":"viewer","password":"nope-nope"}`)
	require.Equal(t, 401, code)
	require.Equal(t, "wrong name or password", env["message"])

	// A wallet outage degrades /api/me instead of failing it.
	s.wallets = fakeWallets{err: errors.New("gift down")}
	code, env = do("GET", "/api/me", tok, "")
	require.Equal(t, 200, code)
	require.Nil(t, env["data"].(map[string]any)["balance"])
}

// TestBannedWordsInNames: the banned-word list of titles and comments covers names too, seen
// through case, invisible characters and look-alike letters.
func TestBannedWordsInNames(t *testing.T) {
	sqltest.ForEach(t, func(t *testing.T, db *sqlstore.DB) {
		signer, err := token.NewSigner([]byte("test-key-0123456789"))
		require.NoError(t, err)
		s, err := New(Config{TokenTTL: time.Hour, BcryptCost: 4, MinPassword: 6},
			Deps{Logger: obs.Discard(), Registry: prometheus.NewRegistry(), DB: db, Signer: signer,
				Words: textnorm.NewWords([]string{"admin"})})
		require.NoError(t, err)
		require.NoError(t, s.Start(context.Background()))
		for _, name := range []string{"admin", "the_ADMIN", "ad\u200bmin2", "аdmin"} {
			_, err := s.SignUp(context.Background(), name, "secret12")
			require.ErrorIs(t, err, ErrBadName, "%q", name)
		}
		_, err = s.SignUp(context.Background(), "alice", "secret12")
		require.NoError(t, err)
	})
}
