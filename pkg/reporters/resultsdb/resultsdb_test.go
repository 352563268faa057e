package resultsdb_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trawl-ci/trawl/pkg/httpx"
	"github.com/trawl-ci/trawl/pkg/report"
	"github.com/trawl-ci/trawl/pkg/reporters/resultsdb"
	"github.com/trawl-ci/trawl/pkg/reporters/resultsdb/rdbfake"
	"github.com/trawl-ci/trawl/pkg/targets"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden files")

const (
	testcase = "trawl.kernelci.build"
	item     = "pw:patchwork.kernel.org/netdevbpf/series/812345"
)

// clock moves one second on every reading, so that each result has its
// own submit time.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Second)
	return c.t
}

// env is a fake ResultsDB that counts requests and keeps the last body.
type env struct {
	fake *rdbfake.Fake
	srv  *httptest.Server
	hits atomic.Int64

	mu   sync.Mutex
	last []byte
}

func newEnv(t *testing.T, extra ...string) *env {
	t.Helper()
	c := &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	e := &env{fake: rdbfake.New(rdbfake.Options{AdditionalOutcomes: extra, Now: c.Now})}
	h := e.fake.Handler()
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.hits.Add(1)
		body, _ := io.ReadAll(r.Body)
		e.mu.Lock()
		e.last = body
		e.mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(body))
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(e.srv.Close)
	return e
}

func (e *env) lastBody() []byte {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.last
}

