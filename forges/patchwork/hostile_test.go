package patchwork

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/trawl-ci/trawl/forges/patchwork/pwfake"
	"github.com/trawl-ci/trawl/pkg/change"
)

// editJSON rewrites, on every response whose path starts with prefix, the
// decoded JSON body with edit; other responses pass as served.
func editJSON(t *testing.T, prefix string, edit func(v any)) func(http.Handler) http.Handler {
	return func(h http.Handler) http.Handler {
		return (http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !strings.HasPrefix(r.URL.Path, prefix) {
				h.ServeHTTP(w, r)
				return
			}
			replaceBody(r.URL.Path, func(b []byte) []byte {
				var v any
				if err := json.Unmarshal(b, &v); err != nil {
					t.Errorf("%s: %v", r.URL.Path, err)
					return b
				}
				edit(v)
				out, err := json.Marshal(v)
				if err != nil {
					t.Error(err)
				}
				return out
			})(h).ServeHTTP(w, r)
		}))
	}
}

// inSeries reports a patch object of series id.
func inSeries(p map[string]any, id float64) bool {
	s, _ := p["series"].([]any)
	if len(s) == 0 {
		return false
	}
	m, _ := s[0].(map[string]any)
	return m["id"] == id
}

// TestFetchHostileSeries serves what a careless or hostile submitter and a
// Patchwork instance can produce for one series, and checks that the other
// series are unaffected and that the series gets a clear outcome of its
// own: waiting for its patches, blocked with its reason, or an unresolved
// dependency (which the graph blocks as such); never a crash or a failed
// source.
func TestFetchHostileSeries(t *testing.T) {
	tests := []struct {
		name   string
		phase  pwfake.Phase
		wrap   func(http.Handler) http.Handler
		series int64
		check  func(t *testing.T, c *change.Change)
	}{
		{"claims 1000 patches, received 2", pwfake.Phase1, editJSON(t, "/api/1.3/series/8/", func(v any) {
			m := v.(map[string]any)
			m["total"], m["received_total"], m["received_all"] = 1000, 2, false
		}), 8, func(t *testing.T, c *change.Change) {
			if c == nil || c.Waiting != "2 of 1000 patches received" {
				t.Errorf("series 8 %+v, want waiting: 2 of 1000 patches received", c)
			}
		}},
		{"claims 1000 patches and to have them all", pwfake.Phase1, editJSON(t, "/api/1.3/series/8/", func(v any) {
			m := v.(map[string]any)
			m["total"], m["received_total"], m["received_all"] = 1000, 1000, true
		}), 8, func(t *testing.T, c *change.Change) {
			if c == nil || !strings.Contains(c.Unbuildable, "claims 1000 patches but lists 1") {
				t.Errorf("series 8 %+v (%q), want unbuildable: claims 1000 patches but lists 1", c, unbuildableOf(c))
			}
		}},
		{"null patch hash", pwfake.Phase1, editJSON(t, "/api/1.3/patches/", func(v any) {
			for _, p := range v.([]any) {
				if m := p.(map[string]any); inSeries(m, 8) {
					m["hash"] = nil
				}
			}
		}), 8, func(t *testing.T, c *change.Change) {
			if c == nil || c.Unbuildable == "" {
				t.Errorf("series 8 with null hashes %+v, want unbuildable with a reason", c)
			}
		}},
		{"unknown message-id", pwfake.P2DependsOn, replaceBody("/api/1.3/covers/9/", func(b []byte) []byte {
			return bytes.ReplaceAll(b, []byte("<20261121050000.4242-0-stephenfinucane@example.org>"), []byte("<no.such.mail@nowhere.example>"))
		}), 16, func(t *testing.T, c *change.Change) {
			if c == nil || c.Unbuildable != "" {
				t.Fatalf("series 16 %+v", c)
			}
			for _, r := range c.Deps {
				if r.Raw == "<no.such.mail@nowhere.example>" {
					if r.Key != "" {
						t.Errorf("unknown message-id resolved to %s", r.Key)
					}
					return
				}
			}
			t.Errorf("the unknown message-id is not kept as an unresolved dependency: %+v", c.Deps)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clean := newServer(t, tt.phase, nil)
			want, err := clean.newSource(t, clean.opts("netdev")).Fetch(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			srv := newServer(t, tt.phase, tt.wrap)
			got, err := srv.newSource(t, srv.opts("netdev")).Fetch(t.Context())
			if err != nil {
				t.Fatalf("the whole source failed: %v", err)
			}
			key := seriesKeys("netdev", tt.series)[0]
			var hostile *change.Change
			for i := range got {
				if got[i].Key == key {
					hostile = &got[i]
				}
			}
			tt.check(t, hostile)
			for _, w := range want {
				if w.Key == key {
					continue
				}
				found := false
				for _, g := range got {
					found = found || (g.Key == w.Key && g.Unbuildable == w.Unbuildable && len(g.Patches) == len(w.Patches))
				}
				if !found {
					t.Errorf("%s changed or went missing beside the hostile series", w.Key)
				}
			}
		})
	}
}

func unbuildableOf(c *change.Change) string {
	if c == nil {
		return "no change"
	}
	return c.Unbuildable
}
