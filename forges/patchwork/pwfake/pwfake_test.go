package pwfake

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
)

// recordedHostPort makes the fake's host rewrite an identity, so answers
// compare byte for byte with the captures.
const recordedHostPort = "127.0.0.1:8000"

func newFake(t *testing.T, p Phase) *Fake {
	t.Helper()
	f, err := New(Options{Phase: p})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// do sends one request to f as if to host.
func do(t *testing.T, f *Fake, method, host, target string) (*http.Response, []byte) {
	t.Helper()
	req := httptest.NewRequest(method, "http://"+host+target, nil)
	rec := httptest.NewRecorder()
	f.ServeHTTP(rec, req)
	resp := rec.Result()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

func testdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// recordedHeader returns one response header of a .headers.txt capture.
func recordedHeader(t *testing.T, name, key string) string {
	t.Helper()
	sc := bufio.NewScanner(bytes.NewReader(testdata(t, name)))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "< "+key+": "); ok {
			return v
		}
	}
	t.Fatalf("%s has no %s header", name, key)
	return ""
}

func ids(t *testing.T, body []byte) []int64 {
	t.Helper()
	var items []struct {
		ID int64 `json:"id"`
	}
	if err := json.Unmarshal(body, &items); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	out := []int64{}
	for _, it := range items {
		out = append(out, it.ID)
	}
	return out
}

func TestListsMatchRecordings(t *testing.T) {
	tests := []struct {
		phase  Phase
		target string
		body   string // recorded body file
		link   string // recorded headers file whose Link must match, if any
	}{
		{Phase1, "/api/series/?project=netdev", "series-list-netdev.json", ""},
		{Phase1, "/api/series/?project=2", "series-list-project-by-id.json", ""},
		{Phase1, "/api/series/?project=netdev&since=2017-05-23T05:00:00", "series-list-netdev-since.json", ""},
		{Phase1, "/api/series/?project=netdev&before=2017-01-01T00:00:00", "series-list-netdev-before.json", ""},
		{Phase1, "/api/series/?project=netdev&q=sample", "series-list-q-search.json", ""},
		{Phase1, "/api/patches/?project=netdev&state=new", "patches-list-netdev-state-new.json", ""},
		{Phase1, "/api/patches/?series=3", "patches-list-series3.json", ""},
		{Phase1, "/api/patches/?project=netdev&msgid=1473632795-9971-2-git-send-email-stephenfinucane@gmail.com",
			"patches-list-by-msgid.json", "patches-list-by-msgid.headers.txt"},
		{Phase1, "/api/covers/?series=3", "covers-list-series3.json", ""},
		{Phase1, "/api/patches/?series=2&series=3", "", "patches-list-series-2-and-3.headers.txt"},
	}
	f := newFake(t, Phase1)
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			if err := f.SetPhase(tt.phase); err != nil {
				t.Fatal(err)
			}
			resp, body := do(t, f, http.MethodGet, recordedHostPort, tt.target)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			if tt.body != "" && !bytes.Equal(body, testdata(t, tt.body)) {
				t.Errorf("body differs from %s:\n%s", tt.body, body)
			}
			if tt.link != "" {
				if got, want := resp.Header.Get("Link"), recordedHeader(t, tt.link, "Link"); got != want {
					t.Errorf("Link:\n got %s\nwant %s", got, want)
				}
			}
		})
	}
}

