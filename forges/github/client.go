package github

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	gh "github.com/google/go-github/v92/github"

	"github.com/trawl-ci/trawl/pkg/httpx"
)

// apiError turns go-github's answer errors into an *httpx.StatusError
// naming the request, the status and GitHub's message, so callers can test
// them with errors.Is(err, httpx.ErrNotFound) and friends. Other errors
// (transport, context) are returned as they are. No request header, and so
// no token, is ever part of the result.
//
// A rate limit answer (403 or 429) still matches httpx.ErrForbidden here:
// Source.answer wraps it into a report.WaitError, which is what tells it
// apart from a refusal.
func apiError(err error) error {
	if e, ok := errors.AsType[*gh.RateLimitError](err); ok {
		msg := e.Message
		if reset := e.Rate.Reset.Time; reset.Unix() > 0 {
			msg += fmt.Sprintf(" (rate limit resets at %s)", reset.UTC().Format(time.RFC3339))
		} else {
			msg += " (no rate limit reset given)"
		}
		return statusError(e.Response, msg)
	}
	if e, ok := errors.AsType[*gh.AbuseRateLimitError](err); ok {
		msg := e.Message
		if e.RetryAfter != nil {
			msg += fmt.Sprintf(" (retry after %s)", e.GetRetryAfter())
		}
		return statusError(e.Response, msg)
	}
	if e, ok := errors.AsType[*gh.ErrorResponse](err); ok {
		parts := []string{e.Message}
		for _, d := range e.Errors {
			if d.Message != "" {
				parts = append(parts, d.Message)
			} else {
				parts = append(parts, strings.TrimSpace(fmt.Sprintf("%s %s %s", d.Resource, d.Field, d.Code)))
			}
		}
		return statusError(e.Response, strings.Join(parts, ": "))
	}
	return err
}

// statusError describes the failed answer resp.
func statusError(resp *http.Response, msg string) error {
	e := &httpx.StatusError{Message: msg}
	if resp == nil {
		return e
	}
	e.Status = resp.StatusCode
	if resp.Request != nil {
		e.Method = resp.Request.Method
		if resp.Request.URL != nil {
			u := *resp.Request.URL
			u.User = nil
			e.URL = u.String()
		}
	}
	return e
}

// limitKind is why GitHub refused to serve a request for now.
type limitKind int

const (
	notLimited limitKind = iota
	// primaryLimit: the hourly budget is spent.
	primaryLimit
	// secondaryLimit: too many requests at once, too many points or
	// content creations per minute or hour.
	secondaryLimit
)

// limitOf says whether resp is a rate limit answer rather than a refusal,
// and until when GitHub asks the client to wait. It follows GitHub's
// documentation of the REST rate limits (API-NOTES.md §3.2), which
// go-github's CheckResponse only partly covers (it knows a secondary limit
// by its documentation_url only):
//
//   - 403 or 429 with x-ratelimit-remaining: 0 is the primary limit: wait
//     until x-ratelimit-reset (a minute when the header is missing);
//   - 403 or 429 with retry-after, or whose message speaks of a secondary
//     (or "abuse") rate limit, is a secondary limit: wait retry-after, else
//     a minute doubled for each secondary limit in a row (strikes before
//     this one), up to an hour. x-ratelimit-reset is the primary limit's
//     and says nothing here while x-ratelimit-remaining is above 0;
//   - any other 429 waits retry-after or a minute;
//   - any other 403 ("Resource not accessible by integration", "Must have
//     admin rights to Repository") is a refusal: not a limit.
func limitOf(resp *http.Response, msg string, now time.Time, strikes int) (limitKind, time.Time) {
	if resp == nil || (resp.StatusCode != http.StatusForbidden && resp.StatusCode != http.StatusTooManyRequests) {
		return notLimited, time.Time{}
	}
	h := resp.Header
	retryAfter, hasRetryAfter := seconds(h.Get("Retry-After"))
	reset, hasReset := epoch(h.Get("X-RateLimit-Reset"))
	lower := strings.ToLower(msg)
	switch {
	case h.Get("X-RateLimit-Remaining") == "0":
		until := now.Add(time.Minute)
		if hasReset && reset.After(now) {
			until = reset
		}
		if hasRetryAfter && now.Add(retryAfter).After(until) {
			until = now.Add(retryAfter)
		}
		return primaryLimit, until
	case hasRetryAfter:
		return secondaryLimit, now.Add(retryAfter)
	case strings.Contains(lower, "secondary rate limit") || strings.Contains(lower, "secondary-rate-limit") ||
		strings.Contains(lower, "abuse"):
		return secondaryLimit, now.Add(min(time.Minute<<min(strikes, 6), time.Hour))
	case resp.StatusCode == http.StatusTooManyRequests:
		return secondaryLimit, now.Add(time.Minute)
	}
	return notLimited, time.Time{}
}

// message is GitHub's message in a go-github error, "" for others.
func message(err error) string {
	if e, ok := errors.AsType[*gh.RateLimitError](err); ok {
		return e.Message
	}
	if e, ok := errors.AsType[*gh.AbuseRateLimitError](err); ok {
		return e.Message
	}
	if e, ok := errors.AsType[*gh.ErrorResponse](err); ok {
		return e.Message + " " + e.DocumentationURL
	}
	return ""
}

// seconds parses a Retry-After in seconds (GitHub sends no HTTP date).
func seconds(v string) (time.Duration, bool) {
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || n < 0 {
		return 0, false
	}
	return time.Duration(min(n, 24*3600)) * time.Second, true
}

// epoch parses x-ratelimit-reset: Unix seconds.
func epoch(v string) (time.Time, bool) {
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || n <= 0 {
		return time.Time{}, false
	}
	return time.Unix(n, 0), true
}
