package protocol

import (
	"errors"
	"fmt"
)

// Error is a protocol violation. Every sentinel below is an *Error; returned
// errors wrap one of them (test with errors.Is) and add detail. Reason is a
// short stable label fit for a metric.
type Error struct {
	reason string
	msg    string
}

func (e *Error) Error() string { return "protocol: " + e.msg }

// Reason is a short snake_case label for the violation ("too_large", ...).
func (e *Error) Reason() string { return e.reason }

// Sentinel protocol errors. A connection that produces any of them is closed.
var (
	ErrHeaderLen  = &Error{"header_len", "wrong header length"}
	ErrShort      = &Error{"short", "packet length below header length"}
	ErrTooLarge   = &Error{"too_large", "packet too large"}
	ErrUnknownOp  = &Error{"unknown_op", "unknown operation"}
	ErrVersion    = &Error{"version", "unknown protocol version"}
	ErrTruncated  = &Error{"truncated", "truncated packet"}
	ErrDecompress = &Error{"decompress", "bad compressed body"}
	ErrAuth       = &Error{"bad_auth", "invalid auth body"}
)

// wrapped keeps the sentinel visible to errors.Is/As while carrying detail.
type wrapped struct {
	base   *Error
	detail string
	cause  error
}

func (w *wrapped) Error() string {
	s := w.base.Error() + ": " + w.detail
	if w.cause != nil {
		s += ": " + w.cause.Error()
	}
	return s
}

func (w *wrapped) Unwrap() []error {
	if w.cause != nil {
		return []error{w.base, w.cause}
	}
	return []error{w.base}
}

func errorf(base *Error, format string, args ...any) error {
	return &wrapped{base: base, detail: fmt.Sprintf(format, args...)}
}

func wrapErr(base *Error, detail string, cause error) error {
	return &wrapped{base: base, detail: detail, cause: cause}
}

// Reason returns the metric label of the protocol error err wraps, or "" if
// err is not a protocol error.
func Reason(err error) string {
	var pe *Error
	if errors.As(err, &pe) {
		return pe.reason
	}
	return ""
}
