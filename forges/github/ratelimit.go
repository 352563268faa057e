package github

import (
	"context"
	"errors"
	"sync"
	"time"

	gh "github.com/google/go-github/v92/github"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
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
