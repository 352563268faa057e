// Package safetext makes text written by others safe to show on a terminal
// or in a log line.
//
// Subjects, series names, descriptions and server messages are written by
// anyone who can send a patch or run a server. Printed raw they could move
// the cursor, recolour or clear the screen (ANSI escapes), forge a line of
// output (a newline), shift a table's columns (a tab) or reorder what the
// reader sees (Unicode bidirectional overrides). Line escapes all of these
// so one value stays one visible line. HTML is left as it is: a terminal
// and a log file do not interpret it; a page that shows such text must
// escape it with html/template.
package safetext

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Line returns s with every control character, line or paragraph
// separator, bidirectional formatting character and invalid UTF-8 byte
// replaced by a visible Go-style escape (\n, \t, \r, \x1b, \u202e, \xff).
// Printable text, including backslashes and HTML, is unchanged.
func Line(s string) string {
	if clean(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); {
		r, w := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && w == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		case unsafe(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+w])
		}
		i += w
	}
	return b.String()
}

// clean reports whether Line would return s unchanged.
func clean(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f {
			return utf8.ValidString(s) && !strings.ContainsFunc(s, func(r rune) bool {
				return r < 0x20 || r == 0x7f || unsafe(r)
			})
		}
	}
	return true
}

// unsafe reports a non-ASCII rune that changes how the text around it is
// shown: C1 controls (0x9b is a one-byte CSI on some terminals), the line
// and paragraph separators, and the bidirectional marks, embeddings,
// overrides and isolates.
func unsafe(r rune) bool {
	switch {
	case r >= 0x80 && r < 0xa0:
		return true
	case r == 0x061c, r == 0x200e, r == 0x200f, r == 0x2028, r == 0x2029:
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
		return true
	}
	return false
}
