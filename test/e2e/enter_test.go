package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// enterPage is GET /api/room/enter as a client reads it.
type enterPage struct {
	Room struct {
		ID   int64 `json:"id"`
		Base struct {
			Title string `json:"title"`
		} `json:"base"`
		Anchor struct {
			Name string `json:"name"`
		} `json:"anchor"`
		Stats *struct {
			Online int64 `json:"online"`
		} `json:"stats"`
	} `json:"room"`
	Switches  map[string]bool `json:"switches"`
	DanmuInfo struct {
		Token    string            `json:"token"`
		HostList []json.RawMessage `json:"host_list"`
		Degraded bool              `json:"degraded"`
	} `json:"danmu_info"`
	Comments struct {
		Items []struct {
			Text string `json:"text"`
		} `json:"items"`
		Degraded bool `json:"degraded"`
	} `json:"comments"`
	Gifts struct {
		Items    []json.RawMessage `json:"items"`
		Degraded bool              `json:"degraded"`
	} `json:"gifts"`
	Wallet struct {
		Balance  int64 `json:"balance"`
		Degraded bool  `json:"degraded"`
	} `json:"wallet"`
	Rank struct {
		Items []struct {
			UID   int64 `json:"uid"`
			Score int64 `json:"score"`
		} `json:"items"`
		AnchorScore *int64 `json:"anchor_score"`
		Degraded    bool   `json:"degraded"`
	} `json:"rank"`
	Viewer struct {
		UID      int64 `json:"uid"`
		Owner    bool  `json:"owner"`
		Degraded bool  `json:"degraded"`
	} `json:"viewer"`
}

// EnterScenario is the room page and the home page in one call each: a room with a comment
// and a gift is entered by the fan who sent them, every module filled, none degraded.
func EnterScenario(t *testing.T, n Node) (roomID int64, fanToken string) {
	suffix := time.Now().UnixNano() % 1e6
	anchor := register(t, n, fmt.Sprintf("enteranchor%d", suffix))
	fan := register(t, n, fmt.Sprintf("enterfan%d", suffix))
	var room struct {
		ID int64 `json:"id"`
	}
	status, _ := api(t, n, "POST", "/api/rooms", anchor.Token, map[string]string{"title": "enter here"}, &room)
	require.Equal(t, 200, status)
	status, _ = api(t, n, "POST", fmt.Sprintf("/api/rooms/%d/danmaku", room.ID), fan.Token, map[string]string{"text": "first"}, nil)
	require.Equal(t, 200, status)
	status, _ = api(t, n, "POST", fmt.Sprintf("/api/rooms/%d/gifts", room.ID), fan.Token,
		map[string]any{"gift_id": 1, "num": 2, "idempotency_key": "enter-1"}, nil)
	require.Equal(t, 200, status)

	var p enterPage
	deadline := time.Now().Add(15 * time.Second)
	for {
		status, _ = api(t, n, "GET", fmt.Sprintf("/api/room/enter?id=%d", room.ID), fan.Token, nil, &p)
		require.Equal(t, 200, status)
		if len(p.Rank.Items) > 0 || time.Now().After(deadline) {
			break // scores land within one aggregation window
		}
		time.Sleep(50 * time.Millisecond)
	}
	require.Equal(t, room.ID, p.Room.ID)
	require.Equal(t, "enter here", p.Room.Base.Title)
	require.Equal(t, fmt.Sprintf("enteranchor%d", suffix), p.Room.Anchor.Name)
	require.NotNil(t, p.Room.Stats)
	require.Equal(t, map[string]bool{"comments": true, "gifts": true, "rank": true}, p.Switches)
	require.False(t, p.DanmuInfo.Degraded || p.Comments.Degraded || p.Gifts.Degraded || p.Wallet.Degraded ||
		p.Rank.Degraded || p.Viewer.Degraded, "no module degraded: %+v", p)
	require.NotEmpty(t, p.DanmuInfo.Token)
	require.NotEmpty(t, p.DanmuInfo.HostList)
	require.Len(t, p.Comments.Items, 1)
	require.Equal(t, "first", p.Comments.Items[0].Text)
	require.NotEmpty(t, p.Gifts.Items)
	require.EqualValues(t, 1000-2, p.Wallet.Balance)
	require.Len(t, p.Rank.Items, 1, "the fan's gift is in the rank")
	require.Equal(t, fan.UID, p.Rank.Items[0].UID)
	require.NotNil(t, p.Rank.AnchorScore)
	require.Equal(t, fan.UID, p.Viewer.UID)
	require.False(t, p.Viewer.Owner)

	for q, want := range map[string]int{"": 400, "?id=x": 400, "?id=987654321": 404} {
		status, _ = api(t, n, "GET", "/api/room/enter"+q, "", nil, nil)
		require.Equal(t, want, status, q)
	}

	var home struct {
		Rooms []struct {
			ID     int64 `json:"id"`
			Anchor *struct {
				Name string `json:"name"`
			} `json:"anchor"`
		} `json:"rooms"`
	}
	status, _ = api(t, n, "GET", "/api/home?limit=50", "", nil, &home)
	require.Equal(t, 200, status)
	found := false
	for _, r := range home.Rooms {
		if r.ID == room.ID {
			found = true
			require.NotNil(t, r.Anchor)
		}
	}
	require.True(t, found, "the home page lists the room")
	return room.ID, fan.Token
}

// metric reads one unlabelled counter from a process's /metrics.
func metric(t *testing.T, baseURL, name string) float64 {
	resp, err := http.Get(baseURL + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			require.NoError(t, err)
			return f
		}
	}
	t.Fatalf("%s not in %s/metrics", name, baseURL)
	return 0
}

// roomReadsPerEnter enters a room a few times and returns the room reads the room process
// counted per enter.
func roomReadsPerEnter(t *testing.T, front Node, roomURL string, roomID int64, tok string) float64 {
	const enters = 5
	before := metric(t, roomURL, "zhibo_room_reads_total")
	for range enters {
		status, _ := api(t, front, "GET", fmt.Sprintf("/api/room/enter?id=%d", roomID), tok, nil, nil)
		require.Equal(t, 200, status)
	}
	return (metric(t, roomURL, "zhibo_room_reads_total") - before) / enters
}

func TestEnter(t *testing.T) {
	n := startAllInOne(t)
	id, tok := EnterScenario(t, n)
	require.EqualValues(t, 1, roomReadsPerEnter(t, n, n.URL, id, tok), "one room read per enter")
}
