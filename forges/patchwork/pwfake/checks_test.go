package pwfake

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// capture is one recorded exchange: the request, and the answer's status
// and headers.
type capture struct {
	method, target string
	header         http.Header
	body           string
	status         int
	respHeader     http.Header
}

// readCapture parses a .headers.txt capture.
func readCapture(t *testing.T, name string) capture {
	t.Helper()
	c := capture{header: http.Header{}, respHeader: http.Header{}}
	sc := bufio.NewScanner(bytes.NewReader(testdata(t, name+".headers.txt")))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "> [request body] "):
			c.body = strings.TrimPrefix(line, "> [request body] ")
		case strings.HasPrefix(line, "> ") && c.method == "":
			fields := strings.Fields(line[2:])
			c.method, c.target = fields[0], fields[1]
		case strings.HasPrefix(line, "> "):
			k, v, _ := strings.Cut(line[2:], ": ")
			c.header.Add(k, v)
		case strings.HasPrefix(line, "< HTTP/1.1 "):
			c.status, _ = strconv.Atoi(strings.Fields(line)[2])
		case strings.HasPrefix(line, "< "):
			k, v, _ := strings.Cut(line[2:], ": ")
			c.respHeader.Add(k, v)
		}
	}
	return c
}

// send makes one request to f on the recorded host.
func send(t *testing.T, f *Fake, method, target string, header http.Header, body string) (*http.Response, []byte) {
	t.Helper()
	req := httptest.NewRequest(method, "http://"+recordedHostPort+target, strings.NewReader(body))
	if body == "" {
		req.ContentLength = 0
	}
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	f.ServeHTTP(rec, req)
	resp := rec.Result()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func jsonHeader(token string) http.Header {
	h := http.Header{"Content-Type": {"application/json"}}
	if token != "" {
		h.Set("Authorization", "Token "+token)
	}
	return h
}

func TestCheckReadsMatchRecordings(t *testing.T) {
	f := newFake(t, Phase1)
	tests := []struct {
		method, target, token, capture string
	}{
		{"GET", "/api/patches/1/checks/", "", "checks-list-patch-1"},
		{"GET", "/api/patches/8/checks/", "", "checks-list-patch-8"},
		{"GET", "/api/patches/5/checks/", "", "checks-list-patch-5-empty"},
		{"GET", "/api/patches/9999/checks/", "", "checks-list-patch-404"},
		{"GET", "/api/patches/1/checks/1/", "", "checks-detail-1"},
		{"OPTIONS", "/api/patches/1/checks/", AdminToken, "method-options-checks"},
	}
	for _, tt := range tests {
		t.Run(tt.capture, func(t *testing.T) {
			c := readCapture(t, tt.capture)
			if c.method != tt.method || c.target != tt.target {
				t.Fatalf("capture is %s %s", c.method, c.target)
			}
			resp, body := send(t, f, tt.method, tt.target, c.header, "")
			if resp.StatusCode != c.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, c.status, body)
			}
			if want := testdata(t, tt.capture+".json"); !bytes.Equal(body, want) {
				t.Errorf("body:\n got %s\nwant %s", body, want)
			}
			for _, h := range []string{"Content-Type", "Link", "Vary", "Allow", "X-Frame-Options", "Content-Length"} {
				if got, want := resp.Header.Get(h), c.respHeader.Get(h); got != want {
					t.Errorf("%s = %q, want %q", h, got, want)
				}
			}
		})
	}
}

