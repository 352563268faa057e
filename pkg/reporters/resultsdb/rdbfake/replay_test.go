package rdbfake_test

import (
	"bytes"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trawl-ci/trawl/pkg/capture"
	"github.com/trawl-ci/trawl/pkg/reporters/resultsdb/rdbfake"
)

// recordedHost is the host the captures were made on
// (../shared/fixtures/resultsdb/INDEX.md): the replayed requests carry it,
// so that the fake builds the same absolute href, next and prev URLs.
const recordedHost = "127.0.0.1:8705"

// postOrder lists the 201 captures in the order they were posted on the
// empty database, which gave them ids 1 to 10 (INDEX.md).
var postOrder = []string{
	"post-201-trawl-passed",
	"post-201-trawl-failed",
	"post-201-trawl-needs-inspection",
	"post-201-trawl-same-item-newer",
	"post-201-testcase-string-lowercase-outcome",
	"post-201-testcase-with-ref-url",
	"post-201-info-list-data",
	"post-201-submit-time",
	"post-201-submit-time-epoch-ms",
	"post-201-groups",
}

// sqliteOnly lists where the recording shows SQLite, which the recorded
// server ran on, and not ResultsDB: the fake follows PostgreSQL, which
// deployments run, and the test expects the recording with what says so
// changed.
var sqliteOnly = map[string]struct {
	why    string
	adjust func(t *testing.T, recorded any) any
}{
	// SQLAlchemy drops DISTINCT ON on SQLite, so the recording lists
	// result 1 beside result 4, the newer result of the same item.
	// PostgreSQL keeps only the newest per (testcase, item).
	"results-latest-distinct-on-item": {
		why: "DISTINCT ON is ignored on SQLite",
		adjust: func(t *testing.T, recorded any) any {
			m := recorded.(map[string]any)
			data := m["data"].([]any)
			m["data"] = slices.DeleteFunc(data, func(r any) bool { return r.(map[string]any)["id"] == float64(1) })
			if len(m["data"].([]any)) != len(data)-1 {
				t.Fatal("results-latest-distinct-on-item: result 1 is no longer in the recording")
			}
			return m
		},
	},
}

// replayClock gives the fake, for each result it stamps, the submit time
// the real server stamped on it.
type replayClock struct {
	mu   sync.Mutex
	next time.Time
}

func (c *replayClock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.next = t
}

func (c *replayClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.next
}

// replay sends a recorded request to srv as it was sent to the real
// server, and returns the fake's answer and its body.
func replay(t *testing.T, srv *httptest.Server, x capture.Exchange) (*http.Response, []byte) {
	t.Helper()
	body := x.RequestBody
	if b, ok := strings.CutSuffix(body, `\n`); ok {
		body = b + "\n"
	}
	req, err := http.NewRequest(x.Method, srv.URL+x.Target, strings.NewReader(body))
	if err != nil {
		t.Fatalf("%s: %v", x.Name, err)
	}
	req.Host = recordedHost
	for k, vs := range x.RequestHeader {
		if k != "Host" {
			req.Header[k] = vs
		}
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s: %v", x.Name, err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s: %v", x.Name, err)
	}
	return resp, got
}

// submitTime reads the submit_time of a recorded result.
func submitTime(t *testing.T, name string, result map[string]any) time.Time {
	t.Helper()
	s, _ := result["submit_time"].(string)
	for _, layout := range []string{"2006-01-02T15:04:05.000000", "2006-01-02T15:04:05"} {
		if ts, err := time.Parse(layout, s); err == nil {
			return ts
		}
	}
	t.Fatalf("%s: submit_time %q", name, s)
	return time.Time{}
}

// decode parses a JSON body.
func decode(t *testing.T, name string, b []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s: body is not JSON: %v\n%s", name, err, b)
	}
	return v
}

// tiesByID orders, in every "data" list of results, the runs of results
// with the same submit time by id. SQL leaves their order open, and the
// real server gives both: results 8 and 9 (both 2026-11-30T12:00:00) come
// 9, 8 in results-limit-1000 and 8, 9 in results-data-two-values.
func tiesByID(v any) any {
	m, ok := v.(map[string]any)
	if !ok {
		return v
	}
	data, ok := m["data"].([]any)
	if !ok {
		return v
	}
	slices.SortStableFunc(data, func(a, b any) int {
		ra, rb := a.(map[string]any), b.(map[string]any)
		ia, okA := ra["id"].(float64)
		ib, okB := rb["id"].(float64)
		if !okA || !okB || ra["submit_time"] != rb["submit_time"] {
			return 0
		}
		return int(ia - ib)
	})
	return m
}

