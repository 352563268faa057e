package patchwork

import (
	"strings"
	"testing"
	"unicode"
)

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

// FuzzNextLink checks nextLink on arbitrary Link headers: it never panics,
// what it returns is a target written between angle brackets in one of the
// headers, other links never hide the next one, and a well-formed header
// built around any target gives that target back.
func FuzzNextLink(f *testing.F) {
	f.Add(`<http://h/api/series/?page=2&per_page=2>; rel="next", <http://h/api/series/?page=1>; rel="first"`, "http://h/?page=3")
	f.Add(`<http://h/?page=3>; rel="prev", <http://h/?page=1>; rel="first"`, "x")
	f.Add(`<http://h/a,b/?page=2>; rel=next`, "http://h/a;rel=next/")
	f.Add(`<http://h/?page=2>; title="x"; rel="prefetch next"`, "")
	f.Add(`broken <`, ">")
	f.Fuzz(func(t *testing.T, header, target string) {
		got := nextLink([]string{header})
		if got != "" && !strings.Contains(header, "<"+got+">") {
			t.Fatalf("nextLink(%q) = %q, not a bracketed target of the header", header, got)
		}
		// A target ends at the first '>'. It may hold a '<' ("<<>"): such
		// a target then fails to fetch, which marks the source unknown,
		// rather than ending the listing early.
		if strings.Contains(got, ">") {
			t.Fatalf("nextLink(%q) = %q runs past a closing bracket", header, got)
		}
		if first := nextLink([]string{`<http://h/?page=1>; rel="first"`, header}); first != got {
			t.Fatalf("a first link before %q changes the answer: %q, want %q", header, first, got)
		}
		// Any target without angle brackets round-trips through a header
		// that also carries other relations.
		target = strings.Map(func(r rune) rune {
			if r == '<' || r == '>' {
				return -1
			}
			return r
		}, target)
		built := `<http://h/?page=1>; rel="prev", <` + target + `>; rel="next", <http://h/?page=9>; rel="last"`
		if back := nextLink([]string{built}); back != target {
			t.Fatalf("nextLink(%q) = %q, want %q", built, back, target)
		}
	})
}
