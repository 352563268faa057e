package safetext

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestLine(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"plain", "net: fix a leak", "net: fix a leak"},
		{"unicode", "café — ünïcode ✓", "café — ünïcode ✓"},
		{"html kept", `<script>alert(1)</script> & "x"`, `<script>alert(1)</script> & "x"`},
		{"backslash kept", `C:\path\n`, `C:\path\n`},
		{"ansi", "\x1b[31mred\x1b[0m", `\x1b[31mred\x1b[0m`},
		{"clear screen", "\x1b[2J\x1b[H", `\x1b[2J\x1b[H`},
		{"newline forges a line", "ok\ntriggered  fake", `ok\ntriggered  fake`},
		{"tab shifts a column", "a\tb", `a\tb`},
		{"cr overwrites", "good\rbad", `good\rbad`},
		{"nul and del", "a\x00b\x7f", `a\x00b\x7f`},
		{"c1 csi", "a\u009b31m", `a\u009b31m`},
		{"bidi override", "abc\u202edcb", `abc\u202edcb`},
		{"bidi isolate", "\u2066x\u2069", `\u2066x\u2069`},
		{"line separator", "a\u2028b", `a\u2028b`},
		{"invalid utf8", "a\xffb", `a\xffb`},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		if got := Line(tt.in); got != tt.want {
			t.Errorf("%s: Line(%q) = %q, want %q", tt.name, tt.in, got, tt.want)
		}
	}
}

// FuzzLine checks that Line's output is valid UTF-8 with no control,
// separator or bidirectional character, and that printable input comes
// back unchanged.
func FuzzLine(f *testing.F) {
	for _, s := range []string{"plain", "\x1b[31mred", "a\nb\tc", "\u202e", "\xff\xfe", "é\u0085"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := Line(s)
		if !utf8.ValidString(got) {
			t.Fatalf("Line(%q) = %q is not valid UTF-8", s, got)
		}
		if i := strings.IndexFunc(got, func(r rune) bool { return r < 0x20 || r == 0x7f || unsafe(r) }); i >= 0 {
			t.Fatalf("Line(%q) = %q keeps %q", s, got, got[i:])
		}
		if clean(s) != (got == s) {
			t.Fatalf("Line(%q) = %q, clean %v", s, got, clean(s))
		}
		if Line(got) != got {
			t.Fatalf("Line is not idempotent on %q", s)
		}
	})
}
