package account

import (
	_ "embed"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/zhibo-live/zhibo/internal/platform/apierr"
	"github.com/zhibo-live/zhibo/internal/platform/httpx"
	"github.com/zhibo-live/zhibo/internal/platform/obs"
	"github.com/zhibo-live/zhibo/internal/platform/token"
)

//go:embed openapi.json
var openapi []byte

// OpenAPI is this component's fragment of the API description.
func OpenAPI() []byte { return openapi }

// Register mounts the account routes.
func (s *Service) Register(mux *http.ServeMux) {
	mux.Handle("POST /api/auth/register", s.handle(s.handleRegister))
	mux.Handle("POST /api/auth/login", s.handle(s.handleLogin))
	mux.Handle("POST /api/auth/logout", s.handle(s.handleLogout))
	mux.Handle("POST /api/auth/logout-all", s.handle(s.handleLogoutAll))
	mux.Handle("POST /api/auth/password", s.handle(s.handlePassword))
	mux.Handle("GET /api/me", s.handle(s.handleMe))
	s.registerFollows(mux)
}

// handle is httpx.Handle that answers limited attempts with Retry-After and without an error
// log line (a flood must not become a log flood: zhibo_account_auth_refused_total counts them).
func (s *Service) handle(h httpx.HandlerFunc) http.Handler {
	return httpx.Handle(s.log, func(w http.ResponseWriter, r *http.Request) error {
		err := h(w, r)
		var le *limitedError
		if errors.As(err, &le) {
			w.Header().Set("Retry-After", strconv.FormatInt(int64(max(1, roundUp(le.wait).Seconds())), 10))
			httpx.WriteError(obs.Discard(), w, r, err)
			return nil
		}
		return err
	})
}

type credentials struct {
	Name     string `json:"name"`
	Password string `json:"password"`
}

func (s *Service) handleRegister(w http.ResponseWriter, r *http.Request) error {
	var c credentials
	if err := httpx.Decode(w, r, &c); err != nil {
		return err
	}
	sess, err := s.signUp(r.Context(), clientIP(r), c.Name, c.Password)
	if err != nil {
		return err
	}
	return httpx.OK(w, sess)
}

func (s *Service) handleLogin(w http.ResponseWriter, r *http.Request) error {
	var c credentials
	if err := httpx.Decode(w, r, &c); err != nil {
		return err
	}
	sess, err := s.login(r.Context(), clientIP(r), c.Name, c.Password)
	if err != nil {
		return err
	}
	return httpx.OK(w, sess)
}

// bearer verifies the request's own session token (Identify has usually done so already; the
// handlers that end sessions need its claims, not only the uid).
func (s *Service) bearer(r *http.Request) (token.Claims, error) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return token.Claims{}, apierr.Unauthorized
	}
	return s.claims(r.Context(), strings.TrimSpace(tok))
}

func (s *Service) handleLogout(w http.ResponseWriter, r *http.Request) error {
	c, err := s.bearer(r)
	if err != nil {
		return err
	}
	if err := s.Logout(r.Context(), c); err != nil {
		return err
	}
	return httpx.OK(w, nil)
}

func (s *Service) handleLogoutAll(w http.ResponseWriter, r *http.Request) error {
	c, err := s.bearer(r)
	if err != nil {
		return err
	}
	if err := s.LogoutAll(r.Context(), c.UID); err != nil {
		return err
	}
	return httpx.OK(w, nil)
}

type passwordChange struct {
	OldPassword string `json:"old_password"`
	NewPassword string `json:"new_password"`
}

func (s *Service) handlePassword(w http.ResponseWriter, r *http.Request) error {
	c, err := s.bearer(r)
	if err != nil {
		return err
	}
	var body passwordChange
	if err := httpx.Decode(w, r, &body); err != nil {
		return err
	}
	sess, err := s.ChangePassword(r.Context(), clientIP(r), c.UID, body.OldPassword, body.NewPassword)
	if err != nil {
		return err
	}
	return httpx.OK(w, sess)
}

// Me is the logged-in user with experience, level and the wallet balance.
type Me struct {
	User
	Exp     int64  `json:"exp"`     // experience points folded so far
	Level   int    `json:"level"`   // Level(Exp)
	Balance *int64 `json:"balance"` // null when the wallet is unavailable (degraded)
}

func (s *Service) handleMe(w http.ResponseWriter, r *http.Request) error {
	uid, err := httpx.RequireUID(r)
	if err != nil {
		return err
	}
	u, err := s.User(r.Context(), uid)
	if err != nil {
		return err
	}
	me := Me{User: u}
	if me.Exp, me.Level, err = s.Exp(r.Context(), uid); err != nil {
		return err
	}
	if s.wallets != nil {
		if b, err := s.wallets.Balance(r.Context(), uid); err == nil {
			me.Balance = &b
		} else {
			s.log.WarnContext(r.Context(), "wallet unavailable for /api/me", "uid", uid, "err", err)
		}
	}
	return httpx.OK(w, me)
}
