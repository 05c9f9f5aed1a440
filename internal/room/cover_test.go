package room

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/platform/apierr"
	"github.com/zhibo-live/zhibo/internal/platform/httpx"
	"github.com/zhibo-live/zhibo/internal/platform/sqlstore"
	"github.com/zhibo-live/zhibo/internal/platform/sqlstore/sqltest"
)

var testCoverHosts = []string{"img.example.com", "*.cdn.example.net"}

func TestCoverURLPolicy(t *testing.T) {
	for _, ok := range []string{
		"https://img.example.com/a.png",
		"https://IMG.example.com/a.png?x=1",
		"https://a.cdn.example.net/x.jpg",
		"https://a.b.cdn.example.net/x.jpg",
	} {
		require.NoError(t, checkCoverURL(ok, testCoverHosts), ok)
	}
	for _, bad := range []string{
		"https://127.0.0.1/a.png",                 // internal address
		"https://10.0.0.7/a.png",                  // internal address
		"https://[::1]/a.png",                     // IPv6 literal
		"https://169.254.169.254/latest/meta",     // cloud metadata
		"https://localhost/a.png",                 // not allowed
		"https://user:pass@img.example.com/a.png", // user info
		"https://user@img.example.com/a.png",      // user info
		"http://img.example.com/a.png",            // not https
		"https://img.example.com:8443/a.png",      // port
		"https://evil.example.org/a.png",          // not allowed
		"https://img.example.com.evil.org/a.png",  // suffix trick
		"https://cdn.example.net/a.png",           // *.name is the subdomains only
		"https://xcdn.example.net/a.png",          // not a subdomain
		"javascript:alert(1)",
		"//img.example.com/a.png",
		"https://img.example.com/" + strings.Repeat("a", 512),
	} {
		require.ErrorIs(t, checkCoverURL(bad, testCoverHosts), ErrBadCover, bad)
	}
	require.ErrorIs(t, checkCoverURL("https://img.example.com/a.png", nil), ErrBadCover, "no hosts: uploads only")

	for _, h := range []string{"img.example.com", "*.cdn.example.net", "a-b.c0.io"} {
		require.True(t, validCoverHost(h), h)
	}
	for _, h := range []string{"", "localhost", "10.0.0.1", "::1", "https://x.com", "x.com:443", "X.com", "*.com.", "*", "-a.com", "1.2.3.4.5"} {
		require.False(t, validCoverHost(h), h)
	}
	c := Config{CoverHosts: []string{"10.0.0.1"}}
	require.ErrorContains(t, c.validateCovers(), "room.cover_hosts")
}

// TestCoverURLOnUpdate: PATCH refuses a cover on an internal or unlisted host or with user
// info, accepts an allowed one; with no hosts configured only uploads are possible.
func TestCoverURLOnUpdate(t *testing.T) {
	ctx := context.Background()
	db := sqltest.OpenSQLite(t)
	s, _ := newServiceWith(t, db, func(c *Config, _ *Deps) { c.CoverHosts = testCoverHosts })
	r, err := s.Create(ctx, 1, Fields{Title: str("t")})
	require.NoError(t, err)
	for _, bad := range []string{"https://192.168.1.1/a.png", "https://u:p@img.example.com/a.png", "https://tracker.example.org/a.png", "http://img.example.com/a.png"} {
		_, err := s.Update(ctx, 1, r.ID, Fields{Cover: str(bad)})
		require.ErrorIs(t, err, ErrBadCover, bad)
	}
	_, err = s.Create(ctx, 2, Fields{Title: str("t"), Cover: str("https://10.1.2.3/x.png")})
	require.ErrorIs(t, err, ErrBadCover)
	up, err := s.Update(ctx, 1, r.ID, Fields{Cover: str("https://img.example.com/a.png")})
	require.NoError(t, err)
	require.Equal(t, "https://img.example.com/a.png", up.Cover)
	up, err = s.Update(ctx, 1, r.ID, Fields{Cover: str("")})
	require.NoError(t, err)
	require.Empty(t, up.Cover)

	uploadsOnly, _ := newServiceWith(t, sqltest.OpenSQLite(t), nil)
	r2, err := uploadsOnly.Create(ctx, 1, Fields{Title: str("t")})
	require.NoError(t, err)
	_, err = uploadsOnly.Update(ctx, 1, r2.ID, Fields{Cover: str("https://img.example.com/a.png")})
	require.ErrorIs(t, err, ErrBadCover)
}

