package danmaku

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/zhibo-live/zhibo/internal/platform/textnorm"
	"github.com/zhibo-live/zhibo/internal/protocol"
)

// maxColor is the largest RGB colour, 0xRRGGBB.
const maxColor = 0xFFFFFF

// input is a comment after validation: cleaned, trimmed text, the effective colour and mode,
// and the comment it replies to (0: none; its existence is checked later, in the store).
type input struct {
	text    string
	color   int
	mode    int
	replyTo int64
}

// checkInput cleans text by the text policy (textnorm.Clean: invisible and bidi controls
// removed, NFKC), trims it and validates it, color and mode. The cleaned text is what is
// matched against banned words, stored and shown. color 0 and mode 0 mean the defaults
// (white, scroll), as in the wire protocol; replyTo 0 means no reply. Every error is an
// ErrBadInput with a message naming the field and what is allowed.
func checkInput(text string, color, mode int, replyTo int64, maxRunes int) (input, error) {
	if !utf8.ValidString(text) {
		return input{}, ErrBadInput.Withf("text must be valid UTF-8")
	}
	text = strings.TrimSpace(textnorm.Clean(text))
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
	if replyTo < 0 {
		return input{}, ErrBadInput.Withf("reply_to must be the id of a comment, got %d", replyTo)
	}
	return input{text: text, color: color, mode: mode, replyTo: replyTo}, nil
}

// forbiddenRune reports characters that would break how a comment is drawn and that Clean
// keeps: C0/C1 controls (newlines, tabs inside the text) and the line and paragraph
// separators. (The bidirectional controls that reorder text never get here: Clean removes
// them.)
func forbiddenRune(r rune) bool {
	return unicode.IsControl(r) || r == '\u2028' || r == '\u2029'
}
