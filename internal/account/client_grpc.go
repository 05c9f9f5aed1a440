package account

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/hashicorp/golang-lru/v2/expirable"

	"google.golang.org/grpc"

	accountv1 "github.com/zhibo-live/zhibo/api/proto/account/v1"
	"github.com/zhibo-live/zhibo/internal/platform/apierr"
	"github.com/zhibo-live/zhibo/internal/platform/grpcx"
)

// maxNames bounds one Names call over the wire.
const maxNames = 1000

// grpcServer serves a Client to the other processes of a cluster.
type grpcServer struct {
	accountv1.UnimplementedAccountServiceServer
	c Client
}

// RegisterGRPC serves c on s.
func RegisterGRPC(s grpc.ServiceRegistrar, c Client) {
	accountv1.RegisterAccountServiceServer(s, &grpcServer{c: c})
}

// untilVerifier also tells when a token expires (Service.VerifyUntil).
type untilVerifier interface {
	VerifyUntil(ctx context.Context, tok string) (uid, exp int64, err error)
}

func (g *grpcServer) Verify(ctx context.Context, r *accountv1.VerifyRequest) (*accountv1.VerifyResponse, error) {
	if v, ok := g.c.(untilVerifier); ok {
		uid, exp, err := v.VerifyUntil(ctx, r.GetToken())
		if err != nil {
			return nil, err
		}
		return &accountv1.VerifyResponse{Uid: uid, ExpiresAt: exp}, nil
	}
	uid, err := g.c.Verify(ctx, r.GetToken())
	if err != nil {
		return nil, err
	}
	return &accountv1.VerifyResponse{Uid: uid}, nil
}

func (g *grpcServer) GetUser(ctx context.Context, r *accountv1.GetUserRequest) (*accountv1.User, error) {
	u, err := g.c.User(ctx, r.GetUid())
	if err != nil {
		return nil, err
	}
	return &accountv1.User{Uid: u.UID, Name: u.Name, CreatedAt: u.CreatedAt}, nil
}

func (g *grpcServer) Names(ctx context.Context, r *accountv1.NamesRequest) (*accountv1.NamesResponse, error) {
	if len(r.GetUids()) > maxNames {
		return nil, apierr.BadRequest.Withf("at most %d uids per call", maxNames)
	}
	names, err := g.c.Names(ctx, r.GetUids())
	if err != nil {
		return nil, err
	}
	return &accountv1.NamesResponse{Names: names}, nil
}

func (g *grpcServer) UIDs(ctx context.Context, r *accountv1.UIDsRequest) (*accountv1.UIDsResponse, error) {
	if len(r.GetNames()) > maxNames {
		return nil, apierr.BadRequest.Withf("at most %d names per call", maxNames)
	}
	uids, err := g.c.UIDs(ctx, r.GetNames())
	if err != nil {
		return nil, err
	}
	return &accountv1.UIDsResponse{Uids: uids}, nil
}

func (g *grpcServer) Follows(ctx context.Context, r *accountv1.FollowsRequest) (*accountv1.FollowsResponse, error) {
	if len(r.GetPairs()) > maxNames {
		return nil, apierr.BadRequest.Withf("at most %d pairs per call", maxNames)
	}
	pairs := make([]FollowPair, len(r.GetPairs()))
	for i, p := range r.GetPairs() {
		pairs[i] = FollowPair{Follower: p.GetFollower(), Followee: p.GetFollowee()}
	}
	f, err := g.c.Follows(ctx, pairs)
	if err != nil {
		return nil, err
	}
	return &accountv1.FollowsResponse{Follows: f}, nil
}

func (g *grpcServer) Relation(ctx context.Context, r *accountv1.RelationRequest) (*accountv1.RelationResponse, error) {
	rel, err := g.c.Relation(ctx, r.GetViewer(), r.GetUid())
	if err != nil {
		return nil, err
	}
	return &accountv1.RelationResponse{Uid: rel.UID, Followers: rel.Followers, Following: rel.Following,
		Followed: rel.Followed, FollowsYou: rel.FollowsYou}, nil
}

// Remote is the account component in another process, reached over gRPC; it implements Client.
// With a cache TTL it keeps accepted tokens and users it was told about for that long (a
// revoked token then works for at most the TTL longer, beside account.revocation_ttl).
type Remote struct {
	c      accountv1.AccountServiceClient
	tokens *lru.Cache[string, cachedToken] // nil: no cache
	ttl    time.Duration                   // of users, and of tokens while unwatched
	users  *expirable.LRU[int64, User]
	now    func() time.Time

	// The logouts broadcast (WatchRevocations): the cached tokens of each user, and the
	// revocations seen, under mu; the tokens' TTL while it is watched.
	byUID      tokenIndex
	mu         sync.Mutex
	epoch      uint64
	watchedTTL atomic.Int64
}

// cachedToken is a verified token's user, kept until (Unix nanoseconds).
type cachedToken struct {
	uid   int64
	until int64
}

var _ Client = (*Remote)(nil)

// remoteCacheSize bounds each cache of a Remote.
const remoteCacheSize = 65536

