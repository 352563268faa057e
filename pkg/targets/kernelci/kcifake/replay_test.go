package kcifake_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trawl-ci/trawl/pkg/capture"
	"github.com/trawl-ci/trawl/pkg/targets/kernelci/kcifake"
)

// recordedSecret signed the pipeline JWTs of the recordings (INDEX.md,
// "How it was run").
const recordedSecret = "h7-pipeline-jwt-secret-0123456789abcdef"

// lateCheckout was created after the nodes-* queries were recorded.
const lateCheckout = "6b114075fd3ad16ddefe13b0"

// recordedDB is every node found in the recorded bodies, each in its last
// recorded version (by updated time), and the nodes of each capture.
type recordedDB struct {
	dir     string
	latest  map[string]kcifake.Node
	byName  map[string][]kcifake.Node
	ordered []string // node ids in creation order
}

// nodesIn decodes the nodes of a recorded body: a node, a page, or a
// pipeline answer.
func nodesIn(body []byte) []kcifake.Node {
	var one kcifake.Node
	if json.Unmarshal(body, &one) == nil && one.ID != "" {
		return []kcifake.Node{one}
	}
	var page struct {
		Items []kcifake.Node `json:"items"`
		Node  *kcifake.Node  `json:"node"`
	}
	if json.Unmarshal(body, &page) != nil {
		return nil
	}
	if page.Node != nil {
		return []kcifake.Node{*page.Node}
	}
	return page.Items
}

