package media

import (
	"errors"
	"net/http"

	"github.com/zhibo-live/zhibo/internal/platform/apierr"
	"github.com/zhibo-live/zhibo/internal/room"
)

// Error kinds of the media component.
var (
	// ErrNoStream answers a playback request for a room that publishes no video now (or
	// does not exist, or a segment that is gone): 404 at once, never a waiting request.
	ErrNoStream = apierr.New(http.StatusNotFound, -60001, "no video")
	// ErrBadMediaPath refuses a playback path that is not /live/{room}.flv,
	// /hls/{room}.m3u8 or /hls/{room}/{n}.ts.
	ErrBadMediaPath = apierr.New(http.StatusNotFound, -60002, "no such media path")
	// ErrNoRecording answers a download of a recording the room does not have.
	ErrNoRecording = apierr.New(http.StatusNotFound, -60003, "no such recording")
)

// errNoKey refuses a publish without a stream name.
var errNoKey = errors.New("no stream key")

// refusalReason is the counted reason of an Authorize error.
func refusalReason(err error) string {
	switch {
	case errors.Is(err, errNoKey):
		return reasonNoKey
	case errors.Is(err, room.ErrBadStreamKey):
		return reasonBadKey
	default:
		return reasonRoom
	}
}
