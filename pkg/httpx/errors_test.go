package httpx

import (
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"
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
			if got, want := errors.Is(err, s), s == tt.want; got != want {
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