func TestPagination(t *testing.T) {
	f := newFake(t, Phase1)
	tests := []struct {
		target  string
		status  int
		ids     []int64
		headers string // recorded capture whose Link must match
	}{
		{"/api/series/?project=netdev&per_page=2", 200, []int64{1, 2}, "page-series-per_page2-p1.headers.txt"},
		{"/api/series/?project=netdev&per_page=2&page=2", 200, []int64{3, 4}, "page-series-per_page2-p2.headers.txt"},
		{"/api/series/?project=netdev&per_page=2&page=4", 200, []int64{7, 8}, "page-series-per_page2-last.headers.txt"},
		{"/api/series/?project=netdev&per_page=2&page=last", 200, []int64{7, 8}, ""},
		{"/api/series/?project=netdev&per_page=2&page=99", 404, nil, ""},
		{"/api/series/?project=netdev&page=abc", 404, nil, ""},
		{"/api/series/?project=netdev&page=0", 404, nil, ""},
		{"/api/series/?project=netdev&per_page=0", 200, []int64{1, 2, 3, 4, 5, 6, 7, 8}, ""},
		{"/api/series/?project=netdev&per_page=-1", 200, []int64{1, 2, 3, 4, 5, 6, 7, 8}, ""},
		{"/api/series/?project=netdev&per_page=abc", 200, []int64{1, 2, 3, 4, 5, 6, 7, 8}, ""},
		{"/api/series/?per_page=1000", 200, []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14}, ""},
		{"/api/series/?project=nosuch&page=2", 404, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			resp, body := do(t, f, http.MethodGet, recordedHostPort, tt.target)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, body)
			}
			if tt.status == 404 {
				if string(body) != `{"detail":"Invalid page."}` || resp.Header.Get("Content-Type") != "application/json" {
					t.Errorf("404 %s %q", resp.Header.Get("Content-Type"), body)
				}
				return
			}
			if got := ids(t, body); !slices.Equal(got, tt.ids) {
				t.Errorf("ids %v, want %v", got, tt.ids)
			}
			if tt.headers != "" {
				if got, want := resp.Header.Get("Link"), recordedHeader(t, tt.headers, "Link"); got != want {
					t.Errorf("Link:\n got %s\nwant %s", got, want)
				}
			}
		})
	}
}

func TestPatchPages(t *testing.T) {
	f := newFake(t, P2DependsOn)
	resp, body := do(t, f, http.MethodGet, "pw.test", "/api/1.3/patches/?per_page=7&page=5")
	if got := ids(t, body); !slices.Equal(got, []int64{29, 30}) {
		t.Errorf("page 5 of 7 = %v", got)
	}
	if !strings.Contains(resp.Header.Get("Link"), `<http://pw.test/api/1.3/patches/?page=4&per_page=7>; rel="prev"`) {
		t.Errorf("Link %s", resp.Header.Get("Link"))
	}
	_, body = do(t, f, http.MethodGet, "pw.test", "/api/1.3/patches/?per_page=1000")
	if n := len(ids(t, body)); n != 30 {
		t.Errorf("per_page=1000 gave %d patches, want all 30", n)
	}
}

func TestPatchFilters(t *testing.T) {
	tests := []struct {
		phase Phase
		query string
		ids   []int64
	}{
		{Phase1, "project=bpf", []int64{19, 20, 21, 22, 23, 24, 25, 26}},
		{Phase1, "project=NETDEV&state=accepted", []int64{9}},
		{Phase1, "project=1&state=superseded&state=changes-requested", []int64{5, 6, 14}},
		{Phase1, "state=new&state=bogus", []int64{}},
		{Phase1, "project=nosuch", []int64{}},
		{Phase1, "archived=true", []int64{14}},
		{Phase1, "project=netdev&archived=false&state=changes-requested", []int64{}},
		{Phase1, "delegate=admin", []int64{7}},
		{Phase1, "delegate=1", []int64{7}},
		{Phase1, "delegate=ci-bot", []int64{}},
		{Phase1, "delegate=nosuch", []int64{}},
		{Phase1, "hash=EF5728BA9684B75251F5971AC1C52353CB3C08DC", []int64{7, 23}},
		{P2V3Complete, "hash=ef5728ba9684b75251f5971ac1c52353cb3c08dc", []int64{7, 23, 27}},
		{Phase1, "series=9999", []int64{}},
		{Phase1, "series=15", []int64{}},
		{P2OnePatch, "series=15", []int64{27}},
		{Phase1, "msgid=%3C1473632795-9971-2-git-send-email-stephenfinucane@gmail.com%3E", []int64{}},
		{Phase1, "submitter=xiaolou4617@gmail.com", []int64{13, 14, 15, 16}},
		{P2DependsOn, "since=2026-11-21T05:10:01", []int64{29, 30}},
		{P2DependsOn, "since=2026-11-21%2005:10:01.5", []int64{30}},
		{P2DependsOn, "since=2026-11-21T05:00:00&before=2026-11-21T05:10:00", []int64{27, 28}},
		{P2DependsOn, "since=yesterday", []int64{}},
		{P2DependsOn, "since=2026-11-21", []int64{}},
		{P2DependsOn, "since=2026-11-21T05:00:00+00:00", []int64{}},
	}
	f := newFake(t, Phase1)
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			if err := f.SetPhase(tt.phase); err != nil {
				t.Fatal(err)
			}
			resp, body := do(t, f, http.MethodGet, "pw.test", "/api/1.3/patches/?"+tt.query)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			if got := ids(t, body); !slices.Equal(got, tt.ids) {
				t.Errorf("ids %v, want %v", got, tt.ids)
			}
		})
	}
}

