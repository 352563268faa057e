package httpx

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/trawl-ci/trawl/pkg/secret"
)

func TestCheckResponse(t *testing.T) {
	long := strings.Repeat("x", 400)
	tests := []struct {
		name    string
		status  int
		body    string
		wantNil bool
		wantMsg string
		wantErr string
	}{
		{name: "200", status: 200, body: "ok", wantNil: true},
		{name: "204", status: 204, wantNil: true},
		{name: "json detail", status: 404, body: `{"detail": "No Series matches the given query."}`,
			wantMsg: "No Series matches the given query.",
			wantErr: "GET https://pw.example/api/series/9/: 404 Not Found: No Series matches the given query."},
		{name: "json message", status: 403, body: `{"message": "API rate limit exceeded", "documentation_url": "https://docs"}`,
			wantMsg: "API rate limit exceeded"},
		{name: "json error", status: 401, body: `{"error": "invalid_token"}`, wantMsg: "invalid_token"},
		{name: "json detail before message", status: 400, body: `{"message": "m", "detail": "d"}`, wantMsg: "d"},
		{name: "json list detail", status: 422, body: `{"detail": [{"loc": ["body"], "msg": "field required"}]}`,
			wantMsg: "[map[loc:[body] msg:field required]]"},
		{name: "json other fields", status: 400, body: `{"state": ["bad state"]}`, wantMsg: `{"state": ["bad state"]}`},
		{name: "html page", status: 502, body: "<html><body><h1>502 Bad Gateway</h1></body></html>", wantMsg: "",
			wantErr: "GET https://pw.example/api/series/9/: 502 Bad Gateway"},
		{name: "html after blank lines", status: 500, body: "\n\n  <!DOCTYPE html><html></html>", wantMsg: ""},
		{name: "text first line", status: 500, body: "Internal error\ntraceback line 1\nline 2", wantMsg: "Internal error"},
		{name: "empty body", status: 503, body: "", wantMsg: ""},
		{name: "long text clipped", status: 500, body: long, wantMsg: long[:maxMessage] + "..."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, _ := url.Parse("https://bot:hunter2@pw.example/api/series/9/")
			resp := &http.Response{
				StatusCode: tt.status,
				Body:       io.NopCloser(strings.NewReader(tt.body)),
				Request:    &http.Request{Method: "GET", URL: u},
			}
			err := CheckResponse(resp)
			if tt.wantNil {
				if err != nil {
					t.Fatalf("CheckResponse = %v, want nil", err)
				}
				return
			}
			var se *StatusError
			if !errors.As(err, &se) {
				t.Fatalf("CheckResponse = %v, want a *StatusError", err)
			}
			if se.Message != tt.wantMsg {
				t.Errorf("Message = %q, want %q", se.Message, tt.wantMsg)
			}
			if se.Status != tt.status || se.Method != "GET" || se.URL != "https://pw.example/api/series/9/" {
				t.Errorf("StatusError = %+v", se)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error carries the URL's password: %v", err)
			}
			if tt.wantErr != "" && err.Error() != tt.wantErr {
				t.Errorf("Error() = %q, want %q", err.Error(), tt.wantErr)
			}
		})
	}
}

func TestStatusErrorIs(t *testing.T) {
	sentinels := []error{ErrNotFound, ErrForbidden, ErrBadRequest, ErrServer}
	tests := []struct {
		status int
		want   error // nil: matches none
	}{
		{400, ErrBadRequest},
		{401, ErrForbidden},
		{403, ErrForbidden},
		{404, ErrNotFound},
		{409, ErrBadRequest},
		{422, ErrBadRequest},
		{429, ErrServer},
		{500, ErrServer},
		{502, ErrServer},
		{504, ErrServer},
		{301, nil},
		{304, nil},
	}
	for _, tt := range tests {
		err := error(&StatusError{Method: "GET", URL: "https://x/", Status: tt.status})
		for _, s := range sentinels {
			if got, want := errors.Is(err, s), errors.Is(s, tt.want); got != want {
				t.Errorf("status %d: errors.Is(%v) = %v, want %v", tt.status, s, got, want)
			}
		}
	}
}

func FuzzMessage(f *testing.F) {
	for _, s := range []string{
		`{"detail": "Not found."}`,
		`{"message": "Bad credentials"}`,
		`{"detail": null}`,
		`[]`,
		`<html></html>`,
		"line one\nline two",
		"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		m := message(body)
		if len(m) > maxMessage+len("...") {
			t.Errorf("message of %d bytes, want at most %d", len(m), maxMessage+3)
		}
		if strings.HasPrefix(strings.TrimSpace(string(body)), "<") && m != "" {
			t.Errorf("HTML body gave message %q", m)
		}
	})
}

func TestClipKeepsUTF8Whole(t *testing.T) {
	s := strings.Repeat("a", maxMessage-1) + "é" + "tail"
	got := clip(s)
	if !utf8.ValidString(got) || !strings.HasSuffix(got, "...") || len(got) > maxMessage+3 {
		t.Fatalf("clip = %q: want valid UTF-8, at most %d bytes plus ...", got, maxMessage)
	}
}

// countingListener counts the connections a test server accepts.
type countingListener struct {
	net.Listener
	n atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

// rawServer accepts connections, reads the start of a request and hands
// the connection to hangUp, which ends it without an HTTP answer.
func rawServer(t *testing.T, hangUp func(*net.TCPConn)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			buf := make([]byte, 512)
			_, _ = c.Read(buf)
			hangUp(c.(*net.TCPConn))
		}
	}()
	return "http://" + l.Addr().String() + "/api"
}

