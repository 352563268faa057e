package gitlab

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"

	gl "gitlab.com/gitlab-org/api/client-go"

	"github.com/trawl-ci/trawl/pkg/httpx"
)

// workers bounds the requests one Fetch has in flight.
const workers = 4

// newAPI returns a client-go client for the instance at root (no trailing
// slash) over hc. It adds no credential (gl.Unauthenticated sends no auth
// header at all; httpx adds PRIVATE-TOKEN beneath the cache), never
// retries (httpx does, bounded) and has no rate limiter of its own.
func newAPI(root string, hc *http.Client) (*gl.Client, error) {
	return gl.NewAuthSourceClient(gl.Unauthenticated{},
		gl.WithBaseURL(root+"/api/v4"),
		gl.WithHTTPClient(hc),
		gl.WithoutRetries(),
		gl.WithCustomLimiter(unlimited{}),
		gl.WithURLWarningLogger(slog.New(slog.DiscardHandler)),
	)
}

// unlimited is a rate limiter that never waits: pacing is the schedule's
// and httpx's business.
type unlimited struct{}

func (unlimited) Wait(ctx context.Context) error { return ctx.Err() }

// apiError turns a failed client-go call into an error that names the
// request, the status and the server's message: a *httpx.StatusError for
// an HTTP answer, so that callers can test it with errors.Is against the
// httpx sentinels. Transport errors are returned as they are.
func apiError(resp *gl.Response, err error) error {
	var er *gl.ErrorResponse
	if errors.As(err, &er) && er.Response != nil {
		return httpx.CheckResponse(&http.Response{
			StatusCode: er.Response.StatusCode,
			Request:    er.Response.Request,
			Body:       io.NopCloser(bytes.NewReader(er.Body)),
		})
	}
	if errors.Is(err, gl.ErrNotFound) && resp != nil && resp.Response != nil {
		return httpx.CheckResponse(&http.Response{
			StatusCode: resp.StatusCode,
			Request:    resp.Request,
			Body:       http.NoBody,
		})
	}
	return err
}

// hidden reports an error that means the object does not exist or the
// credential may not see it.
func hidden(err error) bool {
	return errors.Is(err, httpx.ErrNotFound) || errors.Is(err, httpx.ErrForbidden)
}
