package github

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
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

// newClient is a go-github client over hc at api. Its rate limit memory is
// off: see the package comment.
func newClient(hc *http.Client, api string, extra ...gh.ClientOptionsFunc) (*gh.Client, error) {
	opts := append([]gh.ClientOptionsFunc{
		gh.WithHTTPClient(hc),
		gh.WithURLs(&api, &api),
		gh.WithDisableRateLimitCheck(),
	}, extra...)
	return gh.NewClient(opts...)
}

// apiURL checks an API root and gives it the trailing slash go-github
// needs.
func apiURL(raw string) (string, error) {
	if raw == "" {
		return defaultAPIURL, nil
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "", fmt.Errorf("API URL %q is not an http(s) URL", raw)
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	return u.String(), nil
}

// splitRepo splits "owner/name".
func splitRepo(repo string) (owner, name string, err error) {
	owner, name, ok := strings.Cut(repo, "/")
	if !ok || owner == "" || name == "" || strings.ContainsAny(name, "/ ") || strings.Contains(owner, " ") {
		return "", "", fmt.Errorf("repository %q is not owner/name", repo)
	}
	return owner, name, nil
}
