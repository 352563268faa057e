package buildbot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trawl-ci/trawl/pkg/httpx"
	"github.com/trawl-ci/trawl/pkg/targets"
)

// changesFake serves GET /api/v2/changes as Buildbot 3.7 does
// (data/changes.py, data/resultspec.py): order=-changeid (newest first) or
// order=changeid, an optional changeid__gt filter, limit and offset. It
// holds changes 1..total; change i carries trawl_job jobs[i] and project
// projects[i] when set.
type changesFake struct {
	mu       sync.Mutex
	total    int
	jobs     map[int]string
	projects map[int]string
	asks     []string
}

func (f *changesFake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	q := r.URL.Query()
	order := q.Get("order")
	if r.URL.Path != "/api/v2/changes" || (order != "-changeid" && order != "changeid") {
		http.Error(w, "unexpected "+r.URL.String(), http.StatusBadRequest)
		return
	}
	f.asks = append(f.asks, fmt.Sprintf("%s>%s %s@%s", order, q.Get("changeid__gt"), q.Get("limit"), q.Get("offset")))
	limit, _ := strconv.Atoi(q.Get("limit"))
	offset, _ := strconv.Atoi(q.Get("offset"))
	gt, _ := strconv.Atoi(q.Get("changeid__gt"))
	var ids []int
	for id := gt + 1; id <= f.total; id++ {
		ids = append(ids, id)
	}
	if order == "-changeid" {
		for i, j := 0, len(ids)-1; i < j; i, j = i+1, j-1 {
			ids[i], ids[j] = ids[j], ids[i]
		}
	}
	type ch struct {
		ChangeID   int            `json:"changeid"`
		Project    string         `json:"project"`
		Properties map[string]any `json:"properties"`
	}
	out := []ch{}
	for _, id := range ids[min(offset, len(ids)):min(offset+limit, len(ids))] {
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

// add makes a change carrying key in project and returns its id.
func (f *changesFake) add(key, project string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.total++
	f.jobs[f.total], f.projects[f.total] = key, project
	return f.total
}

// TestFindChangeBounds: the first lookup pages newest first and reads no
// more than LookupChanges changes; it matches the job key and the project
// together and skips excluded jobs.
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
		{"second page", map[int]string{130: key}, map[int]string{130: "p/" + key}, nil, 130, []string{"-changeid> 100@0", "-changeid> 50@100"}},
		{"beyond the bound", map[int]string{60: key}, map[int]string{60: "p/" + key}, nil, 0, []string{"-changeid> 100@0", "-changeid> 50@100"}},
		{"another project", map[int]string{240: key}, map[int]string{240: "q/" + key}, nil, 0, []string{"-changeid> 100@0", "-changeid> 50@100"}},
		{"excluded", map[int]string{240: key, 230: key}, map[int]string{240: "p/" + key, 230: "p/" + key}, []string{jobID(240, key)}, 230,
			[]string{"-changeid> 100@0", "-changeid> 50@100"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &changesFake{total: 250, jobs: tc.jobs, projects: tc.projects}
			srv := httptest.NewServer(f)
			defer srv.Close()
			tg, err := New(Opts{Name: "bb", URL: srv.URL, Builders: []string{"b"}, Project: "p", LookupChanges: 150, HTTP: srv.Client()})
			if err != nil {
				t.Fatal(err)
			}
			got, err := tg.findChange(context.Background(), key, tc.exclude)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want || fmt.Sprint(f.asks) != fmt.Sprint(tc.asks) {
				t.Errorf("found change %d after %q, want %d after %q", got, f.asks, tc.want, tc.asks)
			}
		})
	}
}

