package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/config"
)

// bannedE2E is the banned word both shapes are configured with (root banned_words).
const bannedE2E = "e2espam"

// TestTextAndCovers: the text policy and uploaded covers, all-in-one.
func TestTextAndCovers(t *testing.T) {
	n := startAllInOne(t, func(c *config.Config) { c.BannedWords = []string{bannedE2E} })
	TextAndCoverScenario(t, n)
}

// The same on a split cluster: one banned_words list reaches room and danmaku, and the cover
// is stored in and served from the room component's own store.
func TestSplitTextAndCovers(t *testing.T) {
	c := startCluster(t)
	TextAndCoverScenario(t, c.rest)
}

// TextAndCoverScenario: titles and comments are cleaned (bidi controls and invisible
// characters removed, full-width folded) before they are stored, a banned word is refused
// through disguises in both, a cover URL on an internal host is refused, and an uploaded
// cover is served by zhibo under a CSP that allows no other image host.
func TextAndCoverScenario(t *testing.T, n Node) {
	anchor := register(t, n, fmt.Sprintf("txt%d", time.Now().UnixNano()%1e6))
	var room struct {
		ID   int64 `json:"id"`
		Base struct {
			Title string `json:"title"`
			Cover string `json:"cover"`
		} `json:"base"`
	}
	code, _ := api(t, n, "POST", "/api/rooms", anchor.Token, map[string]string{"title": "\u202Eｅ２ｅ\u200b room"}, &room)
	require.Equal(t, 200, code)
	require.Equal(t, "e2e room", room.Base.Title)
	path := fmt.Sprintf("/api/rooms/%d", room.ID)

	status, ecode := api(t, n, "PATCH", path, anchor.Token, map[string]string{"title": "buy ｅ２ｅ\u00adｓｐａｍ"}, nil)
	require.Equal(t, 400, status)
	require.Equal(t, -10010, ecode, "banned word in a title")
	status, ecode = api(t, n, "POST", path+"/danmaku", anchor.Token, map[string]string{"text": "e2e\u200bsp\u0430m"}, nil)
	require.Equal(t, 400, status)
	require.Equal(t, -20002, ecode, "banned word in a comment, Cyrillic а and a zero-width space")
	code, _ = api(t, n, "POST", path+"/danmaku", anchor.Token, map[string]string{"text": "ok\u2066\u200b!"}, nil)
	require.Equal(t, 200, code)
	var history struct {
		Items []struct {
			Text string `json:"text"`
		} `json:"items"`
	}
	code, _ = api(t, n, "GET", path+"/danmaku", "", nil, &history)
	require.Equal(t, 200, code)
	require.Len(t, history.Items, 1)
	require.Equal(t, "ok!", history.Items[0].Text)

	for _, bad := range []string{"https://127.0.0.1/x.png", "https://u:p@example.com/x.png", "http://example.com/x.png"} {
		status, ecode = api(t, n, "PATCH", path, anchor.Token, map[string]string{"cover": bad}, nil)
		require.Equal(t, 400, status, bad)
		require.Equal(t, -10011, ecode, bad)
	}

	img := image.NewNRGBA(image.Rect(0, 0, 16, 9))
	img.Set(3, 4, color.NRGBA{R: 200, G: 10, B: 90, A: 255})
	var buf bytes.Buffer
	require.NoError(t, png.Encode(&buf, img))
	req, err := http.NewRequest(http.MethodPut, n.URL+path+"/cover", bytes.NewReader(buf.Bytes()))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+anchor.Token)
	req.Header.Set("Content-Type", "image/png")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	var env struct {
		Code int `json:"code"`
		Data struct {
			Base struct {
				Cover string `json:"cover"`
			} `json:"base"`
		} `json:"data"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&env))
	resp.Body.Close()
	require.Equal(t, 0, env.Code)
	cover := env.Data.Base.Cover
	require.Regexp(t, fmt.Sprintf(`^/api/rooms/%d/cover\?v=[0-9a-f]+$`, room.ID), cover)

	resp, err = http.Get(n.URL + cover)
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	require.Equal(t, 200, resp.StatusCode)
	require.Equal(t, "image/png", resp.Header.Get("Content-Type"))
	require.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))
	got, err := png.Decode(bytes.NewReader(body))
	require.NoError(t, err)
	require.Equal(t, color.NRGBA{R: 200, G: 10, B: 90, A: 255}, color.NRGBAModel.Convert(got.At(3, 4)))

	resp, err = http.Get(n.URL + "/")
	require.NoError(t, err)
	resp.Body.Close()
	require.Contains(t, resp.Header.Get("Content-Security-Policy"), "img-src 'self' data:;")
}
