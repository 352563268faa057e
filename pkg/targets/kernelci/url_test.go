package kernelci

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/trawl-ci/trawl/pkg/capture"
)

// TestStoredURLAsRecorded: the URLs trawl would send compare equal to the
// ones the API stored from the same request (recorded in
// patchset-post-200-normalised-urls and patchset-post-200-forbidden-domain:
// the request body's patchurl against the answer's patch<N> artifacts).
func TestStoredURLAsRecorded(t *testing.T) {
	dir, err := capture.Shared("kernelci")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"patchset-post-200", "patchset-post-200-normalised-urls", "patchset-post-200-forbidden-domain"} {
		x, err := capture.Load(dir, name)
		if err != nil {
			t.Fatal(err)
		}
		var req struct {
			PatchURL []string `json:"patchurl"`
		}
		var resp struct {
			Node struct {
				Artifacts map[string]string `json:"artifacts"`
			} `json:"node"`
		}
		if err := json.Unmarshal([]byte(x.RequestBody), &req); err != nil {
			t.Fatalf("%s: request body: %v", name, err)
		}
		if err := json.Unmarshal(x.Body, &resp); err != nil {
			t.Fatalf("%s: answer: %v", name, err)
		}
		for i, raw := range req.PatchURL {
			got, err := storedURL(raw)
			want := resp.Node.Artifacts["patch"+string(rune('0'+i))]
			if err != nil || got != want {
				t.Errorf("%s: storedURL(%q) = %q, %v; the API stored %q", name, raw, got, err, want)
			}
		}
	}
}

func TestStoredURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"https://Patchwork.Kernel.ORG:443/project/netdevbpf/patch/1@x/mbox/", "https://patchwork.kernel.org/project/netdevbpf/patch/1@x/mbox/"},
		{"HTTP://patchwork.example.org:8080/p/a%20b/", "http://patchwork.example.org:8080/p/a%20b/"},
		{"http://patchwork.example.org", "http://patchwork.example.org/"},
		{"http://[::1]:80/x", "http://[::1]/x"},
		{"https://h.example.org/p?q=a b&r='", "https://h.example.org/p?q=a%20b&r=%27"},
		{"https://h.example.org/{x}`", "https://h.example.org/%7Bx%7D%60"},
	}
	for _, tt := range tests {
		if got, err := storedURL(tt.in); err != nil || got != tt.want {
			t.Errorf("storedURL(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "ftp://h/x", "mailto:x@y", "/relative", "http:///nohost"} {
		if got, err := storedURL(bad); err == nil {
			t.Errorf("storedURL(%q) = %q, want an error", bad, got)
		}
	}
}

// FuzzStoredURL: the stored form is a fixed point (the API stores what it
// reads back unchanged), keeps the host, lower-cased, and is one line.
func FuzzStoredURL(f *testing.F) {
	for _, s := range []string{
		"http://127.0.0.1:80/odd path/with space.mbox",
		"http://127.0.0.1:8703/odd-path/pätch-ü.mbox",
		"http://LOCALHOST:8703/project/netdev/patch/1473632795-9971-2-git-send-email-stephenfinucane@gmail.com/mbox/",
		"https://patchwork.kernel.org/project/netdevbpf/patch/20261121.1@x/mbox/?a=b#c",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		s, err := storedURL(raw)
		if err != nil {
			return
		}
		again, err := storedURL(s)
		if err != nil || again != s {
			t.Fatalf("storedURL(%q) = %q, then %q, %v: not a fixed point", raw, s, again, err)
		}
		u, err := url.Parse(s)
		if err != nil || strings.ContainsAny(s, " \n\r\t") {
			t.Fatalf("storedURL(%q) = %q does not parse or holds white space: %v", raw, s, err)
		}
		in, _ := url.Parse(raw)
		if u.Hostname() != strings.ToLower(in.Hostname()) {
			t.Fatalf("storedURL(%q) = %q: host %q, want %q", raw, s, u.Hostname(), strings.ToLower(in.Hostname()))
		}
	})
}