// TestFindChangeIncremental: after the first lookup, the target asks only
// for the changes made since; more of them than LookupChanges, or a change
// gone, make it read the newest again.
func TestFindChangeIncremental(t *testing.T) {
	f := &changesFake{total: 30, jobs: map[int]string{}, projects: map[int]string{}}
	srv := httptest.NewServer(f)
	defer srv.Close()
	tg, err := New(Opts{Name: "bb", URL: srv.URL, Builders: []string{"b"}, Project: "p", LookupChanges: 50, HTTP: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	find := func(key string) int {
		t.Helper()
		f.mu.Lock()
		f.asks = nil
		f.mu.Unlock()
		id, err := tg.findChange(context.Background(), key, nil)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	if id := find("a"); id != 0 || fmt.Sprint(f.asks) != "[-changeid> 50@0]" {
		t.Fatalf("first lookup: %d after %q", id, f.asks)
	}
	want := f.add("a", "p/a")
	if id := find("a"); id != want || fmt.Sprint(f.asks) != "[changeid>30 50@0]" {
		t.Errorf("second lookup: %d after %q, want %d after one read of the changes since 30", id, f.asks, want)
	}
	// The index remembers what it read: a third lookup reads nothing old.
	if id := find("a"); id != want || fmt.Sprint(f.asks) != "[changeid>31 50@0]" {
		t.Errorf("third lookup: %d after %q", id, f.asks)
	}
	// More changes since than the bound: start over from the newest.
	for range 60 {
		f.add("x", "p/x")
	}
	if id := find("a"); id != 0 || fmt.Sprint(f.asks) != "[changeid>31 50@0 -changeid> 50@0]" {
		t.Errorf("after 60 changes: %d after %q, want the newest 50 read again (change %d is beyond them)", id, f.asks, want)
	}
	// A change reported gone leaves the index.
	tg.forget(91)
	if id := find("x"); id != 90 {
		t.Errorf("after forgetting 91: found %d, want 90", id)
	}
}

// TestTriggerServerError: a change hook that answers 5xx is an error
// naming the URL and the status, and the POST is not sent again (a second
// change could start a second build); the next trigger looks again first.
func TestTriggerServerError(t *testing.T) {
	var mu sync.Mutex
	posts := 0
	f := &changesFake{jobs: map[int]string{}, projects: map[int]string{}}
	mux := http.NewServeMux()
	mux.Handle("/api/v2/changes", f)
	mux.HandleFunc("/change_hook/base", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		posts++
		mu.Unlock()
		http.Error(w, "master overloaded", http.StatusBadGateway)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	hc, err := httpx.New(httpx.Options{Name: "buildbot test", UserAgent: httpx.UserAgent("test"), RetryMax: 3,
		RetryWaitMin: time.Millisecond, RetryWaitMax: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	tg, err := New(Opts{Name: "bb", URL: srv.URL, Builders: []string{"b"}, HTTP: hc})
	if err != nil {
		t.Fatal(err)
	}
	_, err = tg.Trigger(context.Background(), request("net: x"))
	if err == nil || !strings.Contains(err.Error(), "POST "+srv.URL+"/change_hook/base: 502") {
		t.Errorf("Trigger: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if posts != 1 {
		t.Errorf("%d POSTs, want 1", posts)
	}
}

// TestPostRecord: a POST an earlier run recorded, whose change the master
// does not list, makes the trigger wait up to PostGrace instead of
// posting a second change; past it, the trigger posts, and the record goes
// once the change is found. A POST the master refuses leaves no record.
func TestPostRecord(t *testing.T) {
	f := &changesFake{jobs: map[int]string{}, projects: map[int]string{}}
	var mu sync.Mutex
	posts, status := 0, http.StatusOK
	mux := http.NewServeMux()
	mux.Handle("/api/v2/changes", f)
	mux.HandleFunc("/change_hook/base", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		posts++
		if status != http.StatusOK {
			http.Error(w, "no", status)
			return
		}
		var props map[string]any
		if err := json.Unmarshal([]byte(r.FormValue("properties")), &props); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		f.add(props["trawl_job"].(string), r.FormValue("project"))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	dir := t.TempDir()
	tg, err := New(Opts{Name: "bb", URL: srv.URL, Builders: []string{"b"}, StateDir: dir, PostGrace: time.Minute,
		HTTP: srv.Client(), Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	r := request("net: x")
	key := JobKey(r.Unit, r.Fingerprint, 0)
	record := filepath.Join(dir, "buildbot", "bb", key)

	// An earlier run recorded its POST and died: the master lists nothing.
	if err := tg.markPosting(key); err != nil {
		t.Fatal(err)
	}
	now = now.Add(50 * time.Second)
	_, err = tg.Trigger(context.Background(), r)
	if !errors.Is(err, targets.ErrWaiting) || posts != 0 {
		t.Fatalf("within the grace: %v after %d POSTs, want a wait and none", err, posts)
	}
	now = now.Add(20 * time.Second)
	job, err := tg.Trigger(context.Background(), r)
	if err != nil || job.Adopted || posts != 1 {
		t.Fatalf("past the grace: %+v %v after %d POSTs, want one POST", job, err, posts)
	}
	if _, err := os.Stat(record); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the record outlived the change's lookup: %v", err)
	}

	// Refused: no record, so the next trigger posts at once.
	r.Fingerprint += "-2"
	key = JobKey(r.Unit, r.Fingerprint, 0)
	mu.Lock()
	status = http.StatusUnauthorized
	mu.Unlock()
	if _, err := tg.Trigger(context.Background(), r); !errors.Is(err, httpx.ErrForbidden) {
		t.Fatalf("refused POST: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "buildbot", "bb", key)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a refused POST left its record: %v", err)
	}
	mu.Lock()
	status = http.StatusBadGateway
	mu.Unlock()
	if _, err := tg.Trigger(context.Background(), r); err == nil {
		t.Fatal("a 502 POST succeeded")
	}
	// A 5xx may come from a proxy while the master still adds the change.
	if _, err := tg.Trigger(context.Background(), r); !errors.Is(err, targets.ErrWaiting) {
		t.Errorf("after a 502: %v, want a wait", err)
	}
}
