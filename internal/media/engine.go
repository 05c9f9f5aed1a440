package media

import (
	"context"
	"net"
	"net/http"
	"time"
)

// Engine is the media library as the component sees it: RTMP in, HTTP-FLV and HLS out, and
// the few controls the component needs. The component decides who may publish and what a
// publish means for the room (Hooks); the engine only moves video. Another library can take
// the place of the one in lal.go by implementing this.
type Engine interface {
	// Start listens for encoders on ln and serves them until Stop.
	Start(ln net.Listener) error
	// Stop closes the listener, cuts every publisher and viewer, and waits for them.
	Stop(ctx context.Context) error
	// Kick cuts the room's publisher, if one publishes; reason is counted and logged.
	Kick(room int64, reason string) bool
	// Publishing lists the rooms publishing now with the stream key each was accepted with.
	Publishing() map[int64]string
	// Viewers counts the room's video viewers now, by protocol.
	Viewers(room int64) Viewers
	// ServeFLV plays the room's stream to w as HTTP-FLV until the client or the stream goes
	// away; false, with nothing written, when the room publishes nothing.
	ServeFLV(w http.ResponseWriter, r *http.Request, room int64) bool
	// ServeHLS answers the room's live playlist (segment < 0) or one of its segments; false,
	// with nothing written, when there is no such stream or segment.
	ServeHLS(w http.ResponseWriter, r *http.Request, room int64, segment int64) bool
}

// Viewers are a room's video viewers by protocol. An HLS viewer is a client (address and
// user agent) that read the playlist within the last few segment durations.
type Viewers struct {
	FLV int `json:"flv"`
	HLS int `json:"hls"`
}

// Hooks are the component's side of an Engine.
type Hooks struct {
	// Authorize decides a publish from the stream name and query the encoder sent; it
	// returns the room and the key to re-check later, or an error whose refusal reason
	// (refusalReason) is counted.
	Authorize func(ctx context.Context, name, query string) (room int64, key string, err error)
	// Published is told that the room's video started; Unpublished that it stopped.
	Published   func(room int64)
	Unpublished func(room int64)
	// Record, when set, is asked at each accepted publish for a sink of its FLV bytes (nil:
	// the session is not recorded); the sink is closed when the publish ends.
	Record func(room int64, started time.Time) FLVSink
}
