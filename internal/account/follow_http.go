package account

import (
	"context"
	"net/http"

	"github.com/zhibo-live/zhibo/internal/platform/httpx"
)

// registerFollows mounts the follow graph's routes.
func (s *Service) registerFollows(mux *http.ServeMux) {
	mux.Handle("PUT /api/users/{uid}/follow", s.handle(s.handleFollow))
	mux.Handle("DELETE /api/users/{uid}/follow", s.handle(s.handleUnfollow))
	mux.Handle("GET /api/users/{uid}/follow", s.handle(s.handleRelation))
	mux.Handle("GET /api/users/{uid}/followers", s.handle(s.handleFollowers))
	mux.Handle("GET /api/users/{uid}/following", s.handle(s.handleFollowing))
}

func (s *Service) handleFollow(w http.ResponseWriter, r *http.Request) error {
	viewer, uid, err := httpx.UIDAndPath(r, "uid")
	if err != nil {
		return err
	}
	if err := s.Follow(r.Context(), viewer, uid); err != nil {
		return err
	}
	return s.writeRelation(w, r, viewer, uid)
}

func (s *Service) handleUnfollow(w http.ResponseWriter, r *http.Request) error {
	viewer, uid, err := httpx.UIDAndPath(r, "uid")
	if err != nil {
		return err
	}
	if err := s.Unfollow(r.Context(), viewer, uid); err != nil {
		return err
	}
	return s.writeRelation(w, r, viewer, uid)
}

func (s *Service) handleRelation(w http.ResponseWriter, r *http.Request) error {
	uid, err := httpx.PathInt64(r, "uid")
	if err != nil {
		return err
	}
	viewer, _ := httpx.UID(r.Context())
	return s.writeRelation(w, r, viewer, uid)
}

func (s *Service) writeRelation(w http.ResponseWriter, r *http.Request, viewer, uid int64) error {
	rel, err := s.Relation(r.Context(), viewer, uid)
	if err != nil {
		return err
	}
	return httpx.OK(w, rel)
}

func (s *Service) handleFollowers(w http.ResponseWriter, r *http.Request) error {
	return s.handleFollowPage(w, r, s.Followers)
}

func (s *Service) handleFollowing(w http.ResponseWriter, r *http.Request) error {
	return s.handleFollowPage(w, r, s.Following)
}

func (s *Service) handleFollowPage(w http.ResponseWriter, r *http.Request,
	list func(ctx context.Context, uid int64, cursor string, limit int) (FollowPage, error)) error {
	uid, err := httpx.PathInt64(r, "uid")
	if err != nil {
		return err
	}
	limit, err := httpx.QueryInt(r, "limit", 20, 1, maxFollowPage)
	if err != nil {
		return err
	}
	page, err := list(r.Context(), uid, r.URL.Query().Get("cursor"), limit)
	if err != nil {
		return err
	}
	return httpx.OK(w, page)
}