// TestCheckPostsMatchRecordings replays the recorded check posts. The fake
// holds the end of phase 1, when ci-bot already maintains netdev, so the
// capture of its refused post on patch 1 (made before) is replayed by its
// refused post on bpf's patch 19.
func TestCheckPostsMatchRecordings(t *testing.T) {
	for _, name := range []string{
		"check-post-201-json",
		"check-post-201-form",
		"check-post-201-minimal",
		"check-post-201-long-desc",
		"check-post-400-bad-context",
		"check-post-400-bad-json",
		"check-post-400-bad-state",
		"check-post-400-bad-url",
		"check-post-400-capitalized-state",
		"check-post-400-missing-state",
		"check-post-404-no-patch",
		"check-post-bpf-as-bot-403",
		"err-403-check-post-bad-token",
		"err-403-check-post-no-auth",
	} {
		t.Run(name, func(t *testing.T) {
			c := readCapture(t, name)
			want := string(testdata(t, name+".json"))
			var now time.Time
			if c.status == http.StatusCreated {
				var rec struct {
					ID   int64  `json:"id"`
					Date string `json:"date"`
				}
				if err := json.Unmarshal([]byte(want), &rec); err != nil {
					t.Fatal(err)
				}
				var err error
				if now, err = time.Parse("2006-01-02T15:04:05.999999", rec.Date); err != nil {
					t.Fatal(err)
				}
				// The fake numbers posted checks from 13.
				want = strings.Replace(want, fmt.Sprintf(`{"id":%d,`, rec.ID), `{"id":13,`, 1)
				want = strings.ReplaceAll(want, fmt.Sprintf("/checks/%d/", rec.ID), "/checks/13/")
				c.respHeader.Set("Location", strings.ReplaceAll(c.respHeader.Get("Location"), fmt.Sprintf("/checks/%d/", rec.ID), "/checks/13/"))
				c.respHeader.Set("Content-Length", strconv.Itoa(len(want)))
			}
			f, err := New(Options{Now: func() time.Time { return now }})
			if err != nil {
				t.Fatal(err)
			}
			resp, body := send(t, f, c.method, c.target, c.header, c.body)
			if resp.StatusCode != c.status || string(body) != want {
				t.Fatalf("got %d %s\nwant %d %s", resp.StatusCode, body, c.status, want)
			}
			for _, h := range []string{"Content-Type", "Location", "Vary", "Allow", "X-Frame-Options", "Content-Length", "WWW-Authenticate"} {
				if got, want := resp.Header.Get(h), c.respHeader.Get(h); got != want {
					t.Errorf("%s = %q, want %q", h, got, want)
				}
			}
			if f.PostCount() != 1 {
				t.Errorf("PostCount %d, want 1", f.PostCount())
			}
		})
	}
}

