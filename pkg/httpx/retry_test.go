package httpx

import (
	"errors"
	"net/http"
	"net/url"
	"testing"
	"time"
)

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		value  string
		want   time.Duration
		wantOK bool
	}{
		{"", 0, false},
		{"0", 0, true},
		{"1", time.Second, true},
		{" 120 ", 2 * time.Minute, true},
		{"-5", 0, false},
		{"soon", 0, false},
		{"1.5", 0, false},
		{"99999999999999999", maxRetryAfter * time.Second, true},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{now.Add(30 * time.Second).Format(time.RFC850), 30 * time.Second, true},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0, true},
	}
	for _, tt := range tests {
		got, ok := retryAfter(tt.value, now)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("retryAfter(%q) = %s, %v; want %s, %v", tt.value, got, ok, tt.want, tt.wantOK)
		}
	}
}

func FuzzRetryAfter(f *testing.F) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, s := range []string{"", "0", "1", "120", "-1", "9223372036854775807", "Sun, 01 Mar 2026 12:00:30 GMT", "garbage"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		d, ok := retryAfter(v, now)
		if d < 0 || (!ok && d != 0) {
			t.Errorf("retryAfter(%q) = %s, %v", v, d, ok)
		}
	})
}

func TestBackoff(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	withHeader := func(status int, retry string) *http.Response {
		h := http.Header{}
		if retry != "" {
			h.Set("Retry-After", retry)
		}
		return &http.Response{StatusCode: status, Header: h}
	}
	lo, hi := 100*time.Millisecond, 2*time.Second
	tests := []struct {
		name     string
		attempt  int
		resp     *http.Response
		min, max time.Duration
	}{
		{"first retry", 0, nil, lo, lo},
		{"second retry", 1, withHeader(500, ""), lo, 2 * lo},
		{"third retry", 2, withHeader(503, ""), 2 * lo, 4 * lo},
		{"capped", 10, nil, hi / 2, hi},
		{"huge attempt does not overflow", 200, nil, hi / 2, hi},
		{"retry-after seconds", 0, withHeader(429, "1"), time.Second, time.Second},
		{"retry-after capped", 0, withHeader(429, "3600"), hi, hi},
		{"retry-after date", 3, withHeader(503, now.Add(1500*time.Millisecond).Format(http.TimeFormat)), time.Second, time.Second},
		{"retry-after zero", 3, withHeader(429, "0"), 0, 0},
		{"retry-after unreadable", 0, withHeader(429, "later"), lo, lo},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for range 50 {
				d := backoff(now, lo, hi, tt.attempt, tt.resp)
				if d < tt.min || d > tt.max {
					t.Fatalf("backoff = %s, want within [%s, %s]", d, tt.min, tt.max)
				}
			}
		})
	}
}

func TestRetryReason(t *testing.T) {
	resp := func(status int, h ...string) *http.Response {
		hdr := http.Header{}
		for i := 0; i+1 < len(h); i += 2 {
			hdr.Set(h[i], h[i+1])
		}
		return &http.Response{StatusCode: status, Status: http.StatusText(status), Header: hdr}
	}
	netErr := &url.Error{Op: "Get", URL: "http://x", Err: errors.New("connection reset by peer")}
	tests := []struct {
		name   string
		method string
		resp   *http.Response
		err    error
		retry  bool
	}{
		{"GET transport error", "GET", nil, netErr, true},
		{"HEAD transport error", "HEAD", nil, netErr, true},
		{"POST transport error", "POST", nil, netErr, false},
		{"GET credential error", "GET", nil, &url.Error{Op: "Get", URL: "http://x", Err: &credentialError{errors.New("no file")}}, false},
		{"GET bad scheme", "GET", nil, &url.Error{Op: "Get", URL: "ftp://x", Err: errors.New("unsupported protocol scheme \"ftp\"")}, false},
		{"GET 500", "GET", resp(500), nil, true},
		{"GET 501", "GET", resp(501), nil, true},
		{"GET 429", "GET", resp(429), nil, true},
		{"GET 404", "GET", resp(404), nil, false},
		{"GET 403", "GET", resp(403), nil, false},
		{"GET 403 X-RateLimit-Remaining 0", "GET", resp(403, "X-RateLimit-Remaining", "0"), nil, true},
		{"GET 403 RateLimit-Remaining 0", "GET", resp(403, "RateLimit-Remaining", "0"), nil, true},
		{"GET 403 remaining 5", "GET", resp(403, "X-RateLimit-Remaining", "5"), nil, false},
		{"GET 304", "GET", resp(304), nil, false},
		{"POST 429", "POST", resp(429), nil, true},
		{"POST 503", "POST", resp(503), nil, false},
		{"PUT 500", "PUT", resp(500), nil, false},
		{"DELETE 502", "DELETE", resp(502), nil, false},
		{"PATCH 429", "PATCH", resp(429), nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := retryReason(t.Context(), tt.method, tt.resp, tt.err); (got != "") != tt.retry {
				t.Errorf("retryReason = %q, want retry %v", got, tt.retry)
			}
		})
	}
}
