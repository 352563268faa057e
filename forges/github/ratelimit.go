package github

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	gh "github.com/google/go-github/v92/github"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/trawl-ci/trawl/pkg/report"
)

// maxSpacing caps the wait before one request when the budget is low.
const maxSpacing = time.Minute

// rateState is the core rate limit as the latest response reported it.
type rateState struct {
	mu        sync.Mutex
	remaining int
	limit     int
	reset     time.Time
	known     bool
}

// RateLimit returns the core rate limit as the latest response reported
// it (a 304 revalidation included); known is false before the first
// response.
func (s *Source) RateLimit() (remaining, limit int, reset time.Time, known bool) {
	s.rate.mu.Lock()
	defer s.rate.mu.Unlock()
	return s.rate.remaining, s.rate.limit, s.rate.reset, s.rate.known
}

// observe keeps the X-RateLimit-* headers of resp. go-github parses them
// into resp.Rate whether or not the response came from the cache.
func (s *Source) observe(resp *gh.Response) {
	if resp == nil || resp.Response == nil {
		return
	}
	r := resp.Rate
	if r.Limit == 0 || (r.Resource != "" && r.Resource != "core") {
		return
	}
	s.rate.mu.Lock()
	s.rate.remaining, s.rate.limit, s.rate.reset, s.rate.known = r.Remaining, r.Limit, r.Reset.Time, true
	s.rate.mu.Unlock()
	if s.gauges != nil {
		s.gauges.remaining.Set(float64(r.Remaining))
		s.gauges.limit.Set(float64(r.Limit))
		s.gauges.reset.Set(float64(r.Reset.Unix()))
	}
}

// spacing is the wait before the next request: nothing while the budget
// is at or above the reserve, else the time to the reset shared out over
// the remaining requests, at most maxSpacing.
func (s *Source) spacing() time.Duration {
	remaining, _, reset, known := s.RateLimit()
	if !known || remaining >= s.o.RateReserve {
		return 0
	}
	left := reset.Sub(s.o.Now())
	if left <= 0 {
		return 0
	}
	return min(left/time.Duration(max(remaining, 1)), maxSpacing)
}

// pace waits before a request while the budget is below the reserve.
func (s *Source) pace(ctx context.Context) error {
	d := s.spacing()
	if d <= 0 {
		return nil
	}
	remaining, _, reset, _ := s.RateLimit()
	s.log.Debug("rate limit below reserve: spacing requests",
		zap.Int("rate_remaining", remaining),
		zap.Int("rate_reserve", s.o.RateReserve),
		zap.Time("rate_reset", reset),
		zap.Duration("wait", d))
	if err := s.o.Sleep(ctx, d); err != nil {
		return err
	}
	s.waited.Add(int64(d))
	return nil
}

// gauges export one source's rate limit.
type gauges struct {
	remaining, limit, reset prometheus.Gauge
}

// newGauges registers the rate limit gauges on reg, or reuses them when
// another GitHub source registered them already.
func newGauges(reg prometheus.Registerer, source string) (*gauges, error) {
	vec := func(name, help string) (*prometheus.GaugeVec, error) {
		v := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, []string{"source"})
		err := reg.Register(v)
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(*prometheus.GaugeVec); ok {
				return existing, nil
			}
		}
		return v, err
	}
	remaining, err := vec("trawl_github_ratelimit_remaining", "Requests left in the GitHub core rate limit window, as last reported.")
	if err != nil {
		return nil, err
	}
	limit, err := vec("trawl_github_ratelimit_limit", "Requests allowed per GitHub core rate limit window.")
	if err != nil {
		return nil, err
	}
	reset, err := vec("trawl_github_ratelimit_reset_seconds", "Unix time at which the GitHub core rate limit window resets.")
	if err != nil {
		return nil, err
	}
	return &gauges{
		remaining: remaining.WithLabelValues(source),
		limit:     limit.WithLabelValues(source),
		reset:     reset.WithLabelValues(source),
	}, nil
}

// GitHub's secondary limits on content creation (a commit status is
// content): at most 80 requests a minute and 500 an hour per user or App
// installation (docs.github.com, "Rate limits for the REST API", About
// secondary rate limits; API-NOTES.md §3.2).
const (
	createPerHour = 500
	// createSpacing spreads content creation to at most 80 a minute.
	createSpacing = time.Minute / 80
	// createBusyMax is the longest the posts of an account are paced
	// without a break: a post that would extend a run of paced posts
	// beyond it is held back for a later cycle, so that a cold cycle with
	// hundreds of statuses to post (500 take over six minutes at 80 a
	// minute) does not sit in its posting stage for most of the cycle
	// deadline. A cycle posts about a minute's worth; the next one, a
	// schedule later, finds the pace idle and posts the next minute's.
	createBusyMax = time.Minute
)

// limits is what GitHub's rate limit answers and trawl's own writes say
// about when the next request may go.
type limits struct {
	mu sync.Mutex
	// until: no request is sent before it (a rate limit answer's reset or
	// retry-after); why is that answer.
	until time.Time
	why   error
	// strikes counts secondary limit answers in a row, to reads [0] and
	// to content creation [1].
	strikes [2]int
}

