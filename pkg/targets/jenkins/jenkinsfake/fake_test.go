package jenkinsfake

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
)

func TestTree(t *testing.T) {
	v := map[string]any{
		"_class": "J", "name": "x", "url": "u",
		"builds": []any{
			map[string]any{"_class": "B", "number": 3.0, "url": "u3", "result": "SUCCESS"},
			map[string]any{"_class": "B", "number": 2.0, "url": "u2", "result": "FAILURE"},
			map[string]any{"_class": "B", "number": 1.0, "url": "u1", "result": nil},
		},
	}
	for _, tc := range []struct {
		tree string
		want any
	}{
		{"name", map[string]any{"_class": "J", "name": "x"}},
		{"builds[number]{1,}", map[string]any{"_class": "J", "builds": []any{
			map[string]any{"_class": "B", "number": 2.0}, map[string]any{"_class": "B", "number": 1.0}}}},
		{"builds[number,result]{,1},missing", map[string]any{"_class": "J", "builds": []any{
			map[string]any{"_class": "B", "number": 3.0, "result": "SUCCESS"}}}},
		{"builds[url]{2}", map[string]any{"_class": "J", "builds": []any{map[string]any{"_class": "B", "url": "u1"}}}},
	} {
		nodes, err := parseTree(tc.tree)
		if err != nil {
			t.Fatalf("%s: %v", tc.tree, err)
		}
		if got := filterTree(v, nodes); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.tree, got, tc.want)
		}
	}
	for _, bad := range []string{"", "a[b", "a{1", "a{x}", ",a"} {
		if _, err := parseTree(bad); err == nil {
			t.Errorf("parseTree(%q) accepted", bad)
		}
	}
}

// TestServe checks what the fake answers beside what the target's tests
// use: anonymous and GET refusals, and builds at depth 0 without a tree.
func TestServe(t *testing.T) {
	f := New(Options{Parameters: []string{"P"}})
	srv := httptest.NewServer(f)
	defer srv.Close()
	do := func(method, path string, auth bool, form url.Values) (*http.Response, string) {
		req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(form.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if auth {
			req.SetBasicAuth(DefaultUser, DefaultToken)
		}
		client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	if resp, _ := do("GET", "/queue/api/json", false, nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("anonymous: %d", resp.StatusCode)
	}
	if resp, _ := do("GET", f.JobPath()+"buildWithParameters", true, nil); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET buildWithParameters: %d", resp.StatusCode)
	}
	resp, _ := do("POST", f.JobPath()+"buildWithParameters", true, url.Values{"P": {"1"}, "UNDEFINED": {"x"}})
	if resp.StatusCode != http.StatusCreated || resp.Header.Get("Location") != srv.URL+"/queue/item/1/" {
		t.Fatalf("POST: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if _, err := f.Start(1); err != nil {
		t.Fatal(err)
	}
	_, body := do("GET", f.JobPath()+"api/json", true, nil)
	var job struct {
		Builds []map[string]any `json:"builds"`
	}
	if err := json.Unmarshal([]byte(body), &job); err != nil {
		t.Fatal(err)
	}
	if len(job.Builds) != 1 || len(job.Builds[0]) != 3 {
		t.Errorf("builds at depth 0: %v", job.Builds)
	}
	if got := f.Builds()[0].Params; !reflect.DeepEqual(got, map[string]string{"P": "1"}) {
		t.Errorf("parameters %v: want the defined one only", got)
	}
}
