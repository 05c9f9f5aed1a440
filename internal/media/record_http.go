package media

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/zhibo-live/zhibo/internal/platform/apierr"
	"github.com/zhibo-live/zhibo/internal/platform/httpx"
)

// ownedRoom is the room of the request's {id} path value when the caller owns it:
// Unauthorized for a guest, the room's 404 when there is no such room, Forbidden for others.
func (s *Service) ownedRoom(r *http.Request) (int64, error) {
	uid, err := httpx.RequireUID(r)
	if err != nil {
		return 0, err
	}
	id, ok := roomID(r.PathValue("id"))
	if !ok {
		return 0, apierr.BadRequest.Withf("bad room id")
	}
	rm, err := s.deps.Rooms.Get(r.Context(), id)
	if err != nil {
		return 0, err
	}
	if rm.OwnerUID != uid {
		return 0, apierr.Forbidden.Withf("only the room's owner sees its recordings")
	}
	return id, nil
}

// listRecordings answers GET /api/rooms/{id}/recordings.
func (s *Service) listRecordings(w http.ResponseWriter, r *http.Request) error {
	id, err := s.ownedRoom(r)
	if err != nil {
		return err
	}
	out := []Recording{}
	if s.rec != nil {
		if out, err = s.rec.list(id); err != nil {
			return err
		}
	}
	return httpx.OK(w, out)
}

// downloadRecording answers GET /api/rooms/{id}/recordings/{rec} with the FLV file (Range
// requests too); a recording still being written is sent as far as it is written.
func (s *Service) downloadRecording(w http.ResponseWriter, r *http.Request) error {
	id, err := s.ownedRoom(r)
	if err != nil {
		return err
	}
	recID := r.PathValue("rec")
	if s.rec == nil {
		return ErrNoRecording
	}
	path, ok := s.rec.path(id, recID)
	if !ok {
		return apierr.BadRequest.Withf("bad recording id: digits only")
	}
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return ErrNoRecording
	}
	if err != nil {
		return err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "video/x-flv")
	w.Header().Set("Content-Disposition", `attachment; filename="room`+r.PathValue("id")+"-"+recID+`.flv"`)
	http.ServeContent(w, r, "", info.ModTime(), f)
	return nil
}

// Recording is one recorded publish session of a room.
type Recording struct {
	// ID is the file name without extension: the session's start in unix ms.
	ID        string    `json:"id"`
	StartedAt time.Time `json:"started_at"`
	Bytes     int64     `json:"bytes"`
	// Recording is true while the session is still being written.
	Recording bool `json:"recording"`
}

// list returns the room's recordings, oldest first (none when the room has no directory).
func (r *recorder) list(room int64) ([]Recording, error) {
	dir := filepath.Join(r.dir, strconv.FormatInt(room, 10))
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return []Recording{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list recordings: %w", err)
	}
	out := []Recording{}
	for _, e := range entries {
		id, ok := strings.CutSuffix(e.Name(), recordExt)
		ms, num := number(id)
		if !ok || !num || !e.Type().IsRegular() {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue // removed meanwhile
		}
		r.mu.Lock()
		active := r.active[filepath.Join(dir, e.Name())]
		r.mu.Unlock()
		out = append(out, Recording{ID: id, StartedAt: time.UnixMilli(ms).UTC(), Bytes: info.Size(), Recording: active})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].StartedAt.Before(out[j].StartedAt) })
	return out, nil
}

// path is the file of recording id of room; false when id is not a recording id (digits).
func (r *recorder) path(room int64, id string) (string, bool) {
	if _, ok := number(id); !ok {
		return "", false
	}
	return filepath.Join(r.dir, strconv.FormatInt(room, 10), id+recordExt), true
}
