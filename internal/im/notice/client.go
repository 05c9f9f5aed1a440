package notice

import "context"

// Client is what other components use of notices: the BFF's inbox reads a user's unread counts
// through it. *Service implements it in process, Remote over gRPC.
type Client interface {
	// UnreadByKind is uid's unread notices of every kind, by kind name (Kinds: "system",
	// "mention", "like", "follow", "reply"; 0 for a kind with none), as GET /api/im/notices/unread
	// answers them.
	UnreadByKind(ctx context.Context, uid int64) (map[string]int64, error)
}

var _ Client = (*Service)(nil)

// UnreadByKind implements Client: one read of the user's unread rows.
func (s *Service) UnreadByKind(ctx context.Context, uid int64) (map[string]int64, error) {
	n, err := s.store.Unread(ctx, uid)
	if err != nil {
		return nil, err
	}
	out := make(map[string]int64, len(Kinds))
	for _, k := range Kinds {
		out[k.Name] = n[k.Kind]
	}
	return out, nil
}
