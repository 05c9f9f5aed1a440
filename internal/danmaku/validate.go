package danmaku

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/zhibo-live/zhibo/internal/protocol"
)

// maxColor is the largest RGB colour, 0xRRGGBB.
const maxColor = 0xFFFFFF

// input is a comment after validation: trimmed text and the effective colour and mode.
type input struct {
	text  string
	color int
	mode  int
}

// checkInput trims text and validates it, color and mode. color 0 and mode 0 mean the
// defaults (white, scroll), as in the wire protocol. Every error is an ErrBadInput with a
// message naming the field and what is allowed.
func checkInput(text string, color, mode, maxRunes int) (input, error) {
	if !utf8.ValidString(text) {
		return input{}, ErrBadInput.Withf("text must be valid UTF-8")
	}
	text = strings.TrimSpace(text)
	n := utf8.RuneCountInString(text)
	if n == 0 {
		return input{}, ErrBadInput.Withf("text must not be empty")
	}
	if n > maxRunes {
		return input{}, ErrBadInput.Withf("text is %d characters long, at most %d are allowed", n, maxRunes)
	}
	pos := 0
	for _, r := range text {
		pos++
		if forbiddenRune(r) {
			return input{}, ErrBadInput.Withf("text contains the control character U+%04X at character %d", r, pos)
		}
	}
	if color == 0 {
		color = protocol.DefaultDanmuColor
	}
	if color < 0 || color > maxColor {
		return input{}, ErrBadInput.Withf("color must be an RGB integer in [0, %d], got %d", maxColor, color)
	}
	switch mode {
	case 0:
		mode = protocol.DefaultDanmuMode
	case protocol.DanmuModeScroll, protocol.DanmuModeBottom, protocol.DanmuModeTop:
	default:
		return input{}, ErrBadInput.Withf("mode must be %d (scroll), %d (bottom) or %d (top), got %d",
			protocol.DanmuModeScroll, protocol.DanmuModeBottom, protocol.DanmuModeTop, mode)
	}
	return input{text: text, color: color, mode: mode}, nil
}

// forbiddenRune reports characters that would break or spoof how a comment is drawn: C0/C1
// controls (newlines, tabs inside the text), the line and paragraph separators, and the
// bidirectional embedding, override and isolate controls that reorder the text around them.
func forbiddenRune(r rune) bool {
	switch {
	case unicode.IsControl(r):
		return true
	case r == '\u2028' || r == '\u2029':
		return true
	case r >= '\u202A' && r <= '\u202E':
		return true
	case r >= '\u2066' && r <= '\u2069':
		return true
	}
	return false
}

// wordFilter finds banned words, case-insensitively, anywhere in a text.
type wordFilter struct {
	words []string // lower-cased, non-empty
}

func newWordFilter(words []string) wordFilter {
	var f wordFilter
	for _, w := range words {
		if w = strings.ToLower(strings.TrimSpace(w)); w != "" {
			f.words = append(f.words, w)
		}
	}
	return f
}

// banned reports whether text contains any banned word.
func (f wordFilter) banned(text string) bool {
	if len(f.words) == 0 {
		return false
	}
	lower := strings.ToLower(text)
	for _, w := range f.words {
		if strings.Contains(lower, w) {
			return true
		}
	}
	return false
}
