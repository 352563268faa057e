package patchwork

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trawl-ci/trawl/forges/patchwork/pwfake"
)

// editPage rewrites the answer to the n-th request (1-based) whose query
// has the given page parameter ("" for the first page), through edit.
func editPage(page string, edit func(h http.Header, items []json.RawMessage) []json.RawMessage) func(http.Handler) http.Handler {
	return func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/api/1.3/patches/" || r.URL.Query().Get("page") != page {
				h.ServeHTTP(w, r)
				return
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			var items []json.RawMessage
			if err := json.Unmarshal(rec.Body.Bytes(), &items); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			items = edit(rec.Header(), items)
			body, _ := json.Marshal(items)
			writeRecorded(w, rec, body)
		})
	}
}

// TestListingTrustedOnlyWhenComplete: a listing is complete only when it
// ends on the page the server's rel="last" names, with every page but the
// last as full as the first. Anything else fails the listing, so that a
// truncated listing never makes the changes it lacks look gone.
func TestListingTrustedOnlyWhenComplete(t *testing.T) {
	tests := []struct {
		name  string
		pages bool // the fake serves 2 items a page (9 pages), else one page
		wrap  func(http.Handler) http.Handler
		want  string
	}{
		{"Link dropped from the first of several pages", true, editPage("", func(h http.Header, items []json.RawMessage) []json.RawMessage {
			h.Del("Link")
			return items
		}), `no rel="last" link`},
		{"Link dropped from a single page", false, editPage("", func(h http.Header, items []json.RawMessage) []json.RawMessage {
			h.Del("Link")
			return items
		}), `no rel="last" link`},
		{"next dropped from a full page", true, editPage("", func(h http.Header, items []json.RawMessage) []json.RawMessage {
			links := strings.Split(h.Get("Link"), ", ")
			h.Set("Link", strings.Join(slices.DeleteFunc(links, func(l string) bool { return strings.HasSuffix(l, `rel="next"`) }), ", "))
			return items
		}), `page 1 of 9 has no rel="next" link`},
		{"short page before the end", true, editPage("2", func(_ http.Header, items []json.RawMessage) []json.RawMessage {
			return items[:1]
		}), "page 2 has 1 items, not the 2 of a full page, but is not the last"},
		{"empty page before the end", true, editPage("3", func(_ http.Header, _ []json.RawMessage) []json.RawMessage {
			return []json.RawMessage{}
		}), "page 3 is empty but not the last"},
		{"last page fuller than a page", true, editPage("9", func(_ http.Header, items []json.RawMessage) []json.RawMessage {
			return append(items, items[0], items[0])
		}), "last page has 4 items, more than the 2 of a page"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wrap := tt.wrap
			if tt.pages {
				wrap = func(h http.Handler) http.Handler { return tt.wrap(smallPages("2")(h)) }
			}
			srv := newServer(t, pwfake.Phase1, wrap)
			ps, err := srv.newClient(t).ListPatches(t.Context(), ListOptions{Project: "netdev"})
			if !errors.Is(err, ErrListing) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %d patches, error %v; want ErrListing with %q", len(ps), err, tt.want)
			}
			if !strings.Contains(err.Error(), "list patches: listing page http://patchwork.test/api/1.3/patches/") {
				t.Errorf("error %q does not name the page", err)
			}
		})
	}
}

// TestListingNeverEnding: a server whose Link chain never ends cannot
// hold a cycle. One whose every page moves rel="last" further fails each
// pass as a listing that changed while it was read (after maxPasses
// passes of two or three pages: the third is not asked when the second
// failed first); one that names a last page past maxPages fails on its
// first page.
func TestListingNeverEnding(t *testing.T) {
	tests := []struct {
		name        string
		last        func(n int) int // rel="last" of page n
		want        string
		least, most int // requests
	}{
		{"each page moves the end", func(n int) int { return n + 2 }, "changed while it was read", 2 * maxPasses, 3 * maxPasses},
		{"the end is past maxPages", func(int) int { return maxPages + 1 }, fmt.Sprintf("more than %d pages", maxPages), 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			var requests int
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				requests++
				mu.Unlock()
				n, _ := pageNumber(r.URL)
				link := func(p int) string {
					q := r.URL.Query()
					q.Set("page", strconv.Itoa(p))
					return "http://" + r.Host + r.URL.Path + "?" + q.Encode()
				}
				w.Header().Set("Content-Type", "application/json")
				w.Header().Set("Link", fmt.Sprintf(`<%s>; rel="next", <%s>; rel="last"`, link(n+1), link(tt.last(n))))
				fmt.Fprintf(w, `[{"id":%d}]`, n)
			}))
			defer srv.Close()
			c, err := NewClient(srv.URL, srv.Client())
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.ListPatches(t.Context(), ListOptions{Project: "netdev"})
			if !errors.Is(err, ErrListing) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want ErrListing: %s", err, tt.want)
			}
			mu.Lock()
			defer mu.Unlock()
			if requests < tt.least || requests > tt.most {
				t.Errorf("%d requests, want %d to %d", requests, tt.least, tt.most)
			}
		})
	}
}