func TestOtherFilters(t *testing.T) {
	tests := []struct {
		phase  Phase
		target string
		ids    []int64
	}{
		{P2CoverOnly, "/api/covers/?project=netdev&msgid=20261121050000.4242-0-stephenfinucane@example.org", []int64{8}},
		{Phase1, "/api/covers/?msgid=20261121050000.4242-0-stephenfinucane@example.org", []int64{}},
		{Phase1, "/api/covers/?project=bpf", []int64{5, 6, 7}},
		{Phase1, "/api/covers/?series=abc", []int64{}},
		{P2DependsOn, "/api/series/?submitter=alice@example.org", []int64{16}},
		{P2DependsOn, "/api/series/?project=netdev&since=2026-01-01T00:00:00", []int64{15, 16}},
		// q: every word, in any case (DRF SearchFilter splits at commas and
		// spaces); recorded with one word: series-list-q-search.
		{P2V3Complete, "/api/series/?project=netdev&q=sample", []int64{2, 3, 15}},
		{P2V3Complete, "/api/series/?project=netdev&q=SERIES,a%20sample", []int64{2, 3, 15}},
		{P2V3Complete, "/api/series/?project=netdev&q=sample+cleanups", []int64{}},
		{P2V3Complete, "/api/series/?project=netdev&submitter=1&q=sample", []int64{}},
		{P2V3Complete, "/api/series/?project=netdev&submitter=2&q=a+sample+series", []int64{2, 3, 15}},
	}
	f := newFake(t, Phase1)
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			if err := f.SetPhase(tt.phase); err != nil {
				t.Fatal(err)
			}
			resp, body := do(t, f, http.MethodGet, "pw.test", tt.target)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			if got := ids(t, body); !slices.Equal(got, tt.ids) {
				t.Errorf("ids %v, want %v", got, tt.ids)
			}
		})
	}
}

