// Package httpx builds the one HTTP stack that every forge client and CI
// target of trawl uses: one *http.Client per forge instance.
//
// The round trippers, outermost first:
//
//	meter            counts each response by outcome (network, revalidated, cache, failed)
//	check            drops a stored answer that fails its Validator and fetches it again
//	httpcache        RFC 7234 cache on disk under CacheDir/<partition>
//	retryablehttp    bounded retries with backoff; honours Retry-After
//	headers          User-Agent and the credential, beneath the cache
//	wire             body limit, Validator, cache policy (rewrites response headers), network probe
//	timeout          one deadline per attempt, released when the body is closed
//	base transport
//
// Credentials are added beneath the cache, so the cache never sees a token and
// never writes one to disk. The cache is partitioned by a hash of the
// credential's identity instead, so two identities never share entries and a
// rotated token with a stable Identity keeps its cache.
//
// Content is checked before it is trusted: a 200 answer to a GET goes
// through its Validator (WithValidator, Options.Validate, or JSONValidator
// for a request that accepts only JSON) before it is returned or stored;
// one that fails is an error (retried within the bound) and never stored.
// A stored answer that fails it is dropped and fetched again.
//
// The cache stores only what the policy allows: errors never; a body whose
// end the server did not mark (no Content-Length, not chunked) never; a 200
// read with a CacheIfComplete predicate that reports true, for good (later
// requests do not reach the server); a 200 with an ETag or Last-Modified,
// revalidated on every request (If-None-Match, 304). Anything else is
// fetched every time. Every body is bounded (Options.MaxBody, WithMaxBody).
// A response is stored only once its body has been read to the end, so read
// bodies fully (io.ReadAll) before closing them.
package httpx

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gregjones/httpcache"
	"github.com/hashicorp/go-retryablehttp"
	"go.uber.org/zap"

	"github.com/trawl-ci/trawl/pkg/secret"
)

// Defaults for the zero values of Options.
const (
	defaultTimeout      = 30 * time.Second
	defaultRetryMax     = 4
	defaultRetryWaitMin = 500 * time.Millisecond
	defaultRetryWaitMax = 30 * time.Second
	defaultMaxBody      = 64 << 20
)

// Credential adds an auth header beneath the cache.
type Credential struct {
	Header string        // e.g. "Authorization"
	Prefix string        // e.g. "Token " (Patchwork), "Bearer " (GitHub), "" (KernelCI pipeline raw JWT)
	Secret secret.Source // read on each request (cheap; lets a rotated token file take effect)
	// Token, when set, is called instead of reading Secret: for tokens minted
	// and rotated in process (a GitHub App installation token). It must be
	// safe for concurrent use and set Identity.
	Token func(ctx context.Context) (string, error)
	// Identity, when set, partitions the cache instead of the token's hash (e.g. a GitHub App
	// installation whose token rotates hourly must not flush the cache).
	Identity string
}

// value returns the credential's current value.
func (c *Credential) value(ctx context.Context) (string, error) {
	if c.Token != nil {
		return c.Token(ctx)
	}
	return c.Secret.Value()
}

// Options configures the client New builds for one forge instance.
type Options struct {
	Name     string // instance name used in logs ("patchwork netdev")
	CacheDir string // "" = no cache at all
	// CacheReadOnly serves what CacheDir holds but never writes it (nor
	// creates it): for `trawl plan` and `trawl validate`.
	CacheReadOnly bool
	Credential    *Credential       // nil = anonymous
	UserAgent     string            // required; see UserAgent()
	Timeout       time.Duration     // per attempt; 0 -> 30s
	RetryMax      int               // 0 -> 4; negative -> no retries
	RetryWaitMin  time.Duration     // 0 -> 500ms
	RetryWaitMax  time.Duration     // 0 -> 30s
	Logger        *zap.Logger       // nil -> no logs
	Meter         *Meter            // nil -> a new one
	Transport     http.RoundTripper // base transport; nil -> a clone of http.DefaultTransport
	// MaxBody bounds every response body (WithMaxBody overrides it per
	// request); 0 -> 64 MiB. A longer body fails with an error naming the
	// URL.
	MaxBody int64
	// Validate checks every 200 answer to a GET before it is returned or
	// stored (WithValidator overrides it per request); nil -> JSONValidator
	// for the requests that accept only JSON, nothing for the others.
	Validate Validator
}

// UserAgent is the User-Agent trawl sends, for Options.UserAgent.
func UserAgent(version string) string {
	return "trawl/" + version + " (+https://github.com/trawl-ci/trawl)"
}