func TestCheckPostAnswers(t *testing.T) {
	long := "https://ci.example.org/" + strings.Repeat("x", 200)
	tests := []struct {
		name        string
		target      string
		header      http.Header
		body        string
		status      int
		contentType string
		answer      string // the whole body, or for a 201 the state and context posted
	}{
		{"admin on bpf", "/api/patches/19/checks/", jsonHeader(AdminToken), `{"state":"success","context":"build"}`, 201, "", "success build"},
		{"state by value", "/api/patches/1/checks/", jsonHeader(BotToken), `{"state":1}`, 201, "", "success default"},
		{"state by value text", "/api/patches/1/checks/", jsonHeader(BotToken), `{"state":"3","context":" spaced "}`, 201, "", "fail spaced"},
		{"number as context", "/api/patches/1/checks/", jsonHeader(BotToken), `{"state":"warning","context":42}`, 201, "", "warning 42"},
		{"long description", "/api/patches/1/checks/", jsonHeader(BotToken), `{"state":"fail","description":"` + strings.Repeat("d", 5000) + `"}`, 201, "", "fail default"},
		{"form", "/api/patches/1/checks/", http.Header{"Authorization": {"Token " + BotToken}, "Content-Type": {"application/x-www-form-urlencoded"}},
			"state=pending&state=success&context=form", 201, "", "success form"},
		{"url too long", "/api/patches/1/checks/", jsonHeader(BotToken), `{"state":"fail","target_url":"` + long + `"}`, 400, "application/json",
			`{"target_url":["Ensure this field has no more than 200 characters."]}`},
		{"url too long and invalid", "/api/patches/1/checks/", jsonHeader(BotToken), `{"state":"fail","target_url":"` + strings.Repeat("x", 201) + `"}`, 400, "application/json",
			`{"target_url":["Ensure this field has no more than 200 characters.","Enter a valid URL."]}`},
		{"every field wrong", "/api/patches/1/checks/", jsonHeader(BotToken),
			`{"description":[],"context":"a.b","target_url":"ftp:/x","state":"ok"}`, 400, "application/json",
			`{"state":["\"ok\" is not a valid choice."],"target_url":["Enter a valid URL."],"context":["Enter a valid \"slug\" consisting of letters, numbers, underscores or hyphens."],"description":["Not a valid string."]}`},
		{"missing state wins", "/api/patches/1/checks/", jsonHeader(BotToken), `{"state":"","context":"a b"}`, 400, "application/json", `{"state":["A check must have a state."]}`},
		{"null state", "/api/patches/1/checks/", jsonHeader(BotToken), `{"state":null}`, 400, "application/json", `{"state":["This field may not be null."]}`},
		{"boolean state", "/api/patches/1/checks/", jsonHeader(BotToken), `{"state":true}`, 400, "application/json", `{"state":["\"True\" is not a valid choice."]}`},
		{"float state", "/api/patches/1/checks/", jsonHeader(BotToken), `{"state":1.0}`, 400, "application/json", `{"state":["\"1.0\" is not a valid choice."]}`},
		{"blank context", "/api/patches/1/checks/", jsonHeader(BotToken), `{"state":"fail","context":"  "}`, 400, "application/json", `{"context":["This field may not be blank."]}`},
		{"null context", "/api/patches/1/checks/", jsonHeader(BotToken), `{"state":"fail","context":null}`, 400, "application/json", `{"context":["This field may not be null."]}`},
		{"null character", "/api/patches/1/checks/", jsonHeader(BotToken), `{"state":"fail","description":"a\u0000b"}`, 400, "application/json", `{"description":["Null characters are not allowed."]}`},
		{"empty body", "/api/patches/1/checks/", jsonHeader(BotToken), "", 400, "application/json", `{"state":["A check must have a state."]}`},
		{"JSON array", "/api/patches/1/checks/", jsonHeader(BotToken), `["state"]`, 400, "application/json", `{"state":["A check must have a state."]}`},
		{"JSON number", "/api/patches/1/checks/", jsonHeader(BotToken), `42`, 500, "text/html", ""},
		{"extra data", "/api/patches/1/checks/", jsonHeader(BotToken), `{"state":"fail"} x`, 400, "application/json",
			`{"detail":"JSON parse error - Extra data: line 1 column 18 (char 17)"}`},
		{"single quotes", "/api/patches/1/checks/", jsonHeader(BotToken), "\n{'state':1}", 400, "application/json",
			`{"detail":"JSON parse error - Expecting property name enclosed in double quotes: line 2 column 2 (char 2)"}`},
		{"missing colon", "/api/patches/1/checks/", jsonHeader(BotToken), `{"state" "x"}`, 400, "application/json",
			`{"detail":"JSON parse error - Expecting ':' delimiter: line 1 column 10 (char 9)"}`},
		{"text body", "/api/patches/1/checks/", http.Header{"Authorization": {"Token " + BotToken}, "Content-Type": {"text/plain"}}, "state=fail", 415, "application/json",
			`{"detail":"Unsupported media type \"text/plain\" in request."}`},
		{"no token value", "/api/patches/1/checks/", http.Header{"Authorization": {"Token"}}, `{}`, 403, "application/json",
			`{"detail":"Invalid token header. No credentials provided."}`},
		{"token with spaces", "/api/patches/1/checks/", http.Header{"Authorization": {"token a b"}}, `{}`, 403, "application/json",
			`{"detail":"Invalid token header. Token string should not contain spaces."}`},
		{"bad token before unknown patch", "/api/patches/9999/checks/", jsonHeader("deadbeef"), `{"state":"fail"}`, 403, "application/json", `{"detail":"Invalid token."}`},
		{"anonymous on unknown patch", "/api/patches/9999/checks/", jsonHeader(""), `{"state":"fail"}`, 404, "application/json", `{"detail":"Not found."}`},
		{"no rights before bad JSON", "/api/patches/19/checks/", jsonHeader(BotToken), `{"state":`, 403, "application/json",
			`{"detail":"You do not have permission to perform this action."}`},
		{"patch of a later phase", "/api/patches/27/checks/", jsonHeader(AdminToken), `{"state":"fail"}`, 404, "application/json", `{"detail":"Not found."}`},
		{"PUT", "/api/patches/1/checks/", jsonHeader(AdminToken), `{"state":"fail"}`, 405, "application/json", `{"detail":"Method \"PUT\" not allowed."}`},
		{"POST on a check", "/api/patches/1/checks/1/", jsonHeader(AdminToken), `{"state":"fail"}`, 405, "application/json", `{"detail":"Method \"POST\" not allowed."}`},
		{"POST on another version", "/api/1.2/patches/1/checks/", jsonHeader(AdminToken), `{"state":"fail"}`, 404, "text/html; charset=utf-8", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, Phase1)
			method := http.MethodPost
			if tt.name == "PUT" {
				method = http.MethodPut
			}
			resp, body := send(t, f, method, tt.target, tt.header, tt.body)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, body)
			}
			if tt.status != http.StatusCreated {
				if resp.Header.Get("Content-Type") != tt.contentType || (tt.answer != "" && string(body) != tt.answer) {
					t.Errorf("answer %s %s\nwant %s %s", resp.Header.Get("Content-Type"), body, tt.contentType, tt.answer)
				}
				if n := len(f.Checks(1)) + len(f.Checks(19)); n != 2 {
					t.Errorf("a refused post added a check: %d on patches 1 and 19", n)
				}
				return
			}
			var got struct{ State, Context string }
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatal(err)
			}
			if got.State+" "+got.Context != tt.answer {
				t.Errorf("posted %s %s, want %s", got.State, got.Context, tt.answer)
			}
		})
	}
}

