package httpx

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/trawl-ci/trawl/pkg/secret"
)

// newTestClient builds a client with short retry waits.
func newTestClient(t testing.TB, o Options) (*http.Client, *Meter) {
	t.Helper()
	if o.UserAgent == "" {
		o.UserAgent = UserAgent("test")
	}
	if o.RetryWaitMin == 0 {
		o.RetryWaitMin = time.Millisecond
	}
	if o.RetryWaitMax == 0 {
		o.RetryWaitMax = 5 * time.Millisecond
	}
	if o.Meter == nil {
		o.Meter = &Meter{}
	}
	c, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return c, o.Meter
}

// do sends one request and reads the whole body.
func do(ctx context.Context, t testing.TB, c *http.Client, method, url, body string) (*http.Response, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, url, err)
	}
	return resp, string(b)
}

// Predicates for CacheIfComplete.
func isComplete([]byte) bool   { return true }
func isIncomplete([]byte) bool { return false }

// writeToken writes a token file the way an operator would (with a newline).
func writeToken(t *testing.T, token string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(p, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// etagHandler serves body with an ETag and answers a matching If-None-Match
// with 304, the way GitHub does (including its short max-age).
func etagHandler(etag, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", etag)
		w.Header().Set("Cache-Control", "private, max-age=60, s-maxage=60")
		w.Header().Set("Vary", "Accept, Authorization, Cookie")
		if r.Header.Get("If-None-Match") == etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		io.WriteString(w, body)
	}
}

func TestCredentialNeverCached(t *testing.T) {
	tests := []struct {
		name   string
		header string
		prefix string
	}{
		{"patchwork", "Authorization", "Token "},
		{"github", "Authorization", "Bearer "},
		{"kernelci raw jwt", "Authorization", ""},
		{"custom header", "Private-Token", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			token := "s3cr3t-" + strings.ReplaceAll(tt.name, " ", "-") + "-0123456789abcdef"
			var wrongAuth atomic.Int64
			mux := http.NewServeMux()
			mux.HandleFunc("/complete", func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, `{"received_all":true}`)
			})
			mux.HandleFunc("/etag", etagHandler(`"v1"`, `[{"id":1}]`))
			mux.HandleFunc("/error", func(w http.ResponseWriter, r *http.Request) {
				http.Error(w, "boom", http.StatusInternalServerError)
			})
			mux.HandleFunc("/missing", func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("ETag", `"gone"`)
				http.Error(w, "no such thing", http.StatusNotFound)
			})
			mux.HandleFunc("/plain", func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, `[]`)
			})
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if got := r.Header.Get(tt.header); got != tt.prefix+token {
					wrongAuth.Add(1)
				}
				mux.ServeHTTP(w, r)
			}))
			defer srv.Close()

			cacheDir := t.TempDir()
			core, logs := observer.New(zapcore.DebugLevel)
			c, m := newTestClient(t, Options{
				Name:     "test",
				CacheDir: cacheDir,
				Credential: &Credential{
					Header: tt.header,
					Prefix: tt.prefix,
					Secret: secret.Source{File: writeToken(t, token)},
				},
				RetryMax: 1,
				Logger:   zap.New(core),
			})
			for range 3 {
				do(CacheIfComplete(t.Context(), isComplete), t, c, "GET", srv.URL+"/complete", "")
				for _, p := range []string{"/etag", "/error", "/missing", "/plain"} {
					do(t.Context(), t, c, "GET", srv.URL+p, "")
				}
			}

			if n := wrongAuth.Load(); n != 0 {
				t.Errorf("%d requests reached the server without %s: %s<token>", n, tt.header, tt.prefix)
			}
			got := m.Snapshot()
			if got.Cache != 2 || got.Revalidated != 2 {
				t.Errorf("counts = %+v, want 2 cache hits and 2 revalidations (so entries were stored)", got)
			}

			entries, err := os.ReadDir(cacheDir)
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256([]byte("token\x00" + token))
			if len(entries) != 1 || entries[0].Name() != hex.EncodeToString(sum[:]) {
				t.Errorf("cache dir holds %v, want one partition named by the token's hash", entries)
			}
			files := 0
			err = filepath.WalkDir(cacheDir, func(path string, d fs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				if strings.Contains(d.Name(), token) {
					t.Errorf("cache path %s contains the token", path)
				}
				if d.IsDir() {
					return nil
				}
				files++
				b, err := os.ReadFile(path)
				if err != nil {
					return err
				}
				if strings.Contains(string(b), token) {
					t.Errorf("cache file %s contains the token", path)
				}
				if strings.Contains(string(b), "no such thing") || strings.Contains(string(b), "boom") {
					t.Errorf("cache file %s holds an error response", path)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if files != 2 {
				t.Errorf("cache holds %d files, want 2 (the complete and the ETag responses)", files)
			}

			if logs.Len() == 0 {
				t.Fatal("no log lines; want one per attempt")
			}
			for _, e := range logs.All() {
				if line := fmt.Sprint(e.Message, e.ContextMap()); strings.Contains(line, token) {
					t.Errorf("log line contains the token: %s", line)
				}
			}
		})
	}
}

