package summary

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// ellipsis marks every cut, so a reader never mistakes a clipped word for a
// whole one.
const ellipsis = "…"

// runeLen counts characters the way the 600-character limit does.
func runeLen(s string) int { return utf8.RuneCountInString(s) }

// normalizeSpace collapses runs of whitespace, newlines included, so one
// message reads as one line.
func normalizeSpace(s string) string { return strings.Join(strings.Fields(s), " ") }

// clip shortens s to at most max runes. It prefers to cut between words and
// marks any cut with an ellipsis; a single long word (a URL) is cut hard,
// still with the ellipsis.
func clip(s string, max int) string {
	if runeLen(s) <= max {
		return s
	}
	if max <= 0 {
		return ""
	}
	all := []rune(s)
	r := all[:max-1]                  // room for the ellipsis
	if !unicode.IsSpace(all[max-1]) { // the cut is inside a word
		if i := lastSpace(r); i > len(r)/2 {
			r = r[:i]
		}
	}
	cut := strings.TrimRightFunc(string(r), func(c rune) bool {
		return unicode.IsSpace(c) || strings.ContainsRune(",;:-–(", c)
	})
	return cut + ellipsis
}

func lastSpace(r []rune) int {
	for i := len(r) - 1; i >= 0; i-- {
		if unicode.IsSpace(r[i]) {
			return i
		}
	}
	return -1
}

// quote wraps a message in quotation marks, clipped so that the result,
// marks included, fits in max runes.
func quote(s string, max int) string {
	if max < 3 {
		return ""
	}
	return `"` + clip(s, max-2) + `"`
}
