package httpx

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"go.uber.org/zap"
)

// maxComplete bounds the body buffered to decide a CacheIfComplete request.
// A larger body is passed through and not stored.
const maxComplete = 32 << 20

// foreverCacheControl makes httpcache answer later requests from the cache
// without a round trip.
const foreverCacheControl = "max-age=31536000"

// wireTransport sits beneath the credentials: it records each network
// attempt in the probe, counts body bytes, logs the attempt and, when the
// client has a cache, rewrites the response's caching headers before
// httpcache decides whether to store it (as prow's ghcache does).
type wireTransport struct {
	next   http.RoundTripper
	meter  *Meter
	log    *zap.Logger
	policy bool
	now    func() time.Time
}

func (t *wireTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	p := probeFrom(req.Context())
	attempt := 0
	if p != nil {
		p.attempts++
		attempt = p.attempts
	}
	start := time.Now()
	resp, err := t.next.RoundTrip(req)
	fields := []zap.Field{
		zap.String("method", req.Method),
		zap.String("url", redact(req.URL)),
		zap.Int("attempt", attempt),
		zap.Duration("duration", time.Since(start)),
	}
	if err != nil {
		t.log.Debug("http attempt failed", append(fields, zap.Error(err))...)
		return nil, err
	}
	t.log.Debug("http attempt", append(fields, zap.Int("status", resp.StatusCode))...)
	if p != nil {
		p.responses++
		p.status = resp.StatusCode
	}
	if resp.Body != nil && resp.Body != http.NoBody {
		resp.Body = &countingBody{ReadCloser: resp.Body, n: &t.meter.bytes}
	}
	if t.policy && (req.Method == http.MethodGet || req.Method == http.MethodHead) {
		if err := t.rewrite(req, resp); err != nil {
			return nil, err
		}
	}
	return resp, nil
}

// rewrite sets the caching headers of a GET or HEAD response to what trawl
// wants stored. Request headers are never touched: a request
// "Cache-Control: no-cache" would make httpcache drop its validators.
func (t *wireTransport) rewrite(req *http.Request, resp *http.Response) error {
	h := resp.Header
	switch {
	case resp.StatusCode == http.StatusNotModified:
		// httpcache copies these headers over the stored entry: keep it
		// revalidating, whatever max-age the server sends.
		revalidate(h)
	case resp.StatusCode != http.StatusOK:
		noStore(h)
	case req.Method == http.MethodGet && completeFunc(req.Context()) != nil:
		return t.decideComplete(req.Context(), resp)
	case h.Get("ETag") != "" || h.Get("Last-Modified") != "":
		revalidate(h)
	default:
		noStore(h)
	}
	return nil
}

// decideComplete buffers the body of a CacheIfComplete response and stores
// it for good when the predicate says it is complete.
func (t *wireTransport) decideComplete(ctx context.Context, resp *http.Response) error {
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxComplete+1))
	if err != nil {
		resp.Body.Close()
		return fmt.Errorf("read body: %w", err)
	}
	if len(body) > maxComplete {
		noStore(resp.Header)
		resp.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(body), resp.Body), resp.Body}
		return nil
	}
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	resp.TransferEncoding = nil
	if !completeFunc(ctx)(body) {
		noStore(resp.Header)
		return nil
	}
	h := resp.Header
	h.Del("Set-Cookie")
	h.Del("Expires")
	h.Del("Pragma")
	h.Set("Cache-Control", foreverCacheControl)
	if h.Get("Date") == "" {
		// httpcache measures freshness from Date; without it the entry
		// would never be fresh.
		h.Set("Date", t.now().UTC().Format(http.TimeFormat))
	}
	return nil
}

// revalidate makes httpcache store the response and revalidate it with its
// ETag or Last-Modified on every later request.
func revalidate(h http.Header) {
	h.Del("Set-Cookie")
	h.Del("Expires")
	h.Del("Pragma")
	h.Set("Cache-Control", "no-cache")
}

// noStore keeps a response out of the cache.
func noStore(h http.Header) {
	h.Set("Cache-Control", "no-store")
}

// timeoutTransport runs each attempt under its own deadline. The deadline
// covers reading the body: it is released when the body is closed.
type timeoutTransport struct {
	next    http.RoundTripper
	timeout time.Duration
}

func (t *timeoutTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithTimeout(req.Context(), t.timeout)
	resp, err := t.next.RoundTrip(req.WithContext(ctx))
	if err != nil {
		// Whether this attempt's own deadline passed must be read before
		// cancel: after it, ctx.Err() is never nil.
		expired := req.Context().Err() == nil && errors.Is(ctx.Err(), context.DeadlineExceeded)
		cancel()
		return nil, transportError(err, t.timeout, expired)
	}
	if resp.Body == nil || resp.Body == http.NoBody {
		cancel()
		return resp, nil
	}
	resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

// cancelOnClose releases an attempt's deadline when its body is closed.
type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b *cancelOnClose) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}