// NewRemote talks to account over cc, caching answers for ttl (0 = no cache).
func NewRemote(cc grpc.ClientConnInterface, ttl time.Duration) *Remote {
	r := &Remote{c: accountv1.NewAccountServiceClient(cc), ttl: ttl, now: time.Now}
	if ttl > 0 {
		r.tokens, _ = lru.NewWithEvict(remoteCacheSize, func(tok string, e cachedToken) { r.byUID.evicted(tok, e.uid) })
		r.users = expirable.NewLRU[int64, User](remoteCacheSize, nil, ttl)
	}
	return r
}

// cached is tok's user while its entry lasts; use marks the entry recently used.
func (r *Remote) cached(tok string, use bool) (int64, bool) {
	if r.tokens == nil {
		return 0, false
	}
	var e cachedToken
	var ok bool
	if use {
		e, ok = r.tokens.Get(tok)
	} else {
		e, ok = r.tokens.Peek(tok)
	}
	if !ok || r.now().UnixNano() >= e.until {
		return 0, false
	}
	return e.uid, true
}

// Verify implements Client.
func (r *Remote) Verify(ctx context.Context, tok string) (int64, error) {
	if uid, ok := r.cached(tok, true); ok {
		return uid, nil
	}
	var epoch uint64
	if r.tokens != nil {
		epoch = r.verifyEpoch()
	}
	resp, err := r.c.Verify(ctx, &accountv1.VerifyRequest{Token: tok})
	if err != nil {
		return 0, grpcx.FromStatus(err)
	}
	if r.tokens != nil {
		r.remember(tok, resp.GetUid(), resp.GetExpiresAt(), epoch)
	}
	return resp.GetUid(), nil
}

// VerifiesAtOnce reports whether Verify of tok answers from the cache, without a call to
// account (httpx.PromptVerifier).
func (r *Remote) VerifiesAtOnce(tok string) bool {
	_, ok := r.cached(tok, false)
	return ok
}

// User implements Client.
func (r *Remote) User(ctx context.Context, uid int64) (User, error) {
	if r.users != nil {
		if u, ok := r.users.Get(uid); ok {
			return u, nil
		}
	}
	u, err := r.c.GetUser(ctx, &accountv1.GetUserRequest{Uid: uid})
	if err != nil {
		return User{}, grpcx.FromStatus(err)
	}
	out := User{UID: u.GetUid(), Name: u.GetName(), CreatedAt: u.GetCreatedAt()}
	if r.users != nil {
		r.users.Add(uid, out)
	}
	return out, nil
}

// Names implements Client, in calls of at most maxNames uids.
func (r *Remote) Names(ctx context.Context, uids []int64) (map[int64]string, error) {
	out := make(map[int64]string, len(uids))
	for len(uids) > 0 {
		n := min(len(uids), maxNames)
		resp, err := r.c.Names(ctx, &accountv1.NamesRequest{Uids: uids[:n]})
		if err != nil {
			return nil, grpcx.FromStatus(err)
		}
		for id, name := range resp.GetNames() {
			out[id] = name
		}
		uids = uids[n:]
	}
	return out, nil
}

// UIDs implements Client, in calls of at most maxNames names.
func (r *Remote) UIDs(ctx context.Context, names []string) (map[string]int64, error) {
	out := make(map[string]int64, len(names))
	for len(names) > 0 {
		n := min(len(names), maxNames)
		resp, err := r.c.UIDs(ctx, &accountv1.UIDsRequest{Names: names[:n]})
		if err != nil {
			return nil, grpcx.FromStatus(err)
		}
		for name, uid := range resp.GetUids() {
			out[name] = uid
		}
		names = names[n:]
	}
	return out, nil
}

// Follows implements Client, in calls of at most maxNames pairs. Answers are not cached: a
// follow applies at once to whom it lets message.
func (r *Remote) Follows(ctx context.Context, pairs []FollowPair) ([]bool, error) {
	out := make([]bool, 0, len(pairs))
	for len(pairs) > 0 {
		n := min(len(pairs), maxNames)
		req := &accountv1.FollowsRequest{Pairs: make([]*accountv1.FollowPair, n)}
		for i, p := range pairs[:n] {
			req.Pairs[i] = &accountv1.FollowPair{Follower: p.Follower, Followee: p.Followee}
		}
		resp, err := r.c.Follows(ctx, req)
		if err != nil {
			return nil, grpcx.FromStatus(err)
		}
		if len(resp.GetFollows()) != n {
			return nil, fmt.Errorf("account: %d follow answers for %d pairs", len(resp.GetFollows()), n)
		}
		out = append(out, resp.GetFollows()...)
		pairs = pairs[n:]
	}
	return out, nil
}

// Relation implements Client (not cached: a follow shows at once).
func (r *Remote) Relation(ctx context.Context, viewer, uid int64) (Relation, error) {
	resp, err := r.c.Relation(ctx, &accountv1.RelationRequest{Uid: uid, Viewer: viewer})
	if err != nil {
		return Relation{}, grpcx.FromStatus(err)
	}
	return Relation{UID: resp.GetUid(), FollowCounts: FollowCounts{Followers: resp.GetFollowers(), Following: resp.GetFollowing()},
		Followed: resp.GetFollowed(), FollowsYou: resp.GetFollowsYou()}, nil
}
