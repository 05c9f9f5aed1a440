package account

import (
	_ "embed"
	"net/http"

	"github.com/zhibo-live/zhibo/internal/platform/httpx"
)

//go:embed openapi.json
var openapi []byte

// OpenAPI is this component's fragment of the API description.
func OpenAPI() []byte { return openapi }

// Register mounts the account routes.
func (s *Service) Register(mux *http.ServeMux) {
	mux.Handle("POST /api/auth/register", httpx.Handle(s.log, s.handleRegister))
	mux.Handle("POST /api/auth/login", httpx.Handle(s.log, s.handleLogin))
	mux.Handle("GET /api/me", httpx.Handle(s.log, s.handleMe))
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
	sess, err := s.SignUp(r.Context(), c.Name, c.Password)
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
	sess, err := s.Login(r.Context(), c.Name, c.Password)
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