// TestLegacyCoverURLs: a cover stored before the allow-list (any URL) is shown only while its
// host is allowed; otherwise views leave it out, so no viewer's browser fetches it.
func TestLegacyCoverURLs(t *testing.T) {
	ctx := context.Background()
	db := sqltest.OpenSQLite(t)
	s, _ := newServiceWith(t, db, func(c *Config, _ *Deps) { c.CoverHosts = testCoverHosts })
	shown := map[string]string{
		"http://10.0.0.1/track.png":               "",
		"https://user:pw@img.example.com/a.png":   "",
		"https://tracker.example.org/a.png":       "",
		"https://img.example.com/a.png":           "https://img.example.com/a.png",
		"/api/rooms/999/cover?v=0123456789ab":     "", // another room's upload
		"https://img.example.com:444/a.png":       "",
		"https://a.cdn.example.net/b.jpg":         "https://a.cdn.example.net/b.jpg",
		"javascript:alert(document.cookie)//.png": "",
	}
	owner := int64(10)
	for stored, want := range shown {
		owner++
		r, err := s.Create(ctx, owner, Fields{Title: str("legacy")})
		require.NoError(t, err)
		_, err = db.ExecContext(ctx, "UPDATE rooms SET cover = ? WHERE id = ?", stored, r.ID)
		require.NoError(t, err)
		got, err := s.store.Get(ctx, r.ID)
		require.NoError(t, err)
		v := s.Views(ctx, []Room{got}, all, 0)[0]
		require.Equal(t, want, v.Base.Cover, stored)
	}
}

// coverServer serves the room routes of a service whose covers may be at most maxBytes and
// maxSide pixels each way.
func coverServer(t *testing.T, db *sqlstore.DB, maxBytes int64, maxSide int) (*Service, string, int64) {
	s, _ := newServiceWith(t, db, func(c *Config, _ *Deps) { c.CoverMaxBytes, c.CoverMaxSide = maxBytes, maxSide })
	mux := http.NewServeMux()
	s.Register(mux)
	srv := httptest.NewServer(httpx.Identify(newAccounts(), nil, mux))
	t.Cleanup(srv.Close)
	r, err := s.Create(context.Background(), 1, Fields{Title: str("covered")})
	require.NoError(t, err)
	return s, srv.URL, r.ID
}

type coverReply struct {
	status int
	Code   int    `json:"code"`
	Msg    string `json:"message"`
	Data   View   `json:"data"`
}

func putCover(t *testing.T, base string, id int64, tok, ctype string, body []byte) coverReply {
	req, err := http.NewRequest(http.MethodPut, fmt.Sprintf("%s/api/rooms/%d/cover", base, id), bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", ctype)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var r coverReply
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&r))
	r.status = resp.StatusCode
	return r
}

// testImage is a w×h picture with a few distinct colours.
func testImage(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{R: uint8(x * 255 / w), G: uint8(y * 255 / h), B: 0x80, A: 0xFF})
		}
	}
	return img
}

func encodePNG(t *testing.T, img image.Image) []byte {
	var b bytes.Buffer
	require.NoError(t, png.Encode(&b, img))
	return b.Bytes()
}

// pngWithSize rewrites the IHDR of a valid PNG to declare w×h pixels (CRC fixed), as a
// decompression bomb would.
func pngWithSize(t *testing.T, w, h uint32) []byte {
	b := encodePNG(t, testImage(2, 2))
	require.Equal(t, "IHDR", string(b[12:16]))
	binary.BigEndian.PutUint32(b[16:20], w)
	binary.BigEndian.PutUint32(b[20:24], h)
	binary.BigEndian.PutUint32(b[29:33], crc32.ChecksumIEEE(b[12:29]))
	return b
}

