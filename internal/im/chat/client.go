package chat

import "context"

// Client is what other components use of single chat: the BFF's inbox reads the first page of
// a user's conversations and the unread total through it. *Service implements it in process,
// Remote over gRPC.
type Client interface {
	// Conversations is a page of uid's conversation list in folder (FolderAll, FolderMain or
	// FolderStrangers), newest first, after cursor ("" = the top); limit is capped.
	Conversations(ctx context.Context, uid int64, folder int, cursor string, limit int) (Page, error)
	// Unread is uid's unread total.
	Unread(ctx context.Context, uid int64) (int64, error)
	// Settings are who may message uid and uid's do-not-disturb hours.
	Settings(ctx context.Context, uid int64) (Settings, error)
}

var _ Client = (*Service)(nil)

// FolderName is the name ParseFolder reads for folder ("all" for any other value).
func FolderName(folder int) string {
	switch folder {
	case FolderMain:
		return "main"
	case FolderStrangers:
		return "strangers"
	}
	return "all"
}
