// Package account owns users: registration, login with bcrypt-hashed passwords, and signed,
// expiring session tokens that every other component verifies without a round trip.
package account

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/bcrypt"

	"github.com/zhibo-live/zhibo/internal/platform/queue"
	"github.com/zhibo-live/zhibo/internal/platform/sqlstore"
	"github.com/zhibo-live/zhibo/internal/platform/token"
)

// tokenKind separates session tokens from every other token signed with the same key.
const tokenKind = "user"

// Wallets is what account needs of the gift component: the balance shown by GET /api/me.
type Wallets interface {
	Balance(ctx context.Context, uid int64) (int64, error)
}

// Deps are the account component's collaborators.
type Deps struct {
	Logger   *slog.Logger
	Registry prometheus.Registerer
	DB       *sqlstore.DB
	Signer   *token.Signer
	Wallets  Wallets // nil: /api/me shows no balance
	// Queue carries experience events (see ExpPublisher); nil: none are folded here and
	// /api/me shows the points stored so far.
	Queue *queue.Queue
	Now   func() time.Time
}

// Service implements Client and the /api/auth and /api/me routes.
type Service struct {
	cfg     Config
	log     *slog.Logger
	signer  *token.Signer
	wallets Wallets
	now     func() time.Time
	db      *sqlstore.DB
	store   Store
	m       *metrics
	exp     *expFold // nil without a queue
	dummy   []byte   // hash compared on unknown names so timing does not reveal them

	mu    sync.RWMutex
	names map[int64]string // names never change, so a bounded cache is always fresh
}

const maxCachedNames = 100_000

// New builds the service; Start migrates the store.
func New(cfg Config, deps Deps) (*Service, error) {
	if deps.DB == nil || deps.Signer == nil {
		return nil, errors.New("account: DB and Signer are required")
	}
	now := deps.Now
	if now == nil {
		now = time.Now
	}
	dummy, err := bcrypt.GenerateFromPassword([]byte("not a password"), cfg.BcryptCost)
	if err != nil {
		return nil, fmt.Errorf("account: %w", err)
	}
	s := &Service{
		cfg: cfg, log: deps.Logger, signer: deps.Signer, wallets: deps.Wallets, now: now,
		db: deps.DB, m: newMetrics(deps.Registry), dummy: dummy, names: map[int64]string{},
	}
	if deps.Queue != nil {
		if s.exp, err = newExpFold(deps.Queue, deps.DB.DB, cfg.ExpWindow, deps.Logger, deps.Registry, now); err != nil {
			return nil, fmt.Errorf("account: exp: %w", err)
		}
	}
	return s, nil
}

// Start migrates the schema and, with a queue, starts folding experience events.
func (s *Service) Start(ctx context.Context) error {
	st, err := NewSQLStore(ctx, s.db)
	if err != nil {
		return fmt.Errorf("account: %w", err)
	}
	s.store = st
	if s.exp != nil {
		if err := s.exp.start(ctx); err != nil {
			return fmt.Errorf("account: exp: %w", err)
		}
	}
	return nil
}

// Stop stops consuming experience events and folds those received.
func (s *Service) Stop(ctx context.Context) error {
	if s.exp == nil {
		return nil
	}
	if err := s.exp.stopFold(ctx); err != nil {
		return fmt.Errorf("account: exp: %w", err)
	}
	return nil
}

// Exp returns uid's experience points and the level they reach.
func (s *Service) Exp(ctx context.Context, uid int64) (exp int64, level int, err error) {
	exp, err = s.store.Exp(ctx, uid)
	return exp, Level(exp), err
}

// Session is what register and login return.
type Session struct {
	UID       int64  `json:"uid"`
	Name      string `json:"name"`
	Token     string `json:"token"`
	ExpiresAt int64  `json:"expires_at"` // unix seconds
}

