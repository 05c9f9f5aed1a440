package apierr

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

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
