package group

import "context"

// Client is what other components use of group chat: the BFF's inbox reads the first page of
// a user's groups through it. *Service implements it in process, Remote over gRPC.
type Client interface {
	// Groups is a page of uid's groups after cursor ("" = the top), the most recently active
	// first, each with its unread count (at most 100) and last message; limit is kept within
	// 1 and the largest page.
	Groups(ctx context.Context, uid int64, cursor string, limit int) (GroupPage, error)
}

var _ Client = (*Service)(nil)
