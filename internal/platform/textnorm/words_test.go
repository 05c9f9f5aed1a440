package textnorm

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestWordsSeeThroughDisguises(t *testing.T) {
	w := NewWords([]string{"spam", " ", "", "SPAM"})
	require.Equal(t, 1, w.Len())
	for _, text := range []string{
		"buy spam now", "SPAM", "sp\u200bam", "sp\u00adam", "ｓｐａｍ", "ѕраm", "s\u202ep\u202cam",
	} {
		require.True(t, w.Found(text), "%q hides a banned word", text)
		require.True(t, w.FoundClean(Clean(text)), "%q hides a banned word", text)
	}
	for _, text := range []string{"hello", "spa m", "s-p-a-m", ""} {
		require.False(t, w.Found(text), "%q", text)
	}
	require.False(t, Words{}.Found("spam"), "the zero value bans nothing")
	require.False(t, Words{}.FoundClean("spam"), "the zero value bans nothing")
}
