package render

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Visible returns text from a managed host (a file's lines in a diff, command output
// in an error) with everything a terminal would act on, or that would reorder what a
// reviewer reads, written out as an escape: C0 controls but tab and newline, DEL and
// C1 controls as \x1b, \x7f, \u009b; bytes that are not UTF-8 as \xff; Unicode's bidi
// overrides and isolates as \u202e. A host's file could otherwise clear the screen,
// rewrite a line with \r, retitle the window or hide a change from the review.
//
// Only what people read is escaped: JSON output keeps the exact text (encoding/json
// escapes it), and so does the diff text itself, which patch applies.
func Visible(s string) string {
	if !needsEscape(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case escapedRune(r) && r < 0x80:
			fmt.Fprintf(&b, `\x%02x`, r)
		case escapedRune(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// needsEscape reports whether Visible would change s.
func needsEscape(s string) bool {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 || escapedRune(r) {
			return true
		}
		i += size
	}
	return false
}

func escapedRune(r rune) bool {
	switch {
	case r == '\t' || r == '\n':
		return false
	case r < 0x20 || r >= 0x7f && r <= 0x9f: // C0, DEL, C1
		return true
	case r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069: // bidi embeddings, overrides, isolates
		return true
	}
	return false
}
