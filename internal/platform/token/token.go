// Package token signs and verifies the short bearer tokens zhibo hands out: user session
// tokens (account) and long-connection tokens (logic). A token is
// base64url(claims JSON) "." base64url(HMAC-SHA256(key, kind || claims)), so one kind of
// token can never be replayed as another, and nothing is stored server-side.
package token

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Claims are what a token asserts.
type Claims struct {
	UID    int64  `json:"uid"`
	RoomID int64  `json:"room,omitempty"`
	Name   string `json:"name,omitempty"` // display name, so a verifier needs no user lookup
	Exp    int64  `json:"exp"`            // unix seconds
	// Ver is the user's token version when the token was issued: account refuses session
	// tokens older than the user's current version (logout everywhere, password change).
	Ver int64 `json:"ver,omitempty"`
	// ID names one token so that it alone can be revoked (logout); empty on other kinds.
	ID string `json:"jti,omitempty"`
	// SID is a random positive id drawn for each issued connection token (0 in session
	// tokens): logic bounds the connections one token admits by it and counts a guest as
	// one viewer by it.
	SID int64 `json:"sid,omitempty"`
}

// NewSID draws a random positive session id for Claims.SID.
func NewSID() int64 {
	var b [8]byte
	for {
		_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
		if v := int64(binary.BigEndian.Uint64(b[:]) >> 1); v != 0 {
			return v
		}
	}
}

var (
	// ErrInvalid means the token is malformed or its signature does not match.
	ErrInvalid = errors.New("token invalid")
	// ErrExpired means the token was valid but its time is up.
	ErrExpired = errors.New("token expired")
)

// MaxLen bounds the tokens Verify accepts.
const MaxLen = 512

// Signer signs and verifies tokens with one key. It remembers the tokens it found genuine
// (the key never changes, so neither does that finding): a token seen again is checked for
// expiry alone, without its HMAC and JSON again — a gateway sees the same few tokens on most
// requests.
type Signer struct {
	key      []byte
	verified sync.Map // token → *verified
	n        atomic.Int64
}

// verifiedMax bounds the genuine tokens remembered; past it the memory starts over.
const verifiedMax = 100_000

type verified struct {
	kind string
	c    Claims
}

// NewSigner returns a signer; the key must be at least 16 bytes.
func NewSigner(key []byte) (*Signer, error) {
	if len(key) < 16 {
		return nil, errors.New("token key shorter than 16 bytes")
	}
	return &Signer{key: key}, nil
}

var b64 = base64.RawURLEncoding

// Sign issues a token of the given kind.
func (s *Signer) Sign(kind string, c Claims) string {
	payload, _ := json.Marshal(c)
	p := b64.EncodeToString(payload)
	return p + "." + b64.EncodeToString(s.mac(kind, p))
}

// Verify checks a token of the given kind at time now.
func (s *Signer) Verify(kind, tok string, now time.Time) (Claims, error) {
	if len(tok) == 0 || len(tok) > MaxLen {
		return Claims{}, ErrInvalid
	}
	if v, ok := s.verified.Load(tok); ok {
		if v := v.(*verified); v.kind == kind {
			if now.Unix() >= v.c.Exp {
				return v.c, ErrExpired
			}
			return v.c, nil
		}
	}
	c, err := s.verify(kind, tok, now)
	if err == nil {
		if s.n.Add(1) > verifiedMax {
			s.verified.Clear()
			s.n.Store(0)
		}
		s.verified.Store(tok, &verified{kind: kind, c: c})
	}
	return c, err
}

func (s *Signer) verify(kind, tok string, now time.Time) (Claims, error) {
	p, sig, ok := strings.Cut(tok, ".")
	if !ok {
		return Claims{}, ErrInvalid
	}
	got, err := b64.DecodeString(sig)
	if err != nil || !hmac.Equal(got, s.mac(kind, p)) {
		return Claims{}, ErrInvalid
	}
	raw, err := b64.DecodeString(p)
	if err != nil {
		return Claims{}, ErrInvalid
	}
	var c Claims
	if err := json.Unmarshal(raw, &c); err != nil {
		return Claims{}, ErrInvalid
	}
	if now.Unix() >= c.Exp {
		return c, ErrExpired
	}
	return c, nil
}

func (s *Signer) mac(kind, payload string) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(kind))
	m.Write([]byte{0})
	m.Write([]byte(payload))
	return m.Sum(nil)
}

// LoadOrCreateKey returns the configured secret, or the key kept in path, creating it with
// 32 random bytes on first use so tokens survive restarts of an all-in-one node.
func LoadOrCreateKey(configured, path string) ([]byte, error) {
	if configured != "" {
		if len(configured) < 16 {
			return nil, errors.New("secret must be at least 16 characters")
		}
		return []byte(configured), nil
	}
	if b, err := os.ReadFile(path); err == nil {
		k, err := hex.DecodeString(strings.TrimSpace(string(b)))
		if err != nil || len(k) < 16 {
			return nil, fmt.Errorf("secret file %s is corrupt", path)
		}
		return k, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read secret: %w", err)
	}
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	if err := os.WriteFile(path, []byte(hex.EncodeToString(k)+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("write secret: %w", err)
	}
	return k, nil
}

// KindIdentity is the kind of the identities a gateway passes downstream (X-Zhibo-Identity):
// the caller it verified, signed with the cluster's secret, valid for IdentityTTL.
const KindIdentity = "identity"

// IdentityTTL is how long a signed identity is accepted: long enough for clocks a little
// apart, short enough that one seen in an upstream's log is of no use later.
const IdentityTTL = time.Minute

// SignIdentity signs uid as an identity at now.
func (s *Signer) SignIdentity(uid int64, now time.Time) string {
	return s.Sign(KindIdentity, Claims{UID: uid, Exp: now.Add(IdentityTTL).Unix()})
}

// VerifyIdentity reads an identity signed by SignIdentity.
func (s *Signer) VerifyIdentity(v string) (int64, error) {
	c, err := s.Verify(KindIdentity, v, time.Now())
	if err != nil {
		return 0, err
	}
	if c.UID <= 0 {
		return 0, ErrInvalid
	}
	return c.UID, nil
}