func TestCredentialRotationAndIdentity(t *testing.T) {
	var hits atomic.Int64
	var lastAuth atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		lastAuth.Store(r.Header.Get("Authorization"))
		io.WriteString(w, "done")
	}))
	defer srv.Close()
	cacheDir := t.TempDir()
	tokenFile := writeToken(t, "first-token")
	cred := func(identity string) *Credential {
		return &Credential{Header: "Authorization", Prefix: "Bearer ", Secret: secret.Source{File: tokenFile}, Identity: identity}
	}
	complete := CacheIfComplete(t.Context(), isComplete)

	c1, _ := newTestClient(t, Options{CacheDir: cacheDir, Credential: cred("installation-42")})
	do(t.Context(), t, c1, "GET", srv.URL+"/plain", "")
	if got := lastAuth.Load(); got != "Bearer first-token" {
		t.Fatalf("Authorization = %q, want the first token", got)
	}
	if err := os.WriteFile(tokenFile, []byte("second-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	do(t.Context(), t, c1, "GET", srv.URL+"/plain", "")
	if got := lastAuth.Load(); got != "Bearer second-token" {
		t.Fatalf("after rotating the file, Authorization = %q, want the second token", got)
	}

	do(complete, t, c1, "GET", srv.URL+"/series/1", "")
	before := hits.Load()

	// Same Identity, rotated token: same partition, the entry is still there.
	c2, m2 := newTestClient(t, Options{CacheDir: cacheDir, Credential: cred("installation-42")})
	do(complete, t, c2, "GET", srv.URL+"/series/1", "")
	if hits.Load() != before || m2.Snapshot().Cache != 1 {
		t.Errorf("same identity after rotation: server hits %d -> %d, counts %+v; want a cache hit", before, hits.Load(), m2.Snapshot())
	}

	// No Identity: the partition follows the token, so another token does
	// not see the entry.
	c3, m3 := newTestClient(t, Options{CacheDir: cacheDir, Credential: cred("")})
	do(complete, t, c3, "GET", srv.URL+"/series/1", "")
	if hits.Load() != before+1 || m3.Snapshot().Network != 1 {
		t.Errorf("other identity: server hits %d -> %d, counts %+v; want a network request", before, hits.Load(), m3.Snapshot())
	}

	// Anonymous clients have their own partition too.
	c4, m4 := newTestClient(t, Options{CacheDir: cacheDir})
	do(complete, t, c4, "GET", srv.URL+"/series/1", "")
	if m4.Snapshot().Network != 1 {
		t.Errorf("anonymous: counts %+v, want a network request", m4.Snapshot())
	}
	if got := lastAuth.Load(); got != "" {
		t.Errorf("anonymous request carried Authorization %q", got)
	}
}

func TestCredentialNotSentAcrossRedirect(t *testing.T) {
	var otherAuth, sameAuth atomic.Value
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		otherAuth.Store(r.Header.Get("Authorization"))
		io.WriteString(w, "elsewhere")
	}))
	defer other.Close()
	mux := http.NewServeMux()
	mux.HandleFunc("/to-other", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/file", http.StatusFound)
	})
	mux.HandleFunc("/to-same", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/target", http.StatusMovedPermanently)
	})
	mux.HandleFunc("/target", func(w http.ResponseWriter, r *http.Request) {
		sameAuth.Store(r.Header.Get("Authorization"))
		io.WriteString(w, "here")
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	c, _ := newTestClient(t, Options{
		CacheDir:   t.TempDir(),
		Credential: &Credential{Header: "Authorization", Prefix: "Token ", Secret: secret.Source{File: writeToken(t, "tok")}},
	})
	if _, body := do(t.Context(), t, c, "GET", srv.URL+"/to-other", ""); body != "elsewhere" {
		t.Fatalf("redirect to other host: body %q", body)
	}
	if got := otherAuth.Load(); got != "" {
		t.Errorf("other host got Authorization %q, want none", got)
	}
	if _, body := do(t.Context(), t, c, "GET", srv.URL+"/to-same", ""); body != "here" {
		t.Fatalf("redirect on same host: body %q", body)
	}
	if got := sameAuth.Load(); got != "Token tok" {
		t.Errorf("same host got Authorization %q, want the token", got)
	}
}

func TestCachePolicy(t *testing.T) {
	tests := []struct {
		name        string
		complete    func([]byte) bool
		status      int
		header      map[string]string
		noDate      bool
		wantHits    int64
		wantCounts  Counts
		wantPredArg string
	}{
		{
			name: "complete", complete: isComplete, status: 200,
			wantHits: 1, wantCounts: Counts{Network: 1, Cache: 2},
		},
		{
			name: "complete without Date header", complete: isComplete, status: 200, noDate: true,
			wantHits: 1, wantCounts: Counts{Network: 1, Cache: 2},
		},
		{
			name: "complete overrides server no-store", complete: isComplete, status: 200,
			header:   map[string]string{"Cache-Control": "no-store", "Expires": "0", "Pragma": "no-cache"},
			wantHits: 1, wantCounts: Counts{Network: 1, Cache: 2},
		},
		{
			name: "incomplete", complete: isIncomplete, status: 200,
			wantHits: 3, wantCounts: Counts{Network: 3},
		},
		{
			name: "plain 200 without validators", status: 200,
			wantHits: 3, wantCounts: Counts{Network: 3},
		},
		{
			name: "server max-age without validators is not trusted", status: 200,
			header:   map[string]string{"Cache-Control": "public, max-age=3600"},
			wantHits: 3, wantCounts: Counts{Network: 3},
		},
		{
			name: "error with complete predicate", complete: isComplete, status: 404,
			header:   map[string]string{"Cache-Control": "max-age=3600"},
			wantHits: 3, wantCounts: Counts{Network: 3},
		},
		{
			name: "201 is not stored", complete: isComplete, status: 201,
			wantHits: 3, wantCounts: Counts{Network: 3},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var hits atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				hits.Add(1)
				for k, v := range tt.header {
					w.Header().Set(k, v)
				}
				if tt.noDate {
					w.Header()["Date"] = nil
				}
				w.WriteHeader(tt.status)
				io.WriteString(w, "payload")
			}))
			defer srv.Close()
			c, m := newTestClient(t, Options{CacheDir: t.TempDir()})
			ctx := t.Context()
			if tt.complete != nil {
				ctx = CacheIfComplete(ctx, tt.complete)
			}
			for i := range 3 {
				resp, body := do(ctx, t, c, "GET", srv.URL+"/x", "")
				if resp.StatusCode != tt.status || body != "payload" {
					t.Fatalf("request %d: %d %q, want %d %q", i, resp.StatusCode, body, tt.status, "payload")
				}
			}
			if got := hits.Load(); got != tt.wantHits {
				t.Errorf("server hits = %d, want %d", got, tt.wantHits)
			}
			got := m.Snapshot()
			got.Bytes = 0
			if got != tt.wantCounts {
				t.Errorf("counts = %+v, want %+v", got, tt.wantCounts)
			}
		})
	}
}

