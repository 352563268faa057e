package httpx

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// answer is one canned answer of a test server.
type answer struct {
	contentType string
	body        string
}

// sequence serves its answers in turn, then the last one for good, and
// counts the requests.
type sequence struct {
	mu       sync.Mutex
	answers  []answer
	requests int
}

func (s *sequence) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	a := s.answers[min(s.requests, len(s.answers)-1)]
	s.requests++
	s.mu.Unlock()
	w.Header().Set("Content-Type", a.contentType)
	io.WriteString(w, a.body)
}

func (s *sequence) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// getJSON reads url accepting only JSON, and returns the body or the error.
func getJSON(ctx context.Context, c *http.Client, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

const (
	goodJSON = `{"id":1,"received_all":true}`
	htmlPage = "<!doctype html><html><body>Service Unavailable</body></html>"
)

// TestBadAnswerNeverStored: a 200 answer that is not what the API promises
// (an HTML page, a body cut short, malformed JSON) is an error, retried
// within the bound, and never stored, so a later request reaches the
// server and gets the good answer instead of the bad one for good.
func TestBadAnswerNeverStored(t *testing.T) {
	tests := []struct {
		name string
		bad  answer
		want string
	}{
		{"HTML page with 200", answer{"text/html; charset=utf-8", htmlPage}, `content type "text/html; charset=utf-8", want JSON`},
		{"truncated JSON", answer{"application/json", goodJSON[:12]}, "is not well-formed JSON"},
		{"malformed JSON", answer{"application/json", `{"id":1,,}`}, "is not well-formed JSON"},
		{"empty body", answer{"application/json", ""}, "body of 0 bytes is not well-formed JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := &sequence{answers: []answer{tt.bad, {"application/json", goodJSON}}}
			ts := httptest.NewServer(srv)
			defer ts.Close()
			ctx := CacheIfComplete(t.Context(), isComplete)

			// Without retries: the bad answer is an error naming the URL.
			c, _ := newTestClient(t, Options{CacheDir: t.TempDir(), RetryMax: -1})
			_, err := getJSON(ctx, c, ts.URL+"/series/1/")
			var ce *ContentError
			if !errors.As(err, &ce) || !strings.Contains(err.Error(), ts.URL+"/series/1/: unexpected content: ") || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want a ContentError naming the URL with %q", err, tt.want)
			}
			// Nothing was stored: the next request reaches the server, and
			// the good answer is stored for good.
			for range 3 {
				if body, err := getJSON(ctx, c, ts.URL+"/series/1/"); err != nil || body != goodJSON {
					t.Fatalf("after the bad answer: %q, %v", body, err)
				}
			}
			if n := srv.count(); n != 2 {
				t.Errorf("%d requests, want 2 (the bad answer, then the good one, stored)", n)
			}

			// With retries, the bad answer is retried within the request.
			srv2 := &sequence{answers: []answer{tt.bad, {"application/json", goodJSON}}}
			ts2 := httptest.NewServer(srv2)
			defer ts2.Close()
			c2, _ := newTestClient(t, Options{CacheDir: t.TempDir(), RetryMax: 2})
			if body, err := getJSON(ctx, c2, ts2.URL+"/series/1/"); err != nil || body != goodJSON {
				t.Fatalf("with retries: %q, %v", body, err)
			}
		})
	}
}

// TestValidatorChoice: a request's own Validator beats the client's, which
// beats the default JSON check of a request that accepts only JSON; a
// request that accepts anything is not checked by default.
func TestValidatorChoice(t *testing.T) {
	srv := &sequence{answers: []answer{{"text/plain", "From patchwork\n"}}}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	refuse := func(*http.Response, []byte) error { return errors.New("refused by the client") }
	accept := func(*http.Response, []byte) error { return nil }

	plain, _ := newTestClient(t, Options{RetryMax: -1})
	strict, _ := newTestClient(t, Options{RetryMax: -1, Validate: refuse})
	tests := []struct {
		name   string
		c      *http.Client
		ctx    context.Context
		accept string
		want   string // "" for no error
	}{
		{"JSON-only request, text answer", plain, t.Context(), "application/json", `content type "text/plain", want JSON`},
		{"GitHub media type", plain, t.Context(), "application/vnd.github+json", "want JSON"},
		{"any answer accepted", plain, t.Context(), "text/plain, */*", ""},
		{"no Accept", plain, t.Context(), "", ""},
		{"request validator", plain, WithValidator(t.Context(), accept), "application/json", ""},
		{"client validator", strict, t.Context(), "", "refused by the client"},
		{"request beats client", strict, WithValidator(t.Context(), accept), "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequestWithContext(tt.ctx, http.MethodGet, ts.URL, nil)
			if tt.accept != "" {
				req.Header.Set("Accept", tt.accept)
			}
			resp, err := tt.c.Do(req)
			if err == nil {
				resp.Body.Close()
			}
			if (tt.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("error %v, want %q", err, tt.want)
			}
		})
	}
}

