package webhook

import (
	"net/url"
	"strings"
	"testing"
	"unicode"
)

func FuzzParseAck(f *testing.F) {
	for _, s := range []string{
		"",
		"OK",
		`{"id": "build-17", "url": "https://ci.example.org/build/17"}`,
		`{"id": 17}`,
		`{"id": null, "url": 3}`,
		`{"id": "a\u0000b"}`,
		`[1, 2]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		id, u := parseAck(b)
		if len(id) > maxID || strings.IndexFunc(id, unicode.IsControl) >= 0 || id != strings.TrimSpace(id) {
			t.Errorf("parseAck(%q) id = %q", b, id)
		}
		if u != "" {
			p, err := url.Parse(u)
			if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
				t.Errorf("parseAck(%q) url = %q", b, u)
			}
		}
	})
}