func TestCompletePredicateSeesBody(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Set-Cookie", "sessionid=cookie-value-xyz")
		io.WriteString(w, `{"received_all":true}`)
	}))
	defer srv.Close()
	cacheDir := t.TempDir()
	c, _ := newTestClient(t, Options{CacheDir: cacheDir})
	var seen []string
	ctx := CacheIfComplete(t.Context(), func(b []byte) bool {
		seen = append(seen, string(b))
		return strings.Contains(string(b), `"received_all":true`)
	})
	do(ctx, t, c, "GET", srv.URL+"/series/7", "")
	resp, body := do(ctx, t, c, "GET", srv.URL+"/series/7", "")
	if len(seen) != 1 || seen[0] != `{"received_all":true}` {
		t.Errorf("predicate saw %q, want the full body once", seen)
	}
	if body != `{"received_all":true}` || resp.Header.Get("X-From-Cache") != "1" {
		t.Errorf("second answer: %q from cache %q", body, resp.Header.Get("X-From-Cache"))
	}
	if got := resp.Header.Get("Set-Cookie"); got != "" {
		t.Errorf("cached response carries Set-Cookie %q", got)
	}
}

func TestRevalidate(t *testing.T) {
	lastModified := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).Format(http.TimeFormat)
	tests := []struct {
		name      string
		validator string // response header
		condition string // request header it turns into
		value     string
	}{
		{"etag", "ETag", "If-None-Match", `"abc123"`},
		{"last-modified", "Last-Modified", "If-Modified-Since", lastModified},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var (
				mu         sync.Mutex
				conditions []string
				cacheCtl   []string
				body       = `[{"number":1}]`
			)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				defer mu.Unlock()
				conditions = append(conditions, r.Header.Get(tt.condition))
				cacheCtl = append(cacheCtl, r.Header.Get("Cache-Control"))
				w.Header().Set("Cache-Control", "private, max-age=60, s-maxage=60")
				w.Header().Set("Vary", "Accept, Authorization, Cookie")
				if body == `[{"number":1}]` {
					w.Header().Set(tt.validator, tt.value)
					if r.Header.Get(tt.condition) == tt.value {
						w.WriteHeader(http.StatusNotModified)
						return
					}
				}
				io.WriteString(w, body)
			}))
			defer srv.Close()
			c, m := newTestClient(t, Options{
				CacheDir:   t.TempDir(),
				Credential: &Credential{Header: "Authorization", Prefix: "Bearer ", Secret: secret.Source{File: writeToken(t, "gh-token")}},
			})
			for i := range 3 {
				resp, got := do(t.Context(), t, c, "GET", srv.URL+"/repos/o/r/pulls", "")
				if resp.StatusCode != 200 || got != `[{"number":1}]` {
					t.Fatalf("request %d: %d %q, want the original 200 body", i, resp.StatusCode, got)
				}
			}
			want := []string{"", tt.value, tt.value}
			if fmt.Sprint(conditions) != fmt.Sprint(want) {
				t.Errorf("%s sent = %q, want %q", tt.condition, conditions, want)
			}
			if got := m.Snapshot(); got.Network != 1 || got.Revalidated != 2 || got.Cache != 0 {
				t.Errorf("counts = %+v, want 1 network and 2 revalidated", got)
			}

			mu.Lock()
			body = `[{"number":2}]`
			mu.Unlock()
			if _, got := do(t.Context(), t, c, "GET", srv.URL+"/repos/o/r/pulls", ""); got != `[{"number":2}]` {
				t.Errorf("after a change: body %q, want the new one", got)
			}
			for i, cc := range cacheCtl {
				if cc != "" {
					t.Errorf("request %d sent Cache-Control %q; want none", i, cc)
				}
			}
		})
	}
}

