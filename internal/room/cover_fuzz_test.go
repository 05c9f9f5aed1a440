package room

import (
	"bytes"
	"errors"
	"image"
	"image/jpeg"
	"image/png"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// FuzzDecodeCover: whatever bytes arrive, decodeCover either refuses them as ErrBadCover or
// returns a PNG or JPEG, of its stated type, within the size limit, that decodes again.
func FuzzDecodeCover(f *testing.F) {
	var jb bytes.Buffer
	_ = jpeg.Encode(&jb, testImage(9, 7), nil)
	var pb bytes.Buffer
	_ = png.Encode(&pb, testImage(5, 3))
	bomb := append([]byte{}, pb.Bytes()...)
	copy(bomb[16:24], []byte{0, 1, 0, 0, 0, 1, 0, 0})
	for _, seed := range [][]byte{pb.Bytes(), jb.Bytes(), bomb, pb.Bytes()[:40], []byte("GIF89a"), []byte("<svg/>"), nil} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		const maxSide = 64
		c, err := decodeCover(data, maxSide)
		if err != nil {
			require.True(t, errors.Is(err, ErrBadCover), "%v", err)
			return
		}
		cfg, format, err := image.DecodeConfig(bytes.NewReader(c.Data))
		require.NoError(t, err)
		require.Equal(t, coverType(format), c.ContentType)
		require.True(t, cfg.Width >= 1 && cfg.Width <= maxSide && cfg.Height >= 1 && cfg.Height <= maxSide)
		_, _, err = image.Decode(bytes.NewReader(c.Data))
		require.NoError(t, err)
	})
}

// FuzzCheckCoverURL: an accepted cover URL is https on an allowed host, with no user info
// and no port.
func FuzzCheckCoverURL(f *testing.F) {
	for _, s := range []string{"https://img.example.com/a.png", "https://a.cdn.example.net/x", "https://u@img.example.com/",
		"https://127.0.0.1/", "https://img.example.com:1/", "HTTPS://IMG.EXAMPLE.COM/", "https://img.example.com%2f@evil/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		if checkCoverURL(raw, testCoverHosts) != nil {
			return
		}
		u, err := url.Parse(raw)
		require.NoError(t, err)
		require.Equal(t, "https", u.Scheme)
		require.Nil(t, u.User)
		require.Empty(t, u.Port())
		host := strings.ToLower(u.Hostname())
		require.True(t, host == "img.example.com" || strings.HasSuffix(host, ".cdn.example.net"), host)
	})
}
