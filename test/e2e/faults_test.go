package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/protocol"
	"github.com/zhibo-live/zhibo/internal/viewer"
)

// danmuText is the text of a DANMU_MSG packet ("" for anything else).
func danmuText(p protocol.Packet) string {
	if p.Op != protocol.OpMessage || viewer.Cmd(p.Body) != "DANMU_MSG" {
		return ""
	}
	var dm struct {
		Info []json.RawMessage `json:"info"`
	}
	if json.Unmarshal(p.Body, &dm) != nil || len(dm.Info) < 2 {
		return ""
	}
	var s string
	_ = json.Unmarshal(dm.Info[1], &s)
	return s
}

// expect reads until every text in want arrived, in order, failing on a gap.
func expect(t *testing.T, c *viewer.Conn, want []string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for i := 0; i < len(want); {
		p, err := c.NextUntil(deadline)
		require.NoError(t, err, "waiting for %q", want[i])
		if got := danmuText(p); got != "" {
			require.Equal(t, want[i], got, "messages out of order or lost")
			i++
		}
	}
}

// splitRoom is a split cluster with one anchor's room and a fan who comments in it.
type splitRoom struct {
	c      *cluster
	fan    session
	roomID int64
}

// startSplitRoom starts the cluster (startCluster), registers
// <name>_anchor and <name>_fan and creates the anchor's room.
func startSplitRoom(t *testing.T, name string) *splitRoom {
	c := startCluster(t)
	anchor := register(t, c.rest, name+"_anchor")
	r := &splitRoom{c: c, fan: register(t, c.rest, name+"_fan")}
	var room struct {
		ID int64 `json:"id"`
	}
	code, _ := api(t, c.rest, "POST", "/api/rooms", anchor.Token, map[string]string{"title": name}, &room)
	require.Equal(t, 200, code)
	r.roomID = room.ID
	return r
}

// dial connects a viewer of the room with a fresh danmu-info token; o gives the address,
// transport and options, the room and token are filled in.
func (r *splitRoom) dial(t *testing.T, o viewer.Options) *viewer.Conn {
	var info struct {
		Token string `json:"token"`
	}
	code, _ := api(t, r.c.rest, "GET", fmt.Sprintf("/api/rooms/%d/danmu-info", r.roomID), "", nil, &info)
	require.Equal(t, 200, code)
	o.RoomID, o.Token = r.roomID, info.Token
	v, err := viewer.Dial(context.Background(), o)
	require.NoError(t, err)
	t.Cleanup(func() { v.Close() })
	return v
}

// Faults on a split cluster: a comet killed mid-stream loses its viewers (they reconnect to
// the other comet) but no viewer of the other comet misses anything; a stopped job delivers
// what was sent meanwhile once it is back, because its consumer is durable.
func TestSplitClusterFaults(t *testing.T) {
	r := startSplitRoom(t, "fault")
	c, n, fan := r.c, r.c.rest, r.fan
	connect := func(ws bool, addr string) *viewer.Conn {
		return r.dial(t, viewer.Options{Addr: addr, WS: ws, ProtoVer: 2})
	}
	send := func(texts ...string) {
		for _, text := range texts {
			code, _ := api(t, n, "POST", fmt.Sprintf("/api/rooms/%d/danmaku", r.roomID), fan.Token, map[string]string{"text": text}, nil)
			require.Equal(t, 200, code, text)
		}
	}
	seq := func(prefix string, from, to int) []string {
		var out []string
		for i := from; i <= to; i++ {
			out = append(out, fmt.Sprintf("%s-%d", prefix, i))
		}
		return out
	}

	onFirst := connect(true, c.comet1WS)
	onSecond := connect(false, c.comet2TCP)
	send(seq("a", 1, 10)...)
	expect(t, onFirst, seq("a", 1, 10))
	expect(t, onSecond, seq("a", 1, 10))

	// Comet 1 crashes mid-stream.
	sent := make(chan struct{})
	go func() { // sending goes on while the comet dies; a failed send shows up as a gap below
		defer close(sent)
		for _, text := range seq("b", 1, 10) {
			body, _ := json.Marshal(map[string]string{"text": text})
			req, _ := http.NewRequest("POST", fmt.Sprintf("%s/api/rooms/%d/danmaku", n.URL, r.roomID), bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+fan.Token)
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
			}
		}
	}()
	c.procs["comet1"].Kill(t)
	expect(t, onSecond, seq("b", 1, 10))
	<-sent
	// What comet 1 wrote before it died may still be read, in order; then its connection ends.
	var before []string
	deadline := time.Now().Add(5 * time.Second)
	for {
		p, err := onFirst.NextUntil(deadline)
		if err != nil {
			require.NotErrorIs(t, err, os.ErrDeadlineExceeded, "the killed comet's connection is gone")
			break
		}
		if text := danmuText(p); text != "" {
			before = append(before, text)
		}
	}
	require.Equal(t, seq("b", 1, len(before)), before, "the killed comet delivered a gap")
	moved := connect(true, c.comet2WS) // its viewer reconnects to the other comet
	send(seq("c", 1, 5)...)
	expect(t, onSecond, seq("c", 1, 5))
	expect(t, moved, seq("c", 1, 5))

	// The job stops; what is sent meanwhile is stored in the stream and delivered after restart.
	c.procs["job"].Stop(t)
	send(seq("d", 1, 5)...)
	c.procs["job"].Restart(t)
	expect(t, onSecond, seq("d", 1, 5))
	expect(t, moved, seq("d", 1, 5))
}
