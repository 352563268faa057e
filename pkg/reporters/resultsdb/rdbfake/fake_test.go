package rdbfake_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trawl-ci/trawl/pkg/reporters/resultsdb/rdbfake"
)

// clock is a test clock that moves one second on every reading, so that
// every result has its own submit time.
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

// newServer serves a fresh fake whose instance also accepts AMAZING, as
// the upstream functional tests configure it.
func newServer(t *testing.T) (*rdbfake.Fake, *httptest.Server) {
	t.Helper()
	c := &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	f := rdbfake.New(rdbfake.Options{AdditionalOutcomes: []string{"AMAZING"}, Now: c.Now})
	srv := httptest.NewServer(f.Handler())
	t.Cleanup(srv.Close)
	return f, srv
}

// call makes one request and decodes a JSON answer (nil otherwise).
func call(t *testing.T, srv *httptest.Server, method, path, contentType, body string) (int, any) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &v); err != nil {
			t.Fatalf("%s %s: answer is not JSON: %v\n%s", method, path, err, raw)
		}
	}
	return resp.StatusCode, v
}

func post(t *testing.T, srv *httptest.Server, body string) (int, any) {
	t.Helper()
	return call(t, srv, http.MethodPost, "/api/v2.0/results", "application/json", body)
}

func get(t *testing.T, srv *httptest.Server, path string) (int, any) {
	t.Helper()
	return call(t, srv, http.MethodGet, path, "", "")
}

// jsonOf decodes a literal, for comparisons with decoded answers.
func jsonOf(t *testing.T, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("bad literal %s: %v", s, err)
	}
	return v
}

// withoutURLs drops the "url" of each validation error: it names the
// pydantic version, which the upstream tests do not pin either.
func withoutURLs(v any) any {
	m, ok := v.(map[string]any)
	if !ok {
		return v
	}
	if l, ok := m["validation_error"].([]any); ok {
		for _, e := range l {
			delete(e.(map[string]any), "url")
		}
	}
	return v
}