func loadDB(t *testing.T) *recordedDB {
	t.Helper()
	dir, err := capture.Shared("kernelci")
	if err != nil {
		t.Fatal(err)
	}
	names, err := capture.Names(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	db := &recordedDB{dir: dir, latest: map[string]kcifake.Node{}, byName: map[string][]kcifake.Node{}}
	for _, name := range names {
		x, err := capture.Load(dir, name)
		if err != nil {
			t.Fatal(err)
		}
		if x.Method == http.MethodPut || strings.HasPrefix(name, "patchset-post") {
			// A PUT answer is not what a poller reads; a POST answer has
			// the microseconds the stored node lacks.
			continue
		}
		for _, n := range nodesIn(x.Body) {
			db.byName[name] = append(db.byName[name], n)
			if old, ok := db.latest[n.ID]; !ok || n.Updated.After(old.Updated.Time) {
				db.latest[n.ID] = n
			}
		}
	}
	for id := range db.latest {
		db.ordered = append(db.ordered, id)
	}
	// ObjectIds grow with creation (time, then a counter): the order the
	// API's store answers in.
	slices.Sort(db.ordered)
	return db
}

// shared returns the fake for capture name: one fake per database view
// (with or without the checkout created after the nodes-* queries), built
// once, with the capture's own nodes put in the version it recorded. The
// returned function restores the fake once the capture is replayed.
func (db *recordedDB) shared(t *testing.T, name string, cache map[bool]*kcifake.Fake) (*kcifake.Fake, func(created string)) {
	early := strings.HasPrefix(name, "nodes-") || name == "count-checkouts"
	if cache[early] == nil {
		cache[early] = db.fake(t, "")
		if early {
			cache[early].Delete(lateCheckout)
		}
	}
	f := cache[early]
	var changed []kcifake.Node
	for _, n := range db.byName[name] {
		if !n.Updated.Equal(db.latest[n.ID].Updated.Time) {
			changed = append(changed, n)
		}
	}
	f.Seed(changed...)
	return f, func(created string) {
		for _, n := range changed {
			f.Seed(db.latest[n.ID])
		}
		if created != "" {
			f.Delete(created)
		}
	}
}

// fake returns a fake holding the recorded database in creation order,
// with the nodes of capture name in the version that capture recorded.
func (db *recordedDB) fake(t *testing.T, name string) *kcifake.Fake {
	f := kcifake.New(kcifake.Options{
		Secret:       []byte(recordedSecret),
		PipelineUser: "staging.kernelci.org",
		StorageURL:   "http://127.0.0.1:8703/",
		Now:          func() time.Time { return time.Date(2026, 12, 3, 9, 31, 13, 0, time.UTC) },
		HTTPClient:   &http.Client{Transport: recordedPatchHost{}},
	})
	own := map[string]kcifake.Node{}
	for _, n := range db.byName[name] {
		own[n.ID] = n
	}
	for _, id := range db.ordered {
		if id == lateCheckout && (strings.HasPrefix(name, "nodes-") || name == "count-checkouts") {
			continue
		}
		n, ok := own[id]
		if !ok {
			n = db.latest[id]
		}
		f.Seed(n)
	}
	return f
}

// recordedPatchHost answers the pipeline's HEAD of a patch URL as the
// recording's patch server did: 404 for the unknown message id, a refused
// connection on port 9, 200 otherwise.
type recordedPatchHost struct{}

func (recordedPatchHost) RoundTrip(r *http.Request) (*http.Response, error) {
	switch {
	case r.URL.Port() == "9":
		return nil, errors.New("connection refused")
	case strings.Contains(r.URL.Path, "no-such-msgid"):
		return &http.Response{StatusCode: 404, Body: http.NoBody, Request: r}, nil
	}
	return &http.Response{StatusCode: 200, Body: http.NoBody, Request: r}, nil
}

// replayed lists the captures of requests trawl makes (GET /latest/node,
// GET /latest/nodes, GET /latest/count, POST /api/patchset) and the
// refusals of neighbouring ones, each replayed against the fake.
func replayed(t *testing.T, dir string) []string {
	names, err := capture.Names(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	return slices.DeleteFunc(names, func(n string) bool {
		// PUT is the pipeline's own write, which trawl never makes; the
		// 307 to the URL without a trailing slash is Starlette's.
		return strings.HasPrefix(n, "node-put-") || n == "nodes-trailing-slash"
	})
}

// unrecorded lists the captures whose answer counts nodes the recordings do
// not hold in the version the query saw, and why: for these the fake must
// answer every recorded node, in order, but may answer more.
var unrecorded = map[string]string{
	"nodes-no-etag-if-none-match": "the total counts round-1 patchset nodes that no recorded body shows",
	"nodes-offset-beyond":         "the total counts round-1 patchset nodes that no recorded body shows",
	"nodes-state-available":       "round-1 node …1147 had left state available by 09:41; only its available version is recorded",
}

// TestReplayRecorded sends every recorded request to the fake and compares
// the answer with the recorded one: the status, the node fields and keys,
// the page envelope and which nodes a query selects, the error bodies.
func TestReplayRecorded(t *testing.T) {
	db := loadDB(t)
	names := replayed(t, db.dir)
	if len(names) < 115 {
		t.Fatalf("%d captures, want the whole recorded set", len(names))
	}
	cache := map[bool]*kcifake.Fake{}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			x, err := capture.Load(db.dir, name)
			if err != nil {
				t.Fatal(err)
			}
			f, restore := db.shared(t, name, cache)
			h := f.APIHandler()
			if x.RequestHeader.Get("Host") == "127.0.0.1:8702" {
				h = f.PipelineHandler()
			}
			body := x.RequestBody
			if b, ok := strings.CutSuffix(body, `\n`); ok {
				body = b + "\n"
			}
			req := httptest.NewRequest(x.Method, x.Target, strings.NewReader(body))
			for k, v := range x.RequestHeader {
				req.Header[k] = v
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			got, _ := io.ReadAll(w.Result().Body)
			var created struct {
				Node struct {
					ID string `json:"id"`
				} `json:"node"`
			}
			_ = json.Unmarshal(got, &created)
			restore(created.Node.ID)
			if w.Code != x.Status {
				t.Fatalf("status %d, recorded %d\n got %.600s\nwant %.600s", w.Code, x.Status, got, x.Body)
			}
			if ct := w.Header().Get("Content-Type"); x.Body != nil && !strings.HasPrefix(ct, strings.Split(x.Header.Get("Content-Type"), ";")[0]) {
				t.Errorf("content type %q, recorded %q", ct, x.Header.Get("Content-Type"))
			}
			if why, ok := unrecorded[name]; ok {
				t.Logf("partial comparison: %s", why)
				compareSubset(t, got, x.Body)
				return
			}
			compareBodies(t, got, x.Body)
		})
	}
}

// random matches what differs on every run (INDEX.md, "Random in every
// run") inside a value: the inline patch's upload time stamp.
var random = regexp.MustCompile(`-\d{14}-`)