func TestCheckPostMultipart(t *testing.T) {
	f := newFake(t, Phase1)
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for k, v := range map[string]string{"state": "warning", "context": "multi", "target_url": ""} {
		if err := mw.WriteField(k, v); err != nil {
			t.Fatal(err)
		}
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	h := http.Header{"Authorization": {"Token " + BotToken}, "Content-Type": {mw.FormDataContentType()}}
	resp, body := send(t, f, http.MethodPost, "/api/patches/3/checks/", h, b.String())
	if resp.StatusCode != http.StatusCreated || !bytes.Contains(body, []byte(`"state":"warning","target_url":"","context":"multi","description":null}`)) {
		t.Errorf("%d %s", resp.StatusCode, body)
	}
	h.Set("Content-Type", "multipart/form-data")
	resp, body = send(t, f, http.MethodPost, "/api/patches/3/checks/", h, b.String())
	if resp.StatusCode != http.StatusBadRequest || string(body) != `{"detail":"Multipart form parse error - Invalid boundary in multipart: None"}` {
		t.Errorf("%d %s", resp.StatusCode, body)
	}
}

func TestPostedChecks(t *testing.T) {
	clock := time.Date(2026, 11, 21, 6, 0, 0, 123456789, time.UTC)
	f, err := New(Options{Now: func() time.Time { return clock }})
	if err != nil {
		t.Fatal(err)
	}
	post := func(target, body string) string {
		t.Helper()
		resp, answer := send(t, f, http.MethodPost, target, jsonHeader(AdminToken), body)
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("%s: %d %s", target, resp.StatusCode, answer)
		}
		return resp.Header.Get("Location")
	}
	loc := post("/api/1.3/patches/4/checks/", `{"state":"fail","context":"build-gcc","target_url":"https://ci.example.org/4","description":"broke"}`)
	if loc != "http://"+recordedHostPort+"/api/1.3/patches/4/checks/13/" {
		t.Errorf("Location %s", loc)
	}
	clock = clock.Truncate(time.Second)
	post("/api/patches/4/checks/", `{"state":"pending","context":"boot"}`)

	want := `{"id":13,"url":"http://127.0.0.1:8000/api/patches/4/checks/13/","user":{"id":1,"url":"http://127.0.0.1:8000/api/users/1/","username":"admin","first_name":"","last_name":"","email":"admin@example.com"},"date":"2026-11-21T06:00:00.123456","state":"fail","target_url":"https://ci.example.org/4","context":"build-gcc","description":"broke"}`
	if _, body := send(t, f, http.MethodGet, "/api/patches/4/checks/13/", nil, ""); string(body) != want {
		t.Errorf("detail:\n got %s\nwant %s", body, want)
	}
	if _, body := send(t, f, http.MethodGet, "/api/1.3/patches/4/checks/13/", nil, ""); !bytes.Contains(body, []byte(`/api/1.3/users/1/`)) {
		t.Errorf("versioned detail %s", body)
	}
	if resp, _ := send(t, f, http.MethodGet, "/api/patches/3/checks/13/", nil, ""); resp.StatusCode != http.StatusNotFound {
		t.Errorf("check 13 under patch 3: %d", resp.StatusCode)
	}
	for _, phase := range []Phase{Phase1, P2DependsOn} {
		if err := f.SetPhase(phase); err != nil {
			t.Fatal(err)
		}
		_, body := send(t, f, http.MethodGet, "/api/patches/4/checks/", nil, "")
		if got := ids(t, body); !slices.Equal(got, []int64{6, 13, 14}) {
			t.Errorf("phase %d: checks of patch 4 %v", phase, got)
		}
		if !bytes.Contains(body, []byte(`"date":"2026-11-21T06:00:00","state":"pending"`)) {
			t.Errorf("phase %d: whole-second date not in %s", phase, body)
		}
	}
	got := f.Checks(4)
	wantRecords := []CheckRecord{
		{ID: 6, PatchID: 4, User: "ci-bot", Date: time.Date(2026, 11, 21, 4, 45, 3, 322894000, time.UTC), State: "success", TargetURL: "https://ci.example.org/runs/4", Context: "build-gcc"},
		{ID: 13, PatchID: 4, User: "admin", Date: time.Date(2026, 11, 21, 6, 0, 0, 123456000, time.UTC), State: "fail", TargetURL: "https://ci.example.org/4", Context: "build-gcc", Description: "broke"},
		{ID: 14, PatchID: 4, User: "admin", Date: time.Date(2026, 11, 21, 6, 0, 0, 0, time.UTC), State: "pending", Context: "boot"},
	}
	if !slices.Equal(got, wantRecords) {
		t.Errorf("Checks(4):\n got %+v\nwant %+v", got, wantRecords)
	}
	if f.PostCount() != 2 {
		t.Errorf("PostCount %d", f.PostCount())
	}
	// The patch's combined state follows: its build-gcc checks by two
	// users, then fail beats pending beats success.
	_, body := send(t, f, http.MethodGet, "/api/patches/?series=1", nil, "")
	if !bytes.Contains(body, []byte(`"check":"fail","checks":"http://127.0.0.1:8000/api/patches/4/checks/"`)) {
		t.Errorf("patch 4 not failed in %s", body)
	}
}

