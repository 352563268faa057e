package httpx

import (
	"bytes"
	"io"
	"net/http"

	"github.com/gregjones/httpcache"
	"go.uber.org/zap"
)

// checkTransport sits above the cache: an answer served from the cache
// that fails its Validator (stored by an older trawl, or damaged on disk)
// is dropped from the cache and fetched again, once. A bad entry therefore
// costs one request, never a source for good.
type checkTransport struct {
	next     http.RoundTripper // the httpcache transport
	cache    *fileCache
	validate Validator
	maxBody  int64
	log      *zap.Logger
}

func (t *checkTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err != nil || resp.StatusCode != http.StatusOK || resp.Header.Get(httpcache.XFromCache) == "" {
		return resp, err
	}
	resp.Header.Del(checkedHeader) // as stored: checked again below
	v := validatorFor(req, t.validate)
	if v == nil {
		return resp, nil
	}
	limit := maxBodyOf(req.Context(), t.maxBody)
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	resp.Body.Close()
	if err == nil && int64(len(body)) <= limit {
		if err = v(resp, body); err == nil {
			resp.Header.Set(checkedHeader, "1")
			resp.Body = io.NopCloser(bytes.NewReader(body))
			resp.ContentLength = int64(len(body))
			return resp, nil
		}
	}
	t.log.Warn("http cache: stored answer refused, fetching it again",
		zap.String("url", redact(req.URL)), zap.NamedError("reason", err))
	// httpcache's key of a GET is its URL.
	t.cache.Delete(req.URL.String())
	return t.next.RoundTrip(req)
}
