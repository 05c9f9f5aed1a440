package logic

import (
	"bytes"
	"encoding/json"
	"net/http"

	"github.com/zhibo-live/zhibo/internal/platform/apierr"
	"github.com/zhibo-live/zhibo/internal/platform/httpx"
)

// Limits of one admin push.
const (
	maxAdminMsgs     = 100
	maxAdminMsgBytes = 8 << 10
	maxAdminUIDs     = 1000
)

// pushBody is the body of every /api/push route: op-5 messages as JSON objects with a "cmd".
type pushBody struct {
	UIDs     []int64           `json:"uids"`
	Messages []json.RawMessage `json:"messages"`
}

// admin checks the caller may push and decodes the body.
func (s *API) admin(w http.ResponseWriter, r *http.Request) (pushBody, error) {
	if _, err := httpx.RequireAdmin(r, s.deps.IsAdmin); err != nil {
		return pushBody{}, err
	}
	if s.deps.Pusher == nil {
		return pushBody{}, apierr.Unavailable.Withf("this process has no push queue")
	}
	var b pushBody
	if err := httpx.DecodeLimit(w, r, &b, 1<<20); err != nil {
		return pushBody{}, err
	}
	if len(b.Messages) == 0 || len(b.Messages) > maxAdminMsgs {
		return pushBody{}, apierr.BadRequest.Withf("messages must hold 1 to %d messages", maxAdminMsgs)
	}
	for i, m := range b.Messages {
		if len(m) > maxAdminMsgBytes {
			return pushBody{}, apierr.BadRequest.Withf("message %d is larger than %d bytes", i, maxAdminMsgBytes)
		}
		var head struct {
			Cmd string `json:"cmd"`
		}
		if bytes.TrimSpace(m)[0] != '{' || json.Unmarshal(m, &head) != nil || head.Cmd == "" {
			return pushBody{}, apierr.BadRequest.Withf(`message %d must be a JSON object with a "cmd" string`, i)
		}
	}
	return b, nil
}

func msgs(b pushBody) [][]byte {
	out := make([][]byte, len(b.Messages))
	for i, m := range b.Messages {
		out[i] = m
	}
	return out
}

func (s *API) handlePushRoom(w http.ResponseWriter, r *http.Request) error {
	b, err := s.admin(w, r)
	if err != nil {
		return err
	}
	id, err := httpx.PathInt64(r, "id")
	if err != nil {
		return err
	}
	if err := s.deps.RoomExists(r.Context(), id); err != nil {
		return err
	}
	if err := s.deps.Pusher.PushRoom(r.Context(), id, msgs(b)...); err != nil {
		return err
	}
	s.log.InfoContext(r.Context(), "admin push", "target", "room", "room", id, "messages", len(b.Messages))
	return httpx.OK(w, map[string]int{"pushed": len(b.Messages)})
}

func (s *API) handlePushUsers(w http.ResponseWriter, r *http.Request) error {
	b, err := s.admin(w, r)
	if err != nil {
		return err
	}
	if len(b.UIDs) == 0 || len(b.UIDs) > maxAdminUIDs {
		return apierr.BadRequest.Withf("uids must hold 1 to %d user ids", maxAdminUIDs)
	}
	if err := s.deps.Pusher.PushUsers(r.Context(), b.UIDs, msgs(b)...); err != nil {
		return err
	}
	s.log.InfoContext(r.Context(), "admin push", "target", "users", "users", len(b.UIDs), "messages", len(b.Messages))
	return httpx.OK(w, map[string]int{"pushed": len(b.Messages)})
}

func (s *API) handlePushAll(w http.ResponseWriter, r *http.Request) error {
	b, err := s.admin(w, r)
	if err != nil {
		return err
	}
	if len(b.UIDs) != 0 {
		return apierr.BadRequest.Withf("uids is for /api/push/users")
	}
	if err := s.deps.Pusher.Broadcast(r.Context(), msgs(b)...); err != nil {
		return err
	}
	s.log.InfoContext(r.Context(), "admin push", "target", "all", "messages", len(b.Messages))
	return httpx.OK(w, map[string]int{"pushed": len(b.Messages)})
}
