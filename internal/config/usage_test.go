package config

import (
	"bytes"
	"errors"
	"flag"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestTypoNamesTheClosestFlag(t *testing.T) {
	var out bytes.Buffer
	_, _, err := Load("zhibo", []string{"-gatway.http_addr", "x"}, env(nil), &out, nil)
	require.EqualError(t, err, "unknown flag -gatway.http_addr (did you mean -gateway.http_addr?)")
	require.Empty(t, out.String(), "no flag list on a typo")

	_, _, err = Load("zhibo", []string{"-zzzzzzzzzzzz"}, env(nil), &out, nil)
	require.EqualError(t, err, "unknown flag -zzzzzzzzzzzz (zhibo config doc lists every setting)")
	require.Empty(t, out.String())

	_, _, err = Load("zhibo", []string{"-job.window", "soon"}, env(nil), &out, nil)
	require.ErrorContains(t, err, `invalid value "soon" for flag -job.window`)
	require.Empty(t, out.String())
}

func TestHelpGroupsFlagsByComponent(t *testing.T) {
	var out bytes.Buffer
	_, _, err := Load("zhibo", []string{"-h"}, env(nil), &out, nil)
	require.True(t, errors.Is(err, flag.ErrHelp))
	text := out.String()
	general := strings.Index(text, "\ngeneral:\n")
	gateway := strings.Index(text, "\ngateway:\n")
	job := strings.Index(text, "\njob:\n")
	require.True(t, general >= 0 && gateway > general && job > gateway, "groups in order:\n%s", text)
	// Each flag sits in its own component's group.
	require.Greater(t, strings.Index(text, "  -job.window duration"), job)
	require.Less(t, strings.Index(text, "  -gateway.http_addr string"), job)
	require.Greater(t, strings.Index(text, "  -gateway.http_addr string"), gateway)
	require.Less(t, strings.Index(text, "  -data_dir string"), gateway)
	require.Contains(t, text, `(default "./data")`)
	require.Contains(t, text, "(default 50ms)")
}

func TestEditDistance(t *testing.T) {
	for _, c := range []struct {
		a, b string
		d    int
	}{{"", "", 0}, {"abc", "abc", 0}, {"abc", "abd", 1}, {"gatway", "gateway", 1}, {"", "abc", 3}, {"kitten", "sitting", 3}} {
		require.Equal(t, c.d, editDistance(c.a, c.b), "%q %q", c.a, c.b)
		require.Equal(t, c.d, editDistance(c.b, c.a), "%q %q", c.b, c.a)
	}
}
