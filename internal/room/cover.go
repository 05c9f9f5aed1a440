package room

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/zhibo-live/zhibo/internal/platform/apierr"
)

// Covers are images zhibo stores and serves itself, so a viewer's browser fetches a cover from
// zhibo, never from a host the room owner chose (which would learn every viewer's IP address).
// An upload is decoded and re-encoded, which drops metadata (EXIF, GPS) and anything appended
// to or smuggled inside the file. External cover URLs are accepted only for the hosts of
// room.cover_hosts.

// maxCoverBytesLimit bounds room.cover_max_bytes: a re-encoded cover (at most twice it) fits
// the MySQL MEDIUMBLOB column and MariaDB's default max_allowed_packet of 16 MiB.
const maxCoverBytesLimit = 4 << 20

// coverType is the Content-Type of an accepted image format, by the name image.DecodeConfig
// reports, or "". Only PNG and JPEG: another package registering a decoder (gif, webp) must
// not widen what an upload may be.
func coverType(format string) string {
	switch format {
	case "png":
		return "image/png"
	case "jpeg":
		return "image/jpeg"
	}
	return ""
}

// coverDecoders is how many uploaded covers one process decodes at once: a 4096×4096
// 16-bit PNG takes 128 MiB decoded, so uploads wait for a slot rather than add up.
const coverDecoders = 2

// jpegQuality of re-encoded JPEG covers.
const jpegQuality = 85

// coverPath is where an uploaded cover is served; version changes with every upload so a
// browser's cached copy of an older cover is never reused.
func coverPath(id int64, version string) string {
	return "/api/rooms/" + strconv.FormatInt(id, 10) + "/cover?v=" + version
}

// isCoverPath reports whether cover is the served path of room id's upload.
func isCoverPath(id int64, cover string) bool {
	return strings.HasPrefix(cover, "/api/rooms/"+strconv.FormatInt(id, 10)+"/cover?v=")
}

// Cover is a stored cover image.
type Cover struct {
	ContentType string
	Data        []byte
	ETag        string // quoted strong ETag
	UpdatedAt   int64
}

// decodeCover checks that data is a PNG or JPEG within maxSide pixels each way — from the
// header, before any pixel is decoded — decodes it fully and re-encodes it in its own format.
func decodeCover(data []byte, maxSide int) (Cover, error) {
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	ctype := coverType(format)
	if err != nil || ctype == "" {
		return Cover{}, ErrBadCover.Withf("cover must be a PNG or JPEG image")
	}
	if cfg.Width < 1 || cfg.Height < 1 || cfg.Width > maxSide || cfg.Height > maxSide {
		return Cover{}, ErrBadCover.Withf("cover is %dx%d pixels, at most %dx%d are allowed", cfg.Width, cfg.Height, maxSide, maxSide)
	}
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return Cover{}, ErrBadCover.Withf("cover is not a valid %s image", format)
	}
	var out bytes.Buffer
	if format == "png" {
		err = (&png.Encoder{CompressionLevel: png.DefaultCompression}).Encode(&out, img)
	} else {
		err = jpeg.Encode(&out, img, &jpeg.Options{Quality: jpegQuality})
	}
	if err != nil {
		return Cover{}, fmt.Errorf("cover: re-encode: %w", err)
	}
	sum := sha256.Sum256(out.Bytes())
	return Cover{ContentType: ctype, Data: out.Bytes(), ETag: `"` + hex.EncodeToString(sum[:12]) + `"`}, nil
}

