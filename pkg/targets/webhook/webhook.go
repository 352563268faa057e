// Package webhook is the generic webhook target: it builds a unit by
// POSTing it, as signed JSON, to a URL that starts a build on any CI (a
// small receiver, a CI's generic trigger endpoint).
//
// # The delivery
//
// One trigger is one POST to Opts.URL with this body:
//
//	{"unit": "...", "fingerprint": "...", "attempt": 0, "change": "...", "title": "...",
//	 "web_url": "...",
//	 "base": {"tree": "...", "url": "...", "branch": "...", "commit": "...", "exact": false},
//	 "patches": [{"id": 1, "msgid": "<...>", "name": "...", "hash": "...",
//	              "mbox_url": "...", "web_url": "..."}],
//	 "heads": [{"key": "gh:owner/repo#42", "repo": "https://github.com/owner/repo.git",
//	            "ref": "refs/pull/42/head", "sha": "..."}],
//	 "delivery": "..."}
//
// patches (Patchwork series) and heads (pull and merge requests) are in the
// order to apply, dependencies first, and are empty arrays, never null,
// when there are none. A head is built by fetching its ref from its repo
// and checking out its sha; the last head is the change itself. The
// headers are:
//
//	Content-Type           application/json
//	X-Trawl-Event          trigger
//	X-Trawl-Delivery       the delivery id
//	X-Trawl-Signature-256  "sha256=" + hex HMAC-SHA256 of the body, keyed with the secret
//
// The signature header's name is Opts.Header; its form is GitHub's, so a
// receiver written for GitHub webhooks verifies it unchanged: compute the
// HMAC of the raw body and compare in constant time.
//
// Any 2xx answer is success. When its body is a JSON object with "id"
// (string or number) and/or "url" (an http(s) URL), they become the job's
// ID and URL; otherwise the job's ID is the delivery id.
//
// # Idempotency
//
// A webhook cannot be asked whether it ran a job, so this target never
// adopts one (Job.Adopted is always false). The delivery id is the
// idempotency key instead: the hex sha256 of the unit key, a zero byte and
// the fingerprint. It is the same for every delivery of one unit at one
// fingerprint, so a retry after a crash between the POST and the state
// write, or after a lost state file, sends the same delivery id again, and
// a receiver that remembers the ids it started builds for can drop the
// duplicate. A receiver that does not will build twice.
//
// # Results
//
// A webhook target cannot follow the jobs it starts: it has no Result
// method, and its units stay "triggered" until a new fingerprint. A CI that
// reports back on its own (a commit status, a Patchwork check) does so
// outside trawl.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"unicode"

	"go.uber.org/zap"

	"github.com/trawl-ci/trawl/pkg/cycle"
	"github.com/trawl-ci/trawl/pkg/httpx"
	"github.com/trawl-ci/trawl/pkg/secret"
	"github.com/trawl-ci/trawl/pkg/targets"
)

// DefaultHeader is the signature header used when Opts.Header is empty.
const DefaultHeader = "X-Trawl-Signature-256"

// Bounds on what is read from a 2xx answer.
const (
	maxAck = 64 << 10 // bytes of the answer
	maxID  = 256      // bytes of a job id
)

// Opts configures a Target.
type Opts struct {
	// Name is the configured target name.
	Name string
	// URL receives the POSTs; http or https.
	URL string
	// Secret is the HMAC key that signs each body. It is read on every
	// trigger, so a rotated key file takes effect at once.
	Secret secret.Source
	// HTTP makes the requests; build it with pkg/httpx, which sets the
	// User-Agent.
	HTTP *http.Client
	// Header names the signature header; empty means DefaultHeader.
	Header string
	// Logger receives progress; nil means no logging.
	Logger *zap.Logger
}

// Target POSTs units to a webhook. It is safe for concurrent use.
type Target struct {
	name       string
	url        string
	secret     secret.Source
	http       *http.Client
	header     string
	log        *zap.Logger
	configHash string
}

var _ cycle.Target = (*Target)(nil)

// New checks the options and returns a Target.
func New(o Opts) (*Target, error) {
	if o.Name == "" {
		return nil, errors.New("webhook: target name is empty")
	}
	u, err := url.Parse(o.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("webhook %s: url %q is not an http(s) URL", o.Name, o.URL)
	}
	if !o.Secret.IsSet() {
		return nil, fmt.Errorf("webhook %s: no secret to sign deliveries with", o.Name)
	}
	if o.HTTP == nil {
		return nil, fmt.Errorf("webhook %s: no HTTP client", o.Name)
	}
	header := o.Header
	if header == "" {
		header = DefaultHeader
	}
	if !token(header) {
		return nil, fmt.Errorf("webhook %s: %q is not a header name", o.Name, header)
	}
	t := &Target{
		name:   o.Name,
		url:    o.URL,
		secret: o.Secret,
		http:   o.HTTP,
		header: http.CanonicalHeaderKey(header),
		log:    o.Logger,
	}
	if t.log == nil {
		t.log = zap.NewNop()
	}
	t.configHash = targets.HashConfig("trawl webhook config v1", t.url, t.header)
	return t, nil
}