// TestCombinedCheckStateMatchesRecording checks that the recorded checks
// give the recorded combined states (TestListsMatchRecordings then checks
// the patch list the fake renders from them).
func TestCombinedCheckStateMatchesRecording(t *testing.T) {
	f := newFake(t, Phase1)
	combined := combinedStates(f.checks)
	want := map[int64]string{1: "warning", 2: "fail", 3: "fail", 4: "success", 7: "success", 8: "success"}
	for id, st := range want {
		if combined[id] != st {
			t.Errorf("patch %d: %s, want %s", id, combined[id], st)
		}
	}
}

func TestCheckFilters(t *testing.T) {
	f, err := New(Options{Now: func() time.Time { return time.Date(2026, 11, 21, 6, 0, 0, 0, time.UTC) }})
	if err != nil {
		t.Fatal(err)
	}
	if resp, body := send(t, f, http.MethodPost, "/api/patches/8/checks/", jsonHeader(AdminToken), `{"state":"fail","context":"selftests"}`); resp.StatusCode != 201 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	tests := []struct {
		query  string
		status int
		ids    []int64
	}{
		{"", 200, []int64{9, 10, 11, 13}},
		{"context=selftests", 200, []int64{10, 11, 13}},
		{"context=SELFTESTS", 200, []int64{}},
		{"state=1", 200, []int64{9, 11}},
		{"state=3&context=selftests", 200, []int64{13}},
		{"state=success", 200, []int64{}},
		{"user=ci-bot", 200, []int64{9, 10, 11}},
		{"user=1", 200, []int64{13}},
		{"user=ADMIN&user=2", 200, []int64{9, 10, 11, 13}},
		{"user=nosuch", 200, []int64{}},
		{"since=2026-11-21T04:45:03.38", 200, []int64{10, 11, 13}},
		{"before=2026-11-21T04:45:03.38", 200, []int64{9}},
		{"since=2026-11-21T04:45:03Z", 500, nil},
		{"per_page=2&page=2", 200, []int64{11, 13}},
		{"per_page=2&page=3", 404, nil},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			resp, body := send(t, f, http.MethodGet, "/api/patches/8/checks/?"+tt.query, nil, "")
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			if tt.status == 200 {
				if got := ids(t, body); !slices.Equal(got, tt.ids) {
					t.Errorf("ids %v, want %v", got, tt.ids)
				}
			}
		})
	}
	resp, _ := send(t, f, http.MethodHead, "/api/patches/8/checks/?per_page=1", nil, "")
	if link := resp.Header.Get("Link"); !strings.Contains(link, `<http://127.0.0.1:8000/api/patches/8/checks/?page=2&per_page=1>; rel="next"`) {
		t.Errorf("Link %s", link)
	}
}

