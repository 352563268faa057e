package httpx

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"sync/atomic"
)

// Meter counts the responses of one or more clients by outcome, so a cycle
// can log how many requests it made and how many the cache saved. It is
// safe for concurrent use; the zero value is ready.
type Meter struct {
	network     atomic.Int64
	revalidated atomic.Int64
	cache       atomic.Int64
	failed      atomic.Int64
	bytes       atomic.Int64
}

// Counts is a snapshot of a Meter.
type Counts struct {
	Network     int64 // full responses from the server, any status
	Revalidated int64 // conditional requests answered 304, served from the cache
	Cache       int64 // answered from the cache without a round trip
	Failed      int64 // transport errors: no response at all
	Bytes       int64 // response body bytes read from the network (decoded, when gzip)
}

// Snapshot returns the current counts.
func (m *Meter) Snapshot() Counts {
	return Counts{
		Network:     m.network.Load(),
		Revalidated: m.revalidated.Load(),
		Cache:       m.cache.Load(),
		Failed:      m.failed.Load(),
		Bytes:       m.bytes.Load(),
	}
}

// Sub returns c minus o: what happened between two snapshots, for
// per-cycle logging.
func (c Counts) Sub(o Counts) Counts {
	return Counts{
		Network:     c.Network - o.Network,
		Revalidated: c.Revalidated - o.Revalidated,
		Cache:       c.Cache - o.Cache,
		Failed:      c.Failed - o.Failed,
		Bytes:       c.Bytes - o.Bytes,
	}
}

// Requests returns the number of requests counted, whatever their outcome.
func (c Counts) Requests() int64 {
	return c.Network + c.Revalidated + c.Cache + c.Failed
}

// probe travels in the context of one request from the meter to the bottom
// of the stack, where it records what reached the network. The stack runs
// the attempts of one request one after the other, on the caller's
// goroutine, so it needs no lock.
type probe struct {
	method    string
	url       string // without userinfo, for logs
	attempts  int    // attempts that reached the wire layer
	responses int    // attempts that got a response
	status    int    // status of the last response
}

type probeKey struct{}

// probeFrom returns the probe of the request context, or nil.
func probeFrom(ctx context.Context) *probe {
	p, _ := ctx.Value(probeKey{}).(*probe)
	return p
}

// meterTransport is the outermost layer: it gives each request a probe and
// counts the outcome.
type meterTransport struct {
	next  http.RoundTripper
	meter *Meter
}

func (t *meterTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	p := &probe{method: req.Method, url: redact(req.URL)}
	resp, err := t.next.RoundTrip(req.WithContext(context.WithValue(req.Context(), probeKey{}, p)))
	switch {
	case err != nil:
		t.meter.failed.Add(1)
	case p.responses == 0:
		t.meter.cache.Add(1)
	case p.status == http.StatusNotModified && resp.StatusCode != http.StatusNotModified:
		t.meter.revalidated.Add(1)
	default:
		t.meter.network.Add(1)
	}
	return resp, err
}

// countingBody adds the bytes read from a network body to a counter.
type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

// redact returns u without its userinfo, for logs and errors.
func redact(u *url.URL) string {
	v := *u
	v.User = nil
	return v.String()
}
