// Package apierr defines the error kinds every component returns to its callers: each carries
// a stable numeric code, an HTTP status and a human message, so the HTTP envelope and (later)
// the gRPC status are derived in one place.
package apierr

import (
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"net/http"

	"github.com/go-sql-driver/mysql"
)

// Error is an error kind with a code, an HTTP status and a message safe to show to users.
type Error struct {
	Status  int    // HTTP status
	Code    int    // envelope code, never 0
	Message string // human message
	cause   error
}

// New declares an error kind. Packages keep their kinds as sentinels in errors.go.
func New(status, code int, msg string) *Error {
	return &Error{Status: status, Code: code, Message: msg}
}

func (e *Error) Error() string {
	if e.cause != nil {
		return e.Message + ": " + e.cause.Error()
	}
	return e.Message
}

// Unwrap exposes the cause for errors.Is/As.
func (e *Error) Unwrap() error { return e.cause }

// Is matches two errors of the same kind (same code), whatever their messages.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// Withf returns the same kind with a more specific message; errors.Is still matches the kind.
func (e *Error) Withf(format string, args ...any) *Error {
	c := *e
	c.Message = fmt.Sprintf(format, args...)
	return &c
}

// Wrap returns the same kind carrying an underlying cause (logged, not shown).
func (e *Error) Wrap(cause error) *Error {
	c := *e
	c.cause = cause
	return &c
}

// Generic kinds shared by every component. Component-specific kinds use codes of their own.
var (
	BadRequest   = New(http.StatusBadRequest, -400, "bad request")
	Unauthorized = New(http.StatusUnauthorized, -401, "not logged in")
	Forbidden    = New(http.StatusForbidden, -403, "forbidden")
	NotFound     = New(http.StatusNotFound, -404, "not found")
	Conflict     = New(http.StatusConflict, -409, "conflict")
	TooLarge     = New(http.StatusRequestEntityTooLarge, -413, "request body too large")
	TooMany      = New(http.StatusTooManyRequests, -429, "too many requests")
	Internal     = New(http.StatusInternalServerError, -500, "internal error")
	Unavailable  = New(http.StatusServiceUnavailable, -503, "service degraded")
)

// From returns the *Error in err's chain; Unavailable wrapping err when err is a dependency
// that cannot be reached (a network error, a database connection gone or cut mid-statement): the service is
// degraded, not broken; else Internal wrapping err.
func From(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	var ne net.Error
	// mysql.ErrInvalidConn: the connection died under a statement (a database stopped
	// mid-query), which database/sql does not turn into ErrBadConn once the statement is sent.
	if errors.As(err, &ne) || errors.Is(err, driver.ErrBadConn) || errors.Is(err, mysql.ErrInvalidConn) {
		return Unavailable.Wrap(err)
	}
	return Internal.Wrap(err)
}