// reply is one scripted server answer.
type reply struct {
	status int
	header map[string]string
}

func TestRetries(t *testing.T) {
	limited := map[string]string{"X-RateLimit-Remaining": "0"}
	tests := []struct {
		name         string
		method       string
		retryMax     int
		replies      []reply // the last one repeats
		wantAttempts int64
		wantStatus   int
	}{
		{"GET 503 then 200", "GET", 2, []reply{{503, nil}, {200, nil}}, 2, 200},
		{"GET 500 forever", "GET", 2, []reply{{500, nil}}, 3, 500},
		{"GET 500 forever default max", "GET", 0, []reply{{500, nil}}, 5, 500},
		{"GET 500 no retries", "GET", -1, []reply{{500, nil}}, 1, 500},
		{"GET 404", "GET", 2, []reply{{404, nil}}, 1, 404},
		{"GET 400", "GET", 2, []reply{{400, nil}}, 1, 400},
		{"GET 429 then 200", "GET", 2, []reply{{429, nil}, {200, nil}}, 2, 200},
		{"GET 403 rate limited", "GET", 2, []reply{{403, limited}, {200, nil}}, 2, 200},
		{"GET 403 RateLimit-Remaining", "GET", 2, []reply{{403, map[string]string{"RateLimit-Remaining": "0"}}, {200, nil}}, 2, 200},
		{"GET 403 forbidden", "GET", 2, []reply{{403, map[string]string{"X-RateLimit-Remaining": "12"}}}, 1, 403},
		{"HEAD 502 then 200", "HEAD", 2, []reply{{502, nil}, {200, nil}}, 2, 200},
		{"POST 502", "POST", 2, []reply{{502, nil}, {201, nil}}, 1, 502},
		{"POST 500", "POST", 2, []reply{{500, nil}, {201, nil}}, 1, 500},
		{"PATCH 503", "PATCH", 2, []reply{{503, nil}, {200, nil}}, 1, 503},
		{"POST 403 rate limited", "POST", 2, []reply{{403, limited}, {201, nil}}, 1, 403},
		{"POST 429 then 201", "POST", 2, []reply{{429, nil}, {201, nil}}, 2, 201},
		{"POST 429 forever", "POST", 2, []reply{{429, nil}}, 3, 429},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var (
				attempts atomic.Int64
				mu       sync.Mutex
				bodies   []string
			)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n := int(attempts.Add(1))
				b, _ := io.ReadAll(r.Body)
				mu.Lock()
				bodies = append(bodies, string(b))
				mu.Unlock()
				rp := tt.replies[min(n, len(tt.replies))-1]
				for k, v := range rp.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(rp.status)
				fmt.Fprintf(w, "answer %d", n)
			}))
			defer srv.Close()
			core, logs := observer.New(zapcore.WarnLevel)
			c, m := newTestClient(t, Options{CacheDir: t.TempDir(), RetryMax: tt.retryMax, Logger: zap.New(core)})
			body := ""
			if tt.method == "POST" || tt.method == "PATCH" {
				body = `{"patchset":["https://example.org/1.mbox"]}`
			}
			resp, got := do(t.Context(), t, c, tt.method, srv.URL+"/x", body)
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("status = %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if n := attempts.Load(); n != tt.wantAttempts {
				t.Errorf("attempts = %d, want %d", n, tt.wantAttempts)
			}
			if tt.method != "HEAD" && got != fmt.Sprintf("answer %d", tt.wantAttempts) {
				t.Errorf("body = %q, want the last answer", got)
			}
			for i, b := range bodies {
				if b != body {
					t.Errorf("attempt %d sent body %q, want %q", i+1, b, body)
				}
			}
			if n := int64(logs.FilterMessage("retrying http request").Len()); n != tt.wantAttempts-1 {
				t.Errorf("%d retry warnings, want %d", n, tt.wantAttempts-1)
			}
			if got := m.Snapshot(); got.Network != 1 || got.Requests() != 1 {
				t.Errorf("counts = %+v, want one network response", got)
			}
		})
	}
}