// shifting serves the patches listing of the fake, 2 a page, without the
// patches in gone. leave, called on each request for page 2, may add to
// gone: a patch leaving the listing while it is read (accepted, say)
// shifts every later page by one.
type shifting struct {
	mu    sync.Mutex
	gone  map[int64]bool
	page2 int // requests for page 2 so far
	leave func(page2 int, gone map[int64]bool)
}

func (s *shifting) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/1.3/patches/" {
			h.ServeHTTP(w, r)
			return
		}
		n, _ := pageNumber(r.URL)
		s.mu.Lock()
		if n == 2 {
			s.page2++
			s.leave(s.page2, s.gone)
		}
		gone := map[int64]bool{}
		for id := range s.gone {
			gone[id] = true
		}
		s.mu.Unlock()
		all := r.Clone(r.Context())
		q := r.URL.Query()
		q.Del("page")
		q.Set("per_page", "250")
		all.URL.RawQuery = q.Encode()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, all)
		var items []json.RawMessage
		if err := json.Unmarshal(rec.Body.Bytes(), &items); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		items = slices.DeleteFunc(items, func(it json.RawMessage) bool {
			var p struct{ ID int64 }
			_ = json.Unmarshal(it, &p)
			return gone[p.ID]
		})
		pages := (len(items) + 1) / 2
		link := func(p int) string {
			u := url.URL{Scheme: "http", Host: r.Host, Path: r.URL.Path}
			q := r.URL.Query()
			q.Set("page", strconv.Itoa(p))
			u.RawQuery = q.Encode()
			return "<" + u.String() + ">"
		}
		var links []string
		if n < pages {
			links = append(links, link(n+1)+`; rel="next"`)
		}
		links = append(links, link(1)+`; rel="first"`, link(pages)+`; rel="last"`)
		rec.Header().Set("Link", strings.Join(links, ", "))
		body, _ := json.Marshal(items[2*(n-1) : min(2*n, len(items))])
		writeRecorded(w, rec, body)
	})
}

// TestListingShiftedWhileRead: a patch that leaves the listing while its
// pages are read shifts the later pages, and the patch that moved onto an
// already read page would be skipped. The listing is read again until a
// pass holds every patch of the pass before it, so no patch that stayed
// is lost; a listing that keeps changing fails instead.
func TestListingShiftedWhileRead(t *testing.T) {
	all := []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18}
	tests := []struct {
		name  string
		leave func(page2 int, gone map[int64]bool)
		want  []int64 // nil: ErrListing
	}{
		{"nothing leaves", func(int, map[int64]bool) {}, all},
		{"patch 1 leaves while the first pass reads page 2", func(n int, gone map[int64]bool) {
			gone[1] = true
		}, all[1:]},
		{"a patch leaves during every pass", func(n int, gone map[int64]bool) {
			gone[int64(n)] = true
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sh := &shifting{gone: map[int64]bool{}, leave: tt.leave}
			srv := newServer(t, pwfake.Phase1, sh.wrap)
			ps, err := srv.newClient(t).ListPatches(t.Context(), ListOptions{Project: "netdev"})
			if tt.want == nil {
				if !errors.Is(err, ErrListing) || !strings.Contains(err.Error(), "changed while it was read") {
					t.Fatalf("got %v, error %v; want ErrListing: changed while it was read", patchIDs(ps), err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := patchIDs(ps); !slices.Equal(got, tt.want) {
				t.Errorf("ids %v, want %v", got, tt.want)
			}
		})
	}
}

// TestListingCheckedAgainstTheLastRead: a listing of several pages read
// with the previous complete read of it (ListOptions.Known) costs one pass
// when nothing that read held is missing (an idle tick, or new patches at
// the end), and is read again only when an item is missing: left since
// (two passes) or skipped because the listing shifted while it was paged.
// No patch that stayed in the listing is ever lost.
func TestListingCheckedAgainstTheLastRead(t *testing.T) {
	all := []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18}
	set := func(ids []int64) map[int64]bool {
		m := map[int64]bool{}
		for _, id := range ids {
			m[id] = true
		}
		return m
	}
	tests := []struct {
		name  string
		gone  []int64 // left before the read
		known []int64
		leave func(page2 int, gone map[int64]bool)
		want  []int64
		pages int // page requests
	}{
		{"idle: the same listing", nil, all, func(int, map[int64]bool) {}, all, 9},
		{"new patches at the end", nil, all[:15], func(int, map[int64]bool) {}, all, 9},
		{"a patch left since the last read", []int64{18}, all, func(int, map[int64]bool) {}, all[:17], 18},
		{"patch 1 leaves while page 2 is read: patch 3 is skipped, then found", nil, all,
			func(n int, gone map[int64]bool) { gone[1] = true }, all[1:], 27},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			pages := 0
			sh := &shifting{gone: set(tt.gone), leave: tt.leave}
			srv := newServer(t, pwfake.Phase1, func(h http.Handler) http.Handler {
				h = sh.wrap(h)
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					mu.Lock()
					pages++
					mu.Unlock()
					h.ServeHTTP(w, r)
				})
			})
			ps, err := srv.newClient(t).ListPatches(t.Context(), ListOptions{Project: "netdev", Known: set(tt.known)})
			if err != nil {
				t.Fatal(err)
			}
			if got := patchIDs(ps); !slices.Equal(got, tt.want) {
				t.Errorf("ids %v, want %v", got, tt.want)
			}
			mu.Lock()
			defer mu.Unlock()
			if pages != tt.pages {
				t.Errorf("%d page requests, want %d", pages, tt.pages)
			}
		})
	}
}

