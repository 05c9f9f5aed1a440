package room

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/zhibo-live/zhibo/internal/logic"
	"github.com/zhibo-live/zhibo/internal/platform/textnorm"
	"github.com/zhibo-live/zhibo/pkg/fieldmask"
)

// Modules a room read can ask for.
var (
	Modules        = []string{"base", "live", "anchor", "stats", "tags"}
	DefaultModules = []string{"base", "live"}
	listModules    = fieldmask.Of("base", "live", "anchor", "stats")
)

// View is a room as the API shows it: only the requested modules are present.
type View struct {
	ID     int64       `json:"id"`
	Base   *BaseView   `json:"base,omitempty"`
	Live   *LiveView   `json:"live,omitempty"`
	Anchor *AnchorView `json:"anchor,omitempty"`
	Stats  *Stats      `json:"stats,omitempty"`
	Tags   []string    `json:"tags,omitzero"`
}

// Stats is the "stats" module: the audience and the room's total likes.
type Stats struct {
	logic.Count
	Likes int64 `json:"likes"`
	// VideoViewers are the viewers playing the room's video (HTTP-FLV and HLS), counted apart
	// from Online (the danmaku connections); absent when room cannot ask media (none here nor
	// in peers.media, or it failed).
	VideoViewers *int64 `json:"video_viewers,omitempty"`
}

// BaseView is the "base" module.
type BaseView struct {
	Title     string `json:"title"`
	Area      string `json:"area"`
	Cover     string `json:"cover"`
	OwnerUID  int64  `json:"owner_uid"`
	CreatedAt int64  `json:"created_at"`
}

// LiveView is the "live" module; the stream key is shown to the owner only.
type LiveView struct {
	Status    string `json:"status"` // "live" or "preparing"
	StartedAt int64  `json:"started_at"`
	StreamKey string `json:"stream_key,omitempty"`
	// Play are the playback URLs on the page's own origin, set while the room is live.
	Play *PlayURLs `json:"play,omitempty"`
}

// PlayURLs are where the media component plays a room's video (see docs/media.md).
type PlayURLs struct {
	FLV string `json:"flv"`
	HLS string `json:"hls"`
}

// Playback returns the playback URLs of room id, paths on the web origin.
func Playback(id int64) PlayURLs {
	return PlayURLs{FLV: fmt.Sprintf("/live/%d.flv", id), HLS: fmt.Sprintf("/hls/%d.m3u8", id)}
}

// AnchorView is the "anchor" module.
type AnchorView struct {
	UID  int64  `json:"uid"`
	Name string `json:"name"`
}

// Views renders rooms with the modules of mask, as seen by viewer (0 = guest). Anchor names
// and stats (online counts, likes) are fetched once for the whole page; if a source fails,
// its module is left out rather than failing the read.
func (s *Service) Views(ctx context.Context, rooms []Room, mask fieldmask.Mask, viewer int64) []View {
	var names map[int64]string
	if mask.Has("anchor") {
		owners := make([]int64, len(rooms))
		for i, r := range rooms {
			owners[i] = r.OwnerUID
		}
		var err error
		if names, err = s.deps.Accounts.Names(ctx, owners); err != nil {
			s.log.WarnContext(ctx, "anchor module degraded", "err", err)
		}
	}
	var counts map[int64]logic.Count
	var likes, video map[int64]int64
	if mask.Has("stats") {
		counts = map[int64]logic.Count{}
		ids := make([]int64, len(rooms))
		for i, r := range rooms {
			ids[i] = r.ID
		}
		var err error
		if s.deps.Counter != nil {
			counts, err = s.deps.Counter.Counts(ctx, ids)
		}
		if err == nil {
			likes, err = s.readLikes(ctx, ids)
		}
		if err != nil {
			s.log.WarnContext(ctx, "stats module degraded", "err", err)
			counts = nil
		}
		if fn := s.videoViewers.Load(); fn != nil && counts != nil {
			if video, err = (*fn)(ctx, ids); err != nil {
				s.log.WarnContext(ctx, "video viewers left out of stats", "err", err)
				video = nil
			}
		}
	}
	out := make([]View, len(rooms))
	for i, r := range rooms {
		v := View{ID: r.ID}
		if mask.Has("base") {
			// Titles and areas stored before the text policy are shown cleaned (a clean
			// one is returned as it is, without a copy).
			v.Base = &BaseView{Title: textnorm.Clean(r.Title), Area: textnorm.Clean(r.Area), Cover: s.shownCover(r),
				OwnerUID: r.OwnerUID, CreatedAt: r.CreatedAt}
		}
		if mask.Has("live") {
			v.Live = liveView(r, viewer)
		}
		if n, ok := names[r.OwnerUID]; ok {
			v.Anchor = &AnchorView{UID: r.OwnerUID, Name: n}
		}
		if counts != nil {
			v.Stats = &Stats{Count: counts[r.ID], Likes: likes[r.ID]}
			if video != nil {
				n := video[r.ID]
				v.Stats.VideoViewers = &n
			}
		}
		if mask.Has("tags") {
			v.Tags = append([]string{}, r.Tags...)
			if v.Tags == nil {
				v.Tags = []string{}
			}
		}
		out[i] = v
	}
	return out
}

