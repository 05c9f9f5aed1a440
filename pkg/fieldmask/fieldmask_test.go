package fieldmask

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

var allowed = []string{"base", "live", "anchor", "stats", "tags"}

func TestParse(t *testing.T) {
	m, err := Parse(" live, base ,,live", allowed, []string{"base"})
	require.NoError(t, err)
	require.True(t, m.Has("base"))
	require.True(t, m.Has("live"))
	require.False(t, m.Has("stats"))
	require.Equal(t, "base,live", m.String())

	m, err = Parse("", allowed, []string{"base", "live"})
	require.NoError(t, err)
	require.Equal(t, []string{"base", "live"}, m.Names())

	_, err = Parse("base,secrets", allowed, nil)
	var ue *UnknownError
	require.True(t, errors.As(err, &ue))
	require.Equal(t, "secrets", ue.Module)
	require.Contains(t, err.Error(), "base, live")
}

func TestOf(t *testing.T) {
	require.True(t, Of("tags").Has("tags"))
	require.False(t, Of().Has("tags"))
}
