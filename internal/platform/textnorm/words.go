package textnorm

import "strings"

// Words is a banned-word list matched on skeletons: a word is found in a text when the text's
// skeleton contains the word's, so case, full-width forms, zero-width characters and look-alike
// letters from other scripts do not hide it. The zero value bans nothing.
type Words struct {
	skeletons []string // non-empty, deduplicated
}

// NewWords builds the matcher; blank entries are ignored.
func NewWords(words []string) Words {
	var w Words
	seen := map[string]bool{}
	for _, s := range words {
		k := Skeleton(strings.TrimSpace(s))
		if k != "" && !seen[k] {
			seen[k] = true
			w.skeletons = append(w.skeletons, k)
		}
	}
	return w
}

// Len is the number of distinct banned words.
func (w Words) Len() int { return len(w.skeletons) }

// Found reports whether text contains a banned word.
func (w Words) Found(text string) bool {
	if len(w.skeletons) == 0 {
		return false
	}
	return w.FoundClean(Clean(text))
}

// FoundClean is Found for a text that is already Clean (what a field stores), sparing the
// second Clean on hot paths. Given a text that is not Clean, it may miss a disguised word.
func (w Words) FoundClean(clean string) bool {
	if len(w.skeletons) == 0 {
		return false
	}
	k := skeletonOfClean(clean)
	for _, s := range w.skeletons {
		if strings.Contains(k, s) {
			return true
		}
	}
	return false
}
