package notice

import "context"

// Client is what other components use of notices: the BFF's inbox reads a user's unread counts
// through it. *Service implements it in process, Remote over gRPC.
type Client interface {
	// UnreadByKind is uid's unread notices of every kind, by kind name ("system",
	// "interactive"; 0 for a kind with none), as GET /api/im/notices/unread answers them.
	UnreadByKind(ctx context.Context, uid int64) (map[string]int64, error)
}

var _ Client = (*Service)(nil)

// kindNames names the kinds of notice as clients see them.
var kindNames = map[int]string{KindSystem: "system", KindInteractive: "interactive"}

// UnreadByKind implements Client: one read of the user's unread rows.
func (s *Service) UnreadByKind(ctx context.Context, uid int64) (map[string]int64, error) {
	n, err := s.store.Unread(ctx, uid)
	if err != nil {
		return nil, err
	}
	out := make(map[string]int64, len(kindNames))
	for kind, name := range kindNames {
		out[name] = n[kind]
	}
	return out, nil
}
