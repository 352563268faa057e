package httpx

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/trawl-ci/trawl/pkg/secret"
)

// Sentinels a StatusError matches with errors.Is, so callers can branch on
// the class of a failure without knowing the forge.
var (
	ErrNotFound   = errors.New("not found")
	ErrForbidden  = errors.New("forbidden")
	ErrBadRequest = errors.New("rejected by server")
	ErrServer     = errors.New("server error")
)

// StatusError is a non-2xx answer from a server: the request, the status and
// the server's own message. It never carries request headers, and every
// registered secret is redacted from what it shows, so a server that echoes
// the credential it was sent cannot make trawl repeat it.
type StatusError struct {
	Method  string
	URL     string
	Status  int
	Message string
}

// Error renders "GET https://host/path: 404 Not Found: message".
func (e *StatusError) Error() string {
	s := fmt.Sprintf("%s %s: %d %s", e.Method, e.URL, e.Status, http.StatusText(e.Status))
	if e.Message != "" {
		s += ": " + e.Message
	}
	return secret.Redact(s)
}

// Is matches the sentinel of the status class.
func (e *StatusError) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.Status == http.StatusNotFound
	case ErrForbidden:
		return e.Status == http.StatusForbidden || e.Status == http.StatusUnauthorized
	case ErrBadRequest:
		return e.Status >= 400 && e.Status < 500 && e.Status != http.StatusNotFound &&
			e.Status != http.StatusForbidden && e.Status != http.StatusUnauthorized &&
			e.Status != http.StatusTooManyRequests
	case ErrServer:
		return e.Status >= 500 || e.Status == http.StatusTooManyRequests
	}
	return false
}

// maxMessage bounds how much of an error body is kept in a StatusError.
const maxMessage = 300

// CheckResponse returns nil for a 2xx response and a *StatusError otherwise.
// For an error it reads (at most 4 KiB of) the body to extract the server's
// message: the "detail" or "message" field of a JSON body, else the first
// line of text. It does not close the body.
func CheckResponse(resp *http.Response) error {
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	e := &StatusError{Status: resp.StatusCode}
	if resp.Request != nil {
		e.Method = resp.Request.Method
		if resp.Request.URL != nil {
			u := *resp.Request.URL
			u.User = nil
			e.URL = u.String()
		}
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	// Redacted before message clips it, so a secret cut in half by the
	// clip is still found whole.
	e.Message = message([]byte(secret.Redact(string(body))))
	return e
}

// message extracts a short human message from an error body.
func message(body []byte) string {
	var obj map[string]any
	if json.Unmarshal(body, &obj) == nil {
		for _, k := range []string{"detail", "message", "error"} {
			if v, ok := obj[k]; ok {
				return clip(fmt.Sprint(v))
			}
		}
		if len(obj) > 0 {
			return clip(strings.TrimSpace(string(body)))
		}
	}
	s := strings.TrimSpace(string(body))
	if strings.HasPrefix(s, "<") {
		return "" // an HTML error page says nothing a log line can use
	}
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return clip(s)
}

// clip bounds s to maxMessage bytes without splitting a UTF-8 character.
func clip(s string) string {
	if len(s) <= maxMessage {
		return s
	}
	cut := maxMessage
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

// transportError says what happened to an attempt that got no answer.
// net/http's own errors name their cause (connect: connection refused,
// read: connection reset by peer, tls: failed to verify certificate) and
// are returned unchanged, so that errors.As and the retry policy, which
// refuses to retry an untrusted certificate, see them as they are. Two
// causes need words: the attempt's own deadline passed (expired), and the
// server closed the connection without any answer (a bare EOF).
func transportError(err error, timeout time.Duration, expired bool) error {
	switch {
	case expired:
		return fmt.Errorf("no answer within %s: %w", timeout, err)
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("the server closed the connection without answering: %w", err)
	}
	return err
}

// GetJSON GETs u with c, asking for JSON, and decodes a 2xx answer of at
// most limit bytes into v. It reads the body to the end, which the HTTP
// cache needs to store it. A non-2xx answer is CheckResponse's error.
func GetJSON(ctx context.Context, c *http.Client, u string, limit int64, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := CheckResponse(resp); err != nil {
		return err
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit))
	if err != nil {
		return fmt.Errorf("read GET %s: %w", u, err)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("decode GET %s: %w", u, err)
	}
	return nil
}
