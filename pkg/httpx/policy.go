package httpx

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strings"
)

type completeKey struct{}

// CacheIfComplete marks the requests made with the returned context as
// reads of a resource that never changes once complete (a Patchwork series
// that received all its patches, a patch mbox). When complete reports true
// for a 200 response body that passed its Validator, and the body's end was
// marked by the server (a Content-Length, chunked or compressed framing),
// the response is stored so that later requests are answered from the
// cache without a round trip. Any other response is not stored.
func CacheIfComplete(ctx context.Context, complete func(body []byte) bool) context.Context {
	return context.WithValue(ctx, completeKey{}, complete)
}

// completeFunc returns the predicate set by CacheIfComplete, or nil.
func completeFunc(ctx context.Context) func([]byte) bool {
	f, _ := ctx.Value(completeKey{}).(func([]byte) bool)
	return f
}

// A Validator checks a 200 answer to a GET against what the API promises
// (its content type, that the body decodes) before the answer is returned
// or stored. It returns an error saying what is wrong; the request then
// fails (and is retried within its bound), the answer is never stored, and
// a stored answer that fails it is dropped and fetched again. Nothing
// writes to body after the call: a Validator may keep it.
type Validator func(resp *http.Response, body []byte) error

type validatorKey struct{}

// WithValidator sets the Validator of the requests made with the returned
// context, instead of the client's (Options.Validate, else JSONValidator
// for a request that accepts only JSON).
func WithValidator(ctx context.Context, v Validator) context.Context {
	return context.WithValue(ctx, validatorKey{}, v)
}

type maxBodyKey struct{}

// WithMaxBody bounds the response bodies of the requests made with the
// returned context to n bytes, instead of the client's Options.MaxBody. A
// longer body fails the read with an error naming the URL.
func WithMaxBody(ctx context.Context, n int64) context.Context {
	return context.WithValue(ctx, maxBodyKey{}, n)
}

// maxBodyOf returns the body limit of a request: its own, else def.
func maxBodyOf(ctx context.Context, def int64) int64 {
	if n, ok := ctx.Value(maxBodyKey{}).(int64); ok && n > 0 {
		return n
	}
	return def
}

// ContentError is a 200 answer whose content is not what the API promises
// (an HTML page for a JSON API, a body cut short, a JSON that does not
// decode). It names the request, never its headers.
type ContentError struct {
	Method string
	URL    string
	Err    error
}

func (e *ContentError) Error() string {
	return fmt.Sprintf("%s %s: unexpected content: %v", e.Method, e.URL, e.Err)
}

func (e *ContentError) Unwrap() error { return e.Err }

// ErrBodyTooLarge is the error of a body longer than its limit (see
// WithMaxBody), matched with errors.Is.
var ErrBodyTooLarge = errors.New("response body too large")

// bodyTooLarge is a body over its limit; it is never retried.
type bodyTooLarge struct {
	method, url string
	limit       int64
}

func (e *bodyTooLarge) Error() string {
	return fmt.Sprintf("%s %s: response body larger than %d bytes", e.method, e.url, e.limit)
}

func (e *bodyTooLarge) Is(target error) bool { return target == ErrBodyTooLarge }

// MediaType checks that resp's Content-Type is one of types (compared
// without parameters, case-insensitively).
func MediaType(resp *http.Response, types ...string) error {
	ct := resp.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return fmt.Errorf("content type %q, want %s", ct, strings.Join(types, " or "))
	}
	for _, t := range types {
		if strings.EqualFold(mt, t) {
			return nil
		}
	}
	return fmt.Errorf("content type %q, want %s", mt, strings.Join(types, " or "))
}

// isJSONType reports a JSON media type: application/json or a +json one
// (GitHub's application/vnd.github+json).
func isJSONType(mt string) bool {
	mt = strings.ToLower(mt)
	return mt == "application/json" || strings.HasSuffix(mt, "+json")
}

// JSONValidator accepts an answer with a JSON content type whose body is
// one well-formed JSON value. It is the default of every request that
// accepts only JSON.
func JSONValidator(resp *http.Response, body []byte) error {
	ct := resp.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || !isJSONType(mt) {
		return fmt.Errorf("content type %q, want JSON", ct)
	}
	if !json.Valid(body) {
		return fmt.Errorf("body of %d bytes is not well-formed JSON", len(body))
	}
	return nil
}

// DecodeJSON returns a Validator that accepts a JSON answer only when it
// decodes into a fresh value of type T, so that a body the caller cannot
// read is never stored.
func DecodeJSON[T any]() Validator {
	return func(resp *http.Response, body []byte) error {
		ct := resp.Header.Get("Content-Type")
		if mt, _, err := mime.ParseMediaType(ct); err != nil || !isJSONType(mt) {
			return fmt.Errorf("content type %q, want JSON", ct)
		}
		var v T
		if err := json.Unmarshal(body, &v); err != nil {
			return fmt.Errorf("decode: %w", err)
		}
		return nil
	}
}

// checkedHeader marks a response whose body passed its Validator in this
// process; the stack removes it from every other response.
const checkedHeader = "X-Trawl-Checked"

// Checked reports whether resp's body passed the request's Validator (set
// with WithValidator) in the HTTP stack, so that a caller that checks
// bodies itself, for clients not built by New, need not check it twice.
func Checked(resp *http.Response) bool { return resp.Header.Get(checkedHeader) == "1" }

// acceptsOnlyJSON reports a request whose Accept header names only JSON
// media types.
func acceptsOnlyJSON(req *http.Request) bool {
	accept := req.Header.Values("Accept")
	if len(accept) == 0 {
		return false
	}
	for _, v := range accept {
		for part := range strings.SplitSeq(v, ",") {
			mt, _, err := mime.ParseMediaType(strings.TrimSpace(part))
			if err != nil || !isJSONType(mt) {
				return false
			}
		}
	}
	return true
}

// validatorFor returns the Validator of a GET request: its own, the
// client's, JSONValidator when it accepts only JSON, or nil.
func validatorFor(req *http.Request, client Validator) Validator {
	if req.Method != http.MethodGet {
		return nil
	}
	if v, ok := req.Context().Value(validatorKey{}).(Validator); ok && v != nil {
		return v
	}
	if client != nil {
		return client
	}
	if acceptsOnlyJSON(req) {
		return JSONValidator
	}
	return nil
}
