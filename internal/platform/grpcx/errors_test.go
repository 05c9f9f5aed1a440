package grpcx

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/zhibo-live/zhibo/internal/platform/apierr"
)

// serve runs the server-side error interceptor over a handler that fails with err and returns
// what a client rebuilds from the status it sends.
func serve(err error) error {
	_, st := toStatus(context.Background(), nil, nil, func(context.Context, any) (any, error) { return nil, err })
	return FromStatus(st)
}

// An error keeps its kind across the wire — code, HTTP status and message — in a typed status
// detail, whatever its message says.
func TestErrorKindCrossesTheWire(t *testing.T) {
	for _, in := range []*apierr.Error{
		apierr.New(http.StatusConflict, -40001, "name already taken"),
		apierr.New(http.StatusTooManyRequests, -40008, "too many attempts, wait 3s"),
		apierr.New(http.StatusBadRequest, -20002, "12|looks like a code"),
		apierr.New(http.StatusRequestEntityTooLarge, -413, "body too large"),
		apierr.New(http.StatusInternalServerError, -500, "internal error"),
	} {
		got := apierr.From(serve(fmt.Errorf("wrapped: %w", in)))
		require.Equal(t, in.Status, got.Status, "%v", in)
		require.Equal(t, in.Code, got.Code, "%v", in)
		require.Equal(t, in.Message, got.Message, "%v", in)
	}
}

// A status from something that is not a zhibo peer (a proxy, grpc itself) is taken by its gRPC
// code alone: its message is never parsed for a zhibo code.
func TestForeignStatusIsNotParsed(t *testing.T) {
	got := apierr.From(FromStatus(status.Error(codes.NotFound, "7|not ours")))
	require.Equal(t, http.StatusNotFound, got.Status)
	require.Equal(t, -http.StatusNotFound, got.Code)
	require.Equal(t, "7|not ours", got.Message)

	got = apierr.From(FromStatus(errors.New("connection refused")))
	require.Equal(t, http.StatusServiceUnavailable, got.Status)
}