// TestTransportErrorsSayWhatHappened makes real transport failures on
// loopback and checks that each error names its cause; before the fix
// every one of them read "no answer within 30s".
func TestTransportErrorsSayWhatHappened(t *testing.T) {
	closedPort := func(t *testing.T) string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		return "http://" + addr + "/api"
	}
	tests := []struct {
		name    string
		url     func(t *testing.T) string
		timeout time.Duration
		want    string
		is      error // errors.Is must hold; nil: not checked
	}{
		{name: "refused", url: closedPort, want: "connect: connection refused", is: syscall.ECONNREFUSED},
		{name: "reset", url: func(t *testing.T) string {
			return rawServer(t, func(c *net.TCPConn) { _ = c.SetLinger(0); c.Close() })
		}, want: "connection reset by peer", is: syscall.ECONNRESET},
		{name: "closed without answer", url: func(t *testing.T) string {
			return rawServer(t, func(c *net.TCPConn) { c.Close() })
		}, want: "the server closed the connection without answering", is: io.EOF},
		{name: "timeout", url: func(t *testing.T) string {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
			t.Cleanup(srv.Close)
			return srv.URL
		}, timeout: 50 * time.Millisecond, want: "no answer within 50ms", is: context.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := newTestClient(t, Options{RetryMax: -1, Timeout: tt.timeout})
			resp, err := c.Get(tt.url(t))
			if err == nil {
				resp.Body.Close()
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not say %q", err, tt.want)
			}
			if tt.timeout == 0 && strings.Contains(err.Error(), "no answer within") {
				t.Errorf("error %q blames a timeout that did not happen", err)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %q: errors.Is(%v) is false", err, tt.is)
			}
		})
	}
}

// TestUntrustedCertificate checks that a TLS failure says so, keeps the
// certificate error reachable with errors.As, and is not retried (the
// retry policy recognises it only while it is not wrapped).
func TestUntrustedCertificate(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.NotFoundHandler())
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	l := &countingListener{Listener: srv.Listener}
	srv.Listener = l
	srv.StartTLS()
	defer srv.Close()
	c, _ := newTestClient(t, Options{RetryMax: 2})
	resp, err := c.Get(srv.URL)
	if err == nil {
		resp.Body.Close()
		t.Fatal("no error from a server with an untrusted certificate")
	}
	var cve *tls.CertificateVerificationError
	if !errors.As(err, &cve) || !strings.Contains(err.Error(), "tls: failed to verify certificate") {
		t.Errorf("error %q: want a certificate verification error", err)
	}
	if strings.Contains(err.Error(), "no answer within") {
		t.Errorf("error %q blames a timeout", err)
	}
	if n := l.n.Load(); n != 1 {
		t.Errorf("%d connections, want 1: an untrusted certificate is not retried", n)
	}
}

// TestCallerCancelIsNotATimeout checks that a request the caller gives up
// on is not reported as the attempt's own timeout.
func TestCallerCancelIsNotATimeout(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	defer srv.Close()
	c, _ := newTestClient(t, Options{RetryMax: -1, Timeout: 10 * time.Second})
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(50*time.Millisecond, cancel)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	resp, err := c.Do(req)
	if err == nil {
		resp.Body.Close()
		t.Fatal("no error")
	}
	if !errors.Is(err, context.Canceled) || strings.Contains(err.Error(), "no answer within") {
		t.Errorf("error %q: want the caller's cancellation, not a timeout", err)
	}
}

// TestStatusErrorRedactsEchoedSecret plays servers that echo the
// credential they were sent in a 401, 403 or 500 body, in each form they
// use (JSON detail, message, plain text; the secret across the point where
// the message is clipped), and a StatusError built directly (as the GitHub
// driver does): no error text or Message keeps the token.
func TestStatusErrorRedactsEchoedSecret(t *testing.T) {
	const token = "httpx-canary-5e6f7a8b9c"
	secret.Register(token)
	u, _ := url.Parse("https://pw.example/api/series/?token=" + token)
	bodies := []struct {
		status int
		body   string
	}{
		{401, `{"detail": "Invalid token header. Token ` + token + ` not found."}`},
		{403, `{"message": "Bearer ` + token + ` lacks scope", "documentation_url": "x"}`},
		{500, "Traceback: Authorization: Token " + token + "\nline 2"},
		{500, strings.Repeat("x", maxMessage-5) + token},
		{400, `{"detail": "` + strings.Repeat("y", 4080) + token + `"}`},
	}
	for _, b := range bodies {
		resp := &http.Response{StatusCode: b.status, Request: &http.Request{Method: "GET", URL: u},
			Body: io.NopCloser(strings.NewReader(b.body))}
		err := CheckResponse(resp)
		var se *StatusError
		if !errors.As(err, &se) {
			t.Fatalf("%d: %v is not a StatusError", b.status, err)
		}
		if strings.Contains(err.Error(), token[:12]) || strings.Contains(se.Message, token[:12]) {
			t.Errorf("%d: token in %q / %q", b.status, err.Error(), se.Message)
		}
	}
	direct := &StatusError{Method: "POST", URL: "https://api.github.test/x", Status: 401, Message: "Bad credentials " + token}
	if got := direct.Error(); strings.Contains(got, token) || !strings.Contains(got, secret.Mask) {
		t.Errorf("direct StatusError %q", got)
	}
}
