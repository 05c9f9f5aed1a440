package media

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/media/mediatest"
)

// recordings lists GET /api/rooms/{id}/recordings as uid.
func (e *env) recordings(t testing.TB, room, uid int64) []Recording {
	code, b, _ := getAs(t, fmt.Sprintf("%s/api/rooms/%d/recordings", e.http, room), uid)
	require.Equal(t, 200, code, string(b))
	var env struct{ Data []Recording }
	require.NoError(t, json.Unmarshal(b, &env))
	return env.Data
}

// TestRecording: with media.record on, a publish is written to <record_dir>/<room>/<ms>.flv,
// a file ffprobe reads as H.264 + AAC lasting about as long as the publish; the owner lists
// it (recording while the publish goes on) and downloads it; others may not.
func TestRecording(t *testing.T) {
	mediatest.NeedFFmpeg(t)
	dir := t.TempDir()
	e := start(t, func(c *Config) { c.Record, c.RecordDir = true, dir })
	key := e.rooms.Add(9)
	e.rooms.SetOwner(9, 100)
	e.rooms.Add(10)
	e.rooms.SetOwner(10, 200)

	const seconds = 3
	p := mediatest.Publish(t, e.rtmp+"/"+key, small, seconds)
	e.publishing(t, 9, true)
	require.Eventually(t, func() bool {
		recs := e.recordings(t, 9, 100)
		return len(recs) == 1 && recs[0].Recording
	}, 5*time.Second, 50*time.Millisecond, "listed while recording")
	require.NoError(t, p.Wait(t, 15*time.Second), p.Output())
	e.publishing(t, 9, false)

	var recs []Recording
	require.Eventually(t, func() bool {
		recs = e.recordings(t, 9, 100)
		return len(recs) == 1 && !recs[0].Recording
	}, 5*time.Second, 50*time.Millisecond, "closed when the publish ended")
	rec := recs[0]
	path := filepath.Join(dir, "9", rec.ID+".flv")
	file, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, int64(len(file)), rec.Bytes)
	require.WithinDuration(t, time.Now(), rec.StartedAt, 30*time.Second)
	fi, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	di, err := os.Stat(filepath.Dir(path))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o700), di.Mode().Perm())

	require.Equal(t, []string{"aac", "h264"}, mediatest.Probe(t, path))
	require.InDelta(t, float64(seconds), mediatest.Duration(t, path), 0.5)

	url := fmt.Sprintf("%s/api/rooms/9/recordings/%s", e.http, rec.ID)
	code, got, h := getAs(t, url, 100)
	require.Equal(t, 200, code)
	require.Equal(t, "video/x-flv", h.Get("Content-Type"))
	require.Contains(t, h.Get("Content-Disposition"), "attachment")
	require.Equal(t, file, got, "the download is the file")

	require.Equal(t, 1.0, testutil.ToFloat64(e.s.m.recStarted))
	require.Equal(t, 0.0, testutil.ToFloat64(e.s.m.recFailed))
	require.Equal(t, float64(len(file)), testutil.ToFloat64(e.s.m.recBytes))

	for _, c := range []struct {
		url  string
		uid  int64
		want int
	}{
		{e.http + "/api/rooms/9/recordings", 200, 403}, // another room's owner
		{url, 200, 403}, // another room's owner
		{e.http + "/api/rooms/9/recordings", 0, 401}, // a guest
		{url, 0, 401}, // a guest
		{e.http + "/api/rooms/404/recordings", 100, 404}, // no such room
		{e.http + "/api/rooms/9/recordings/123", 100, 404},
		{e.http + "/api/rooms/9/recordings/12a", 100, 400},
		{e.http + "/api/rooms/9/recordings/..%2F10", 100, 400},
		{e.http + "/api/rooms/9/recordings/" + rec.ID + ".flv", 100, 400},
	} {
		code, b, _ := getAs(t, c.url, c.uid)
		require.Equal(t, c.want, code, "%s as %d: %s", c.url, c.uid, b)
	}
	require.Empty(t, e.recordings(t, 10, 200), "another room has none")
}

// TestRecordingOff: media.record off (the default) writes nothing; a recording that cannot
// be created is counted and the stream goes on.
func TestRecordingOff(t *testing.T) {
	mediatest.NeedFFmpeg(t)
	dir := t.TempDir()
	e := start(t, func(c *Config) { c.RecordDir = dir })
	key := e.rooms.Add(4)
	e.rooms.SetOwner(4, 100)
	p := mediatest.Publish(t, e.rtmp+"/"+key, small, 1)
	e.publishing(t, 4, true)
	require.NoError(t, p.Wait(t, 10*time.Second), p.Output())
	e.publishing(t, 4, false)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Empty(t, entries)
	require.Empty(t, e.recordings(t, 4, 100))
	require.Equal(t, 0.0, testutil.ToFloat64(e.s.m.recStarted))

	// The record directory is a file: no recording, the stream plays all the same.
	notDir := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(notDir, nil, 0o600))
	e = start(t, func(c *Config) { c.Record, c.RecordDir = true, notDir })
	key = e.rooms.Add(4)
	p = mediatest.Publish(t, e.rtmp+"/"+key, small, 3)
	e.publishing(t, 4, true)
	require.Equal(t, []string{"aac", "h264"}, mediatest.Probe(t, e.http+"/live/4.flv"))
	require.Equal(t, 1.0, testutil.ToFloat64(e.s.m.recFailed))
	require.NoError(t, p.Wait(t, 15*time.Second), p.Output())
}