// compare checks the fake's answer against the recorded one: status, media
// type, and the body, JSON compared whole (every key and value, which
// includes all that trawl reads: id and href of a created result, data of
// a looked-up one); for HEAD, the length the GET would have.
func compare(t *testing.T, x capture.Exchange, resp *http.Response, got []byte) {
	t.Helper()
	if resp.StatusCode != x.Status {
		t.Errorf("%s: status %d, recorded %d\n%s", x.Name, resp.StatusCode, x.Status, got)
		return
	}
	wantType, _, _ := mime.ParseMediaType(x.Header.Get("Content-Type"))
	gotType, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if gotType != wantType {
		t.Errorf("%s: Content-Type %q, recorded %q", x.Name, gotType, wantType)
	}
	if allow := x.Header.Get("Allow"); allow != resp.Header.Get("Allow") {
		t.Errorf("%s: Allow %q, recorded %q", x.Name, resp.Header.Get("Allow"), allow)
	}
	switch {
	case x.Method == http.MethodHead || x.Body == nil:
		if len(got) != 0 {
			t.Errorf("%s: a body of %d bytes, recorded none", x.Name, len(got))
		}
		if want := x.Header.Get("Content-Length"); resp.Header.Get("Content-Length") != want {
			t.Errorf("%s: Content-Length %q, recorded %q", x.Name, resp.Header.Get("Content-Length"), want)
		}
	case wantType == "application/json":
		want := decode(t, x.Name, x.Body)
		if adj, ok := sqliteOnly[x.Name]; ok {
			want = adj.adjust(t, want)
		}
		if g, w := tiesByID(decode(t, x.Name, got)), tiesByID(want); !reflect.DeepEqual(g, w) {
			gj, _ := json.Marshal(g)
			wj, _ := json.Marshal(w)
			t.Errorf("%s: body\n%s\nrecorded\n%s", x.Name, gj, wj)
		}
	default:
		if !bytes.Equal(bytes.TrimSpace(got), bytes.TrimSpace(x.Body)) {
			t.Errorf("%s: body\n%s\nrecorded\n%s", x.Name, got, x.Body)
		}
	}
}

// TestReplayRecordedExchanges rebuilds the recorded database in the fake
// and replays every capture of ../shared/fixtures/resultsdb against it:
// first the ten posts that created results 1 to 10, in their order, then
// results 11 to 32 (not captured one by one; taken from the recorded
// listing of all results), then every other capture.
func TestReplayRecordedExchanges(t *testing.T) {
	dir, err := capture.Shared("resultsdb")
	if err != nil {
		t.Fatal(err)
	}
	clock := &replayClock{}
	fake := rdbfake.New(rdbfake.Options{Now: clock.Now})
	srv := httptest.NewServer(fake.Handler())
	defer srv.Close()

	replayed := map[string]bool{}
	for i, name := range postOrder {
		x, err := capture.Load(dir, name)
		if err != nil {
			t.Fatal(err)
		}
		rec := decode(t, name, x.Body).(map[string]any)
		if rec["id"] != float64(i+1) {
			t.Fatalf("%s: recorded id %v, want %d: postOrder is not the recorded order", name, rec["id"], i+1)
		}
		clock.set(submitTime(t, name, rec))
		resp, got := replay(t, srv, x)
		compare(t, x, resp, got)
		replayed[name] = true
	}

	all, err := capture.Load(dir, "results-limit-1000")
	if err != nil {
		t.Fatal(err)
	}
	var listing struct {
		Data []struct {
			ID         int                 `json:"id"`
			Outcome    string              `json:"outcome"`
			SubmitTime string              `json:"submit_time"`
			Data       map[string][]string `json:"data"`
			Testcase   struct{ Name string }
		} `json:"data"`
	}
	if err := json.Unmarshal(all.Body, &listing); err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(listing.Data, func(a, b struct {
		ID         int                 `json:"id"`
		Outcome    string              `json:"outcome"`
		SubmitTime string              `json:"submit_time"`
		Data       map[string][]string `json:"data"`
		Testcase   struct{ Name string }
	}) int {
		return a.ID - b.ID
	})
	for _, r := range listing.Data[len(postOrder):] {
		body, _ := json.Marshal(map[string]any{"testcase": r.Testcase.Name, "outcome": r.Outcome, "data": r.Data})
		clock.set(submitTime(t, "results-limit-1000", map[string]any{"submit_time": r.SubmitTime}))
		resp, got := replay(t, srv, capture.Exchange{Name: "seed", Method: "POST", Target: "/api/v2.0/results",
			RequestHeader: http.Header{"Content-Type": {"application/json"}}, RequestBody: string(body)})
		if resp.StatusCode != http.StatusCreated || decode(t, "seed", got).(map[string]any)["id"] != float64(r.ID) {
			t.Fatalf("seeding result %d: %d %s", r.ID, resp.StatusCode, got)
		}
	}
	if n := len(fake.Results()); n != 32 {
		t.Fatalf("the fake holds %d results, the recorded database 32", n)
	}

	names, err := capture.Names(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(names) < 70 {
		t.Fatalf("only %d captures in %s", len(names), dir)
	}
	for _, name := range names {
		if replayed[name] {
			continue
		}
		x, err := capture.Load(dir, name)
		if err != nil {
			t.Fatal(err)
		}
		resp, got := replay(t, srv, x)
		compare(t, x, resp, got)
		replayed[name] = true
	}
	if n := len(fake.Results()); n != 32 {
		t.Errorf("the fake holds %d results after the replay; failed posts must store nothing", n)
	}
	for name := range sqliteOnly {
		if !replayed[name] {
			t.Errorf("%s: listed as SQLite-only but not recorded", name)
		}
	}
}

// TestLimitMinusOne is the recorded answer to limit=-1 (which panicked the
// fake): no results and a next link, like limit=0.
func TestLimitMinusOne(t *testing.T) {
	_, srv := newServer(t)
	seed(t, srv)
	for _, q := range []string{"limit=-1", "limit=0"} {
		status, got := get(t, srv, "/api/v2.0/results?"+q)
		if status != http.StatusOK {
			t.Fatalf("%s: status %d", q, status)
		}
		m := got.(map[string]any)
		if len(m["data"].([]any)) != 0 || m["next"] == nil {
			t.Errorf("%s: %v, want no results and a next link", q, m)
		}
	}
}
