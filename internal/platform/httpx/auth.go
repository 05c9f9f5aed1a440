package httpx

import (
	"context"
	"log/slog"
	"net/http"
	"strings"

	"github.com/zhibo-live/zhibo/internal/platform/apierr"
)

// Verifier turns a bearer token into a user id; the account component implements it.
type Verifier interface {
	Verify(ctx context.Context, token string) (uid int64, err error)
}

type uidKey struct{}

// IdentityHeader carries a caller a zhibo gateway verified, signed with the cluster's secret
// (token.Signer.SignIdentity), to the upstream it forwards to: the upstream need not check the
// bearer token again.
const IdentityHeader = "X-Zhibo-Identity"

// Identities verifies the signed identities of IdentityHeader.
type Identities interface {
	VerifyIdentity(v string) (uid int64, err error)
}

// Identify reads the caller. A signed identity (IdentityHeader) that ids verifies names it at
// once; one that does not verify is dropped and the bearer token decides, as without one.
// `Authorization: Bearer <token>`: a valid token puts the uid in the context; a present but
// invalid or expired one is answered 401 at once, so no handler sees a bad identity.
func Identify(v Verifier, ids Identities, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if idv := r.Header.Get(IdentityHeader); idv != "" {
			r.Header.Del(IdentityHeader)
			if ids != nil {
				if uid, err := ids.VerifyIdentity(idv); err == nil {
					identified(next, w, r, uid)
					return
				}
			}
		}
		h := r.Header.Get("Authorization")
		if h == "" || v == nil { // v nil: no token is checked in this process
			next.ServeHTTP(w, r)
			return
		}
		tok, ok := strings.CutPrefix(h, "Bearer ")
		if !ok {
			writePlainError(w, r, apierr.Unauthorized.Withf("authorization header must be \"Bearer <token>\""))
			return
		}
		uid, err := v.Verify(r.Context(), strings.TrimSpace(tok))
		if err != nil {
			writePlainError(w, r, err)
			return
		}
		identified(next, w, r, uid)
	})
}

// identified serves r acting as uid.
func identified(next http.Handler, w http.ResponseWriter, r *http.Request, uid int64) {
	if st, ok := r.Context().Value(stateKey{}).(*reqState); ok {
		// Keep the same *http.Request so Observe still sees the pattern the mux matched.
		st.uid = uid
		next.ServeHTTP(w, r)
		return
	}
	next.ServeHTTP(w, r.WithContext(WithUID(r.Context(), uid)))
}

// reqState is the state of a request that middleware fills in place rather than each
// copying the request for a context value of its own: TrustProxies starts it (else Observe
// does), Identify sets the uid.
type reqState struct {
	uid      int64
	client   *client // as TrustProxies found it; nil without it
	observed bool    // Observe took the request in

	// Held here so that a request's state is one allocation: TrustProxies' client (client
	// points to it) and the recorder Observe wraps the answer in.
	clientV client
	rec     recorder
}

type stateKey struct{}

// WithUID returns ctx acting as uid.
func WithUID(ctx context.Context, uid int64) context.Context {
	return context.WithValue(ctx, uidKey{}, uid)
}

// UID is the authenticated user of the request, if any.
func UID(ctx context.Context) (int64, bool) {
	if uid, ok := ctx.Value(uidKey{}).(int64); ok && uid > 0 {
		return uid, true
	}
	if st, ok := ctx.Value(stateKey{}).(*reqState); ok && st.uid > 0 {
		return st.uid, true
	}
	return 0, false
}

// RequireUID is UID or an Unauthorized error.
func RequireUID(r *http.Request) (int64, error) {
	uid, ok := UID(r.Context())
	if !ok {
		return 0, apierr.Unauthorized
	}
	return uid, nil
}

func writePlainError(w http.ResponseWriter, r *http.Request, err error) {
	e := apierr.From(err)
	_ = write(w, e.Status, Envelope{Code: e.Code, Message: e.Message})
}

// UIDAndPath is RequireUID then PathInt64(name): the preamble of every "user acts on a
// resource" handler.
func UIDAndPath(r *http.Request, name string) (uid, id int64, err error) {
	if uid, err = RequireUID(r); err != nil {
		return 0, 0, err
	}
	if id, err = PathInt64(r, name); err != nil {
		return 0, 0, err
	}
	return uid, id, nil
}

// HandleUser is Handle for routes that act as the signed-in user: fn gets the caller's uid;
// a request without one is answered 401.
func HandleUser(log *slog.Logger, fn func(w http.ResponseWriter, r *http.Request, uid int64) error) http.Handler {
	return Handle(log, func(w http.ResponseWriter, r *http.Request) error {
		uid, err := RequireUID(r)
		if err != nil {
			return err
		}
		return fn(w, r, uid)
	})
}

// RequireAdmin is RequireUID for routes only operators may call: isAdmin decides (nil = nobody).
func RequireAdmin(r *http.Request, isAdmin func(uid int64) bool) (int64, error) {
	uid, err := RequireUID(r)
	if err != nil {
		return 0, err
	}
	if isAdmin == nil || !isAdmin(uid) {
		return 0, apierr.Forbidden.Withf("only admins may do this (see the admins setting)")
	}
	return uid, nil
}