func TestRetryTransportError(t *testing.T) {
	tests := []struct {
		method       string
		wantAttempts int64
		wantErr      bool
	}{
		{"GET", 2, false},
		{"POST", 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.method, func(t *testing.T) {
			var attempts atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if attempts.Add(1) == 1 {
					conn, _, err := http.NewResponseController(w).Hijack()
					if err != nil {
						t.Error(err)
						return
					}
					conn.Close()
					return
				}
				io.WriteString(w, "ok")
			}))
			defer srv.Close()
			c, m := newTestClient(t, Options{RetryMax: 2})
			req, _ := http.NewRequestWithContext(t.Context(), tt.method, srv.URL, strings.NewReader("x"))
			resp, err := c.Do(req)
			if err == nil {
				resp.Body.Close()
			}
			if (err != nil) != tt.wantErr {
				t.Errorf("err = %v, want error %v", err, tt.wantErr)
			}
			if n := attempts.Load(); n != tt.wantAttempts {
				t.Errorf("attempts = %d, want %d", n, tt.wantAttempts)
			}
			want := Counts{Network: 1}
			if tt.wantErr {
				want = Counts{Failed: 1}
			}
			if got := m.Snapshot(); got.Network != want.Network || got.Failed != want.Failed {
				t.Errorf("counts = %+v, want %+v", got, want)
			}
		})
	}
}

func TestErrorsNotCached(t *testing.T) {
	var status atomic.Int64
	status.Store(http.StatusNotFound)
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("ETag", `"same"`)
		w.Header().Set("Cache-Control", "max-age=3600")
		w.WriteHeader(int(status.Load()))
		io.WriteString(w, "body")
	}))
	defer srv.Close()
	c, _ := newTestClient(t, Options{CacheDir: t.TempDir(), RetryMax: 3})
	for _, ctx := range []context.Context{t.Context(), CacheIfComplete(t.Context(), isComplete)} {
		status.Store(http.StatusNotFound)
		if resp, _ := do(ctx, t, c, "GET", srv.URL+"/x", ""); resp.StatusCode != 404 {
			t.Fatalf("status %d, want 404", resp.StatusCode)
		}
		status.Store(http.StatusOK)
		if resp, _ := do(ctx, t, c, "GET", srv.URL+"/x", ""); resp.StatusCode != 200 || resp.Header.Get("X-From-Cache") != "" {
			t.Errorf("after a 404 the server answers 200; client saw %d (from cache %q)", resp.StatusCode, resp.Header.Get("X-From-Cache"))
		}
	}
	if n := hits.Load(); n != 4 {
		t.Errorf("server hits = %d, want 4 (the 404 is neither retried nor cached)", n)
	}
}