func TestCreateValidation(t *testing.T) {
	const tc = `"testcase": "dist.rpmdeplint"`
	tests := []struct {
		name   string
		body   string
		status int
		want   string // the whole answer, validation error urls left out
	}{
		{
			name:   "unknown outcome",
			body:   `{"outcome": "FAKEOUTCOME", ` + tc + `}`,
			status: 400,
			want: `{"validation_error": [{"input": "FAKEOUTCOME", "loc": ["outcome"], "type": "value_error",
				"msg": "Value error, must be one of: PASSED, INFO, FAILED, NEEDS_INSPECTION, AMAZING"}]}`,
		},
		{
			name:   "missing outcome",
			body:   `{` + tc + `}`,
			status: 400,
			want: `{"validation_error": [{"input": {"testcase": "dist.rpmdeplint"}, "loc": ["outcome"],
				"msg": "Field required", "type": "missing"}]}`,
		},
		{
			name:   "outcome not a string",
			body:   `{"outcome": 1, ` + tc + `}`,
			status: 400,
			want: `{"validation_error": [{"input": 1, "loc": ["outcome"],
				"msg": "Input should be a valid string", "type": "string_type"}]}`,
		},
		{
			name:   "blank outcome",
			body:   `{"outcome": "  ", ` + tc + `}`,
			status: 400,
			want: `{"validation_error": [{"input": "  ", "loc": ["outcome"],
				"msg": "String should have at least 1 character", "type": "string_too_short"}]}`,
		},
		{
			name:   "missing testcase",
			body:   `{"outcome": "passed"}`,
			status: 400,
			want: `{"validation_error": [{"input": {"outcome": "passed"}, "loc": ["testcase"],
				"msg": "Field required", "type": "missing"}]}`,
		},
		{
			name:   "empty testcase",
			body:   `{"outcome": "passed", "testcase": ""}`,
			status: 400,
			want: `{"validation_error": [{"input": "", "loc": ["testcase"],
				"msg": "Value error, testcase name must be non-empty", "type": "value_error"}]}`,
		},
		{
			name:   "testcase without a name",
			body:   `{"outcome": "passed", "testcase": {"ref_url": "https://example.org"}}`,
			status: 400,
			want: `{"validation_error": [{"input": {"ref_url": "https://example.org"}, "loc": ["testcase"],
				"msg": "Value error, testcase name must be non-empty", "type": "value_error"}]}`,
		},
		{
			name:   "testcase not an object",
			body:   `{"outcome": "passed", "testcase": ["a"]}`,
			status: 400,
			want: `{"validation_error": [{"input": ["a"], "loc": ["testcase"],
				"msg": "Input should be a valid dictionary", "type": "dict_type"}]}`,
		},
		{
			name:   "every bad field reported, in model order",
			body:   `{"testcase": {}, "note": 5, "data": [], "groups": "g", "submit_time": "now"}`,
			status: 400,
			want: `{"validation_error": [
				{"input": {"testcase": {}, "note": 5, "data": [], "groups": "g", "submit_time": "now"},
				 "loc": ["outcome"], "msg": "Field required", "type": "missing"},
				{"input": {}, "loc": ["testcase"], "msg": "Value error, testcase name must be non-empty", "type": "value_error"},
				{"input": "g", "loc": ["groups"], "msg": "Input should be a valid list", "type": "list_type"},
				{"input": 5, "loc": ["note"], "msg": "Input should be a valid string", "type": "string_type"},
				{"input": [], "loc": ["data"], "msg": "Input should be a valid dictionary", "type": "dict_type"},
				{"input": "now", "loc": ["submit_time"], "type": "value_error",
				 "msg": "Value error, Expected timestamp in milliseconds or datetime (in format YYYY-MM-DDTHH:MM:SS.ffffff), got 'now'"}]}`,
		},
		{
			name:   "colon in data keys",
			body:   `{"outcome": "PASSED", ` + tc + `, "data": {"validkey": 1, "invalid:key": 2, "another:invalid:key": 3}}`,
			status: 400,
			want:   `{"message": "Colon not allowed in key name: ['invalid:key', 'another:invalid:key']"}`,
		},
		{
			name:   "colon checked after the model",
			body:   `{"outcome": "BOGUS", ` + tc + `, "data": {"a:b": "c"}}`,
			status: 400,
			want: `{"validation_error": [{"input": "BOGUS", "loc": ["outcome"], "type": "value_error",
				"msg": "Value error, must be one of: PASSED, INFO, FAILED, NEEDS_INSPECTION, AMAZING"}]}`,
		},
		{
			name:   "not JSON",
			body:   `{"outcome": `,
			status: 400,
			want:   `{"message": "Bad request"}`,
		},
		{
			name:   "not an object",
			body:   `["PASSED"]`,
			status: 400,
			want:   `{"message": "Bad request"}`,
		},
		{
			name:   "fractional submit time",
			body:   `{"outcome": "PASSED", ` + tc + `, "submit_time": 1661324097123.5}`,
			status: 500,
			want:   `{"message": "Internal Server Error"}`,
		},
		{
			name:   "group that is neither a uuid nor an object",
			body:   `{"outcome": "PASSED", ` + tc + `, "groups": [7]}`,
			status: 500,
			want:   `{"message": "Internal Server Error"}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, srv := newServer(t)
			status, got := post(t, srv, tt.body)
			if status != tt.status {
				t.Fatalf("status %d, want %d (%v)", status, tt.status, got)
			}
			if want := jsonOf(t, tt.want); !reflect.DeepEqual(withoutURLs(got), want) {
				t.Errorf("answer\n%v\nwant\n%v", got, want)
			}
			if n := len(f.Results()); n != 0 {
				t.Errorf("%d results stored", n)
			}
		})
	}
}

func TestCreateValidationErrorURL(t *testing.T) {
	_, srv := newServer(t)
	_, got := post(t, srv, `{"outcome": "BOGUS", "testcase": "x"}`)
	e := got.(map[string]any)["validation_error"].([]any)[0].(map[string]any)
	if u, _ := e["url"].(string); !strings.HasPrefix(u, "https://errors.pydantic.dev/") || !strings.HasSuffix(u, "/v/value_error") {
		t.Errorf("url %q", e["url"])
	}
}

func TestCreateNeedsJSONContentType(t *testing.T) {
	f, srv := newServer(t)
	status, _ := call(t, srv, http.MethodPost, "/api/v2.0/results", "text/plain", `{"outcome": "PASSED", "testcase": "x"}`)
	if status != http.StatusUnsupportedMediaType {
		t.Errorf("status %d, want 415", status)
	}
	if len(f.Results()) != 0 {
		t.Error("result stored")
	}
}

// TestCreateResult is the upstream test_create_result: the 201 answer is
// the result as GET serves it.
func TestCreateResult(t *testing.T) {
	f, srv := newServer(t)
	status, got := post(t, srv, `{
		"outcome": "passed",
		"testcase": {"name": "fedora-ci.koji-build./plans/basic.functional", "ref_url": "https://example.com/tc"},
		"groups": ["3ce5f6d7-ce34-489b-ab61-325ce634eab5"],
		"note": "Result Note",
		"data": {"item": "perl-Specio-0.25-1.fc26", "type": "koji_build", "arch": "x86_64", "moo": ["boo", "woof"]},
		"ref_url": "https://example.com/testing.result"}`)
	if status != http.StatusCreated {
		t.Fatalf("status %d: %v", status, got)
	}
	want := jsonOf(t, fmt.Sprintf(`{
		"id": 1,
		"groups": ["3ce5f6d7-ce34-489b-ab61-325ce634eab5"],
		"testcase": {"name": "fedora-ci.koji-build./plans/basic.functional", "ref_url": "https://example.com/tc",
			"href": "%[1]s/api/v2.0/testcases/fedora-ci.koji-build./plans/basic.functional"},
		"submit_time": "2026-03-01T12:00:01",
		"outcome": "PASSED",
		"note": "Result Note",
		"ref_url": "https://example.com/testing.result",
		"data": {"item": ["perl-Specio-0.25-1.fc26"], "type": ["koji_build"], "arch": ["x86_64"], "moo": ["boo", "woof"]},
		"href": "%[1]s/api/v2.0/results/1"}`, srv.URL))
	if !reflect.DeepEqual(got, want) {
		t.Errorf("answer\n%v\nwant\n%v", got, want)
	}
	if _, again := get(t, srv, "/api/v2.0/results/1"); !reflect.DeepEqual(again, want) {
		t.Errorf("GET /results/1\n%v\nwant\n%v", again, want)
	}
	rs := f.Results()
	if len(rs) != 1 || rs[0].Outcome != "PASSED" || *rs[0].Note != "Result Note" {
		t.Errorf("Results() = %+v", rs)
	}
}

func TestCreateMinimal(t *testing.T) {
	_, srv := newServer(t)
	status, got := post(t, srv, `{"outcome": " amazing ", "testcase": "tc"}`)
	if status != http.StatusCreated {
		t.Fatalf("status %d: %v", status, got)
	}
	m := got.(map[string]any)
	for k, want := range map[string]any{"outcome": "AMAZING", "note": nil, "ref_url": nil} {
		if m[k] != want {
			t.Errorf("%s = %v, want %v", k, m[k], want)
		}
	}
	if d, g := m["data"], m["groups"]; !reflect.DeepEqual(d, map[string]any{}) || !reflect.DeepEqual(g, []any{}) {
		t.Errorf("data %v, groups %v: want empty, not null", d, g)
	}
}

// TestTestcaseRefURL checks that a testcase given by name keeps its
// ref_url and one given as an object sets it.
func TestTestcaseRefURL(t *testing.T) {
	_, srv := newServer(t)
	steps := []struct {
		testcase string
		want     any
	}{
		{`{"name": "tc", "ref_url": "https://a"}`, "https://a"},
		{`"tc"`, "https://a"},
		{`{"name": "tc"}`, "https://a"},
		{`{"name": "tc", "ref_url": null}`, nil},
	}
	for i, s := range steps {
		status, got := post(t, srv, `{"outcome": "PASSED", "testcase": `+s.testcase+`}`)
		if status != http.StatusCreated {
			t.Fatalf("step %d: status %d: %v", i, status, got)
		}
		if ref := got.(map[string]any)["testcase"].(map[string]any)["ref_url"]; ref != s.want {
			t.Errorf("step %d: testcase ref_url %v, want %v", i, ref, s.want)
		}
	}
}

func TestDataValuesStoredAsStrings(t *testing.T) {
	f, srv := newServer(t)
	status, got := post(t, srv, `{"outcome": "PASSED", "testcase": "tc", "data": {
		"int": 1, "float": 1.50, "big": 1e16, "small": 0.00001, "bool": true, "null": null,
		"list": ["a", 2, false], "obj": {"y": "it's", "x": [1]}}}`)
	if status != http.StatusCreated {
		t.Fatalf("status %d: %v", status, got)
	}
	want := map[string][]string{
		"int": {"1"}, "float": {"1.5"}, "big": {"1e+16"}, "small": {"1e-05"}, "bool": {"True"}, "null": {"None"},
		"list": {"a", "2", "False"}, "obj": {`{'x': [1], 'y': "it's"}`},
	}
	if got := f.Results()[0].Data; !reflect.DeepEqual(got, want) {
		t.Errorf("data %v, want %v", got, want)
	}
}

func TestSubmitTime(t *testing.T) {
	tests := []struct {
		in   string
		want string
	}{
		{`1661324097123`, "2022-08-24T06:54:57.123000"},
		{`"1661324097123"`, "2022-08-24T06:54:57.123000"},
		{`"2022-08-24T06:54:57.123456"`, "2022-08-24T06:54:57.123456"},
		{`"2022-08-24T06:54:57.123456Z"`, "2022-08-24T06:54:57.123456"},
		{`"2022-08-24T06:54:57.123456+00:00"`, "2022-08-24T06:54:57.123456"},
		{`"2022-08-24T06:54:57.123456+0000"`, "2022-08-24T06:54:57.123456"},
		{`"2022-08-24T06:54:57.123456+00"`, "2022-08-24T06:54:57.123456"},
		{`"2022-08-24T08:54:57.5+02:00"`, "2022-08-24T06:54:57.500000"},
		{`"2022-08-24T06:54:57.000000"`, "2022-08-24T06:54:57"},
		{`"2022-08-24T06:54:57"`, ""},   // no fraction: refused
		{`"2022-02-30T06:54:57.1"`, ""}, // no such day
		{`[1]`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			_, srv := newServer(t)
			status, got := post(t, srv, `{"outcome": "PASSED", "testcase": "tc", "submit_time": `+tt.in+`}`)
			if tt.want == "" {
				if status != http.StatusBadRequest {
					t.Fatalf("status %d, want 400: %v", status, got)
				}
				e := got.(map[string]any)["validation_error"].([]any)[0].(map[string]any)
				if !strings.HasPrefix(e["msg"].(string), "Value error, Expected timestamp in milliseconds") {
					t.Errorf("msg %q", e["msg"])
				}
				return
			}
			if status != http.StatusCreated {
				t.Fatalf("status %d: %v", status, got)
			}
			if st := got.(map[string]any)["submit_time"]; st != tt.want {
				t.Errorf("submit_time %v, want %s", st, tt.want)
			}
		})
	}
}

func TestGroups(t *testing.T) {
	_, srv := newServer(t)
	status, got := post(t, srv, `{"outcome": "PASSED", "testcase": "tc",
		"groups": ["g1", {"uuid": "g2", "description": "d"}, {"description": "new"}]}`)
	if status != http.StatusCreated {
		t.Fatalf("status %d: %v", status, got)
	}
	g := got.(map[string]any)["groups"].([]any)
	if len(g) != 3 || g[0] != "g1" || g[1] != "g2" || len(g[2].(string)) != 36 {
		t.Errorf("groups %v", g)
	}
}

// seed posts the results of the query tests: result n (its id) is
// submitted at 12:00:0n.
func seed(t *testing.T, srv *httptest.Server) {
	t.Helper()
	bodies := []string{
		`{"outcome": "PASSED", "testcase": "tc.build", "groups": ["g1"], "data": {"item": "a", "type": "change", "arch": "x86_64"}}`,      // 1
		`{"outcome": "FAILED", "testcase": "tc.build", "data": {"item": "a", "type": "change", "arch": "arm64"}}`,                         // 2
		`{"outcome": "PASSED", "testcase": "tc.test", "groups": ["g2"], "data": {"item": "a", "type": "change", "moo": ["boo", "woof"]}}`, // 3
		`{"outcome": "INFO", "testcase": "tc.build", "data": {"item": "b", "type": "change"}}`,                                            // 4
		`{"outcome": "PASSED", "testcase": "other", "data": {"item": "a", "type": "koji_build"}}`,                                         // 5
	}
	for i, b := range bodies {
		if status, got := post(t, srv, b); status != http.StatusCreated {
			t.Fatalf("seed %d: status %d: %v", i+1, status, got)
		}
	}
}

// ids returns the ids of the results in a {"data": [...]} answer.
func ids(t *testing.T, v any) []int {
	t.Helper()
	out := []int{}
	for _, r := range v.(map[string]any)["data"].([]any) {
		out = append(out, int(r.(map[string]any)["id"].(float64)))
	}
	return out
}

func TestListFilters(t *testing.T) {
	_, srv := newServer(t)
	seed(t, srv)
	// Submit times: result n was posted at 12:00:0n.
	tests := []struct {
		query string
		want  []int
	}{
		{"", []int{5, 4, 3, 2, 1}},
		{"testcases=tc.build", []int{4, 2, 1}},
		{"testcases=tc.build,tc.test", []int{4, 3, 2, 1}},
		{"testcases:like=tc.*", []int{4, 3, 2, 1}},
		{"testcases:like=tc.b_ild", []int{4, 2, 1}},
		{"outcome=passed", []int{5, 3, 1}},
		{"outcome=PASSED,INFO", []int{5, 4, 3, 1}},
		{"groups=g1,g2", []int{3, 1}},
		{"item=a", []int{5, 3, 2, 1}},
		{"item=a&type=change", []int{3, 2, 1}},
		{"item=a&type=change&testcases=tc.build", []int{2, 1}},
		{"item=b,a&type=koji_build", []int{5}},
		{"item=b&item=a&type=koji_build", []int{5}},
		{"arch:like=x86*", []int{1}},
		{"moo=boo", []int{3}},
		{"moo:like=*fake*,*oo*", []int{3}},
		{"item=c", []int{}},
		{"item:exact=b", []int{4}}, // an unknown modifier: the key before it, exact values
		{"since=2026-03-01T12:00:03", []int{5, 4, 3}},
		{"since=2026-03-01T12:00:02,2026-03-01T12:00:03", []int{3, 2}},
		{"since=2026-03-01T12:00:03%2B05:00", []int{5, 4, 3}}, // the zone is dropped, not applied
		{"_sort=asc:submit_time&testcases=tc.build", []int{1, 2, 4}},
		{"_sort=disable_sorting", []int{1, 2, 3, 4, 5}},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			status, got := get(t, srv, "/api/v2.0/results?"+tt.query)
			if status != http.StatusOK {
				t.Fatalf("status %d: %v", status, got)
			}
			if g := ids(t, got); !reflect.DeepEqual(g, tt.want) {
				t.Errorf("ids %v, want %v", g, tt.want)
			}
		})
	}
}

func TestListRejects(t *testing.T) {
	_, srv := newServer(t)
	tests := []struct {
		query, loc, msg string
	}{
		{"outcome=BOGUS", "outcome", "Value error, must be one of: PASSED, INFO, FAILED, NEEDS_INSPECTION, AMAZING"},
		{"since=yesterday", "since", "Value error, must be in ISO8601 format"},
		{"since=2026-03-01,never", "since", "Value error, must be in ISO8601 format"},
		{"limit=ten", "limit", "Input should be a valid integer, unable to parse string as an integer"},
		{"page=x", "page", "Input should be a valid integer, unable to parse string as an integer"},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			status, got := get(t, srv, "/api/v2.0/results?"+tt.query)
			if status != http.StatusBadRequest {
				t.Fatalf("status %d, want 400: %v", status, got)
			}
			e := got.(map[string]any)["validation_error"].([]any)[0].(map[string]any)
			if !reflect.DeepEqual(e["loc"], []any{tt.loc}) || e["msg"] != tt.msg {
				t.Errorf("error %v", e)
			}
		})
	}
}

func TestPagination(t *testing.T) {
	_, srv := newServer(t)
	for i := range 25 {
		if status, _ := post(t, srv, fmt.Sprintf(`{"outcome": "PASSED", "testcase": "tc", "data": {"n": %d}}`, i)); status != 201 {
			t.Fatal(status)
		}
	}
	base := srv.URL + "/api/v2.0/results"
	tests := []struct {
		query      string
		n          int
		first      int
		prev, next any
	}{
		{"", 20, 25, nil, base + "?page=1"},
		{"?page=1", 5, 5, base + "?page=0", nil},
		{"?limit=10&page=1", 10, 15, base + "?limit=10&page=0", base + "?limit=10&page=2"},
		// callback= is left out of the links, but it filters as a data
		// key, as in the real service.
		{"?page=2&limit=10&callback=cb", 0, 0, base + "?page=1&limit=10&", nil},
		{"?page=2&limit=10", 5, 5, base + "?page=1&limit=10", nil},
		{"?limit=0", 0, 0, nil, base + "?limit=0&page=1"},
		{"?page=9", 0, 0, base + "?page=8", nil},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			status, got := get(t, srv, "/api/v2.0/results"+tt.query)
			if status != http.StatusOK {
				t.Fatalf("status %d: %v", status, got)
			}
			m := got.(map[string]any)
			g := ids(t, got)
			if len(g) != tt.n || (tt.n > 0 && g[0] != tt.first) {
				t.Errorf("ids %v, want %d from %d", g, tt.n, tt.first)
			}
			if m["prev"] != tt.prev || m["next"] != tt.next {
				t.Errorf("prev %v next %v, want %v %v", m["prev"], m["next"], tt.prev, tt.next)
			}
		})
	}
}

func TestLatest(t *testing.T) {
	_, srv := newServer(t)
	seed(t, srv)
	const distinct = "&_distinct_on=scenario,system_architecture,system_variant"
	tests := []struct {
		query string
		want  []int
	}{
		{"", []int{5, 4, 3}},
		{"testcases=tc.build", []int{4}},
		{"item=a&type=change", []int{3, 2}},
		{"item=a&type=change&testcases=tc.build", []int{2}},
		{"item=a&type=change&outcome=PASSED", []int{3, 2}}, // outcome is not a filter here
		{"item=a&type=change" + distinct, []int{3, 2}},
		{"item=a&type=change&testcases=tc.build" + distinct, []int{2}},
		{"item=a&type=change&_distinct_on=arch", []int{3, 2, 1}},
		{"item=nothing", []int{}},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			status, got := get(t, srv, "/api/v2.0/results/latest?"+tt.query)
			if status != http.StatusOK {
				t.Fatalf("status %d: %v", status, got)
			}
			if g := ids(t, got); !reflect.DeepEqual(g, tt.want) {
				t.Errorf("ids %v, want %v", g, tt.want)
			}
			if _, has := got.(map[string]any)["next"]; has {
				t.Error("latest answers with pagination links")
			}
		})
	}
	status, got := get(t, srv, "/api/v2.0/results/latest?_distinct_on=scenario")
	if want := jsonOf(t, `{"message": "Please, provide at least one filter beside '_distinct_on'"}`); status != 400 || !reflect.DeepEqual(got, want) {
		t.Errorf("_distinct_on alone: %d %v", status, got)
	}
}

func TestRoutes(t *testing.T) {
	_, srv := newServer(t)
	seed(t, srv)
	tests := []struct {
		method, path string
		status       int
		want         string // JSON answer; empty: not checked
	}{
		{"GET", "/api/v2.0/healthcheck", 200, `{"message": "Health check OK"}`},
		{"GET", "/api/v2.0/results/5", 200, ""},
		{"GET", "/api/v2.0/results/6", 404, `{"message": "Result not found"}`},
		{"GET", "/api/v2.0/results/x", 404, `{"message": "Result not found"}`},
		{"GET", "/api/v2.0/nothing", 404, `{"message": "Not found"}`},
		{"GET", "/results", 404, `{"message": "Not found"}`},
		{"PUT", "/api/v2.0/results", 405, ""},
		{"POST", "/api/v2.0/results/latest", 405, ""},
		{"DELETE", "/api/v2.0/results/1", 405, ""},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			status, got := call(t, srv, tt.method, tt.path, "application/json", "")
			if status != tt.status {
				t.Fatalf("status %d, want %d", status, tt.status)
			}
			if tt.want != "" && !reflect.DeepEqual(got, jsonOf(t, tt.want)) {
				t.Errorf("answer %v, want %s", got, tt.want)
			}
		})
	}
}

func TestFailNext(t *testing.T) {
	f, srv := newServer(t)
	f.FailNext(http.StatusInternalServerError)
	f.FailNext(http.StatusBadGateway)
	body := `{"outcome": "PASSED", "testcase": "tc"}`
	for _, want := range []struct {
		status int
		msg    string
	}{{500, "Internal Server Error"}, {502, "Bad Gateway"}} {
		status, got := post(t, srv, body)
		if status != want.status || !reflect.DeepEqual(got, map[string]any{"message": want.msg}) {
			t.Errorf("got %d %v, want %d %s", status, got, want.status, want.msg)
		}
	}
	if len(f.Results()) != 0 {
		t.Fatal("a failed request stored a result")
	}
	if status, _ := post(t, srv, body); status != http.StatusCreated {
		t.Errorf("status %d after the failures, want 201", status)
	}
}

func FuzzCreate(f *testing.F) {
	f.Add(`{"outcome": "passed", "testcase": "tc", "data": {"item": "x", "n": [1, 2.5, null]}}`)
	f.Add(`{"outcome": "PASSED", "testcase": {"name": "tc", "ref_url": 5}, "groups": [{"uuid": null}]}`)
	f.Add(`{"outcome": "INFO", "testcase": "tc", "submit_time": "2022-08-24T06:54:57.1+23:59"}`)
	f.Add(`{"outcome": "INFO", "testcase": "tc", "submit_time": "-99999999999999999"}`)
	f.Add(`{"outcome": "FAILED", "testcase": "tc", "data": {"a:b": 1}, "note": "n", "ref_url": "u"}`)
	f.Add(`{"testcase": {"name": {"x": 1}}, "outcome": 5}`)
	f.Add(`[]`)
	f.Fuzz(func(t *testing.T, body string) {
		fake := rdbfake.New(rdbfake.Options{})
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, "/api/v2.0/results", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		fake.Handler().ServeHTTP(rec, req)
		rs := fake.Results()
		switch rec.Code {
		case http.StatusCreated:
			if len(rs) != 1 {
				t.Fatalf("201 with %d results stored", len(rs))
			}
			if o := rs[0].Outcome; o != strings.ToUpper(o) || o == "" {
				t.Fatalf("stored outcome %q", o)
			}
			for k := range rs[0].Data {
				if strings.Contains(k, ":") {
					t.Fatalf("stored data key %q", k)
				}
			}
		case http.StatusBadRequest, http.StatusInternalServerError:
			if len(rs) != 0 {
				t.Fatalf("%d with %d results stored", rec.Code, len(rs))
			}
		default:
			t.Fatalf("status %d", rec.Code)
		}
		if !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("answer is not JSON: %s", rec.Body.Bytes())
		}
	})
}
