package patchwork

import (
	"strings"
	"testing"
	"unicode"
)

func TestNormalName(t *testing.T) {
	tests := []struct{ in, want string }{
		{"A sample series", "a sample series"},
		{"[v2,0/2] A sample series", "a sample series"},
		{"[PATCH net-next v3 0/4] net: dsa:  Multi-CPU ground work (v3)", "net: dsa: multi-cpu ground work"},
		{"[net,v2,1/2] net: ieee802154: remove explicit set skb->sk", "net: ieee802154: remove explicit set skb->sk"},
		{"[v2] test: Add some lorem ipsum", "test: add some lorem ipsum"},
		{"[RFC][PATCH V4] foo v5 bar", "foo bar"},
		{"[PATCH]", "[patch]"},
		{"  ", ""},
	}
	for _, tt := range tests {
		if got := normalName(tt.in); got != tt.want {
			t.Errorf("normalName(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// FuzzNormalName checks the properties the matching of revisions rests
// on: normalName never panics, is idempotent, ignores how the subject is
// spaced, never keeps an upper-case ASCII letter or stray space, and gives
// every revision of a named series the same name whatever its "[PATCH vN
// i/n]" prefix.
func FuzzNormalName(f *testing.F) {
	for _, s := range []string{
		"A sample series", "[v2,0/2] A sample series", "[PATCH net-next v3 0/4] net: dsa:  Multi-CPU ground work (v3)",
		"[RFC][PATCH V4] foo v5 bar", "[PATCH]", "  ", "v2", "[x]v2", "]foo [bar]", "\x1b[31mred\x1b[0m", "İSTANBUL v2",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		n := normalName(name)
		if again := normalName(n); again != n {
			t.Fatalf("not idempotent: %q -> %q -> %q", name, n, again)
		}
		if n != strings.Join(strings.Fields(n), " ") {
			t.Fatalf("%q -> %q has stray spaces", name, n)
		}
		if strings.IndexFunc(n, func(r rune) bool { return r < unicode.MaxASCII && unicode.IsUpper(r) }) >= 0 {
			t.Fatalf("%q -> %q keeps upper case", name, n)
		}
		if spaced := normalName(strings.Join(strings.Fields(name), " \t ")); spaced != n {
			t.Fatalf("spacing changes the name: %q -> %q, respaced -> %q", name, n, spaced)
		}
		full := strings.ToLower(strings.Join(strings.Fields(name), " "))
		if n == full {
			return // a name of prefixes only is kept whole; a prefix changes it
		}
		for _, prefix := range []string{"[PATCH v9 1/2] ", "[RFC,v2] ", " [net-next][v3] "} {
			if got := normalName(prefix + name); got != n {
				t.Fatalf("prefix %q changes the name of %q: %q, want %q", prefix, name, got, n)
			}
		}
	})
}
