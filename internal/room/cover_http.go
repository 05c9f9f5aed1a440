package room

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/zhibo-live/zhibo/internal/platform/apierr"
	"github.com/zhibo-live/zhibo/internal/platform/httpx"
)

// coverCacheControl lets browsers and proxies keep a cover a day without asking: its URL
// carries the version (?v=), so a new upload is a new URL.
const coverCacheControl = "public, max-age=86400"

// coverCSP keeps a cover opened on its own from running anything, whatever a browser makes of
// its bytes.
const coverCSP = "default-src 'none'; sandbox"

// handlePutCover takes the image bytes as the request body (Content-Type image/png or
// image/jpeg; the bytes decide, not the header) from the room's owner.
func (s *Service) handlePutCover(w http.ResponseWriter, r *http.Request) error {
	uid, id, err := httpx.UIDAndPath(r, "id")
	if err != nil {
		return err
	}
	// Refuse a stranger before reading megabytes from them.
	if _, err := s.owned(r.Context(), uid, id); err != nil {
		return err
	}
	if r.ContentLength > s.cfg.CoverMaxBytes {
		return apierr.TooLarge.Withf("cover larger than %d bytes", s.cfg.CoverMaxBytes)
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.CoverMaxBytes))
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return apierr.TooLarge.Withf("cover larger than %d bytes", s.cfg.CoverMaxBytes)
	case err != nil:
		return apierr.BadRequest.Withf("reading the cover: %v", err)
	case len(data) == 0:
		return ErrBadCover.Withf("the request body must be the PNG or JPEG image")
	}
	rm, err := s.SetCover(r.Context(), uid, id, data)
	if err != nil {
		return err
	}
	return s.one(w, r, rm, all)
}

// handleGetCover serves the uploaded cover with its type, a strong ETag (If-None-Match gets
// a 304) and nosniff, so that it is only ever an image.
func (s *Service) handleGetCover(w http.ResponseWriter, r *http.Request) error {
	id, err := httpx.PathInt64(r, "id")
	if err != nil {
		return err
	}
	c, err := s.Cover(r.Context(), id)
	if err != nil {
		return err
	}
	hdr := w.Header()
	hdr.Set("Content-Type", c.ContentType)
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Content-Security-Policy", coverCSP)
	hdr.Set("Cache-Control", coverCacheControl)
	hdr.Set("ETag", c.ETag)
	http.ServeContent(w, r, "", time.UnixMilli(c.UpdatedAt), bytes.NewReader(c.Data))
	return nil
}
