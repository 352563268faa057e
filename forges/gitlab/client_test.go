package gitlab

import (
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trawl-ci/trawl/forges/gitlab/glfake"
	"github.com/trawl-ci/trawl/pkg/httpx"
	"github.com/trawl-ci/trawl/pkg/report"
	"github.com/trawl-ci/trawl/pkg/targets"
)

// GitLab sends weak ETags on its GET answers; trawl's cache revalidates
// with them, so an unchanged list page or status list comes back as a
// bodiless 304.
func TestWeakETagsRevalidate(t *testing.T) {
	var mu sync.Mutex
	var codes []string
	w := newWrappedWorld(t, glfake.Options{}, func(_ *glfake.Fake, h http.Handler) http.Handler {
		return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			rec := &codeRecorder{ResponseWriter: rw}
			h.ServeHTTP(rec, r)
			mu.Lock()
			defer mu.Unlock()
			if r.Method == http.MethodGet {
				codes = append(codes, fmt.Sprintf("%s %d %s", r.URL.Path, rec.code, r.Header.Get("If-None-Match")))
			}
		})
	})
	w.addMR(1, nil)
	o := w.opts()
	s := w.source(t, o)
	c := fetchOne(t, s, 1)
	r, err := s.Reporter(ReporterOpts{Name: "gl", Context: "trawl"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reportState(r, c, targets.StateSuccess, "ok"); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	codes = nil
	mu.Unlock()
	// A new source (a restart) relists in full; the cache on disk
	// remains.
	c = fetchOne(t, w.source(t, o), 1)
	for range 2 { // the first read after the post sees it new
		if done, err := reportState(r, c, targets.StateSuccess, "ok"); err != nil || done != report.Found {
			t.Fatalf("repeat: %v", err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	revalidated := map[string]bool{}
	for _, line := range codes {
		f := strings.Fields(line)
		if len(f) == 3 && f[1] == "304" && strings.HasPrefix(f[2], `W/"`) {
			switch {
			case strings.HasSuffix(f[0], "/merge_requests"):
				revalidated["list"] = true
			case strings.HasSuffix(f[0], "/statuses"):
				revalidated["statuses"] = true
			}
		}
	}
	if !revalidated["list"] || !revalidated["statuses"] {
		t.Errorf("GET answers %q: want the list and the statuses revalidated with their weak ETag (304)", codes)
	}
}

// codeRecorder notes the status a handler wrote.
type codeRecorder struct {
	http.ResponseWriter
	code int
}

// TestNoOwnRetries checks that client-go adds no retries of its own: a
// failing GET is tried 1+retryMax times (httpx's retries), a failing POST
// once (httpx retries no POST on a 5xx).
func TestNoOwnRetries(t *testing.T) {
	tests := []struct {
		name     string
		call     func(s *Source) error
		suffix   string
		wantHits int
	}{
		{
			name:     "list",
			call:     func(s *Source) error { _, err := s.Fetch(t.Context()); return err },
			suffix:   "/merge_requests",
			wantHits: 1 + retryMax,
		},
		{
			name:     "lookup",
			call:     func(s *Source) error { _, err := s.Lookup(t.Context(), mainPath, 1); return err },
			suffix:   "/merge_requests/1",
			wantHits: 1 + retryMax,
		},
		{
			name: "status",
			call: func(s *Source) error {
				return s.PostStatus(t.Context(), mainPath, sha("a", 1), Status{State: StatusSuccess, Name: "ci"})
			},
			suffix:   "/statuses/" + sha("a", 1),
			wantHits: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t, glfake.Options{})
			w.addMR(1, nil)
			w.fake.SetFault(func(r *http.Request) int {
				if strings.HasSuffix(r.URL.Path, tt.suffix) {
					return http.StatusBadGateway
				}
				return 0
			})
			err := tt.call(w.source(t, w.opts()))
			if !errors.Is(err, httpx.ErrServer) || !strings.Contains(err.Error(), "502") {
				t.Errorf("error %v, want a 502 server error", err)
			}
			if n := len(w.requests(tt.suffix)); n != tt.wantHits {
				t.Errorf("%d requests, want %d", n, tt.wantHits)
			}
		})
	}
}

// TestTokenStaysBeneathTheCache checks that the token reaches the server
// once per request, set by httpx, and never the cache files or an error;
// and that client-go sends no auth header of its own.
func TestTokenStaysBeneathTheCache(t *testing.T) {
	w := newWorld(t, glfake.Options{})
	w.addMR(1, nil)
	w.addMR(2, func(m *glfake.MR) { m.SourceProjectID = forkID })
	s := w.source(t, w.opts())
	for range 2 {
		w.clock.Advance(2 * time.Minute)
		if _, err := s.Fetch(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.PostStatus(t.Context(), mainPath, sha("a", 1), Status{State: StatusRunning, Name: "ci"}); err != nil {
		t.Fatal(err)
	}
	// Failures whose errors must not carry the token.
	var errs []error
	errs = append(errs, s.PostStatus(t.Context(), mainPath, sha("a", 1), Status{State: StatusPending, Name: "ci"}))
	_, err := s.Lookup(t.Context(), "no/such", 1)
	errs = append(errs, err)
	w.fake.SetFault(func(*http.Request) int { return http.StatusUnauthorized })
	_, err = w.source(t, w.opts()).Fetch(t.Context())
	errs = append(errs, err)
	w.fake.SetFault(nil)
	for _, err := range errs {
		if err == nil {
			t.Error("expected an error")
		} else if strings.Contains(err.Error(), testToken) {
			t.Errorf("error carries the token: %v", err)
		}
	}
	for _, r := range w.fake.Requests() {
		if got := r.Header.Values("PRIVATE-TOKEN"); len(got) != 1 || got[0] != testToken {
			t.Errorf("%s %s: PRIVATE-TOKEN %q, want the token once", r.Method, r.Path, got)
		}
	}
	files := 0
	err = filepath.WalkDir(w.cacheDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		files++
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if strings.Contains(string(b), testToken) {
			t.Errorf("cache file %s holds the token", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files == 0 {
		t.Error("nothing was cached: the check above proves nothing")
	}

	anon := w.opts()
	anon.HTTP = w.anon
	before := len(w.fake.Requests())
	if _, err := w.source(t, anon).Lookup(t.Context(), "other/lib", 1); !errors.Is(err, httpx.ErrNotFound) {
		t.Fatalf("anonymous lookup: %v", err)
	}
	for _, r := range w.fake.Requests()[before:] {
		if _, ok := r.Header["Private-Token"]; ok {
			t.Errorf("anonymous %s %s sent a PRIVATE-TOKEN header", r.Method, r.Path)
		}
	}
}
