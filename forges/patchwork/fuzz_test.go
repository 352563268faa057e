package patchwork

import (
	"strings"
	"testing"
)

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
