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

// foreverCacheControl makes httpcache answer later requests from the cache
// without a round trip.
const foreverCacheControl = "max-age=31536000"

// wireTransport sits beneath the credentials: it records each network
// attempt in the probe, counts body bytes, bounds the body, logs the
// attempt, checks a 200 answer to a GET with its Validator and, when the
// client has a cache, rewrites the response's caching headers before
// httpcache decides whether to store it (as prow's ghcache does). An
// answer that fails its Validator is an error: it never reaches the cache.
type wireTransport struct {
	next     http.RoundTripper
	meter    *Meter
	log      *zap.Logger
	policy   bool
	validate Validator // the client's; nil: JSONValidator for JSON-only requests
	maxBody  int64
	now      func() time.Time
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
	// Whether the server marked the end of the body: only then can a body
	// cut short be told from a whole one.
	framed := resp.ContentLength >= 0 || len(resp.TransferEncoding) > 0 || resp.Uncompressed || resp.ProtoMajor >= 2
	if resp.Body != nil && resp.Body != http.NoBody {
		limit := maxBodyOf(req.Context(), t.maxBody)
		resp.Body = &limitedBody{
			ReadCloser: &countingBody{ReadCloser: resp.Body, n: &t.meter.bytes},
			left:       limit,
			limit:      limit,
			method:     req.Method,
			url:        redact(req.URL),
		}
	}
	resp.Header.Del(checkedHeader) // only this stack says so
	var body []byte
	if v := validatorFor(req, t.validate); v != nil && resp.StatusCode == http.StatusOK {
		if body, err = buffer(req, resp, maxBodyOf(req.Context(), t.maxBody)); err != nil {
			return nil, err
		}
		if err := v(resp, body); err != nil {
			t.log.Warn("http answer refused", append(fields, zap.Error(err))...)
			return nil, &ContentError{Method: req.Method, URL: redact(req.URL), Err: err}
		}
		resp.Header.Set(checkedHeader, "1")
	}
	if t.policy && (req.Method == http.MethodGet || req.Method == http.MethodHead) {
		if err := t.rewrite(req, resp, body, framed); err != nil {
			return nil, err
		}
	}
	return resp, nil
}

// buffer reads resp's body to the end and replaces it with the bytes read.
func buffer(req *http.Request, resp *http.Response, limit int64) ([]byte, error) {
	if resp.Body == nil {
		return nil, nil
	}
	// Sized for the length announced, when within the limit: a list page
	// of a few hundred kB read through io.ReadAll's doublings cost twice
	// its size in garbage.
	var buf bytes.Buffer
	if n := resp.ContentLength; n > 0 && n <= limit {
		buf.Grow(int(n) + bytes.MinRead)
	}
	_, err := buf.ReadFrom(resp.Body)
	body := buf.Bytes()
	resp.Body.Close()
	if err != nil {
		var tl *bodyTooLarge
		if errors.As(err, &tl) {
			return nil, err
		}
		return nil, fmt.Errorf("%s %s: read body: %w", req.Method, redact(req.URL), err)
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	resp.TransferEncoding = nil
	return body, nil
}

// rewrite sets the caching headers of a GET or HEAD response to what trawl
// wants stored. Request headers are never touched: a request
// "Cache-Control: no-cache" would make httpcache drop its validators.
// body is the body already buffered, if any; framed says whether the
// server marked the body's end. A body whose end was not marked is never
// stored.
func (t *wireTransport) rewrite(req *http.Request, resp *http.Response, body []byte, framed bool) error {
	h := resp.Header
	switch {
	case resp.StatusCode == http.StatusNotModified:
		// httpcache copies these headers over the stored entry: keep it
		// revalidating, whatever max-age the server sends.
		revalidate(h)
	case resp.StatusCode != http.StatusOK || !framed:
		noStore(h)
	case req.Method == http.MethodGet && completeFunc(req.Context()) != nil:
		return t.decideComplete(req, resp, body)
	case h.Get("ETag") != "" || h.Get("Last-Modified") != "":
		revalidate(h)
	default:
		noStore(h)
	}
	return nil
}

// decideComplete buffers the body of a CacheIfComplete response and stores
// it for good when the predicate says it is complete.
func (t *wireTransport) decideComplete(req *http.Request, resp *http.Response, body []byte) error {
	if body == nil {
		var err error
		if body, err = buffer(req, resp, maxBodyOf(req.Context(), t.maxBody)); err != nil {
			return err
		}
	}
	if !completeFunc(req.Context())(body) {
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

// limitedBody fails a read past the body's limit with an error naming the
// request.
type limitedBody struct {
	io.ReadCloser
	left, limit int64
	method, url string
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.ReadCloser.Read(p)
	if int64(n) > b.left {
		n = int(b.left)
		b.left = 0
		return n, &bodyTooLarge{method: b.method, url: b.url, limit: b.limit}
	}
	b.left -= int64(n)
	return n, err
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