// TestListingPagesReadConcurrently: once the first page says where the
// listing ends, the other pages are read at the same time, at most
// pageWorkers at once, and one page that fails fails the whole listing:
// a partial listing is never returned.
func TestListingPagesReadConcurrently(t *testing.T) {
	for _, failing := range []string{"none", "5"} {
		t.Run("failing page "+failing, func(t *testing.T) {
			var mu sync.Mutex
			inFlight, most := 0, 0
			// Pages 2 and 3 are each answered only once the other was
			// asked: a sequential read would wait for ever.
			arrived := map[string]chan struct{}{"2": make(chan struct{}), "3": make(chan struct{})}
			var once2, once3 sync.Once
			meet := func(w http.ResponseWriter, self, other string, once *sync.Once) bool {
				once.Do(func() { close(arrived[self]) })
				select {
				case <-arrived[other]:
					return true
				case <-time.After(10 * time.Second):
					http.Error(w, "page "+other+" was not asked while page "+self+" was in flight", http.StatusTeapot)
					return false
				}
			}
			srv := newServer(t, pwfake.Phase1, func(h http.Handler) http.Handler {
				h = smallPages("2")(h)
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					mu.Lock()
					inFlight++
					most = max(most, inFlight)
					mu.Unlock()
					defer func() {
						mu.Lock()
						inFlight--
						mu.Unlock()
					}()
					switch r.URL.Query().Get("page") {
					case "2":
						if !meet(w, "2", "3", &once2) {
							return
						}
					case "3":
						if !meet(w, "3", "2", &once3) {
							return
						}
					case failing:
						http.Error(w, "<h1>Bad Gateway</h1>", http.StatusBadGateway)
						return
					}
					h.ServeHTTP(w, r)
				})
			})
			ps, err := srv.newClient(t).ListPatches(t.Context(), ListOptions{Project: "netdev"})
			if failing != "none" {
				if err == nil || !strings.Contains(err.Error(), "502") || ps != nil {
					t.Fatalf("page %s failing: %d patches, error %v; want the listing to fail", failing, len(ps), err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(ps) != 18 {
				t.Errorf("%d patches, want 18", len(ps))
			}
			mu.Lock()
			defer mu.Unlock()
			if most < 2 || most > pageWorkers {
				t.Errorf("at most %d pages in flight, want 2 to %d", most, pageWorkers)
			}
		})
	}
}

// TestListingPageChangedIsReadAgain: the pages of a project's listing are
// remembered by the bytes of their bodies, so that an idle tick does not
// decode them again; a page whose body changed (a patch renamed on page
// 3, then back) must give the new items, on a listing whose since moves
// with every read.
func TestListingPageChangedIsReadAgain(t *testing.T) {
	var rename atomic.Bool
	edit := editPage("3", func(h http.Header, items []json.RawMessage) []json.RawMessage {
		if !rename.Load() {
			return items
		}
		var p map[string]any
		if err := json.Unmarshal(items[0], &p); err != nil {
			panic(err)
		}
		p["name"] = "renamed"
		items[0], _ = json.Marshal(p)
		return items
	})
	srv := newServer(t, pwfake.Phase1, func(h http.Handler) http.Handler { return edit(smallPages("2")(h)) })
	c := srv.newClient(t)
	since := time.Date(2006, 11, 26, 5, 20, 0, 0, time.UTC)
	names := func(step string) map[string]int64 {
		t.Helper()
		since = since.Add(time.Minute)
		ps, err := c.ListPatches(t.Context(), ListOptions{Project: "netdev", Since: since})
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		m := map[string]int64{}
		for _, p := range ps {
			m[p.Name] = p.ID
		}
		return m
	}
	first := names("first")
	if len(first) < 5 {
		t.Fatalf("first read: %d patches, want a listing of several pages", len(first))
	}
	for _, step := range []struct {
		name    string
		renamed bool
	}{{"again", false}, {"renamed", true}, {"renamed again", true}, {"back", false}} {
		rename.Store(step.renamed)
		got := names(step.name)
		_, has := got["renamed"]
		if has != step.renamed || len(got) != len(first) {
			t.Fatalf("%s: names %v, renamed patch present %v, want %v", step.name, got, has, step.renamed)
		}
	}
}