func TestServerErrors(t *testing.T) {
	f := newFake(t, Phase1)
	errorPage, err := readRecorded("events-since-Z.html")
	if err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{
		"/api/1.3/patches/?since=2026-11-21T04:45:03Z",
		"/api/1.3/patches/?since=2026-11-21T04:45:03%2B00:00",
		"/api/1.3/series/?before=2026-11-21T14:45:03%2B10:00",
		"/api/covers/?series=1",
	} {
		resp, body := do(t, f, http.MethodGet, "pw.test", target)
		if resp.StatusCode != http.StatusInternalServerError || !bytes.Equal(body, errorPage) ||
			resp.Header.Get("Content-Type") != "text/html" {
			t.Errorf("%s: %d %s %q", target, resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
	}
}

func TestNotFound(t *testing.T) {
	f := newFake(t, Phase1)
	tests := []struct {
		method, target string
		status         int
		contentType    string
		body           []byte
	}{
		{"GET", "/api/series/9999/", 404, "application/json", []byte(`{"detail":"Not found."}`)},
		{"GET", "/api/1.3/covers/8/", 404, "application/json", []byte(`{"detail":"Not found."}`)},
		{"GET", "/api/series/abc/", 404, "text/html; charset=utf-8", testdata(t, "series-detail-nonint-404.html")},
		{"GET", "/series/9999/mbox/", 404, "text/html; charset=utf-8", testdata(t, "mbox-series-404.html")},
		{"GET", "/api/1.4/", 404, "text/html; charset=utf-8", nil},
		{"GET", "/api/1.2/patches/", 404, "text/html; charset=utf-8", nil},
		{"GET", "/api/patches/7/", 404, "text/html; charset=utf-8", nil},
		{"GET", "/project/netdev/patch/nosuch@example.org/mbox/", 404, "text/html; charset=utf-8", nil},
		{"GET", "/project/netdev/patch/1473632795-9971-3-git-send-email-stephenfinucane@gmail.com/mbox/?series=2",
			404, "text/html; charset=utf-8", nil},
		{"POST", "/api/series/", 405, "application/json", []byte(`{"detail":"Method \"POST\" not allowed."}`)},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.target, func(t *testing.T) {
			resp, body := do(t, f, tt.method, recordedHostPort, tt.target)
			if resp.StatusCode != tt.status || resp.Header.Get("Content-Type") != tt.contentType {
				t.Fatalf("%d %s, want %d %s", resp.StatusCode, resp.Header.Get("Content-Type"), tt.status, tt.contentType)
			}
			if tt.body != nil && !bytes.Equal(body, tt.body) {
				t.Errorf("body:\n%s", body)
			}
		})
	}
}

func TestHeaders(t *testing.T) {
	f := newFake(t, Phase1)
	for _, tt := range []struct{ target, capture string }{
		{"/api/series/1/", "series-detail-1-v3-cover.headers.txt"},
		{"/series/1/mbox/", "mbox-series-1.headers.txt"},
	} {
		resp, _ := do(t, f, http.MethodGet, recordedHostPort, tt.target)
		for _, h := range []string{"Content-Type", "X-Frame-Options", "Content-Length"} {
			if got, want := resp.Header.Get(h), recordedHeader(t, tt.capture, h); got != want {
				t.Errorf("%s %s = %q, want %q", tt.target, h, got, want)
			}
		}
		for _, h := range []string{"ETag", "Last-Modified", "Cache-Control"} {
			if v := resp.Header.Get(h); v != "" {
				t.Errorf("%s has %s: %s", tt.target, h, v)
			}
		}
	}
	resp, _ := do(t, f, http.MethodGet, recordedHostPort, "/api/series/1/")
	if resp.Header.Get("Vary") != "Accept, Cookie" || resp.Header.Get("Allow") != "GET, HEAD, OPTIONS" {
		t.Errorf("headers %v", resp.Header)
	}
	if got := recordedHeader(t, "mbox-series-1.headers.txt", "Content-Disposition"); resp.Header.Get("Content-Disposition") == got {
		t.Errorf("API answer has the mbox disposition")
	}
	mresp, _ := do(t, f, http.MethodGet, recordedHostPort, "/series/1/mbox/")
	if got, want := mresp.Header.Get("Content-Disposition"), recordedHeader(t, "mbox-series-1.headers.txt", "Content-Disposition"); got != want {
		t.Errorf("Content-Disposition %q, want %q", got, want)
	}
	hresp, hbody := do(t, f, http.MethodHead, recordedHostPort, "/api/series/?project=netdev")
	if hresp.StatusCode != 200 || len(hbody) != 0 || hresp.Header.Get("Link") == "" {
		t.Errorf("HEAD: %d %q %v", hresp.StatusCode, hbody, hresp.Header)
	}
}

func TestMboxes(t *testing.T) {
	tests := []struct {
		phase  Phase
		target string
		want   []byte
	}{
		{Phase1, "/series/1/mbox/", mustRecorded(t, "mbox-series-1.mbox")},
		{Phase1, "/series/3/mbox/", mustRecorded(t, "mbox-series-3.mbox")},
		{Phase1, "/series/10/mbox/", mustRecorded(t, "mbox-series-10-mercurial.mbox")},
		{Phase1, "/series/13/mbox/", mustRecorded(t, "mbox-series-13-incomplete.mbox")},
		{P2CoverOnly, "/series/15/mbox/", []byte{}},
		{P2V3Complete, "/series/15/mbox/", mustRecorded(t, "p2-03-mbox-series-v3.mbox")},
		{P2DependsOn, "/series/16/mbox/", mustRecorded(t, "p2-04-mbox-series-depends-on.mbox")},
		{Phase1, "/project/netdev/patch/1473632795-9971-2-git-send-email-stephenfinucane@gmail.com/mbox/",
			testdata(t, "mbox-patch-7.mbox")},
		{Phase1, "/project/netdev/patch/1473632795-9971-3-git-send-email-stephenfinucane@gmail.com/mbox/?series=*",
			testdata(t, "mbox-patch-8-series-star.mbox")},
		{Phase1, "/project/netdev/patch/1473632795-9971-3-git-send-email-stephenfinucane@gmail.com/mbox/?series=3",
			testdata(t, "mbox-patch-8-series-star.mbox")},
	}
	f := newFake(t, Phase1)
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			if err := f.SetPhase(tt.phase); err != nil {
				t.Fatal(err)
			}
			resp, body := do(t, f, http.MethodGet, recordedHostPort, tt.target)
			if resp.StatusCode != 200 || !bytes.Equal(body, tt.want) {
				t.Errorf("status %d, body differs:\n%s", resp.StatusCode, body)
			}
		})
	}
	if err := f.SetPhase(Phase1); err != nil {
		t.Fatal(err)
	}
	resp, _ := do(t, f, http.MethodGet, recordedHostPort,
		"/project/netdev/patch/1473632795-9971-2-git-send-email-stephenfinucane@gmail.com/mbox/")
	for _, h := range []string{"Content-Type", "Content-Disposition"} {
		if got, want := resp.Header.Get(h), recordedHeader(t, "mbox-patch-7.headers.txt", h); got != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}
}

