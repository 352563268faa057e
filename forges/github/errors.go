package github

import (
	"errors"
	"fmt"
	"net/http"
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
func apiError(err error) error {
	if e, ok := errors.AsType[*gh.RateLimitError](err); ok {
		return statusError(e.Response, fmt.Sprintf("%s (rate limit resets at %s)", e.Message, e.Rate.Reset.UTC().Format(time.RFC3339)))
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