// client is the stack the daemon uses, with short retry waits.
func client(t *testing.T) *http.Client {
	t.Helper()
	c, err := httpx.New(httpx.Options{
		Name:         "resultsdb test",
		UserAgent:    httpx.UserAgent("test"),
		RetryWaitMin: time.Millisecond,
		RetryWaitMax: 2 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (e *env) reporter(t *testing.T, mods ...func(*resultsdb.Opts)) *resultsdb.Reporter {
	t.Helper()
	o := resultsdb.Opts{Name: "rdb", URL: e.srv.URL, Testcase: testcase, HTTP: client(t)}
	for _, m := range mods {
		m(&o)
	}
	r, err := resultsdb.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func result(s targets.State) resultsdb.Result {
	return resultsdb.Result{
		Item:        item,
		State:       s,
		RefURL:      "https://dashboard.kernelci.org/node/65f0a1b2c3d4e5f607182930",
		Note:        "builds 12/12 passed; tests 140 passed",
		Fingerprint: "9f2c6a0d1e",
		ChangeURL:   "https://patchwork.kernel.org/project/netdevbpf/list/?series=812345",
		Submitter:   "Jane Dev <jane@example.org>",
		Unit:        item + "@kernelci-staging",
		Target:      "kernelci-staging",
	}
}

func TestPostOutcome(t *testing.T) {
	tests := []struct {
		state targets.State
		want  string // "" = nothing posted
	}{
		{targets.StateSuccess, "PASSED"},
		{targets.StateFail, "FAILED"},
		{targets.StateWarning, "NEEDS_INSPECTION"},
		{targets.StateInfra, "NEEDS_INSPECTION"},
		{targets.StatePending, ""},
		{"", ""},
	}
	for _, tt := range tests {
		t.Run(string(tt.state), func(t *testing.T) {
			e := newEnv(t)
			if err := e.reporter(t).PostResult(t.Context(), result(tt.state)); err != nil {
				t.Fatal(err)
			}
			if posted := tt.state.Conclusive(); posted != (tt.want != "") {
				t.Errorf("Conclusive() = %v, but posting is %v", posted, tt.want != "")
			}
			rs := e.fake.Results()
			if tt.want == "" {
				if n := e.hits.Load(); n != 0 || len(rs) != 0 {
					t.Errorf("%d requests, %d results for a state that is not posted", n, len(rs))
				}
				return
			}
			if len(rs) != 1 || rs[0].Outcome != tt.want {
				t.Fatalf("results %+v, want one %s", rs, tt.want)
			}
			if out, ok := resultsdb.DefaultOutcome(tt.state); !ok || out != tt.want {
				t.Errorf("DefaultOutcome = %q, %v", out, ok)
			}
		})
	}
}

func TestDefaultOutcomeRefuses(t *testing.T) {
	for _, s := range []targets.State{targets.StatePending, "", "bogus"} {
		if out, ok := resultsdb.DefaultOutcome(s); ok || out != "" {
			t.Errorf("DefaultOutcome(%q) = %q, %v", s, out, ok)
		}
	}
}

func TestOutcomeOverrides(t *testing.T) {
	e := newEnv(t, "ERROR")
	r := e.reporter(t, func(o *resultsdb.Opts) {
		o.Outcomes = map[targets.State]string{targets.StateWarning: "info", targets.StateInfra: "ERROR"}
	})
	want := map[targets.State]string{
		targets.StateSuccess: "PASSED", // not overridden
		targets.StateWarning: "INFO",   // upper-cased by the server
		targets.StateInfra:   "ERROR",
	}
	for _, s := range []targets.State{targets.StateSuccess, targets.StateWarning, targets.StateInfra} {
		if err := r.PostResult(t.Context(), result(s)); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		rs := e.fake.Results()
		if got := rs[len(rs)-1].Outcome; got != want[s] {
			t.Errorf("%s posted as %s, want %s", s, got, want[s])
		}
	}
}

// TestPostBody pins the request body: testdata/post.golden.json.
func TestPostBody(t *testing.T) {
	e := newEnv(t)
	if err := e.reporter(t).PostResult(t.Context(), result(targets.StateFail)); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, e.lastBody(), "", "  "); err != nil {
		t.Fatal(err)
	}
	buf.WriteByte('\n')
	got := buf.Bytes()
	golden := filepath.Join("testdata", "post.golden.json")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("body\n%s\nwant (%s)\n%s", got, golden, want)
	}
}

func TestDataFields(t *testing.T) {
	full := result(targets.StateSuccess)
	tests := []struct {
		name     string
		itemType string
		res      resultsdb.Result
		data     map[string][]string
		note     *string
		refURL   *string
	}{
		{
			name: "every field",
			res:  full,
			data: map[string][]string{
				"item": {item}, "type": {"trawl-change"}, "fingerprint": {full.Fingerprint},
				"change_url": {full.ChangeURL}, "submitter": {full.Submitter}, "unit": {full.Unit}, "target": {full.Target},
			},
			note:   &full.Note,
			refURL: &full.RefURL,
		},
		{
			name:     "only the item, another type",
			itemType: "kernel-series",
			res:      resultsdb.Result{Item: item, State: targets.StateSuccess},
			data:     map[string][]string{"item": {item}, "type": {"kernel-series"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			r := e.reporter(t, func(o *resultsdb.Opts) { o.ItemType = tt.itemType })
			if err := r.PostResult(t.Context(), tt.res); err != nil {
				t.Fatal(err)
			}
			got := e.fake.Results()[0]
			if !reflect.DeepEqual(got.Data, tt.data) {
				t.Errorf("data %v, want %v", got.Data, tt.data)
			}
			if got.Testcase != testcase {
				t.Errorf("testcase %q", got.Testcase)
			}
			if !reflect.DeepEqual(got.Note, tt.note) || !reflect.DeepEqual(got.RefURL, tt.refURL) {
				t.Errorf("note %v ref_url %v, want %v %v", got.Note, got.RefURL, tt.note, tt.refURL)
			}
		})
	}
}

func TestBadOutcomeIsPermanent(t *testing.T) {
	e := newEnv(t)
	r := e.reporter(t, func(o *resultsdb.Opts) {
		o.Outcomes = map[targets.State]string{targets.StateFail: "BROKEN"}
	})
	err := r.PostResult(t.Context(), result(targets.StateFail))
	if err == nil {
		t.Fatal("no error")
	}
	if !errors.Is(err, httpx.ErrBadRequest) || !report.Permanent(err) {
		t.Errorf("error %v is not permanent", err)
	}
	var se *httpx.StatusError
	if !errors.As(err, &se) || se.Status != http.StatusBadRequest {
		t.Fatalf("error %v is not a 400 StatusError", err)
	}
	for _, s := range []string{"rdb", e.srv.URL + "/api/v2.0/results", "must be one of: PASSED, INFO, FAILED, NEEDS_INSPECTION"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not name %q", err, s)
		}
	}
	if len(e.fake.Results()) != 0 {
		t.Error("result stored")
	}
}

func TestRetryableErrors(t *testing.T) {
	tests := []struct {
		name  string
		setup func(e *env) (context.Context, context.CancelFunc)
		hits  int64 // requests the failed post made
	}{
		{name: "500", hits: 1, setup: func(e *env) (context.Context, context.CancelFunc) {
			e.fake.FailNext(http.StatusInternalServerError)
			return context.WithCancel(context.Background())
		}},
		{name: "503", hits: 1, setup: func(e *env) (context.Context, context.CancelFunc) {
			e.fake.FailNext(http.StatusServiceUnavailable)
			return context.WithCancel(context.Background())
		}},
		{name: "context done", hits: 0, setup: func(*env) (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx, cancel
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			r := e.reporter(t)
			ctx, cancel := tt.setup(e)
			defer cancel()
			err := r.PostResult(ctx, result(targets.StateSuccess))
			if err == nil {
				t.Fatal("no error")
			}
			if report.Permanent(err) || errors.Is(err, httpx.ErrBadRequest) {
				t.Errorf("error %v is permanent", err)
			}
			if n := e.hits.Load(); n != tt.hits {
				t.Errorf("%d requests, want %d: PostResult must not retry", n, tt.hits)
			}
			// The outbox's next try succeeds and stores one result.
			if err := r.PostResult(t.Context(), result(targets.StateSuccess)); err != nil {
				t.Fatal(err)
			}
			if n := len(e.fake.Results()); n != 1 {
				t.Errorf("%d results, want 1", n)
			}
		})
	}
}

func TestServerErrorNamesStatus(t *testing.T) {
	e := newEnv(t)
	e.fake.FailNext(http.StatusBadGateway)
	err := e.reporter(t).PostResult(t.Context(), result(targets.StateSuccess))
	if !errors.Is(err, httpx.ErrServer) || !strings.Contains(err.Error(), "502 Bad Gateway") {
		t.Errorf("error %v", err)
	}
}

func TestUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	u := srv.URL
	srv.Close()
	r, err := resultsdb.New(resultsdb.Opts{Name: "rdb", URL: u, Testcase: testcase, HTTP: client(t)})
	if err != nil {
		t.Fatal(err)
	}
	err = r.PostResult(t.Context(), result(targets.StateSuccess))
	if err == nil || report.Permanent(err) {
		t.Errorf("error %v: want a retryable one", err)
	}
	if err != nil && (!strings.Contains(err.Error(), "connection refused") || strings.Contains(err.Error(), "no answer within")) {
		t.Errorf("error %q: want it to say the connection was refused", err)
	}
}

// TestRedirectedPostIsAnError: a 301 turns the POST into a GET, which
// answers 200 with a list and stores nothing.
func TestRedirectedPostIsAnError(t *testing.T) {
	e := newEnv(t)
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, e.srv.URL+r.URL.Path, http.StatusMovedPermanently)
	}))
	defer redirect.Close()
	r := e.reporter(t, func(o *resultsdb.Opts) { o.URL = redirect.URL })
	err := r.PostResult(t.Context(), result(targets.StateSuccess))
	if err == nil || !strings.Contains(err.Error(), "not 201 Created") {
		t.Fatalf("error %v", err)
	}
	if report.Permanent(err) {
		t.Errorf("error %v is permanent", err)
	}
	if len(e.fake.Results()) != 0 {
		t.Error("result stored")
	}
}