// compareBodies compares a fake's answer with the recorded one.
func compareBodies(t *testing.T, got, want []byte) {
	t.Helper()
	if want == nil {
		return
	}
	var g, w any
	if err := json.Unmarshal(want, &w); err != nil {
		// Plain text (the API's version refusal).
		if strings.TrimSpace(string(got)) != strings.TrimSpace(string(want)) {
			t.Errorf("body %q, recorded %q", got, want)
		}
		return
	}
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("body %.300s is not JSON: %v", got, err)
	}
	gm, _ := g.(map[string]any)
	wm, _ := w.(map[string]any)
	switch {
	case wm == nil || gm == nil:
		// null, an integer (count)
		if !reflect.DeepEqual(g, w) {
			t.Errorf("body %.300s, recorded %.300s", got, want)
		}
	case wm["items"] != nil:
		comparePage(t, gm, wm)
	case wm["node"] != nil:
		if gm["message"] != wm["message"] {
			t.Errorf("message %v, recorded %v", gm["message"], wm["message"])
		}
		gn, _ := gm["node"].(map[string]any)
		compareNode(t, gn, wm["node"].(map[string]any), true)
	case wm["id"] != nil:
		compareNode(t, gm, wm, false)
	case wm["message"] != nil:
		if !reflect.DeepEqual(gm, wm) {
			t.Errorf("body %s, recorded %s", got, want)
		}
	case wm["detail"] != nil:
		compareDetail(t, gm["detail"], wm["detail"])
	default:
		t.Errorf("recorded body %.200s: unknown shape", want)
	}
}

// comparePage compares page envelopes and the nodes selected; a trimmed
// recorded page holds its first two items and its last.
func comparePage(t *testing.T, got, want map[string]any) {
	t.Helper()
	for _, k := range []string{"total", "limit", "offset"} {
		if got[k] != want[k] {
			t.Errorf("%s %v, recorded %v", k, got[k], want[k])
		}
	}
	gi, _ := got["items"].([]any)
	wi, _ := want["items"].([]any)
	total, limit, offset := int(want["total"].(float64)), int(want["limit"].(float64)), int(want["offset"].(float64))
	if n := max(0, min(limit, total-offset)); len(gi) != n {
		t.Fatalf("%d items, recorded %d", len(gi), n)
	}
	pairs := [][2]int{}
	if len(wi) == len(gi) {
		for i := range wi {
			pairs = append(pairs, [2]int{i, i})
		}
	} else if len(wi) == 3 {
		pairs = [][2]int{{0, 0}, {1, 1}, {2, len(gi) - 1}}
	} else {
		t.Fatalf("recorded page of %d items for %d", len(wi), len(gi))
	}
	for _, p := range pairs {
		compareNode(t, gi[p[1]].(map[string]any), wi[p[0]].(map[string]any), false)
	}
}

// compareSubset checks that every node of the recorded page is in the
// fake's page, in the same order, and equal.
func compareSubset(t *testing.T, got, want []byte) {
	t.Helper()
	var g, w struct {
		Items []map[string]any `json:"items"`
	}
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatal(err)
	}
	i := 0
	for _, wn := range w.Items {
		for i < len(g.Items) && g.Items[i]["id"] != wn["id"] {
			i++
		}
		if i == len(g.Items) {
			t.Fatalf("recorded node %v missing from the answer or out of order", wn["id"])
		}
		compareNode(t, g.Items[i], wn, false)
	}
}

// compareNode compares two nodes key by key. A node the pipeline created in
// this replay has its own id, times and treeid.
func compareNode(t *testing.T, got, want map[string]any, created bool) {
	t.Helper()
	if got == nil {
		t.Fatal("no node in the answer")
	}
	var gk, wk []string
	for k := range got {
		gk = append(gk, k)
	}
	for k := range want {
		wk = append(wk, k)
	}
	slices.Sort(gk)
	slices.Sort(wk)
	if !slices.Equal(gk, wk) {
		t.Errorf("node keys %v, recorded %v", gk, wk)
	}
	for _, k := range wk {
		g, w := got[k], want[k]
		if created {
			switch k {
			case "id", "created", "updated", "timeout", "treeid":
				continue
			case "artifacts":
				g, w = random.ReplaceAllString(jsonText(g), "-T-"), random.ReplaceAllString(jsonText(w), "-T-")
			}
		}
		if !reflect.DeepEqual(g, w) {
			t.Errorf("node %v: %s = %s, recorded %s", want["id"], k, jsonText(g), jsonText(w))
		}
	}
}