func TestAuthenticationOnReads(t *testing.T) {
	f := newFake(t, Phase1)
	tests := []struct {
		target, token string
		status        int
		allow         string
	}{
		{"/api/series/1/", "", 200, "GET, HEAD, OPTIONS"},
		{"/api/series/1/", AdminToken, 200, "GET, HEAD, OPTIONS"},
		{"/api/series/1/", "deadbeef", 403, "GET, HEAD, OPTIONS"},
		{"/api/patches/1/checks/", "deadbeef", 403, "GET, POST, HEAD, OPTIONS"},
		{"/api/series/abc/", "deadbeef", 404, ""},
	}
	for _, tt := range tests {
		resp, body := send(t, f, http.MethodGet, tt.target, jsonHeader(tt.token), "")
		if resp.StatusCode != tt.status || resp.Header.Get("Allow") != tt.allow {
			t.Errorf("%s with %q: %d Allow %q: %s", tt.target, tt.token, resp.StatusCode, resp.Header.Get("Allow"), body)
		}
	}
}

func TestVersionedURLs(t *testing.T) {
	f := newFake(t, Phase1)
	_, body := send(t, f, http.MethodGet, "/api/1.3/patches/?series=8", nil, "")
	for _, s := range []string{
		`"url":"http://127.0.0.1:8000/api/1.3/patches/18/"`,
		`"url":"http://127.0.0.1:8000/api/1.3/projects/1/"`,
		`"checks":"http://127.0.0.1:8000/api/patches/18/checks/"`,
		`"comments":"http://127.0.0.1:8000/api/patches/18/comments/"`,
		`"mbox":"http://127.0.0.1:8000/project/netdev/patch/`,
	} {
		if !bytes.Contains(body, []byte(s)) {
			t.Errorf("no %s in %s", s, body)
		}
	}
}

func TestFailPathByMethod(t *testing.T) {
	f := newFake(t, Phase1)
	f.FailPath("POST /api/patches/", http.StatusServiceUnavailable)
	if resp, _ := send(t, f, http.MethodPost, "/api/patches/1/checks/", jsonHeader(AdminToken), `{"state":"fail"}`); resp.StatusCode != 503 {
		t.Errorf("POST: %d", resp.StatusCode)
	}
	if resp, _ := send(t, f, http.MethodGet, "/api/patches/1/checks/", nil, ""); resp.StatusCode != 200 {
		t.Errorf("GET: %d", resp.StatusCode)
	}
	if f.PostCount() != 1 || len(f.Checks(1)) != 2 {
		t.Errorf("PostCount %d, %d checks", f.PostCount(), len(f.Checks(1)))
	}
	f.FailPath("POST /api/patches/", 0)
	if resp, _ := send(t, f, http.MethodPost, "/api/patches/1/checks/", jsonHeader(AdminToken), `{"state":"fail"}`); resp.StatusCode != 201 {
		t.Errorf("POST after removal: %d", resp.StatusCode)
	}
}

