package notice

import (
	_ "embed"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/zhibo-live/zhibo/internal/platform/apierr"
	"github.com/zhibo-live/zhibo/internal/platform/httpx"
	"github.com/zhibo-live/zhibo/internal/platform/textnorm"
)

//go:embed openapi.json
var openapi []byte

// OpenAPI is the OpenAPI 3.1 fragment describing the routes Register adds.
func OpenAPI() []byte { return slices.Clone(openapi) }

// Limits of a batch send.
const (
	maxListed   = 100000     // users listed in one request
	maxRange    = 10_000_000 // users of one uid range
	maxTitle    = 100
	maxBody     = 2000
	maxSendBody = 8 << 20 // a request listing maxListed uids
)

var businessName = regexp.MustCompile(`^[a-z0-9_-]{1,32}$`)

// Register adds the component's routes to mux.
func (s *Service) Register(mux *http.ServeMux) {
	mux.Handle("POST /api/admin/notices", httpx.Handle(s.log, s.handleSend))
	mux.Handle("GET /api/admin/notices/{id}", httpx.Handle(s.log, s.handleBatch))
	mux.Handle("GET /api/im/notices", httpx.Handle(s.log, s.handleInbox))
	mux.Handle("GET /api/im/notices/unread", httpx.Handle(s.log, s.handleUnread))
	mux.Handle("POST /api/im/notices/read", httpx.Handle(s.log, s.handleRead))
}

type sendRequest struct {
	Business string     `json:"business"`
	Title    string     `json:"title"`
	Body     string     `json:"body"`
	Priority string     `json:"priority"`
	To       Recipients `json:"to"`
}

func (s *Service) handleSend(w http.ResponseWriter, r *http.Request) error {
	uid, err := httpx.RequireAdmin(r, s.isAdmin)
	if err != nil {
		return err
	}
	var in sendRequest
	if err := httpx.DecodeLimit(w, r, &in, maxSendBody); err != nil {
		return err
	}
	b, err := checkSend(in)
	if err != nil {
		return err
	}
	b.Sender = uid
	b, err = s.Send(r.Context(), b)
	if err != nil {
		return err
	}
	s.log.InfoContext(r.Context(), "notice batch accepted", "notice", b.ID, "business", b.Business, "lane", b.Lane, "recipients", b.Total)
	return httpx.OK(w, b)
}

// checkSend validates a batch send and returns its batch.
func checkSend(in sendRequest) (Batch, error) {
	if !businessName.MatchString(in.Business) {
		return Batch{}, ErrBadInput.Withf("business must be 1 to 32 of a-z, 0-9, '_' and '-'")
	}
	title := strings.TrimSpace(textnorm.Clean(in.Title))
	body := strings.TrimSpace(textnorm.Clean(in.Body))
	if n := utf8.RuneCountInString(title); n == 0 || n > maxTitle {
		return Batch{}, ErrBadInput.Withf("title must be 1 to %d characters", maxTitle)
	}
	if n := utf8.RuneCountInString(body); n == 0 || n > maxBody {
		return Batch{}, ErrBadInput.Withf("body must be 1 to %d characters", maxBody)
	}
	lane := in.Priority
	switch lane {
	case "":
		lane = LaneNormal
	case LaneNormal, LaneHigh:
	default:
		return Batch{}, ErrBadInput.Withf("priority must be %q or %q", LaneNormal, LaneHigh)
	}
	to := in.To
	switch {
	case len(to.UIDs) > 0 && (to.From != 0 || to.To != 0):
		return Batch{}, ErrBadInput.Withf("to names either uids or a range from..to, not both")
	case len(to.UIDs) > maxListed:
		return Batch{}, ErrBadInput.Withf("to.uids lists at most %d users; use a range for more", maxListed)
	case len(to.UIDs) > 0:
		uids := slices.Clone(to.UIDs)
		slices.Sort(uids)
		uids = slices.Compact(uids)
		if uids[0] <= 0 {
			return Batch{}, ErrBadInput.Withf("to.uids must be user ids")
		}
		to.UIDs = uids
	case to.From <= 0 || to.To < to.From || to.To-to.From >= maxRange:
		return Batch{}, ErrBadInput.Withf("to must list uids or give a range 1 <= from <= to of at most %d users", maxRange)
	}
	return Batch{Notice: Notice{Business: in.Business, Kind: KindSystem, Lane: lane, Title: title, Body: body}, Recipients: to}, nil
}

func (s *Service) handleBatch(w http.ResponseWriter, r *http.Request) error {
	if _, err := httpx.RequireAdmin(r, s.isAdmin); err != nil {
		return err
	}
	id, err := httpx.PathInt64(r, "id")
	if err != nil {
		return err
	}
	b, err := s.store.Batch(r.Context(), id)
	if err != nil {
		return err
	}
	return httpx.OK(w, b)
}

// kindOf reads a kind name ("" is system).
func kindOf(v string) (int, error) {
	if v == "" {
		return KindSystem, nil
	}
	names := make([]string, len(Kinds))
	for i, k := range Kinds {
		if k.Name == v {
			return k.Kind, nil
		}
		names[i] = strconv.Quote(k.Name)
	}
	return 0, ErrBadInput.Withf("kind must be one of %s", strings.Join(names, ", "))
}

func (s *Service) handleInbox(w http.ResponseWriter, r *http.Request) error {
	uid, err := httpx.RequireUID(r)
	if err != nil {
		return err
	}
	kind, err := kindOf(r.URL.Query().Get("kind"))
	if err != nil {
		return err
	}
	var before int64
	if v := r.URL.Query().Get("before"); v != "" {
		if before, err = strconv.ParseInt(v, 10, 64); err != nil || before < 0 {
			return apierr.BadRequest.Withf("query parameter before must be a notice id")
		}
	}
	limit, err := httpx.QueryInt(r, "limit", 20, 1, 200)
	if err != nil {
		return err
	}
	items, err := s.store.Inbox(r.Context(), uid, kind, before, limit)
	if err != nil {
		return err
	}
	return httpx.OK(w, map[string][]Item{"items": items})
}

func (s *Service) handleUnread(w http.ResponseWriter, r *http.Request) error {
	uid, err := httpx.RequireUID(r)
	if err != nil {
		return err
	}
	out, err := s.UnreadByKind(r.Context(), uid)
	if err != nil {
		return err
	}
	return httpx.OK(w, out)
}

type readRequest struct {
	Kind   string `json:"kind"`
	ReadID int64  `json:"read_id"`
}

func (s *Service) handleRead(w http.ResponseWriter, r *http.Request) error {
	uid, err := httpx.RequireUID(r)
	if err != nil {
		return err
	}
	var in readRequest
	if err := httpx.Decode(w, r, &in); err != nil {
		return err
	}
	kind, err := kindOf(in.Kind)
	if err != nil {
		return err
	}
	if in.ReadID <= 0 {
		return ErrBadInput.Withf("read_id must be a notice id")
	}
	left, err := s.store.MarkRead(r.Context(), uid, kind, in.ReadID)
	if err != nil {
		return err
	}
	return httpx.OK(w, map[string]int64{"unread": left})
}
