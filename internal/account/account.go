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
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/bcrypt"

	"github.com/zhibo-live/zhibo/internal/platform/apierr"
	"github.com/zhibo-live/zhibo/internal/platform/lease"
	"github.com/zhibo-live/zhibo/internal/platform/queue"
	"github.com/zhibo-live/zhibo/internal/platform/sqlstore"
	"github.com/zhibo-live/zhibo/internal/platform/textnorm"
	"github.com/zhibo-live/zhibo/internal/platform/token"
	"github.com/zhibo-live/zhibo/pkg/ids"
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
	// Words are the banned words refused in names (the same list as titles and comments); the
	// zero value bans none.
	Words textnorm.Words
	Now   func() time.Time
	// Leases let one account process of a cluster prune claimed experience ids (nil = this
	// process does, alone).
	Leases *lease.Node
	// IDs number follow events; with Queue, a new follow is published for its notice
	// (either nil: none is).
	IDs *ids.Generator
}

// Service implements Client and the /api/auth and /api/me routes.
type Service struct {
	cfg     Config
	log     *slog.Logger
	signer  *token.Signer
	wallets Wallets
	words   atomic.Pointer[textnorm.Words] // SetWords swaps it
	now     func() time.Time
	db      *sqlstore.DB
	store   Store
	m       *metrics
	exp     *expFold // nil without a queue
	q       *queue.Queue
	revs    *revocations // the logouts broadcast; nil without a queue, or before Start
	ids     *ids.Generator
	// followEvents publishes new follows (nil without a queue or ids).
	followEvents *followEvents
	dummy        string // hash compared on unknown names so timing does not reveal them
	guard        *guard
	// sessions caches per-user token versions and revoked ids for Verify.
	sessions          *sessionCache
	lastRevocationLog atomic.Int64

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
	if cfg.BcryptCost > MaxBcryptCost { // start-up hashes once: never at an absurd cost
		return nil, fmt.Errorf("account: bcrypt_cost %d above %d", cfg.BcryptCost, MaxBcryptCost)
	}
	s := &Service{
		cfg: cfg, log: deps.Logger, signer: deps.Signer, wallets: deps.Wallets, now: now,
		db: deps.DB, m: newMetrics(deps.Registry), names: map[int64]string{},
		sessions: newSessionCache(cfg.RevocationTTL), ids: deps.IDs,
	}
	if deps.Queue != nil && deps.IDs != nil {
		s.followEvents = &followEvents{q: deps.Queue}
	}
	s.q = deps.Queue
	s.SetWords(deps.Words)
	s.guard = newGuard(cfg, now, deps.Logger, s.m)
	dummy, err := s.hash("not a password")
	if err != nil {
		return nil, fmt.Errorf("account: %w", err)
	}
	s.dummy = dummy
	if deps.Queue != nil {
		if s.exp, err = newExpFold(deps.Queue, deps.DB.DB, cfg.ExpWindow, deps.Logger, deps.Registry, now, deps.Leases); err != nil {
			return nil, fmt.Errorf("account: exp: %w", err)
		}
	}
	return s, nil
}

// Start migrates the schema and, with a queue, starts folding experience events.
func (s *Service) Start(ctx context.Context) error {
	st, err := NewSQLStore(ctx, s.db, s.log)
	if err != nil {
		return fmt.Errorf("account: %w", err)
	}
	s.store = st
	if s.exp != nil {
		if err := s.exp.start(ctx); err != nil {
			return fmt.Errorf("account: exp: %w", err)
		}
	}
	if s.q != nil {
		if s.revs, err = s.startRevocations(ctx, s.q); err != nil {
			return fmt.Errorf("account: revocation broadcast: %w", err)
		}
	}
	return nil
}