// withExif inserts an APP1 Exif segment (with a GPS-like marker) after the JPEG's SOI.
func withExif(jpg []byte) []byte {
	payload := append([]byte("Exif\x00\x00"), []byte("GPS 48.8584N 2.2945E secret-owner-data")...)
	seg := []byte{0xFF, 0xE1, 0, 0}
	binary.BigEndian.PutUint16(seg[2:], uint16(len(payload)+2))
	out := append([]byte{}, jpg[:2]...)
	out = append(out, seg...)
	out = append(out, payload...)
	return append(out, jpg[2:]...)
}

func TestCoverUploadRefusals(t *testing.T) {
	_, base, id := coverServer(t, sqltest.OpenSQLite(t), 64<<10, 1024)
	var gifBuf bytes.Buffer
	require.NoError(t, gif.Encode(&gifBuf, testImage(4, 4), nil)) // a decoder is registered: still refused
	for name, c := range map[string]struct {
		tok    string
		body   []byte
		status int
		code   int
		msg    string
	}{
		"anonymous":           {"", encodePNG(t, testImage(4, 4)), 401, -401, ""},
		"not the owner":       {viewerTok, encodePNG(t, testImage(4, 4)), 403, -10002, ""},
		"empty":               {ownerTok, nil, 400, -10011, "PNG or JPEG"},
		"text":                {ownerTok, []byte("<svg onload=alert(1)></svg>"), 400, -10011, "PNG or JPEG"},
		"gif":                 {ownerTok, gifBuf.Bytes(), 400, -10011, "PNG or JPEG"},
		"truncated png":       {ownerTok, encodePNG(t, testImage(64, 64))[:100], 400, -10011, ""},
		"too large":           {ownerTok, bytes.Repeat([]byte{0x89}, 64<<10+1), 413, -413, "larger than 65536 bytes"},
		"huge declared size":  {ownerTok, pngWithSize(t, 100000, 100000), 400, -10011, "100000x100000 pixels, at most 1024x1024"},
		"one side too big":    {ownerTok, pngWithSize(t, 1025, 1), 400, -10011, "at most 1024x1024"},
		"zero declared size":  {ownerTok, pngWithSize(t, 0, 5), 400, -10011, ""},
		"valid header, noise": {ownerTok, append(pngWithSize(t, 2, 2)[:33], []byte("garbage garbage")...), 400, -10011, ""},
	} {
		r := putCover(t, base, id, c.tok, "image/png", c.body)
		require.Equal(t, c.status, r.status, "%s: %d %s", name, r.Code, r.Msg)
		require.Equal(t, c.code, r.Code, "%s: %s", name, r.Msg)
		require.Contains(t, r.Msg, c.msg, name)
	}
	resp, err := http.Get(fmt.Sprintf("%s/api/rooms/%d/cover", base, id))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNotFound, resp.StatusCode, "nothing was stored")
}