// TestStoredBadAnswerDropped: an answer stored before it was checked (by an
// older trawl, or damaged on disk) that fails its Validator is dropped and
// fetched again: one extra request, never a failure for good.
func TestStoredBadAnswerDropped(t *testing.T) {
	srv := &sequence{answers: []answer{{"text/html", htmlPage}, {"application/json", goodJSON}}}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	dir := t.TempDir()
	ctx := CacheIfComplete(t.Context(), isComplete)

	// What an older trawl did: store whatever came, for good.
	old, _ := newTestClient(t, Options{CacheDir: dir, RetryMax: -1})
	trusting := WithValidator(ctx, func(*http.Response, []byte) error { return nil })
	if body, err := getJSON(trusting, old, ts.URL+"/covers/3/"); err != nil || body != htmlPage {
		t.Fatalf("poisoning the cache: %q, %v", body, err)
	}
	if body, _ := getJSON(trusting, old, ts.URL+"/covers/3/"); body != htmlPage || srv.count() != 1 {
		t.Fatalf("the HTML page was not stored (%d requests)", srv.count())
	}

	c, m := newTestClient(t, Options{CacheDir: dir, RetryMax: -1})
	for range 3 {
		if body, err := getJSON(ctx, c, ts.URL+"/covers/3/"); err != nil || body != goodJSON {
			t.Fatalf("with the poisoned entry: %q, %v", body, err)
		}
	}
	if n := srv.count(); n != 2 {
		t.Errorf("%d requests, want 2: the entry is dropped and fetched once", n)
	}
	if got := m.Snapshot(); got.Network != 1 || got.Cache != 2 {
		t.Errorf("counts %+v, want 1 network then 2 from the cache", got)
	}
}

// TestUnframedBodyNotStored: a body whose end the server did not mark (no
// Content-Length, not chunked: it ends when the connection closes) may
// have been cut short, so it is never stored.
func TestUnframedBodyNotStored(t *testing.T) {
	var requests atomic.Int64
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			requests.Add(1)
			_, _ = http.ReadRequest(bufio.NewReader(conn))
			fmt.Fprintf(conn, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n%s", goodJSON)
			conn.Close()
		}
	}()
	c, _ := newTestClient(t, Options{CacheDir: t.TempDir(), RetryMax: -1})
	ctx := CacheIfComplete(t.Context(), isComplete)
	for range 2 {
		if body, err := getJSON(ctx, c, "http://"+ln.Addr().String()+"/series/1/"); err != nil || body != goodJSON {
			t.Fatalf("%q, %v", body, err)
		}
	}
	if n := requests.Load(); n != 2 {
		t.Errorf("%d requests, want 2: a close-delimited body is not stored", n)
	}
}

// TestBodyLimit: a body longer than its limit fails with an error naming
// the URL, and is not retried.
func TestBodyLimit(t *testing.T) {
	big := strings.Repeat("x", 1000)
	tests := []struct {
		name   string
		opts   Options
		ctx    func(context.Context) context.Context
		accept string
		limit  int
	}{
		{"client limit, streamed body", Options{MaxBody: 100}, func(c context.Context) context.Context { return c }, "", 100},
		{"request limit, checked body", Options{}, func(c context.Context) context.Context { return WithMaxBody(c, 10) }, "application/json", 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var requests atomic.Int64
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				requests.Add(1)
				w.Header().Set("Content-Type", "application/json")
				fmt.Fprintf(w, "%q", big)
			}))
			defer ts.Close()
			tt.opts.RetryMax = 3
			c, _ := newTestClient(t, tt.opts)
			req, _ := http.NewRequestWithContext(tt.ctx(t.Context()), http.MethodGet, ts.URL+"/big", nil)
			if tt.accept != "" {
				req.Header.Set("Accept", tt.accept)
			}
			resp, err := c.Do(req)
			if err == nil {
				_, err = io.ReadAll(resp.Body)
				resp.Body.Close()
			}
			want := fmt.Sprintf("GET %s/big: response body larger than %d bytes", ts.URL, tt.limit)
			if !errors.Is(err, ErrBodyTooLarge) || !strings.Contains(err.Error(), want) {
				t.Fatalf("error %v, want %q", err, want)
			}
			if n := requests.Load(); n != 1 {
				t.Errorf("%d requests, want 1: a body too large is not retried", n)
			}
		})
	}
}

// TestCheckedOnlyByTheStack: Checked is true only for a body the stack
// checked; a server cannot claim it.
func TestCheckedOnlyByTheStack(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(checkedHeader, "1")
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "not checked")
	}))
	defer ts.Close()
	c, _ := newTestClient(t, Options{RetryMax: -1})
	resp, body := do(t.Context(), t, c, http.MethodGet, ts.URL, "")
	if Checked(resp) {
		t.Errorf("a body no Validator saw (%q) reads as checked", body)
	}
	ctx := WithValidator(t.Context(), func(*http.Response, []byte) error { return nil })
	if resp, _ := do(ctx, t, c, http.MethodGet, ts.URL, ""); !Checked(resp) {
		t.Error("a body the request's Validator accepted does not read as checked")
	}
}