// Stop stops consuming experience events and folds those received.
func (s *Service) Stop(ctx context.Context) error {
	if s.revs != nil {
		s.revs.stop()
		s.revs = nil
	}
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

// SignUp creates a user and logs it in. In-process callers skip the per-IP limits.
func (s *Service) SignUp(ctx context.Context, name, password string) (Session, error) {
	return s.signUp(ctx, "", name, password)
}

// signUp registers name from client ip. The name is cleaned (NFKC, invisible and bidi
// characters removed) and stored so; a name whose skeleton a user holds is taken, so look-alikes
// of a name ("оperator1" with a Cyrillic о) cannot register beside it.
func (s *Service) signUp(ctx context.Context, ip, name, password string) (Session, error) {
	name = textnorm.Clean(name)
	if err := validName(name); err != nil {
		return Session{}, err
	}
	if s.words.Load().FoundClean(name) {
		return Session{}, ErrBadName.Withf("name contains a banned word")
	}
	if err := s.validPassword(password); err != nil {
		return Session{}, err
	}
	skel := textnorm.Skeleton(name)
	if utf8.RuneCountInString(skel) > maxSkeletonLen {
		return Session{}, ErrBadName.Withf("name has characters that cannot be told apart")
	}
	// Refuse a taken name before spending a registration or a hash on it.
	taken, err := s.store.NameTaken(ctx, nameKey(name), skel)
	if err != nil {
		return Session{}, err
	}
	if taken {
		return Session{}, ErrNameTaken
	}
	if err := s.guard.admitRegister(ip, skel); err != nil {
		return Session{}, err
	}
	hash, err := s.guard.hash(ctx, password, s.cfg.BcryptCost)
	if err != nil {
		return Session{}, err
	}
	uid, err := s.store.Create(ctx, name, nameKey(name), skel, hash, s.now().UnixMilli())
	if err != nil {
		return Session{}, err
	}
	s.m.registered.Inc()
	s.log.InfoContext(ctx, "user registered", "uid", uid)
	return s.session(uid, name, 0), nil
}

// Login checks a name and password. In-process callers skip the per-IP limits.
func (s *Service) Login(ctx context.Context, name, password string) (Session, error) {
	return s.login(ctx, "", name, password)
}

// login checks name and password from client ip, within the guard's limits: a refused
// attempt does no password work, and a failure makes the next attempts on the account and
// from the address wait longer.
func (s *Service) login(ctx context.Context, ip, name, password string) (Session, error) {
	if len(name) > 64*4 || len(password) > 72 {
		return Session{}, ErrBadCredentials
	}
	clean := textnorm.Clean(name)
	key := textnorm.Skeleton(clean)
	done, err := s.guard.admitLogin(ip, key)
	if err != nil {
		return Session{}, err
	}
	defer done()
	u, err := s.byName(ctx, name, clean)
	if errors.Is(err, ErrUserNotFound) {
		u.Hash = s.dummy // same work, so timing does not tell unknown names
	} else if err != nil {
		return Session{}, err
	}
	ok, err := s.guard.check(ctx, u.Hash, password)
	if err != nil {
		return Session{}, err
	}
	if !ok || u.UID == 0 {
		s.m.logins.WithLabelValues("failed").Inc()
		s.guard.failed(ctx, ip, key, clean)
		return Session{}, ErrBadCredentials
	}
	s.guard.succeeded(key)
	s.m.logins.WithLabelValues("ok").Inc()
	return s.session(u.UID, u.Name, u.Version), nil
}

// byName finds the user of a typed name: the name as typed first (users registered before
// names were cleaned may hold an uncleaned one), then its cleaned form.
func (s *Service) byName(ctx context.Context, typed, clean string) (Credentials, error) {
	u, err := s.store.ByName(ctx, nameKey(typed))
	if errors.Is(err, ErrUserNotFound) && clean != typed {
		u, err = s.store.ByName(ctx, nameKey(clean))
	}
	return u, err
}

// ChangePassword replaces uid's password after checking the current one, ends every session
// issued before and returns a fresh one. Wrong current passwords count as failed logins.
func (s *Service) ChangePassword(ctx context.Context, ip string, uid int64, old, password string) (Session, error) {
	if err := s.validPassword(password); err != nil {
		return Session{}, err
	}
	u, err := s.store.ByID(ctx, uid)
	if err != nil {
		return Session{}, err
	}
	key := textnorm.Skeleton(u.Name)
	done, err := s.guard.admitLogin(ip, key)
	if err != nil {
		return Session{}, err
	}
	ok, err := s.guard.check(ctx, u.Hash, old)
	switch {
	case err != nil:
		done()
		return Session{}, err
	case !ok || len(old) > 72:
		s.guard.failed(ctx, ip, key, u.Name)
		done() // after the failure is counted, so a parallel guess sees it
		return Session{}, ErrWrongPassword
	}
	s.guard.succeeded(key)
	done()
	hash, err := s.guard.hash(ctx, password, s.cfg.BcryptCost)
	if err != nil {
		return Session{}, err
	}
	ver, err := s.store.SetPassword(ctx, uid, hash)
	if err != nil {
		return Session{}, err
	}
	s.revoked(ctx, uid)
	s.m.revoked.WithLabelValues("password").Inc()
	s.log.InfoContext(ctx, "password changed, other sessions ended", "uid", uid)
	return s.session(uid, u.Name, ver), nil
}

// hash is bcrypt at the configured cost, outside the guard (start-up, tests).
func (s *Service) hash(password string) (string, error) {
	h, err := bcrypt.GenerateFromPassword([]byte(password), s.cfg.BcryptCost)
	return string(h), err
}

func (s *Service) session(uid int64, name string, ver int64) Session {
	exp := s.now().Add(s.cfg.TokenTTL).Unix()
	tok := s.signer.Sign(tokenKind, token.Claims{UID: uid, Exp: exp, Ver: ver, ID: newTokenID()})
	return Session{UID: uid, Name: name, Token: tok, ExpiresAt: exp}
}

// Verify checks a session token: signature, expiry, and that it was not revoked.
func (s *Service) Verify(ctx context.Context, tok string) (int64, error) {
	c, err := s.claims(ctx, tok)
	return c.UID, err
}

// VerifyUntil is Verify with the token's expiry (Unix seconds), which a remote caller caches
// the answer no longer than.
func (s *Service) VerifyUntil(ctx context.Context, tok string) (uid, exp int64, err error) {
	c, err := s.claims(ctx, tok)
	return c.UID, c.Exp, err
}

// VerifiesAtOnce reports whether Verify of tok answers from memory (httpx.PromptVerifier): a
// token refused by its signature or expiry, or one whose user's sessions are cached and fresh
// enough to judge it. Otherwise Verify reads the store.
func (s *Service) VerifiesAtOnce(tok string) bool {
	now := s.now()
	c, err := s.signer.Verify(tokenKind, tok, now)
	if err != nil || c.UID <= 0 {
		return true
	}
	e, _ := s.sessions.get(c.UID, now)
	return e != nil && c.Ver <= e.ver
}

// claims verifies tok and returns what it asserts.
func (s *Service) claims(ctx context.Context, tok string) (token.Claims, error) {
	c, err := s.signer.Verify(tokenKind, tok, s.now())
	switch {
	case errors.Is(err, token.ErrExpired):
		return token.Claims{}, ErrTokenExpired
	case err != nil || c.UID <= 0:
		return token.Claims{}, ErrTokenInvalid
	}
	if err := s.checkSession(ctx, c); err != nil {
		return token.Claims{}, err
	}
	return c, nil
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

// UIDs returns the uids of the users named names, matched as login matches them (the case
// folded). A name that could not be registered is unknown without a read; at most maxNames
// names are looked up in one call.
func (s *Service) UIDs(ctx context.Context, names []string) (map[string]int64, error) {
	if len(names) > maxNames {
		return nil, apierr.BadRequest.Withf("at most %d names per call", maxNames)
	}
	byKey := make(map[string][]string, len(names))
	keys := make([]string, 0, len(names))
	for _, n := range names {
		if validName(n) != nil {
			continue
		}
		k := nameKey(n)
		if _, ok := byKey[k]; !ok {
			keys = append(keys, k)
		}
		byKey[k] = append(byKey[k], n)
	}
	us, err := s.store.ByNameKeys(ctx, keys)
	if err != nil {
		return nil, err
	}
	out := make(map[string]int64, len(names))
	for _, u := range us {
		for _, n := range byKey[nameKey(u.Name)] {
			out[n] = u.UID
		}
	}
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