func TestRetryAfterHonoured(t *testing.T) {
	var (
		mu    sync.Mutex
		times []time.Time
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		times = append(times, time.Now())
		n := len(times)
		mu.Unlock()
		if n == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		io.WriteString(w, "ok")
	}))
	defer srv.Close()
	c, _ := newTestClient(t, Options{RetryWaitMin: time.Millisecond, RetryWaitMax: 3 * time.Second})
	if resp, _ := do(t.Context(), t, c, "GET", srv.URL, ""); resp.StatusCode != 200 {
		t.Fatalf("status %d, want 200 after the retry", resp.StatusCode)
	}
	if len(times) != 2 {
		t.Fatalf("%d attempts, want 2", len(times))
	}
	if gap := times[1].Sub(times[0]); gap < time.Second {
		t.Errorf("second attempt came %s after the first; Retry-After asked for 1s", gap)
	}
}

func TestRetrySleepEndsOnContext(t *testing.T) {
	tests := []struct {
		name string
		// ctx returns the request context; retrying is signalled when the
		// client has decided to retry and is about to sleep.
		ctx  func(t *testing.T, retrying <-chan struct{}) context.Context
		want error
	}{
		{
			name: "cancel",
			ctx: func(t *testing.T, retrying <-chan struct{}) context.Context {
				ctx, cancel := context.WithCancel(t.Context())
				go func() {
					<-retrying
					cancel()
				}()
				return ctx
			},
			want: context.Canceled,
		},
		{
			name: "deadline",
			ctx: func(t *testing.T, _ <-chan struct{}) context.Context {
				ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
				t.Cleanup(cancel)
				return ctx
			},
			want: context.DeadlineExceeded,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var attempts atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				attempts.Add(1)
				w.Header().Set("Retry-After", "60")
				w.WriteHeader(http.StatusServiceUnavailable)
			}))
			defer srv.Close()
			retrying := make(chan struct{}, 1)
			core, _ := observer.New(zapcore.WarnLevel)
			log := zap.New(core, zap.Hooks(func(e zapcore.Entry) error {
				if e.Message == "retrying http request" {
					select {
					case retrying <- struct{}{}:
					default:
					}
				}
				return nil
			}))
			c, m := newTestClient(t, Options{RetryMax: 3, RetryWaitMax: time.Minute, Logger: log})
			req, _ := http.NewRequestWithContext(tt.ctx(t, retrying), "GET", srv.URL, nil)
			done := make(chan error, 1)
			go func() {
				resp, err := c.Do(req)
				if err == nil {
					resp.Body.Close()
				}
				done <- err
			}()
			select {
			case err := <-done:
				if !errors.Is(err, tt.want) {
					t.Errorf("err = %v, want %v", err, tt.want)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("the retry sleep did not end with the context")
			}
			if n := attempts.Load(); n != 1 {
				t.Errorf("attempts = %d, want 1", n)
			}
			if got := m.Snapshot(); got.Failed != 1 {
				t.Errorf("counts = %+v, want 1 failed", got)
			}
		})
	}
}

// ctxRecorder is a base transport that remembers the context of the last
// attempt.
type ctxRecorder struct {
	next http.RoundTripper
	mu   sync.Mutex
	ctx  context.Context
}

func (r *ctxRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	r.ctx = req.Context()
	r.mu.Unlock()
	return r.next.RoundTrip(req)
}

func (r *ctxRecorder) last() context.Context {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ctx
}

