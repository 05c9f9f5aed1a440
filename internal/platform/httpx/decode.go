package httpx

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"reflect"
	"strconv"
	"unicode/utf8"

	"github.com/zhibo-live/zhibo/internal/platform/apierr"
)

// MaxBody is the default limit of a JSON request body.
const MaxBody = 64 << 10

// errBodyTimeout answers a body that did not arrive before the server's read deadline.
var errBodyTimeout = apierr.New(http.StatusRequestTimeout, -408, "request body not received in time")

// Decode reads one JSON object from r's body into dst: at most MaxBody bytes of valid UTF-8, no unknown
// fields, field names in their exact case, no name twice in one object, no trailing data.
// Every failure is a BadRequest (or TooLarge, or RequestTimeout for a body that does not
// arrive within the server's read timeout) with a precise message.
func Decode(w http.ResponseWriter, r *http.Request, dst any) error {
	return DecodeLimit(w, r, dst, MaxBody)
}

// DecodeLimit is Decode with an explicit size limit.
func DecodeLimit(w http.ResponseWriter, r *http.Request, dst any, limit int64) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		return decodeError(err, limit)
	}
	if !utf8.Valid(body) { // encoding/json would silently turn the bad bytes into U+FFFD
		return apierr.BadRequest.Withf("request body must be valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return decodeError(err, limit)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return apierr.BadRequest.Withf("request body must hold a single JSON object")
	}
	// encoding/json has accepted the shape; refuse what it lets through (strict.go).
	if err := checkStrict(body, reflect.TypeOf(dst)); err != nil {
		if apierr.From(err).Status == http.StatusBadRequest {
			return err
		}
		return apierr.BadRequest.Withf("malformed JSON")
	}
	return nil
}

func decodeError(err error, limit int64) error {
	var (
		syn *json.SyntaxError
		typ *json.UnmarshalTypeError
		mbe *http.MaxBytesError
	)
	switch {
	case errors.As(err, &mbe):
		return apierr.TooLarge.Withf("request body larger than %d bytes", limit)
	case errors.Is(err, os.ErrDeadlineExceeded):
		return errBodyTimeout
	case errors.Is(err, io.EOF):
		return apierr.BadRequest.Withf("request body is empty, want a JSON object")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return apierr.BadRequest.Withf("request body is truncated JSON")
	case errors.As(err, &syn):
		return apierr.BadRequest.Withf("malformed JSON at byte %d", syn.Offset)
	case errors.As(err, &typ):
		if typ.Field != "" {
			return apierr.BadRequest.Withf("field %q must be %s", typ.Field, typ.Type)
		}
		return apierr.BadRequest.Withf("request body must be a JSON object")
	default:
		// encoding/json reports unknown fields only as text: `json: unknown field "x"`.
		return apierr.BadRequest.Withf("%s", trimJSONPrefix(err.Error()))
	}
}

func trimJSONPrefix(s string) string {
	const p = "json: "
	if len(s) > len(p) && s[:len(p)] == p {
		return s[len(p):]
	}
	return s
}

// PathInt64 reads a positive integer path value such as {id}.
func PathInt64(r *http.Request, name string) (int64, error) {
	v, err := strconv.ParseInt(r.PathValue(name), 10, 64)
	if err != nil || v <= 0 {
		return 0, apierr.BadRequest.Withf("path parameter %s must be a positive integer", name)
	}
	return v, nil
}

// QueryInt reads an optional integer query parameter bounded to [lo, hi].
func QueryInt(r *http.Request, name string, def, lo, hi int) (int, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return def, nil
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < lo || v > hi {
		return 0, apierr.BadRequest.Withf("query parameter %s must be an integer in [%d, %d]", name, lo, hi)
	}
	return v, nil
}

// Errorf is a shortcut for a BadRequest with a formatted message.
func Errorf(format string, args ...any) error {
	return apierr.BadRequest.Withf(format, args...)
}