// TestCoverUploadRoundTrip: a PNG (with a payload appended after IEND) and a JPEG (with
// EXIF) are stored re-encoded — same pixels, no payload, no metadata — and served as images.
func TestCoverUploadRoundTrip(t *testing.T) {
	sqltest.ForEach(t, func(t *testing.T, db *sqlstore.DB) {
		s, base, id := coverServer(t, db, 2<<20, 4096)
		img := testImage(40, 30)
		polyglot := append(encodePNG(t, img), []byte("<html><script>alert(document.domain)</script>")...)
		r := putCover(t, base, id, ownerTok, "image/png", polyglot)
		require.Equal(t, http.StatusOK, r.status, r.Msg)
		cover := r.Data.Base.Cover
		require.True(t, strings.HasPrefix(cover, fmt.Sprintf("/api/rooms/%d/cover?v=", id)), cover)

		resp, err := http.Get(base + cover)
		require.NoError(t, err)
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Equal(t, "image/png", resp.Header.Get("Content-Type"))
		require.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))
		require.Equal(t, coverCacheControl, resp.Header.Get("Cache-Control"))
		require.Equal(t, coverCSP, resp.Header.Get("Content-Security-Policy"))
		etag := resp.Header.Get("ETag")
		require.Regexp(t, `^"[0-9a-f]{24}"$`, etag)
		require.Contains(t, cover, strings.Trim(etag, `"`))
		require.NotContains(t, string(body), "<script>")
		got, err := png.Decode(bytes.NewReader(body))
		require.NoError(t, err)
		require.Equal(t, img.Bounds(), got.Bounds())
		for _, p := range []image.Point{{0, 0}, {39, 29}, {17, 11}} {
			require.Equal(t, img.At(p.X, p.Y), color.RGBAModel.Convert(got.At(p.X, p.Y)), "%v", p)
		}

		req, _ := http.NewRequest(http.MethodGet, base+cover, nil)
		req.Header.Set("If-None-Match", etag)
		resp, err = http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusNotModified, resp.StatusCode)

		// The room read shows the uploaded cover; PATCH sending it back leaves it alone.
		rm, err := s.Get(context.Background(), id)
		require.NoError(t, err)
		require.Equal(t, cover, s.Views(context.Background(), []Room{rm}, all, 0)[0].Base.Cover)
		same, err := s.Update(context.Background(), 1, id, Fields{Title: str("still covered"), Cover: str(cover)})
		require.NoError(t, err)
		require.Equal(t, cover, same.Cover)

		// A JPEG replaces it: new version, new type, EXIF gone.
		var jb bytes.Buffer
		require.NoError(t, jpeg.Encode(&jb, testImage(64, 48), &jpeg.Options{Quality: 95}))
		r = putCover(t, base, id, ownerTok, "image/jpeg", withExif(jb.Bytes()))
		require.Equal(t, http.StatusOK, r.status, r.Msg)
		require.NotEqual(t, cover, r.Data.Base.Cover)
		resp, err = http.Get(base + r.Data.Base.Cover)
		require.NoError(t, err)
		body, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		require.Equal(t, "image/jpeg", resp.Header.Get("Content-Type"))
		require.NotContains(t, string(body), "Exif")
		require.NotContains(t, string(body), "secret-owner-data")
		cfg, err := jpeg.DecodeConfig(bytes.NewReader(body))
		require.NoError(t, err)
		require.Equal(t, 64, cfg.Width)
		require.Equal(t, 48, cfg.Height)

		// Removing the cover removes the image: its old URL stops serving it.
		_, err = s.Update(context.Background(), 1, id, Fields{Cover: str("")})
		require.NoError(t, err)
		resp, err = http.Get(base + r.Data.Base.Cover)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusNotFound, resp.StatusCode)
	})
}

func TestCoverConfig(t *testing.T) {
	var c Config
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	c.RegisterFlags(fs, "room.")
	require.Equal(t, int64(2<<20), c.CoverMaxBytes)
	require.Equal(t, 4096, c.CoverMaxSide)
	require.Empty(t, c.CoverHosts, "uploads only by default")
	require.NoError(t, c.Validate())
	require.NoError(t, fs.Parse([]string{"-room.cover_hosts", " img.example.com, ,*.cdn.example.net", "-room.cover_max_bytes", "4096"}))
	require.Equal(t, testCoverHosts, c.CoverHosts)
	require.NoError(t, c.Validate())
	for _, bad := range []func(*Config){
		func(c *Config) { c.CoverHosts = []string{"https://img.example.com"} },
		func(c *Config) { c.CoverHosts = []string{"127.0.0.1"} },
		func(c *Config) { c.CoverMaxBytes = 5 << 20 },
		func(c *Config) { c.CoverMaxBytes = 10 },
		func(c *Config) { c.CoverMaxSide = 9000 },
	} {
		d := c
		bad(&d)
		require.ErrorContains(t, d.Validate(), "room.cover_")
	}
}

// Uploads wait for one of coverDecoders slots and give up with 503 when the request ends.
func TestCoverDecodersBounded(t *testing.T) {
	s, _ := newServiceWith(t, sqltest.OpenSQLite(t), nil)
	img := encodePNG(t, testImage(8, 8))
	_, err := s.decodeLimited(context.Background(), img)
	require.NoError(t, err)
	for range coverDecoders {
		s.coverSlots <- struct{}{}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = s.decodeLimited(ctx, img)
	require.ErrorIs(t, err, apierr.Unavailable)
	<-s.coverSlots
	_, err = s.decodeLimited(ctx, img)
	require.NoError(t, err, "a free slot is taken even when the request is ending")
}