func TestAttemptTimeout(t *testing.T) {
	t.Run("hanging server is cut off", func(t *testing.T) {
		var attempts atomic.Int64
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			attempts.Add(1)
			<-r.Context().Done()
		}))
		defer srv.Close()
		c, m := newTestClient(t, Options{Timeout: 100 * time.Millisecond, RetryMax: 1})
		req, _ := http.NewRequestWithContext(t.Context(), "GET", srv.URL, nil)
		resp, err := c.Do(req)
		if err == nil {
			resp.Body.Close()
			t.Fatal("no error from a server that never answers")
		}
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "no answer within 100ms") {
			t.Errorf("err = %v, want a per-attempt deadline", err)
		}
		if n := attempts.Load(); n != 2 {
			t.Errorf("attempts = %d, want 2 (the timeout is per attempt and retried)", n)
		}
		if got := m.Snapshot(); got.Failed != 1 {
			t.Errorf("counts = %+v, want 1 failed", got)
		}
	})

	t.Run("slow body stays readable until closed", func(t *testing.T) {
		half := strings.Repeat("a", 1000)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, half)
			http.NewResponseController(w).Flush()
			time.Sleep(100 * time.Millisecond)
			io.WriteString(w, half)
		}))
		defer srv.Close()
		rec := &ctxRecorder{next: http.DefaultTransport.(*http.Transport).Clone()}
		c, _ := newTestClient(t, Options{Timeout: 10 * time.Second, Transport: rec})
		req, _ := http.NewRequestWithContext(t.Context(), "GET", srv.URL, nil)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if err := rec.last().Err(); err != nil {
			t.Fatalf("attempt context ended when RoundTrip returned: %v", err)
		}
		b, err := io.ReadAll(resp.Body)
		if err != nil || string(b) != half+half {
			t.Fatalf("read %d bytes, err %v; want the whole body", len(b), err)
		}
		resp.Body.Close()
		if err := rec.last().Err(); !errors.Is(err, context.Canceled) {
			t.Errorf("attempt context after Close: %v, want canceled (released)", err)
		}
	})
}

func TestUserAgentAndBytes(t *testing.T) {
	var (
		mu  sync.Mutex
		uas []string
		n   atomic.Int64
	)
	big := strings.Repeat("x", 1500)
	mux := http.NewServeMux()
	mux.HandleFunc("/etag", etagHandler(`"e"`, big))
	mux.HandleFunc("/complete", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, big[:700])
	})
	mux.HandleFunc("/flaky", func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		io.WriteString(w, "ok")
	})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		uas = append(uas, r.Header.Get("User-Agent"))
		mu.Unlock()
		mux.ServeHTTP(w, r)
	}))
	defer srv.Close()
	ua := UserAgent("1.2.3")
	c, m := newTestClient(t, Options{CacheDir: t.TempDir(), UserAgent: ua})

	do(t.Context(), t, c, "GET", srv.URL+"/etag", "")
	if got := m.Snapshot().Bytes; got != 1500 {
		t.Errorf("bytes after one 1500-byte body = %d", got)
	}
	do(t.Context(), t, c, "GET", srv.URL+"/etag", "") // 304: no body on the wire
	complete := CacheIfComplete(t.Context(), isComplete)
	do(complete, t, c, "GET", srv.URL+"/complete", "")
	do(complete, t, c, "GET", srv.URL+"/complete", "") // cache hit
	if got := m.Snapshot().Bytes; got != 2200 {
		t.Errorf("bytes = %d, want 2200 (304s and cache hits add nothing)", got)
	}
	// A request that already names a User-Agent gets trawl's.
	req, _ := http.NewRequestWithContext(t.Context(), "GET", srv.URL+"/flaky", nil)
	req.Header.Set("User-Agent", "go-github/v74")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()

	if len(uas) != 5 {
		t.Fatalf("server saw %d requests, want 5", len(uas))
	}
	for i, got := range uas {
		if got != ua {
			t.Errorf("request %d: User-Agent %q, want %q", i, got, ua)
		}
	}
	if want := "trawl/1.2.3 (+https://github.com/trawl-ci/trawl)"; ua != want {
		t.Errorf("UserAgent = %q, want %q", ua, want)
	}
}

func TestFailedCounted(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	c, m := newTestClient(t, Options{RetryMax: 1})
	req, _ := http.NewRequestWithContext(t.Context(), "GET", url, nil)
	if resp, err := c.Do(req); err == nil {
		resp.Body.Close()
		t.Fatal("no error from a closed server")
	}
	if got := m.Snapshot(); got != (Counts{Failed: 1}) {
		t.Errorf("counts = %+v, want 1 failed", got)
	}
}

func TestCredentialUnreadable(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer srv.Close()
	missing := filepath.Join(t.TempDir(), "absent")
	c, m := newTestClient(t, Options{
		Name:       "patchwork netdev",
		Credential: &Credential{Header: "Authorization", Secret: secret.Source{File: missing}, Identity: "bot"},
		RetryMax:   3,
	})
	req, _ := http.NewRequestWithContext(t.Context(), "GET", srv.URL, nil)
	resp, err := c.Do(req)
	if err == nil {
		resp.Body.Close()
		t.Fatal("no error for an unreadable credential")
	}
	if !strings.Contains(err.Error(), "httpx patchwork netdev: credential") || !strings.Contains(err.Error(), missing) {
		t.Errorf("err = %v, want it to name the client and the file", err)
	}
	if hits.Load() != 0 || m.Snapshot().Failed != 1 {
		t.Errorf("server hits %d, counts %+v; want no request and 1 failed", hits.Load(), m.Snapshot())
	}
}