// checkCoverURL accepts an external cover URL only on an allowed host: https, no user info,
// no IP literal, no explicit port, at most 512 bytes.
func checkCoverURL(raw string, hosts []string) error {
	if len(hosts) == 0 {
		return ErrBadCover.Withf("upload the cover image (PUT /api/rooms/{id}/cover): external cover URLs are not allowed here")
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil || len(raw) > 512:
		return ErrBadCover.Withf("cover must be an https URL of at most 512 bytes")
	case u.Scheme != "https" || u.Host == "":
		return ErrBadCover.Withf("cover must be an https URL")
	case u.User != nil:
		return ErrBadCover.Withf("cover URL must not carry a user name or password")
	case u.Port() != "":
		return ErrBadCover.Withf("cover URL must not name a port")
	case net.ParseIP(strings.Trim(u.Hostname(), "[]")) != nil:
		return ErrBadCover.Withf("cover URL must name a host, not an IP address")
	case !coverHostAllowed(strings.ToLower(u.Hostname()), hosts):
		return ErrBadCover.Withf("cover images may come only from %s, or be uploaded", strings.Join(hosts, ", "))
	}
	return nil
}

// coverHostAllowed matches host against the allow-list: exact names, and "*.name" for the
// subdomains of name (not name itself).
func coverHostAllowed(host string, hosts []string) bool {
	for _, h := range hosts {
		if suffix, ok := strings.CutPrefix(h, "*"); ok {
			if strings.HasSuffix(host, suffix) && len(host) > len(suffix) {
				return true
			}
		} else if host == h {
			return true
		}
	}
	return false
}

// validCoverHost is the shape of a room.cover_hosts entry: a lower-case DNS name with at
// least one dot, optionally prefixed by "*.", and not an IP address.
func validCoverHost(h string) bool {
	name := strings.TrimPrefix(h, "*.")
	if name == "" || len(name) > 253 || !strings.Contains(name, ".") || net.ParseIP(name) != nil {
		return false
	}
	for _, label := range strings.Split(name, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	// A name of digits and dots only would be an IPv4 address in some resolvers' eyes.
	return strings.Trim(name, "0123456789.") != ""
}

// shownCover is the cover a view shows: the room's own upload, or an external URL that the
// current allow-list still admits. Covers set before uploads existed, or on a host removed
// from room.cover_hosts, are left out ("") rather than fetched by viewers' browsers.
func (s *Service) shownCover(r Room) string {
	switch {
	case r.Cover == "":
		return ""
	case isCoverPath(r.ID, r.Cover):
		return r.Cover
	case checkCoverURL(r.Cover, s.cfg.CoverHosts) == nil:
		return r.Cover
	}
	return ""
}

// SetCover stores an uploaded cover for room id (owner only) and points the room at it.
func (s *Service) SetCover(ctx context.Context, uid, id int64, data []byte) (Room, error) {
	if _, err := s.owned(ctx, uid, id); err != nil {
		return Room{}, err
	}
	c, err := s.decodeLimited(ctx, data)
	if err != nil {
		return Room{}, err
	}
	if int64(len(c.Data)) > 2*s.cfg.CoverMaxBytes {
		return Room{}, ErrBadCover.Withf("cover does not compress: re-encoded it is %d bytes, at most %d are allowed", len(c.Data), 2*s.cfg.CoverMaxBytes)
	}
	c.UpdatedAt = s.now().UnixMilli()
	r, err := s.store.SetCover(ctx, id, c, coverPath(id, strings.Trim(c.ETag, `"`)))
	if err != nil {
		return Room{}, err
	}
	s.invalidate(ctx, id)
	s.log.InfoContext(ctx, "room cover uploaded", "room", id, "bytes", len(c.Data), "type", c.ContentType)
	return r, nil
}

// decodeLimited is decodeCover in one of the process's coverDecoders slots, waiting for one
// as long as ctx allows.
func (s *Service) decodeLimited(ctx context.Context, data []byte) (Cover, error) {
	select {
	case s.coverSlots <- struct{}{}: // a free slot wins over an ending request
	default:
		select {
		case s.coverSlots <- struct{}{}:
		case <-ctx.Done():
			return Cover{}, apierr.Unavailable.Withf("too many cover uploads at once, try again")
		}
	}
	defer func() { <-s.coverSlots }()
	return decodeCover(data, s.cfg.CoverMaxSide)
}

// Cover returns room id's uploaded cover, or ErrNoCover.
func (s *Service) Cover(ctx context.Context, id int64) (Cover, error) {
	return s.store.Cover(ctx, id)
}
