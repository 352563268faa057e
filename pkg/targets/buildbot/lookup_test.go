package buildbot

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
)

// changesFake serves GET /api/v2/changes?order=-changeid&limit=&offset=
// as Buildbot 3.7 does (data/changes.py: the newest first, limit and
// offset applied in the database): total changes, change i (1-based)
// carrying trawl_job jobs[i] and project projects[i] when set.
type changesFake struct {
	total    int
	jobs     map[int]string
	projects map[int]string

	mu   sync.Mutex
	asks []string
}

func (f *changesFake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/api/v2/changes" || r.URL.Query().Get("order") != "-changeid" {
		http.Error(w, "unexpected "+r.URL.String(), http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	f.asks = append(f.asks, r.URL.Query().Get("limit")+"@"+r.URL.Query().Get("offset"))
	f.mu.Unlock()
	limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	offset, _ := strconv.Atoi(r.URL.Query().Get("offset"))
	type ch struct {
		ChangeID   int            `json:"changeid"`
		Project    string         `json:"project"`
		Properties map[string]any `json:"properties"`
	}
	out := []ch{}
	for id := f.total - offset; id > 0 && len(out) < limit; id-- {
		c := ch{ChangeID: id, Project: "other", Properties: map[string]any{}}
		if k, ok := f.jobs[id]; ok {
			c.Properties["trawl_job"] = []any{k, "Change"}
			c.Project = f.projects[id]
		}
		out = append(out, c)
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"changes": out, "meta": map[string]any{}})
}

// TestFindChangeBounds: the lookup pages newest first, reads no more than
// LookupChanges changes, matches the job key and the project together,
// and skips excluded jobs.
func TestFindChangeBounds(t *testing.T) {
	const key = "k1"
	for _, tc := range []struct {
		name     string
		jobs     map[int]string
		projects map[int]string
		exclude  []string
		want     int
		asks     []string
	}{
		{"second page", map[int]string{130: key}, map[int]string{130: "p/" + key}, nil, 130, []string{"100@0", "50@100"}},
		{"beyond the bound", map[int]string{60: key}, map[int]string{60: "p/" + key}, nil, 0, []string{"100@0", "50@100"}},
		{"another project", map[int]string{240: key}, map[int]string{240: "q/" + key}, nil, 0, []string{"100@0", "50@100"}},
		{"excluded", map[int]string{240: key, 230: key}, map[int]string{240: "p/" + key, 230: "p/" + key}, []string{jobID(240, key)}, 230, []string{"100@0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &changesFake{total: 250, jobs: tc.jobs, projects: tc.projects}
			srv := httptest.NewServer(f)
			defer srv.Close()
			tg, err := New(Opts{Name: "bb", URL: srv.URL, Builders: []string{"b"}, Project: "p", LookupChanges: 150, HTTP: srv.Client()})
			if err != nil {
				t.Fatal(err)
			}
			c, err := tg.findChange(context.Background(), key, tc.exclude)
			if err != nil {
				t.Fatal(err)
			}
			got := 0
			if c != nil {
				got = c.ChangeID
			}
			if got != tc.want || fmt.Sprint(f.asks) != fmt.Sprint(tc.asks) {
				t.Errorf("found change %d after %v, want %d after %v", got, f.asks, tc.want, tc.asks)
			}
		})
	}
	// A short master ends the lookup at its last change.
	f := &changesFake{total: 30}
	srv := httptest.NewServer(f)
	defer srv.Close()
	tg, _ := New(Opts{Name: "bb", URL: srv.URL, Builders: []string{"b"}, HTTP: srv.Client()})
	if c, err := tg.findChange(context.Background(), key, nil); c != nil || err != nil || len(f.asks) != 1 {
		t.Errorf("short master: %v %v after %v", c, err, f.asks)
	}
}
