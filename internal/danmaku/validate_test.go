package danmaku

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

func TestCheckInput(t *testing.T) {
	in, err := checkInput("\u3000 hi there \n", 0, 0, 100)
	require.NoError(t, err)
	require.Equal(t, input{text: "hi there", color: 0xFFFFFF, mode: 1}, in)

	in, err = checkInput("ok", 0x123456, 4, 100)
	require.NoError(t, err)
	require.Equal(t, input{text: "ok", color: 0x123456, mode: 4}, in)

	_, err = checkInput(strings.Repeat("é", 3), 0, 0, 2)
	require.ErrorContains(t, err, "3 characters long, at most 2")
	// Combining marks count as their own code points; zero-width joiners are allowed.
	_, err = checkInput("e\u0301\u200d", 0, 0, 3)
	require.NoError(t, err)

	for _, bad := range []rune{0, 0x1b, 0x7f, 0x9f, 0x2028, 0x2029, 0x202a, 0x202b, 0x202c, 0x202d, 0x202e, 0x2066, 0x2067, 0x2068, 0x2069} {
		_, err := checkInput("a"+string(bad)+"b", 0, 0, 100)
		require.ErrorIs(t, err, ErrBadInput, "%U", bad)
	}
	for _, good := range []rune{0x200b, 0x200e, 0x2065, 0x206a, 0x3000 + 1, 0x1f600} {
		_, err := checkInput("a"+string(good)+"b", 0, 0, 100)
		require.NoError(t, err, "%U", good)
	}
}

func TestWordFilter(t *testing.T) {
	f := newWordFilter([]string{" SPAM ", "", "广告"})
	require.True(t, f.banned("no spam here"))
	require.True(t, f.banned("SpAmMy"))
	require.True(t, f.banned("看广告"))
	require.False(t, f.banned("sp am"))
	require.False(t, newWordFilter(nil).banned("anything"))
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
		in, err := checkInput(text, color, mode, 100)
		if err != nil {
			require.True(t, errors.Is(err, ErrBadInput), "%v", err)
			return
		}
		require.True(t, utf8.ValidString(in.text))
		require.Equal(t, strings.TrimSpace(in.text), in.text)
		n := utf8.RuneCountInString(in.text)
		require.True(t, n >= 1 && n <= 100)
		for _, r := range in.text {
			require.False(t, forbiddenRune(r), "%U", r)
		}
		require.True(t, in.color >= 1 && in.color <= maxColor)
		require.Contains(t, []int{1, 4, 5}, in.mode)
	})
}

func BenchmarkCheckInput(b *testing.B) {
	text := strings.Repeat("弹幕好看", 10)
	f := newWordFilter([]string{"spam", "广告", "scam", "加微信"})
	b.ReportAllocs()
	for b.Loop() {
		in, err := checkInput(text, 0, 0, 100)
		if err != nil || f.banned(in.text) {
			b.Fatal(err)
		}
	}
}