// Writes paces the content creation of one GitHub account (a user's
// tokens, or an App installation): GitHub counts its limits per account,
// so the sources that post with the same one share a Writes. It is safe
// for concurrent use.
type Writes struct {
	mu sync.Mutex
	// created are the times of the content-creating requests of the last
	// hour, oldest first.
	created []time.Time
	// busySince is when the current run of paced posts began (a post that
	// had to wait for its turn); zero when the last post did not wait.
	busySince time.Time
}

// waitError is the error of a request not sent, or refused, before t.
func waitError(t time.Time, err error) error {
	return &report.WaitError{Err: err, Until: t}
}

// heldError is the error of a post trawl's own pacing holds back, without
// sending it, until t: why, then when the next one may go.
func heldError(t time.Time, why string) error {
	return &report.WaitError{Err: fmt.Errorf("%s: next one at %s", why, t.UTC().Format(time.RFC3339)), Until: t, Held: true}
}

// blocked returns a *report.WaitError while a rate limit answer asks to
// wait: GitHub warns that requests sent while limited can get an
// integration banned, and they would fail anyway.
func (s *Source) blocked() error {
	s.limits.mu.Lock()
	defer s.limits.mu.Unlock()
	if now := s.o.Now(); now.Before(s.limits.until) {
		return waitError(s.limits.until, fmt.Errorf("rate limited until %s, not asking before then: %w",
			s.limits.until.UTC().Format(time.RFC3339), s.limits.why))
	}
	return nil
}

// answer classifies the outcome of a request (a content creation when
// create is set): a rate limit answer blocks requests until its time and
// becomes a *report.WaitError; another failure is apiError's; a success
// clears the secondary limit strikes of its kind.
func (s *Source) answer(resp *gh.Response, err error, create bool) error {
	kind := 0
	if create {
		kind = 1
	}
	if err == nil {
		s.limits.mu.Lock()
		s.limits.strikes[kind] = 0
		s.limits.mu.Unlock()
		return nil
	}
	apiErr := apiError(err)
	var hr *http.Response
	if resp != nil {
		hr = resp.Response
	}
	s.limits.mu.Lock()
	defer s.limits.mu.Unlock()
	limit, until := limitOf(hr, message(err), s.o.Now(), s.limits.strikes[kind])
	if limit == notLimited {
		return apiErr
	}
	if limit == secondaryLimit {
		s.limits.strikes[kind]++
	}
	if until.After(s.limits.until) {
		s.limits.until, s.limits.why = until, apiErr
	}
	s.log.Warn("github rate limit: waiting", zap.Bool("secondary", limit == secondaryLimit),
		zap.Time("until", until), zap.Error(apiErr))
	return waitError(until, apiErr)
}

// call sends one read request through the rate limit: not while a limit
// answer asks to wait, spaced while the budget is low.
func (s *Source) call(ctx context.Context, do func() (*gh.Response, error)) error {
	if err := s.blocked(); err != nil {
		return err
	}
	if err := s.pace(ctx); err != nil {
		return err
	}
	resp, err := do()
	s.observe(resp)
	return s.answer(resp, err, false)
}

// create sends one content-creating request: as call, and kept under
// GitHub's content creation limits. It waits out the spacing of 80 a
// minute (under a second) and, once 500 were sent in the last hour or
// once the account's posts were paced for createBusyMax without a break,
// returns a held *report.WaitError (report.WaitError.Held) naming when,
// without sending anything.
func (s *Source) create(ctx context.Context, do func() (*gh.Response, error)) error {
	if err := s.blocked(); err != nil {
		return err
	}
	if err := s.pace(ctx); err != nil {
		return err
	}
	if err := s.reserveCreate(ctx); err != nil {
		return err
	}
	resp, err := do()
	s.observe(resp)
	return s.answer(resp, err, true)
}

// reserveCreate takes a slot for one content creation, waiting for the
// spacing when needed.
func (s *Source) reserveCreate(ctx context.Context) error {
	w := s.o.Writes
	w.mu.Lock()
	now := s.o.Now()
	kept := w.created[:0]
	for _, t := range w.created {
		if now.Sub(t) < time.Hour {
			kept = append(kept, t)
		}
	}
	w.created = kept
	if len(kept) >= createPerHour {
		until := kept[len(kept)-createPerHour].Add(time.Hour)
		w.mu.Unlock()
		return heldError(until, fmt.Sprintf("%d statuses posted in the last hour, GitHub's limit on content creation", createPerHour))
	}
	var wait time.Duration
	if n := len(kept); n > 0 {
		wait = kept[n-1].Add(createSpacing).Sub(now)
	}
	switch {
	case wait <= 0:
		w.busySince = time.Time{}
	case w.busySince.IsZero():
		w.busySince = now
	case now.Sub(w.busySince) >= createBusyMax:
		until := now.Add(wait)
		w.mu.Unlock()
		return heldError(until, fmt.Sprintf("statuses posted at GitHub's pace of %d a minute for %s: held back for a later cycle", int(time.Minute/createSpacing), createBusyMax))
	}
	// The slot is taken before waiting, so that concurrent posts queue
	// behind each other.
	w.created = append(w.created, now.Add(max(wait, 0)))
	w.mu.Unlock()
	if wait <= 0 {
		return nil
	}
	if err := s.o.Sleep(ctx, wait); err != nil {
		return err
	}
	s.waited.Add(int64(wait))
	return nil
}

// sleep waits d, or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
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
