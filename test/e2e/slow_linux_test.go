//go:build linux

package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/viewer"
)

// A viewer that stops reading, on a split cluster: comet 2 closes it and counts the drop, while
// the other viewer of the room on the same comet receives every message in order.
func TestSplitClusterSlowViewer(t *testing.T) {
	r := startSplitRoom(t, "slow")
	c, n, fan := r.c, r.c.rest, r.fan
	// Protocol version 0: uncompressed frames fill the stalled socket fastest.
	dial := func(control func(string, string, syscall.RawConn) error) *viewer.Conn {
		return r.dial(t, viewer.Options{Addr: c.comet2TCP, Control: control})
	}
	healthy := dial(nil)
	// The stalled viewer's receive buffer is 4 KiB and it announces a typical network path's
	// segment size (loopback's 64 KiB one lets the comet's send buffer grow to megabytes), so
	// the comet's writes back up after some kilobytes; it never reads.
	_ = dial(viewer.SlowSocket(4096, 1460))

	const total = 400
	filler := strings.Repeat("x", 80)
	texts := make([]string, total)
	for i := range texts {
		texts[i] = fmt.Sprintf("s-%d %s", i, filler)
	}
	failed := make(chan string, 1)
	go func() { // send while the healthy viewer reads below
		defer close(failed)
		for _, text := range texts {
			body, _ := json.Marshal(map[string]string{"text": text})
			req, _ := http.NewRequest("POST", fmt.Sprintf("%s/api/rooms/%d/danmaku", n.URL, r.roomID), bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+fan.Token)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				failed <- err.Error()
				return
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				failed <- fmt.Sprintf("%s: status %d", text, resp.StatusCode)
				return
			}
		}
	}()
	expect(t, healthy, texts)
	require.Empty(t, <-failed)

	metrics := strings.TrimSuffix(strings.Replace(c.comet2WS, "ws://", "http://", 1), "/sub") + "/metrics"
	require.Eventually(t, func() bool {
		return droppedSlow(t, metrics) >= 1
	}, 20*time.Second, 100*time.Millisecond, "comet 2 closes the viewer that stopped reading and counts it")
}

// droppedSlow sums comet drops for a full send queue or a failed (timed out) write.
func droppedSlow(t *testing.T, url string) float64 {
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	sum := 0.0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		for _, reason := range []string{"queue_full", "write_error"} {
			prefix := `zhibo_comet_dropped_connections_total{reason="` + reason + `"} `
			if v, ok := strings.CutPrefix(line, prefix); ok {
				f, err := strconv.ParseFloat(v, 64)
				require.NoError(t, err)
				sum += f
			}
		}
	}
	return sum
}