// compareDetail compares FastAPI error details: the text of a string one,
// the type and location of each validation error.
func compareDetail(t *testing.T, got, want any) {
	t.Helper()
	if s, ok := want.(string); ok {
		if got != s {
			t.Errorf("detail %v, recorded %q", got, s)
		}
		return
	}
	pick := func(v any) []string {
		var out []string
		l, _ := v.([]any)
		for _, e := range l {
			m, _ := e.(map[string]any)
			loc, _ := m["loc"].([]any)
			field := ""
			if len(loc) > 1 {
				if s, ok := loc[1].(string); ok {
					field = s
				}
			}
			out = append(out, jsonText(m["type"])+" "+jsonText(loc[0])+" "+field)
		}
		return out
	}
	if g, w := pick(got), pick(want); !slices.Equal(g, w) {
		t.Errorf("detail %v, recorded %v", g, w)
	}
}

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestServicesAsRecorded holds what the fake's simulated pipeline services
// write to what the real ones wrote: the trigger's submitter for a hosted
// and a self-hosted API user, the tarball service's takeover of a new
// patchset node, the patchset service's failure on a failed checkout.
func TestServicesAsRecorded(t *testing.T) {
	db := loadDB(t)
	rec := func(name string) kcifake.Node { return db.byName[name][0] }
	now := func() time.Time { return time.Date(2026, 12, 3, 9, 31, 13, 0, time.UTC) }
	t.Run("trigger submitters", func(t *testing.T) {
		for _, name := range []string{"checkout-staging-1-running", "checkout-selfhosted-1-running"} {
			want := rec(name)
			email := strings.TrimPrefix(want.Submitter, "user:")
			f := kcifake.New(kcifake.Options{PipelineUser: want.Owner, PipelineEmail: email, Now: now})
			got, _ := f.Node(f.AddCheckout("net-next", want.Revision("url"), "main", want.Revision("commit")))
			if got.Submitter != want.Submitter || got.Owner != want.Owner {
				t.Errorf("%s: submitter %s owner %s, recorded %s %s", name, got.Submitter, got.Owner, want.Submitter, want.Owner)
			}
		}
	})
	t.Run("tarball service takes a new patchset", func(t *testing.T) {
		f := db.fake(t, "patchset-race-1-post-200")
		f.Seed(rec("checkout-staging-2-available"))
		x, err := capture.Load(db.dir, "patchset-race-1-post-200")
		if err != nil {
			t.Fatal(err)
		}
		posted := nodesIn(x.Body)
		f.Seed(posted[0])
		f.TakeOverPatchsets()
		got, _ := f.Node(posted[0].ID)
		want := rec("patchset-race-2-after-tarball-service")
		if got.State != want.State || *got.Result != *want.Result || !reflect.DeepEqual(keys(got.Artifacts), keys(want.Artifacts)) ||
			got.Revision("patchset") != want.Revision("patchset") {
			t.Errorf("after the takeover: %s/%v artifacts %v patchset %q; recorded %s/%v %v %q", got.State, *got.Result,
				keys(got.Artifacts), got.Revision("patchset"), want.State, *want.Result, keys(want.Artifacts), want.Revision("patchset"))
		}
	})
	t.Run("patchset service fails a patchset on a failed checkout", func(t *testing.T) {
		f := db.fake(t, "")
		x, err := capture.Load(db.dir, "patchset-post-200-failed-parent")
		if err != nil {
			t.Fatal(err)
		}
		posted := nodesIn(x.Body)[0]
		posted.State, posted.Result = "running", nil
		f.Seed(posted)
		f.Process()
		got, _ := f.Node(posted.ID)
		want := rec("patchset-node-failed-parent-done-fail")
		if got.State != want.State || *got.Result != *want.Result || got.Data["error_code"] != want.Data["error_code"] {
			t.Errorf("got %s/%v code %v, recorded %s/%v code %v", got.State, *got.Result, got.Data["error_code"],
				want.State, *want.Result, want.Data["error_code"])
		}
	})
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
