package textnorm

import (
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

func TestCleanRemovesInvisibleAndFoldsCompatibility(t *testing.T) {
	for in, want := range map[string]string{
		"ba\u200bd":          "bad",     // zero-width space
		"ba\u00add":          "bad",     // soft hyphen
		"b\u200da\u200cd":    "bad",     // zero-width joiner and non-joiner
		"\ufeffbad\u2060":    "bad",     // BOM, word joiner
		"ｂａｄ":                "bad",     // full-width
		"\u202etxt.exe":      "txt.exe", // right-to-left override
		"a\u2066b\u2069c":    "abc",     // isolates
		"\u200fabc\u200e":    "abc",     // bidi marks
		"ﬁne":                "fine",    // ligature
		"x\ufe0f":            "x",       // variation selector
		"\u3164name":         "name",    // Hangul filler
		"plain text, 中文 ok!": "plain text, 中文 ok!",
		"naïve":              "naïve",
		"bad\xff":            "bad\uFFFD",
	} {
		require.Equal(t, want, Clean(in), "Clean(%q)", in)
	}
}

// The fast paths of Invisible agree with the Unicode tables on every code point.
func TestInvisibleFastPaths(t *testing.T) {
	for r := rune(0); r <= unicode.MaxRune; r++ {
		want := unicode.In(r, unicode.Cf, unicode.Variation_Selector, unicode.Other_Default_Ignorable_Code_Point)
		if Invisible(r) != want {
			t.Fatalf("Invisible(%U) = %v, want %v", r, !want, want)
		}
	}
}

func TestSkeletonMatchesLookAlikes(t *testing.T) {
	require.Equal(t, Skeleton("operator1"), Skeleton("оperator1"), "Cyrillic о")
	require.Equal(t, Skeleton("operator1"), Skeleton("OPERATOR1"), "case")
	require.Equal(t, Skeleton("operator1"), Skeleton("ｏｐｅｒａｔｏｒ１"), "full width")
	require.Equal(t, Skeleton("operator1"), Skeleton("oper\u200bator1"), "zero-width space")
	require.Equal(t, Skeleton("paypal"), Skeleton("pаypаl"), "Cyrillic а")
	require.NotEqual(t, Skeleton("operator1"), Skeleton("operator2"))
	require.NotEqual(t, Skeleton("alice"), Skeleton("bob"))
}

func FuzzClean(f *testing.F) {
	for _, s := range []string{"", "abc", "ba\u200bd", "ｂａｄ", "\u202e", "\xff\xfe", "ﬁ\u0301", "한국어", "e\u0301"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c := Clean(s)
		require.True(t, utf8.ValidString(c))
		require.Equal(t, c, Clean(c), "Clean is idempotent")
		for _, r := range c {
			require.False(t, Invisible(r), "Clean(%q) kept U+%04X", s, r)
		}
		_ = Skeleton(s)
	})
}
