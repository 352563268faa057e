package httpx

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-retryablehttp"
	"go.uber.org/zap"
)

// maxRetryAfter bounds a Retry-After in seconds before it is turned into a
// duration, so a huge value cannot overflow.
const maxRetryAfter = 365 * 24 * 60 * 60

// retryPolicy decides, after each attempt, whether go-retryablehttp tries
// again.
type retryPolicy struct {
	max int // retries allowed after the first attempt
	log *zap.Logger
}

// check is the retryablehttp.CheckRetry. It never returns an error, so the
// caller always gets the last response or the transport's own error.
func (r *retryPolicy) check(ctx context.Context, resp *http.Response, err error) (bool, error) {
	p := probeFrom(ctx)
	if ctx.Err() != nil || p == nil {
		return false, nil
	}
	reason := retryReason(ctx, p.method, resp, err)
	if reason == "" {
		return false, nil
	}
	if p.attempts <= r.max {
		r.log.Warn("retrying http request",
			zap.String("method", p.method),
			zap.String("url", p.url),
			zap.Int("attempt", p.attempts),
			zap.Int("max_attempts", r.max+1),
			zap.String("reason", reason))
	}
	return true, nil
}

// retryReason says why an attempt should be retried, or "" if it should
// not. GET and HEAD are retried on transport errors, 5xx, 429 and a 403 with
// an exhausted rate limit. Other methods change something on the server: a
// retried trigger could start a CI job twice, so they are retried only on
// 429, an explicit refusal.
func retryReason(ctx context.Context, method string, resp *http.Response, err error) string {
	idempotent := method == http.MethodGet || method == http.MethodHead
	if err != nil {
		var ce *credentialError
		if !idempotent || errors.As(err, &ce) || errors.Is(err, ErrBodyTooLarge) {
			return ""
		}
		// The library's policy knows which transport errors are final
		// (bad scheme, bad header, untrusted certificate, redirect loop).
		if ok, _ := retryablehttp.DefaultRetryPolicy(ctx, nil, err); !ok {
			return ""
		}
		return err.Error()
	}
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		return resp.Status
	case !idempotent:
		return ""
	case resp.StatusCode >= 500:
		return resp.Status
	case resp.StatusCode == http.StatusForbidden &&
		(resp.Header.Get("X-RateLimit-Remaining") == "0" || resp.Header.Get("RateLimit-Remaining") == "0"):
		return resp.Status + " (rate limit exhausted)"
	}
	return ""
}

// backoff is the wait before retry number attempt+1: the response's
// Retry-After when it has one, else exponential from lo with jitter; never
// more than hi.
func backoff(now time.Time, lo, hi time.Duration, attempt int, resp *http.Response) time.Duration {
	if resp != nil {
		if d, ok := retryAfter(resp.Header.Get("Retry-After"), now); ok {
			return min(d, hi)
		}
	}
	d := lo
	for i := 0; i < attempt && d < hi; i++ {
		d *= 2
	}
	d = min(d, hi)
	half := d / 2
	return max(lo, half+rand.N(d-half+1))
}

// retryAfter parses a Retry-After value: delay seconds or an HTTP date.
func retryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		if s < 0 {
			return 0, false
		}
		return time.Duration(min(s, maxRetryAfter)) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return max(t.Sub(now), 0), true
}
