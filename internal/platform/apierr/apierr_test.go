package apierr

import (
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"net/http"
	"testing"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/require"
)

func TestKindsMatchAcrossMessagesAndWrapping(t *testing.T) {
	e := NotFound.Withf("room %d not found", 7)
	require.True(t, errors.Is(e, NotFound))
	require.False(t, errors.Is(e, Conflict))
	wrapped := fmt.Errorf("get room: %w", e)
	require.True(t, errors.Is(wrapped, NotFound))
	require.Equal(t, "room 7 not found", From(wrapped).Message)
	require.Equal(t, http.StatusNotFound, From(wrapped).Status)
}

func TestFromUnknownIsInternal(t *testing.T) {
	e := From(errors.New("disk on fire"))
	require.Equal(t, http.StatusInternalServerError, e.Status)
	require.Contains(t, e.Error(), "disk on fire")
	require.Equal(t, "internal error", e.Message)
}

// An unreachable dependency is a degraded service (503), not a bug (500).
func TestUnreachableIsUnavailable(t *testing.T) {
	_, err := net.Dial("tcp", "127.0.0.1:1")
	require.Error(t, err)
	require.Equal(t, 503, From(fmt.Errorf("insert comment: %w", err)).Status)
	require.Equal(t, 503, From(fmt.Errorf("query: %w", driver.ErrBadConn)).Status)
	require.Equal(t, 503, From(fmt.Errorf("send: insert comment: %w", mysql.ErrInvalidConn)).Status)
	require.Equal(t, 500, From(errors.New("something else")).Status)
}
