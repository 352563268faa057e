package patchwork

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"slices"
	"sync"
	"testing"

	"github.com/trawl-ci/trawl/forges/patchwork/pwfake"
	"github.com/trawl-ci/trawl/pkg/change"
)

// TestEventsHintNeverDecides: when the event log cannot be read (a server
// without /api/1.3/events/, answering 404, or one answering 502, from the
// start or after the first full Fetch took its cursor), every Fetch lists
// in full and returns what a Source without the hint returns: the hint
// only ever saves requests. (pkg/sim's TestEventsHint covers the hint
// answering idle ticks.)
func TestEventsHintNeverDecides(t *testing.T) {
	// The recorded answer to GET /api/events/?since=2026-11-21T04:45:03
	// (events-since-naive), with its one-page Link header.
	recorded, err := os.ReadFile("pwfake/recorded/events-since-naive.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		status int
		served int // events requests answered before the failures
	}{{http.StatusNotFound, 0}, {http.StatusBadGateway, 0}, {http.StatusBadGateway, 1}} {
		t.Run(fmt.Sprintf("%d after %d", tt.status, tt.served), func(t *testing.T) {
			var mu sync.Mutex
			listings, events := 0, 0
			srv := newServer(t, pwfake.P2DependsOn, func(h http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					q := r.URL.Query()
					switch {
					case r.URL.Path == "/api/1.3/events/":
						mu.Lock()
						events++
						serve := events <= tt.served
						mu.Unlock()
						if !serve {
							http.Error(w, "<h1>no events</h1>", tt.status)
							return
						}
						u := "http://" + r.Host + r.URL.Path + "?" + q.Encode()
						w.Header().Set("Content-Type", "application/json")
						w.Header().Set("Link", "<"+u+`>; rel="first", <`+u+`>; rel="last"`)
						_, _ = w.Write(recorded)
						return
					case r.URL.Path == "/api/1.3/patches/" && q.Has("state"):
						mu.Lock()
						listings++
						mu.Unlock()
					}
					h.ServeHTTP(w, r)
				})
			})
			plain := srv.newSource(t, srv.opts("netdev"))
			want, err := plain.Fetch(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			o := srv.opts("netdev")
			o.EventsRelist = 3
			hinted := srv.newSource(t, o)
			mu.Lock()
			listings = 0
			mu.Unlock()
			for tick := 1; tick <= 4; tick++ {
				got, err := hinted.Fetch(context.Background())
				if err != nil {
					t.Fatalf("tick %d: %v", tick, err)
				}
				if !slices.EqualFunc(got, want, func(a, b change.Change) bool {
					return a.Key == b.Key && slices.Equal(a.Content, b.Content) && a.Waiting == b.Waiting
				}) {
					t.Fatalf("tick %d: the hinted source returned other changes", tick)
				}
				mu.Lock()
				n := listings
				mu.Unlock()
				if n != tick {
					t.Errorf("tick %d: %d listings so far, want one a tick", tick, n)
				}
			}
		})
	}
}