func mustRecorded(t *testing.T, name string) []byte {
	t.Helper()
	b, err := readRecorded(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDerivedObjects(t *testing.T) {
	f := newFake(t, P2DependsOn)
	// Every patch has a 40-hex hash, but the pull request.
	_, body := do(t, f, http.MethodGet, "pw.test", "/api/1.3/patches/?per_page=250")
	var patches []struct {
		ID     int64   `json:"id"`
		Hash   *string `json:"hash"`
		State  string  `json:"state"`
		Series []struct {
			ID int64 `json:"id"`
		} `json:"series"`
	}
	if err := json.Unmarshal(body, &patches); err != nil {
		t.Fatal(err)
	}
	if len(patches) != 30 {
		t.Fatalf("%d patches", len(patches))
	}
	for _, p := range patches {
		if p.ID == 17 {
			if p.Hash != nil {
				t.Errorf("pull request has hash %s", *p.Hash)
			}
			continue
		}
		if p.Hash == nil || len(*p.Hash) != 40 || len(p.Series) != 1 || p.State == "" {
			t.Errorf("patch %d: %+v", p.ID, p)
		}
	}
	// A derived hash is Patchwork's hash of the recorded diff.
	msg := f.data.patchMbox[30]
	if got, want := *patches[29].Hash, hashDiff(diffOf(string(msg))); got != want || want != "6f56a0c9d5776cb8f7d45ab492c96926b3556e3a" {
		t.Errorf("patch 30 hash %s, want %s", got, want)
	}
	// Derived cover details have the list fields, empty content.
	resp, body := do(t, f, http.MethodGet, "pw.test", "/api/1.3/covers/5/")
	var c struct {
		ID      int64  `json:"id"`
		MsgID   string `json:"msgid"`
		Content string `json:"content"`
		Series  []struct {
			ID int64 `json:"id"`
		} `json:"series"`
	}
	if err := json.Unmarshal(body, &c); err != nil || resp.StatusCode != 200 {
		t.Fatalf("%d %s: %v", resp.StatusCode, body, err)
	}
	if c.ID != 5 || c.MsgID != "<patchbomb.1485159385@nuevo>" || c.Content != "" || len(c.Series) != 1 || c.Series[0].ID != 10 {
		t.Errorf("cover 5: %+v", c)
	}
	// A derived mbox of a patch with a recorded detail has its diff.
	_, body = do(t, f, http.MethodGet, "pw.test", "/series/7/mbox/")
	if !bytes.Contains(body, []byte("X-Patchwork-Id: 17\n")) || !bytes.Contains(body, []byte("git://")) {
		t.Errorf("series 7 mbox:\n%s", body)
	}
}

func TestHashDiffMatchesRecordedHashes(t *testing.T) {
	for _, name := range patchDetails {
		var d struct {
			ID   int64   `json:"id"`
			Hash *string `json:"hash"`
			Diff *string `json:"diff"`
		}
		if err := json.Unmarshal(mustRecorded(t, name), &d); err != nil {
			t.Fatal(err)
		}
		if d.Diff == nil {
			continue
		}
		if got := hashDiff(*d.Diff); got != *d.Hash {
			t.Errorf("patch %d: hash %s, recorded %s", d.ID, got, *d.Hash)
		}
	}
}

func TestPhases(t *testing.T) {
	f := newFake(t, Phase1)
	tests := []struct {
		phase    Phase
		status   int
		received int
		mboxLen  bool
	}{
		{Phase1, 404, 0, false},
		{P2CoverOnly, 200, 0, false},
		{P2OnePatch, 200, 1, true},
		{P2V3Complete, 200, 2, true},
		{P2DependsOn, 200, 2, true},
	}
	for _, tt := range tests {
		if err := f.SetPhase(tt.phase); err != nil {
			t.Fatal(err)
		}
		resp, body := do(t, f, http.MethodGet, "pw.test", "/api/1.3/series/15/")
		if resp.StatusCode != tt.status {
			t.Fatalf("phase %d: status %d", tt.phase, resp.StatusCode)
		}
		if tt.status != 200 {
			continue
		}
		var s struct {
			ReceivedTotal int  `json:"received_total"`
			ReceivedAll   bool `json:"received_all"`
		}
		if err := json.Unmarshal(body, &s); err != nil {
			t.Fatal(err)
		}
		if s.ReceivedTotal != tt.received || s.ReceivedAll != (tt.received == 2) {
			t.Errorf("phase %d: %+v", tt.phase, s)
		}
		mresp, mbox := do(t, f, http.MethodGet, "pw.test", "/series/15/mbox/")
		if mresp.StatusCode != 200 || (len(mbox) > 0) != tt.mboxLen {
			t.Errorf("phase %d: mbox %d, %d bytes", tt.phase, mresp.StatusCode, len(mbox))
		}
	}
	if err := f.SetPhase(Phase(9)); err == nil {
		t.Error("SetPhase(9) succeeded")
	}
	if _, err := New(Options{Phase: -1}); err == nil {
		t.Error("New with phase -1 succeeded")
	}
}

func TestRequestsAndFailures(t *testing.T) {
	f := newFake(t, Phase1)
	f.FailPath("/api/1.3/series/", http.StatusServiceUnavailable)
	f.FailPath("/api/1.3/patches/?project=bpf", http.StatusForbidden)
	steps := []struct {
		target string
		status int
	}{
		{"/api/1.3/series/1/", 503},
		{"/api/1.3/series/1/", 503},
		{"/api/1.3/patches/?project=bpf", 403},
		{"/api/1.3/patches/?project=netdev", 200},
		{"/nosuch/", 404},
	}
	for _, s := range steps {
		if resp, body := do(t, f, http.MethodGet, "pw.test", s.target); resp.StatusCode != s.status {
			t.Errorf("%s: %d %s, want %d", s.target, resp.StatusCode, body, s.status)
		}
	}
	f.FailPath("/api/1.3/series/", 0)
	if resp, _ := do(t, f, http.MethodGet, "pw.test", "/api/1.3/series/1/"); resp.StatusCode != 200 {
		t.Errorf("after clearing: %d", resp.StatusCode)
	}
	want := map[string]int{"/api/1.3/series/1/": 3, "/api/1.3/patches/": 2, "/nosuch/": 1}
	got := f.Requests()
	if len(got) != len(want) {
		t.Errorf("requests %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("requests %v, want %v", got, want)
		}
	}
}

func TestStart(t *testing.T) {
	f := newFake(t, Phase1)
	if err := f.Start(""); err != nil {
		t.Fatal(err)
	}
	base := f.URL()
	resp, err := http.Get(base + "/api/1.3/series/1/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Contains(body, []byte(`"url":"`+base+`/api/1.3/series/1/"`)) {
		t.Errorf("%d %s", resp.StatusCode, body)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if f.URL() != "" || f.Close() == nil {
		t.Error("still started after Close")
	}
}

// TestDecide: a maintainer's decision shows in the patch lists and their
// filters, with commit_ref as the recorded accepted patch has it
// (patches-detail-9-accepted).
func TestDecide(t *testing.T) {
	f := newFake(t, Phase1)
	if err := f.Decide(7, "accepted", "0123456789abcdef0123456789abcdef01234567"); err != nil {
		t.Fatal(err)
	}
	if err := f.Decide(7, "bogus", ""); err == nil {
		t.Error("an unknown state was taken")
	}
	if err := f.Decide(999, "accepted", ""); err == nil {
		t.Error("an unknown patch was taken")
	}
	_, body := do(t, f, http.MethodGet, "pw.test", "/api/patches/?series=3")
	var got []struct {
		ID        int64   `json:"id"`
		State     string  `json:"state"`
		CommitRef *string `json:"commit_ref"`
	}
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].State != "accepted" || got[0].CommitRef == nil || *got[0].CommitRef != "0123456789abcdef0123456789abcdef01234567" ||
		got[1].State != "new" || got[1].CommitRef != nil {
		t.Errorf("patches of series 3 after accepting 7: %+v", got)
	}
	_, body = do(t, f, http.MethodGet, "pw.test", "/api/patches/?project=netdev&state=accepted")
	if ids := ids(t, body); !slices.Equal(ids, []int64{7, 9}) {
		t.Errorf("accepted patches %v, want 7 and 9", ids)
	}
}

// TestEditText: an edit shows in the cover letter's content (JSON) and in
// the mboxes, with the fake's host.
func TestEditText(t *testing.T) {
	f := newFake(t, P2DependsOn)
	f.EditText("Depends-on: http://127.0.0.1:8000/project/netdev/list/?series=1", "Depends-on: <a@b>\nDepends-on: \"x\"")
	f.EditText("This builds on the v3 sample series.", "Line one.\nLine \"two\".")
	_, body := do(t, f, http.MethodGet, "pw.test", "/api/covers/9/")
	var cv struct {
		Content string `json:"content"`
	}
	if err := json.Unmarshal(body, &cv); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(cv.Content, "Line one.\nLine \"two\".") {
		t.Errorf("cover content %q", cv.Content)
	}
	_, mbox := do(t, f, http.MethodGet, "pw.test", "/series/16/mbox/")
	if !strings.Contains(string(mbox), "\nDepends-on: <a@b>\nDepends-on: \"x\"\n") || strings.Contains(string(mbox), "list/?series=1") {
		t.Errorf("series mbox not edited:\n%s", mbox)
	}
}
