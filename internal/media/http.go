package media

import (
	"context"
	_ "embed"
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/zhibo-live/zhibo/internal/platform/apierr"
	"github.com/zhibo-live/zhibo/internal/platform/httpx"
	"github.com/zhibo-live/zhibo/internal/room"
)

//go:embed openapi.json
var openAPI []byte

// OpenAPI describes the media routes; a gateway forwarding to a media process forwards them.
func OpenAPI() []byte { return openAPI }

// StreamPrefixes are the paths whose responses are long-lived streams (HTTP-FLV): a gateway
// bounds each write instead of the whole response.
func StreamPrefixes() []string { return []string{"/live/"} }

// Register mounts playback, the video status and the recordings.
func (s *Service) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /live/{file}", s.serveFLV)
	mux.HandleFunc("GET /hls/{file}", s.servePlaylist)
	mux.HandleFunc("GET /hls/{room}/{segment}", s.serveSegment)
	mux.Handle("GET /api/media/rooms/{id}", httpx.Handle(s.log, s.status))
	mux.Handle("GET /api/rooms/{id}/recordings", httpx.Handle(s.log, s.listRecordings))
	mux.Handle("GET /api/rooms/{id}/recordings/{rec}", httpx.Handle(s.log, s.downloadRecording))
}

// roomID parses a room id as playback paths carry it: 1 to 18 digits, no sign, no leading
// zero; anything else is no room.
func roomID(s string) (int64, bool) {
	n, ok := number(s)
	return n, ok && n > 0
}

// number parses 1 to 18 decimal digits without a sign or a leading zero ("0" itself is 0).
func number(s string) (int64, bool) {
	if len(s) == 0 || len(s) > 18 || (s[0] == '0' && len(s) > 1) {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	id, err := strconv.ParseInt(s, 10, 64)
	return id, err == nil
}

// named returns the room id of "<id><ext>".
func named(file, ext string) (int64, bool) {
	base, ok := strings.CutSuffix(file, ext)
	if !ok {
		return 0, false
	}
	return roomID(base)
}

func (s *Service) serveFLV(w http.ResponseWriter, r *http.Request) {
	id, ok := named(r.PathValue("file"), ".flv")
	if !ok {
		httpx.WriteError(s.log, w, r, ErrBadMediaPath)
		return
	}
	if !s.engine.ServeFLV(w, r, id) {
		httpx.WriteError(s.log, w, r, ErrNoStream)
	}
}

func (s *Service) servePlaylist(w http.ResponseWriter, r *http.Request) {
	id, ok := named(r.PathValue("file"), ".m3u8")
	if !ok {
		httpx.WriteError(s.log, w, r, ErrBadMediaPath)
		return
	}
	if !s.engine.ServeHLS(w, r, id, -1) {
		httpx.WriteError(s.log, w, r, ErrNoStream)
	}
}

func (s *Service) serveSegment(w http.ResponseWriter, r *http.Request) {
	id, ok := roomID(r.PathValue("room"))
	name, isTS := strings.CutSuffix(r.PathValue("segment"), ".ts")
	seg, segOK := number(name)
	if !ok || !isTS || !segOK {
		httpx.WriteError(s.log, w, r, ErrBadMediaPath)
		return
	}
	if !s.engine.ServeHLS(w, r, id, seg) {
		httpx.WriteError(s.log, w, r, ErrNoStream)
	}
}

// Status is a room's video now.
type Status struct {
	Room       int64          `json:"room"`
	Publishing bool           `json:"publishing"`
	Viewers    Viewers        `json:"viewers"`
	Play       *room.PlayURLs `json:"play,omitempty"`
	// RTMPPort is the port encoders publish to (rtmp://HOST:PORT/live), 0 before Start.
	RTMPPort int `json:"rtmp_port"`
}

func (s *Service) status(w http.ResponseWriter, r *http.Request) error {
	id, ok := roomID(r.PathValue("id"))
	if !ok {
		return apierr.BadRequest.Withf("bad room id")
	}
	_, publishing := s.engine.Publishing()[id]
	st := Status{Room: id, Publishing: publishing, Viewers: s.engine.Viewers(id), RTMPPort: s.rtmpPort()}
	if publishing {
		p := room.Playback(id)
		st.Play = &p
	}
	return httpx.OK(w, st)
}

// rtmpPort is the port the RTMP listener bound, 0 before Start.
func (s *Service) rtmpPort() int {
	if a, ok := s.RTMPAddr().(*net.TCPAddr); ok {
		return a.Port
	}
	return 0
}

// VideoViewers counts the video viewers (HTTP-FLV and HLS together) of each room in ids that
// has any; room adds them to its stats module (in process, or over gRPC through Remote).
func (s *Service) VideoViewers(_ context.Context, ids []int64) (map[int64]int64, error) {
	out := make(map[int64]int64, len(ids))
	for _, id := range ids {
		if v := s.engine.Viewers(id); v.FLV+v.HLS > 0 {
			out[id] = int64(v.FLV + v.HLS)
		}
	}
	return out, nil
}