func TestValidURL(t *testing.T) {
	tests := []struct {
		url   string
		valid bool
	}{
		{"https://ci.example.org/runs/1", true},
		{"HTTP://CI.EXAMPLE.ORG", true},
		{"http://127.0.0.1:8000/api/", true},
		{"http://localhost/x?y#z", true},
		{"http://[::1]:8080/", true},
		{"ftp://user:pw@files.example.org/a", true},
		{"https://lore.example.org/?q=msgid@host", true},
		{"https://example.co.uk./", true},
		{"https://bücher.example/", true},
		{"https://xn--bcher-kva.example/", true},
		{"https://example.org/" + strings.Repeat("p", 2028), true},
		{"https://example.org/" + strings.Repeat("p", 2029), false},
		{"not a url", false},
		{"mailto:ci@example.org", false},
		{"file:///etc/passwd", false},
		{"http://example", false},
		{"http://-bad.example.org/", false},
		{"http://bad-.example.org/", false},
		{"http://example.c0m/", false},
		{"http://1.2.3.4.5/", false},
		{"http://256.1.1.1/", false},
		{"http://exa mple.org/", false},
		{"http://example.org/a b", false},
		{"http://example.org:1/", false},
		{"http://example.org:123456/", false},
		{"http://[zz::1]/", false},
		{"http://[1.2.3.4]/", false},
		{"https://example.org/\u2003", false},
		{"http://" + strings.Repeat(strings.Repeat("a", 50)+".", 4) + "org/", true},
		{"http://" + strings.Repeat(strings.Repeat("a", 50)+".", 5) + "org/", false},
	}
	for _, tt := range tests {
		if got := validURL(tt.url); got != tt.valid {
			t.Errorf("validURL(%.60q) = %v, want %v", tt.url, got, tt.valid)
		}
	}
}

func TestPyNumber(t *testing.T) {
	for text, want := range map[string]string{
		"1": "1", "-0": "0", "1.0": "1.0", "1.50": "1.5", "1e2": "100.0", "1e16": "1e+16",
		"0.0001": "0.0001", "1e-5": "1e-05", "1e400": "inf", "-1e400": "-inf",
		"123456789012345678901234567890": "123456789012345678901234567890",
	} {
		if got := pyNumber(text); got != want {
			t.Errorf("pyNumber(%s) = %s, want %s", text, got, want)
		}
	}
}

// FuzzPostCheck posts arbitrary JSON bodies: the answer is always a
// created check or a JSON error, never a crash, and only a 201 adds a
// check.
func FuzzPostCheck(f *testing.F) {
	for _, s := range []string{
		`{"state":"success","context":"build-gcc","target_url":"https://ci.example.org/runs/1","description":"Build OK"}`,
		`{"state":"pending"}`, `{"state":`, `{"state":"Success","context":"build-gcc"}`, `{"context":"build"}`,
		`{"state":"fail","context":"x","target_url":"not a url"}`, `{"state":1.5e3}`, `[]`, `"state"`, `null`,
	} {
		f.Add(s)
	}
	fake, err := New(Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body string) {
		before := len(fake.Checks(1))
		resp, answer := send(t, fake, http.MethodPost, "/api/patches/1/checks/", jsonHeader(AdminToken), body)
		added := len(fake.Checks(1)) - before
		switch resp.StatusCode {
		case http.StatusCreated:
			if added != 1 || !json.Valid(answer) {
				t.Fatalf("201 added %d checks: %s", added, answer)
			}
		case http.StatusBadRequest:
			if added != 0 || !json.Valid(answer) {
				t.Fatalf("400 added %d checks: %s", added, answer)
			}
		case http.StatusInternalServerError:
			if added != 0 {
				t.Fatalf("500 added %d checks", added)
			}
		default:
			t.Fatalf("status %d for %q: %s", resp.StatusCode, body, answer)
		}
	})
}