// SignUp creates a user and logs it in.
func (s *Service) SignUp(ctx context.Context, name, password string) (Session, error) {
	if err := validName(name); err != nil {
		return Session{}, err
	}
	if err := s.validPassword(password); err != nil {
		return Session{}, err
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), s.cfg.BcryptCost)
	if err != nil {
		return Session{}, fmt.Errorf("hash password: %w", err)
	}
	uid, err := s.store.Create(ctx, name, string(hash), s.now().UnixMilli())
	if err != nil {
		return Session{}, err
	}
	s.m.registered.Inc()
	s.log.InfoContext(ctx, "user registered", "uid", uid)
	return s.session(uid, name), nil
}

// Login checks a name and password.
func (s *Service) Login(ctx context.Context, name, password string) (Session, error) {
	if len(name) > 64 || len(password) > 72 {
		return Session{}, ErrBadCredentials
	}
	u, hash, err := s.store.ByName(ctx, name)
	if errors.Is(err, ErrUserNotFound) {
		_ = bcrypt.CompareHashAndPassword(s.dummy, []byte(password))
		s.m.logins.WithLabelValues("failed").Inc()
		return Session{}, ErrBadCredentials
	}
	if err != nil {
		return Session{}, err
	}
	if bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) != nil {
		s.m.logins.WithLabelValues("failed").Inc()
		return Session{}, ErrBadCredentials
	}
	s.m.logins.WithLabelValues("ok").Inc()
	return s.session(u.UID, u.Name), nil
}

func (s *Service) session(uid int64, name string) Session {
	exp := s.now().Add(s.cfg.TokenTTL).Unix()
	return Session{UID: uid, Name: name, Token: s.signer.Sign(tokenKind, token.Claims{UID: uid, Exp: exp}), ExpiresAt: exp}
}

// Verify checks a session token.
func (s *Service) Verify(tok string) (int64, error) {
	c, err := s.signer.Verify(tokenKind, tok, s.now())
	switch {
	case errors.Is(err, token.ErrExpired):
		return 0, ErrTokenExpired
	case err != nil || c.UID <= 0:
		return 0, ErrTokenInvalid
	}
	return c.UID, nil
}

// User returns one user.
func (s *Service) User(ctx context.Context, uid int64) (User, error) {
	us, err := s.store.ByIDs(ctx, []int64{uid})
	if err != nil {
		return User{}, err
	}
	if len(us) == 0 {
		return User{}, ErrUserNotFound
	}
	return us[0], nil
}

// Names returns user names, mostly from memory.
func (s *Service) Names(ctx context.Context, uids []int64) (map[int64]string, error) {
	out := make(map[int64]string, len(uids))
	var miss []int64
	s.mu.RLock()
	for _, id := range uids {
		if n, ok := s.names[id]; ok {
			out[id] = n
		} else if !slices.Contains(miss, id) {
			miss = append(miss, id)
		}
	}
	s.mu.RUnlock()
	if len(miss) == 0 {
		return out, nil
	}
	us, err := s.store.ByIDs(ctx, miss)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	if len(s.names)+len(us) > maxCachedNames {
		clear(s.names)
	}
	for _, u := range us {
		s.names[u.UID] = u.Name
		out[u.UID] = u.Name
	}
	s.mu.Unlock()
	return out, nil
}

func validName(name string) error {
	n := utf8.RuneCountInString(name)
	if n < 2 || n > 32 || len(name) > 32*4 {
		return ErrBadName.Withf("name must be 2 to 32 characters")
	}
	for _, r := range name {
		if !(unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_' || r == '-') {
			return ErrBadName.Withf("name may hold only letters, digits, _ and -")
		}
	}
	return nil
}

func (s *Service) validPassword(p string) error {
	if utf8.RuneCountInString(p) < s.cfg.MinPassword {
		return ErrBadPassword.Withf("password must be at least %d characters", s.cfg.MinPassword)
	}
	if len(p) > 72 { // bcrypt's limit, in bytes
		return ErrBadPassword.Withf("password must be at most 72 bytes")
	}
	return nil
}