// token reports whether s is an HTTP token (RFC 9110 §5.6.2), as a header
// name must be.
func token(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.ContainsRune("!#$%&'*+-.^_`|~", c):
		default:
			return false
		}
	}
	return true
}

// Name is the configured target name.
func (t *Target) Name() string { return t.name }

// ConfigHash identifies the configuration: the URL and the signature
// header's name. It never covers the secret.
func (t *Target) ConfigHash() string { return t.configHash }

// DeliveryID is the delivery id of a build attempt (targets.AttemptID):
// the same for every redelivery of it.
func DeliveryID(unit, fingerprint string, attempt int) string {
	return targets.AttemptID(unit, fingerprint, attempt)
}

// Sign returns the signature header's value for body: "sha256=" and the
// hex HMAC-SHA256 of body keyed with key.
func Sign(key, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Trigger delivers r (see the package documentation). The job is never
// adopted: a webhook cannot be asked whether it ran one.
func (t *Target) Trigger(ctx context.Context, r targets.Request) (targets.Job, error) {
	if r.Unit == "" || r.Fingerprint == "" {
		return targets.Job{}, fmt.Errorf("webhook %s: request needs a unit and a fingerprint", t.name)
	}
	delivery := DeliveryID(r.Unit, r.Fingerprint, r.Attempt)
	body, err := json.Marshal(payload{Document: targets.NewDocument(r), Delivery: delivery})
	if err != nil {
		return targets.Job{}, fmt.Errorf("webhook %s: unit %s: encode: %w", t.name, r.Unit, err)
	}
	key, err := t.secret.Value()
	if err != nil {
		return targets.Job{}, fmt.Errorf("webhook %s: unit %s: signing key: %w", t.name, r.Unit, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url, bytes.NewReader(body))
	if err != nil {
		return targets.Job{}, fmt.Errorf("webhook %s: unit %s: %w", t.name, r.Unit, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Trawl-Event", "trigger")
	req.Header.Set("X-Trawl-Delivery", delivery)
	req.Header.Set(t.header, Sign([]byte(key), body))

	resp, err := t.http.Do(req)
	if err != nil {
		return targets.Job{}, fmt.Errorf("webhook %s: unit %s: %w", t.name, r.Unit, err)
	}
	defer resp.Body.Close()
	if err := httpx.CheckResponse(resp); err != nil {
		return targets.Job{}, fmt.Errorf("webhook %s: unit %s: %w", t.name, r.Unit, err)
	}
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxAck))
	if err != nil {
		return targets.Job{}, fmt.Errorf("webhook %s: unit %s: POST %s: read answer: %w", t.name, r.Unit, t.url, err)
	}
	id, jobURL := parseAck(answer)
	if id == "" {
		id = delivery
	}
	t.log.Info("webhook: delivered", zap.String("target", t.name), zap.String("unit", r.Unit),
		zap.String("delivery", delivery), zap.Int("status", resp.StatusCode), zap.String("job", id))
	return targets.Job{Target: t.name, ID: id, URL: jobURL, BaseCommit: r.Base.Commit}, nil
}

// parseAck reads the job id and URL from a 2xx answer: a JSON object's "id"
// (a string or a number, of printable text up to maxID bytes) and "url"
// (an http(s) URL). What does not fit yields empty strings.
func parseAck(b []byte) (id, jobURL string) {
	var ack struct {
		ID  json.RawMessage `json:"id"`
		URL string          `json:"url"`
	}
	if json.Unmarshal(b, &ack) != nil {
		return "", ""
	}
	var s string
	var n json.Number
	switch {
	case json.Unmarshal(ack.ID, &s) == nil:
		id = s
	case json.Unmarshal(ack.ID, &n) == nil:
		id = n.String()
	}
	if u, err := url.Parse(ack.URL); err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" {
		jobURL = ack.URL
	}
	id = strings.TrimSpace(id)
	if len(id) > maxID || strings.IndexFunc(id, unicode.IsControl) >= 0 {
		id = ""
	}
	return id, jobURL
}

// payload is the body of a delivery: the request and its delivery id.
type payload struct {
	targets.Document
	Delivery string `json:"delivery"`
}