// New builds the client for one forge instance. It creates the cache
// partition directory; without an Identity it reads the credential once to
// name that partition.
func New(o Options) (*http.Client, error) {
	if o.UserAgent == "" {
		return nil, fmt.Errorf("httpx %s: no User-Agent set", o.Name)
	}
	if o.Credential != nil && o.Credential.Header == "" {
		return nil, fmt.Errorf("httpx %s: credential has no header name", o.Name)
	}
	if o.Credential != nil && o.Credential.Token != nil && o.Credential.Identity == "" {
		return nil, fmt.Errorf("httpx %s: a credential minted in process needs an Identity to partition the cache", o.Name)
	}
	log := o.Logger
	if log == nil {
		log = zap.NewNop()
	}
	log = log.With(zap.String("client", o.Name))
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = defaultTimeout
	}
	retryMax := o.RetryMax
	switch {
	case retryMax == 0:
		retryMax = defaultRetryMax
	case retryMax < 0:
		retryMax = 0
	}
	waitMin, waitMax := o.RetryWaitMin, o.RetryWaitMax
	if waitMin <= 0 {
		waitMin = defaultRetryWaitMin
	}
	if waitMax <= 0 {
		waitMax = defaultRetryWaitMax
	}
	if waitMax < waitMin {
		return nil, fmt.Errorf("httpx %s: retry wait max %s is below min %s", o.Name, waitMax, waitMin)
	}
	meter := o.Meter
	if meter == nil {
		meter = &Meter{}
	}
	base := o.Transport
	if base == nil {
		base = http.DefaultTransport.(*http.Transport).Clone()
	}

	maxBody := o.MaxBody
	if maxBody <= 0 {
		maxBody = defaultMaxBody
	}

	var rt http.RoundTripper = &timeoutTransport{next: base, timeout: timeout}
	rt = &wireTransport{next: rt, meter: meter, log: log, policy: o.CacheDir != "", validate: o.Validate, maxBody: maxBody, now: time.Now}
	rt = &headerTransport{next: rt, name: o.Name, userAgent: o.UserAgent, cred: o.Credential}
	policy := &retryPolicy{max: retryMax, log: log}
	rt = &retryablehttp.RoundTripper{Client: &retryablehttp.Client{
		HTTPClient: &http.Client{
			Transport: rt,
			// Redirects are followed by the outer client, so that each hop
			// goes through the cache and the meter.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		RetryWaitMin: waitMin,
		RetryWaitMax: waitMax,
		RetryMax:     retryMax,
		CheckRetry:   policy.check,
		Backoff: func(lo, hi time.Duration, attempt int, resp *http.Response) time.Duration {
			return backoff(time.Now(), lo, hi, attempt, resp)
		},
		ErrorHandler: retryablehttp.PassthroughErrorHandler,
	}}
	if o.CacheDir != "" {
		part, err := partition(o.Credential)
		if err != nil {
			return nil, fmt.Errorf("httpx %s: name cache partition: %w", o.Name, err)
		}
		dir := filepath.Join(o.CacheDir, part)
		if !o.CacheReadOnly {
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return nil, fmt.Errorf("httpx %s: create cache: %w", o.Name, err)
			}
		}
		cache := &fileCache{dir: dir, log: log, readOnly: o.CacheReadOnly}
		rt = &httpcache.Transport{Transport: rt, Cache: cache, MarkCachedResponses: true}
		rt = &checkTransport{next: rt, cache: cache, validate: o.Validate, maxBody: maxBody, log: log}
	}
	rt = &meterTransport{next: rt, meter: meter}
	return &http.Client{Transport: rt}, nil
}

// headerTransport sets the User-Agent and the credential on each request.
type headerTransport struct {
	next      http.RoundTripper
	name      string
	userAgent string
	cred      *Credential
}

// credentialError is a credential that could not be read. It is not retried.
type credentialError struct{ err error }

func (e *credentialError) Error() string { return e.err.Error() }
func (e *credentialError) Unwrap() error { return e.err }

func (t *headerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	r := req.Clone(req.Context())
	r.Header.Set("User-Agent", t.userAgent)
	if t.cred != nil && sameOrigin(req) {
		v, err := t.cred.value(req.Context())
		if err != nil {
			if req.Body != nil {
				req.Body.Close()
			}
			return nil, &credentialError{fmt.Errorf("httpx %s: credential: %w", t.name, err)}
		}
		r.Header.Set(t.cred.Header, t.cred.Prefix+v)
	}
	return t.next.RoundTrip(r)
}

// sameOrigin reports whether req goes to the host of the request that
// started its redirect chain, and not from https down to http. A redirect
// elsewhere must not carry the credential: it is added beneath the client's
// own redirect handling, which therefore cannot strip it.
func sameOrigin(req *http.Request) bool {
	first := req
	for first.Response != nil && first.Response.Request != nil {
		first = first.Response.Request
	}
	if first.URL.Scheme == "https" && req.URL.Scheme != "https" {
		return false
	}
	return strings.EqualFold(first.URL.Host, req.URL.Host)
}
