// Package textnorm is the text policy every user-visible field goes through before it is
// validated, stored or matched against banned words: names, room titles and areas, comments.
//
// Clean folds compatibility forms (NFKC: full-width letters, ligatures, superscripts become
// their plain letters) and removes what a reader cannot see but a matcher would: zero-width
// spaces and joiners, soft hyphens, variation selectors, other default-ignorable code points,
// and the bidirectional marks, embeddings, overrides and isolates that reorder text on screen.
// Skeleton goes further, for comparisons only: it case-folds and maps look-alike letters from
// other scripts to one representative (Unicode TR39 confusables), so "оperator1" with a Cyrillic
// "о" and "operator1" have the same skeleton. Skeletons are never shown; they are keys.
package textnorm

import (
	"strings"
	"unicode"

	"github.com/mtibben/confusables"
	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// Invisible reports a rune that Clean removes: format characters (Cf: zero-width space and
// joiners, soft hyphen, bidi marks and controls, word joiner, BOM), variation selectors and the
// other default-ignorable code points (Hangul fillers, combining grapheme joiner, …).
func Invisible(r rune) bool {
	switch {
	case r < '\u00AD': // ASCII and Latin-1 up to the soft hyphen: none (the common case)
		return false
	case r >= '\u2E80' && r < '\uFE00' && r != '\u3164': // CJK, kana, Hangul syllables: only the Hangul filler
		return false
	}
	return unicode.In(r, unicode.Cf, unicode.Variation_Selector, unicode.Other_Default_Ignorable_Code_Point)
}

// Clean returns s without invisible runes, in NFKC. Invalid UTF-8 bytes become U+FFFD.
func Clean(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strip(s)
	if norm.NFKC.IsNormalString(s) {
		return s
	}
	// NFKC can compose new invisible runes out of visible ones only in theory; strip again so
	// the result is a fixed point of Clean.
	return strip(norm.NFKC.String(s))
}

// strip removes invisible runes, returning s itself when it has none.
func strip(s string) string {
	i := strings.IndexFunc(s, Invisible)
	if i < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	b.WriteString(s[:i])
	for _, r := range s[i:] {
		if !Invisible(r) {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// Skeleton is the comparison key of s: Clean, case-folded, then each confusable mapped to its
// prototype. Two strings a reader could mistake for each other have the same skeleton.
func Skeleton(s string) string {
	return skeletonOfClean(Clean(s))
}

// skeletonOfClean is Skeleton of a text that is already Clean.
func skeletonOfClean(s string) string {
	return confusables.Skeleton(cases.Fold().String(s))
}