func liveView(r Room, viewer int64) *LiveView {
	lv := &LiveView{Status: "preparing", StartedAt: r.LiveStartedAt}
	if r.Live {
		lv.Status = "live"
		play := Playback(r.ID)
		lv.Play = &play
	}
	if viewer != 0 && viewer == r.OwnerUID {
		lv.StreamKey = r.StreamKey
	}
	return lv
}

// Fields are the writable fields of a room (nil = unchanged).
type Fields struct {
	Title *string `json:"title"`
	Area  *string `json:"area"`
	Cover *string `json:"cover"`
}

// validate applies the text policy to title and area — textnorm.Clean, trim, then length,
// control characters and banned words on the cleaned text, which replaces the field and is
// what gets stored — and checks an external cover URL against coverHosts ("" removes it).
func (f *Fields) validate(create bool, words textnorm.Words, coverHosts []string) error {
	if create && f.Title == nil {
		return ErrBadRoom.Withf("title is required")
	}
	for _, fl := range []struct {
		name   string
		p      **string
		lo, hi int
	}{{"title", &f.Title, 1, 40}, {"area", &f.Area, 0, 20}} {
		if *fl.p == nil {
			continue
		}
		if !utf8.ValidString(**fl.p) {
			return ErrBadRoom.Withf("%s must be valid UTF-8", fl.name)
		}
		v := strings.TrimSpace(textnorm.Clean(**fl.p))
		*fl.p = &v // a new string: the caller's is left as it was
		if err := text(fl.name, v, fl.lo, fl.hi); err != nil {
			return err
		}
		if words.FoundClean(v) {
			return ErrBanned.Withf("%s contains a banned word", fl.name)
		}
	}
	if f.Cover != nil && *f.Cover != "" {
		return checkCoverURL(*f.Cover, coverHosts)
	}
	return nil
}

// text checks a cleaned field's length and refuses the control characters and line
// separators Clean keeps (bidi controls are already gone).
func text(field, s string, lo, hi int) error {
	n := utf8.RuneCountInString(s)
	if n < lo || n > hi {
		return ErrBadRoom.Withf("%s must be %d to %d characters", field, lo, hi)
	}
	for _, r := range s {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return ErrBadRoom.Withf("%s must not contain control characters", field)
		}
	}
	return nil
}

func encodeCursor(c Cursor) string {
	b, _ := json.Marshal([]any{c.Live, c.Popularity, c.ID})
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string) (*Cursor, error) {
	if s == "" {
		return nil, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	var raw []json.RawMessage
	if err != nil || len(b) > 128 || json.Unmarshal(b, &raw) != nil || len(raw) != 3 {
		return nil, ErrBadCursor
	}
	var c Cursor
	if json.Unmarshal(raw[0], &c.Live) != nil || json.Unmarshal(raw[1], &c.Popularity) != nil ||
		json.Unmarshal(raw[2], &c.ID) != nil || c.ID <= 0 || c.Popularity < 0 {
		return nil, ErrBadCursor
	}
	return &c, nil
}

// pageModules are the modules View fills: everything the room page shows.
var pageModules = fieldmask.Of("base", "live", "anchor", "stats", "tags")

// View implements Client: one room read, then its view for viewer.
func (s *Service) View(ctx context.Context, id, viewer int64) (Room, View, error) {
	r, err := s.Get(ctx, id)
	if err != nil {
		return Room{}, View{}, err
	}
	return r, s.Views(ctx, []Room{r}, pageModules, viewer)[0], nil
}

// List implements Client. limit is clamped to 1..max_list_limit.
func (s *Service) List(ctx context.Context, cursor string, limit int, viewer int64) (Page, error) {
	limit = min(max(limit, 1), s.cfg.MaxListLimit)
	after, err := decodeCursor(cursor)
	if err != nil {
		return Page{}, err
	}
	listed, err := s.store.List(ctx, after, limit+1)
	if err != nil {
		return Page{}, err
	}
	page := Page{Rooms: []View{}}
	if len(listed) > limit {
		last := listed[limit-1]
		page.NextCursor = encodeCursor(Cursor{Live: last.Live, Popularity: last.Popularity, ID: last.ID})
		listed = listed[:limit]
	}
	rooms := make([]Room, len(listed))
	for i, l := range listed {
		rooms[i] = l.Room
	}
	page.Rooms = s.Views(ctx, rooms, listModules, viewer)
	return page, nil
}
