package patchwork

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trawl-ci/trawl/forges/patchwork/pwfake"
	"github.com/trawl-ci/trawl/pkg/change"
	"github.com/trawl-ci/trawl/pkg/httpx"
)

// onceBad serves a bad answer to the first request for each path in bad,
// and counts the requests per path.
type onceBad struct {
	mu       sync.Mutex
	bad      map[string]func(w http.ResponseWriter, rec *httptest.ResponseRecorder)
	served   map[string]bool
	requests map[string]int
}

func (o *onceBad) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.mu.Lock()
		o.requests[r.URL.Path]++
		fault, ok := o.bad[r.URL.Path]
		ok = ok && !o.served[r.URL.Path]
		o.served[r.URL.Path] = o.served[r.URL.Path] || ok
		o.mu.Unlock()
		if !ok {
			h.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		fault(w, rec)
	})
}

// TestBadAnswersNeverPoisonTheCache replays what a real Patchwork behind a
// faulty proxy did to trawl: a truncated cover letter (whose Depends-on
// names series 1) and an HTML page with status 200 for a series mbox
// (whose Depends-on names series 1 too). Each fails the Fetch it comes in
// (the source is unknown for that cycle), is never cached, and the next
// Fetch gets the same changes as a clean run, dependencies included. What
// is complete is then served from the cache.
func TestBadAnswersNeverPoisonTheCache(t *testing.T) {
	fault := &onceBad{
		served:   map[string]bool{},
		requests: map[string]int{},
		bad: map[string]func(http.ResponseWriter, *httptest.ResponseRecorder){
			"/api/1.3/covers/9/": func(w http.ResponseWriter, rec *httptest.ResponseRecorder) {
				writeRecorded(w, rec, rec.Body.Bytes()[:rec.Body.Len()/2])
			},
			"/series/16/mbox/": func(w http.ResponseWriter, rec *httptest.ResponseRecorder) {
				w.Header().Set("Content-Type", "text/html; charset=utf-8")
				_, _ = w.Write([]byte("<!DOCTYPE html>\n<html><body><h1>502 Bad Gateway</h1></body></html>\n"))
			},
		},
	}
	srv := newServer(t, pwfake.P2DependsOn, fault.wrap)
	hc, err := httpx.New(httpx.Options{
		Name: "patchwork test", CacheDir: t.TempDir(), UserAgent: httpx.UserAgent("test"),
		RetryMax: -1, Transport: srv.client.Transport, Timeout: 10 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	o := srv.opts("netdev")
	o.HTTP = hc
	src := srv.newSource(t, o)
	clean := newServer(t, pwfake.P2DependsOn, nil)
	want, err := clean.newSource(t, clean.opts("netdev")).Fetch(t.Context())
	if err != nil {
		t.Fatal(err)
	}

	failed := 0
	for fetch := 1; fetch <= 4; fetch++ {
		got, err := src.Fetch(t.Context())
		if err != nil {
			failed++
			t.Logf("fetch %d: %v", fetch, err)
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("fetch %d after the bad answers differs from a clean run:\n got %s\nwant %s", fetch, summary(got), summary(want))
		}
	}
	if failed == 0 || failed > 2 {
		t.Errorf("%d fetches failed, want 1 or 2 (one per bad answer)", failed)
	}
	for path := range fault.bad {
		if !fault.served[path] {
			t.Errorf("the bad answer for %s was never served", path)
		}
		// The bad answer, the good one (cached), and never again.
		if n := fault.requests[path]; n != 2 {
			t.Errorf("%s requested %d times, want 2: the bad answer, then the good one, cached", path, n)
		}
	}
	if deps := want[len(want)-1].Deps; len(deps) == 0 {
		t.Fatalf("the clean run's last change has no dependencies: %+v", want[len(want)-1])
	}
}

// summary lists the keys, contents and dependencies of changes.
func summary(changes []change.Change) string {
	var b strings.Builder
	for _, c := range changes {
		fmt.Fprintf(&b, "\n  %s %v deps", c.Key, c.Content)
		for _, d := range c.Deps {
			fmt.Fprintf(&b, " %s", d.Key)
		}
	}
	return b.String()
}