func TestNewRejects(t *testing.T) {
	missing := secret.Source{File: filepath.Join(t.TempDir(), "absent")}
	tests := []struct {
		name string
		o    Options
		want string
	}{
		{"no user agent", Options{}, "no User-Agent"},
		{"credential without header", Options{UserAgent: "ua", Credential: &Credential{Secret: missing}}, "no header name"},
		{"waits reversed", Options{UserAgent: "ua", RetryWaitMin: time.Second, RetryWaitMax: time.Millisecond}, "below min"},
		{"unreadable token names no partition", Options{UserAgent: "ua", CacheDir: t.TempDir(),
			Credential: &Credential{Header: "Authorization", Secret: missing}}, "cache partition"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.o)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestConcurrentRequests(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/etag", etagHandler(`"c"`, "etag body"))
	mux.HandleFunc("/complete", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "complete body") })
	srv := httptest.NewServer(mux)
	defer srv.Close()
	c, m := newTestClient(t, Options{CacheDir: t.TempDir()})
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for range 5 {
				if _, b := do(t.Context(), t, c, "GET", srv.URL+"/etag", ""); b != "etag body" {
					t.Errorf("etag body %q", b)
				}
				if _, b := do(CacheIfComplete(t.Context(), isComplete), t, c, "GET", srv.URL+"/complete", ""); b != "complete body" {
					t.Errorf("complete body %q", b)
				}
			}
		})
	}
	wg.Wait()
	if got := m.Snapshot(); got.Requests() != 160 || got.Failed != 0 {
		t.Errorf("counts = %+v, want 160 requests and no failures", got)
	}
}

func TestCounts(t *testing.T) {
	a := Counts{Network: 5, Revalidated: 4, Cache: 3, Failed: 2, Bytes: 100}
	b := Counts{Network: 2, Revalidated: 1, Cache: 3, Failed: 0, Bytes: 40}
	if got, want := a.Sub(b), (Counts{Network: 3, Revalidated: 3, Cache: 0, Failed: 2, Bytes: 60}); got != want {
		t.Errorf("Sub = %+v, want %+v", got, want)
	}
	if got := a.Requests(); got != 14 {
		t.Errorf("Requests = %d, want 14", got)
	}
}

func TestRedact(t *testing.T) {
	u, _ := http.NewRequest("GET", "https://user:pass@example.org/a?b=c", nil)
	if got := redact(u.URL); got != "https://example.org/a?b=c" {
		t.Errorf("redact = %q", got)
	}
}

func BenchmarkCacheHit(b *testing.B) {
	mbox := loadFixture(b, "mbox-series-1")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { mbox.serve(w) }))
	defer srv.Close()
	c, m := newTestClient(b, Options{CacheDir: b.TempDir()})
	ctx := CacheIfComplete(context.Background(), isComplete)
	do(ctx, b, c, "GET", srv.URL+"/series/1/mbox/", "")
	b.ReportAllocs()
	b.SetBytes(int64(len(mbox.body)))
	for b.Loop() {
		do(ctx, b, c, "GET", srv.URL+"/series/1/mbox/", "")
	}
	if got := m.Snapshot(); got.Network != 1 {
		b.Fatalf("counts = %+v, want every timed request served from the cache", got)
	}
}

func TestMintedCredential(t *testing.T) {
	var lastAuth atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lastAuth.Store(r.Header.Get("Authorization"))
		io.WriteString(w, "ok")
	}))
	defer srv.Close()
	var n atomic.Int64
	cred := &Credential{Header: "Authorization", Prefix: "Bearer ", Identity: "app-1/installation-2",
		Token: func(context.Context) (string, error) { return fmt.Sprintf("minted-%d", n.Add(1)), nil }}
	c, _ := newTestClient(t, Options{CacheDir: t.TempDir(), Credential: cred})
	do(t.Context(), t, c, "GET", srv.URL+"/a", "")
	do(t.Context(), t, c, "GET", srv.URL+"/a", "")
	if got := lastAuth.Load(); got != "Bearer minted-2" {
		t.Fatalf("Authorization = %q, want the token minted for this request", got)
	}
	if _, err := New(Options{UserAgent: "ua", CacheDir: t.TempDir(), Credential: &Credential{Header: "Authorization", Token: cred.Token}}); err == nil {
		t.Fatal("a minted credential without an Identity was accepted")
	}
}