// TestUnreadableAnswerIsSuccess: once the server answered 201 the result is
// stored; an error would make the caller post it again.
func TestUnreadableAnswerIsSuccess(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, "<html>created</html>")
	}))
	defer srv.Close()
	r, err := resultsdb.New(resultsdb.Opts{Name: "rdb", URL: srv.URL, Testcase: testcase, HTTP: client(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.PostResult(t.Context(), result(targets.StateSuccess)); err != nil {
		t.Errorf("error %v", err)
	}
}

func TestPostRefusesWithoutRequest(t *testing.T) {
	tests := []struct {
		name string
		res  resultsdb.Result
	}{
		{"unknown state", resultsdb.Result{Item: item, State: "bogus"}},
		{"no item", resultsdb.Result{State: targets.StateSuccess, Unit: "u"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			if err := e.reporter(t).PostResult(t.Context(), tt.res); err == nil {
				t.Error("no error")
			}
			if n := e.hits.Load(); n != 0 {
				t.Errorf("%d requests", n)
			}
		})
	}
}

// TestGreenwaveQuery reads results back the way Greenwave does: the latest
// per testcase for an item and type.
func TestGreenwaveQuery(t *testing.T) {
	e := newEnv(t)
	r := e.reporter(t)
	other := result(targets.StateSuccess)
	other.Item = "pw:patchwork.kernel.org/netdevbpf/series/812399"
	for _, res := range []resultsdb.Result{result(targets.StateSuccess), other, result(targets.StateFail)} {
		if err := r.PostResult(t.Context(), res); err != nil {
			t.Fatal(err)
		}
	}
	q := url.Values{
		"testcases":    {testcase},
		"item":         {item},
		"type":         {resultsdb.DefaultItemType},
		"_distinct_on": {"scenario,system_architecture,system_variant"},
	}
	tests := []struct {
		path string
		want []string // outcomes, newest first
	}{
		{"/api/v2.0/results/latest?" + q.Encode(), []string{"FAILED"}},
		{"/api/v2.0/results?" + url.Values{"testcases": {testcase}, "item": {item}}.Encode(), []string{"FAILED", "PASSED"}},
	}
	for _, tt := range tests {
		resp, err := http.Get(e.srv.URL + tt.path)
		if err != nil {
			t.Fatal(err)
		}
		var page struct {
			Data []struct {
				Outcome string              `json:"outcome"`
				Data    map[string][]string `json:"data"`
			} `json:"data"`
		}
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d %v", tt.path, resp.StatusCode, err)
		}
		var got []string
		for _, d := range page.Data {
			got = append(got, d.Outcome)
			if d.Data["item"][0] != item {
				t.Errorf("%s: found item %v", tt.path, d.Data["item"])
			}
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: outcomes %v, want %v", tt.path, got, tt.want)
		}
	}
}

func TestNewRejects(t *testing.T) {
	valid := resultsdb.Opts{Name: "rdb", URL: "https://resultsdb.example.org", Testcase: testcase, HTTP: http.DefaultClient}
	tests := []struct {
		name string
		mod  func(*resultsdb.Opts)
	}{
		{"no name", func(o *resultsdb.Opts) { o.Name = "" }},
		{"no url", func(o *resultsdb.Opts) { o.URL = "" }},
		{"not http", func(o *resultsdb.Opts) { o.URL = "ftp://resultsdb.example.org" }},
		{"api path given", func(o *resultsdb.Opts) { o.URL = "https://resultsdb.example.org/api/v2.0/" }},
		{"query", func(o *resultsdb.Opts) { o.URL = "https://resultsdb.example.org/?x=1" }},
		{"user in url", func(o *resultsdb.Opts) { o.URL = "https://me:pw@resultsdb.example.org" }},
		{"no testcase", func(o *resultsdb.Opts) { o.Testcase = "" }},
		{"space in testcase", func(o *resultsdb.Opts) { o.Testcase = "trawl kernelci" }},
		{"comma in testcase", func(o *resultsdb.Opts) { o.Testcase = "trawl.a,trawl.b" }},
		{"comma in item type", func(o *resultsdb.Opts) { o.ItemType = "a,b" }},
		{"no client", func(o *resultsdb.Opts) { o.HTTP = nil }},
		{"pending override", func(o *resultsdb.Opts) {
			o.Outcomes = map[targets.State]string{targets.StatePending: "QUEUED"}
		}},
		{"unknown state override", func(o *resultsdb.Opts) { o.Outcomes = map[targets.State]string{"bogus": "INFO"} }},
		{"empty override", func(o *resultsdb.Opts) { o.Outcomes = map[targets.State]string{targets.StateFail: " "} }},
	}
	if _, err := resultsdb.New(valid); err != nil {
		t.Fatalf("valid options refused: %v", err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := valid
			tt.mod(&o)
			if _, err := resultsdb.New(o); err == nil {
				t.Error("accepted")
			} else if strings.Contains(err.Error(), "pw") {
				t.Errorf("error %q shows the URL's password", err)
			}
		})
	}
}

// TestURLUnderPrefix: a ResultsDB mounted under a path keeps it.
func TestURLUnderPrefix(t *testing.T) {
	e := newEnv(t)
	mux := http.NewServeMux()
	mux.Handle("/resultsdb/", http.StripPrefix("/resultsdb", e.srv.Config.Handler))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	r := e.reporter(t, func(o *resultsdb.Opts) { o.URL = srv.URL + "/resultsdb/" })
	if err := r.PostResult(t.Context(), result(targets.StateSuccess)); err != nil {
		t.Fatal(err)
	}
	if len(e.fake.Results()) != 1 {
		t.Error("not stored")
	}
}
