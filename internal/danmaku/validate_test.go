package danmaku

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/zhibo-live/zhibo/internal/platform/textnorm"
)

func TestCheckInput(t *testing.T) {
	in, err := checkInput("\u3000 hi there \n", 0, 0, 0, 100)
	require.NoError(t, err)
	require.Equal(t, input{text: "hi there", color: 0xFFFFFF, mode: 1}, in)

	in, err = checkInput("ok", 0x123456, 4, 0, 100)
	require.NoError(t, err)
	require.Equal(t, input{text: "ok", color: 0x123456, mode: 4}, in)

	in, err = checkInput("me too", 0, 0, 7301234567890123456, 100)
	require.NoError(t, err)
	require.Equal(t, int64(7301234567890123456), in.replyTo)
	_, err = checkInput("me too", 0, 0, -1, 100)
	require.ErrorIs(t, err, ErrBadInput)
	require.ErrorContains(t, err, "reply_to must be the id of a comment")

	_, err = checkInput(strings.Repeat("é", 3), 0, 0, 0, 2)
	require.ErrorContains(t, err, "3 characters long, at most 2")
	// Combining marks count as their own code points.
	_, err = checkInput("e\u0301x", 0, 0, 0, 3)
	require.NoError(t, err)
	// The length limit applies to the cleaned text: invisible characters do not count.
	in, err = checkInput("ab\u200b\u200b\u200b", 0, 0, 0, 2)
	require.NoError(t, err)
	require.Equal(t, "ab", in.text)

	for _, bad := range []rune{0, 0x1b, 0x7f, 0x9f, 0x2028, 0x2029} {
		_, err := checkInput("a"+string(bad)+"b", 0, 0, 0, 100)
		require.ErrorIs(t, err, ErrBadInput, "%U", bad)
	}
	// Invisible characters and bidi controls are removed, not refused.
	for _, gone := range []rune{0x200b, 0x200d, 0x200e, 0x00ad, 0x202a, 0x202b, 0x202c, 0x202d, 0x202e, 0x2060, 0x2066, 0x2067, 0x2068, 0x2069, 0xfeff} {
		in, err := checkInput("a"+string(gone)+"b", 0, 0, 0, 100)
		require.NoError(t, err, "%U", gone)
		require.Equal(t, "ab", in.text, "%U", gone)
	}
	for _, good := range []rune{0x3000 + 1, 0x1f600, 0xe9} {
		in, err := checkInput("a"+string(good)+"b", 0, 0, 0, 100)
		require.NoError(t, err, "%U", good)
		require.Equal(t, "a"+string(good)+"b", in.text)
	}
}

// FuzzCheckInput: whatever arrives, an accepted comment is valid UTF-8, trimmed, within the
// length limit, free of forbidden characters, with a colour and mode the protocol knows.
func FuzzCheckInput(f *testing.F) {
	for _, s := range []string{"", " ", "hi", "弹幕", "a\nb", "\u202eevil", "\xff", strings.Repeat("x", 101), "\u3000x\u3000"} {
		f.Add(s, 0, 0)
	}
	f.Add("c", 0xFFFFFF, 5)
	f.Add("c", -1, 3)
	f.Fuzz(func(t *testing.T, text string, color, mode int) {
		in, err := checkInput(text, color, mode, 0, 100)
		if err != nil {
			require.True(t, errors.Is(err, ErrBadInput), "%v", err)
			return
		}
		require.True(t, utf8.ValidString(in.text))
		require.Equal(t, strings.TrimSpace(in.text), in.text)
		n := utf8.RuneCountInString(in.text)
		require.True(t, n >= 1 && n <= 100)
		require.Equal(t, textnorm.Clean(in.text), in.text, "stored text is clean")
		for _, r := range in.text {
			require.False(t, forbiddenRune(r), "%U", r)
		}
		require.True(t, in.color >= 1 && in.color <= maxColor)
		require.Contains(t, []int{1, 4, 5}, in.mode)
	})
}

func BenchmarkCheckInput(b *testing.B) {
	text := strings.Repeat("弹幕好看", 10)
	w := textnorm.NewWords([]string{"spam", "广告", "scam", "加微信"})
	b.ReportAllocs()
	for b.Loop() {
		in, err := checkInput(text, 0, 0, 0, 100)
		if err != nil || w.FoundClean(in.text) {
			b.Fatal(err)
		}
	}
}
