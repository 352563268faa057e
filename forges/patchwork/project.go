package patchwork

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/trawl-ci/trawl/pkg/httpx"
)

// ErrNoProject reports that the configured project does not exist on the
// Patchwork instance.
var ErrNoProject = errors.New("project does not exist")

// project is the part of a project (projects-detail-by-linkname) that its
// look-up checks is there.
type project struct {
	ID       int64  `json:"id"`
	LinkName string `json:"link_name"`
}

// GetProject checks that the project with this link name exists. Patchwork
// 3.1.3 lists an unknown project's patches and series as an empty 200
// (captures series-list-unknown-project), so a listing cannot tell a
// misspelled project from a quiet one; its detail view answers 404
// {"detail":"Not found."} (projects-detail-404), which is an error
// wrapping ErrNoProject.
func (c *Client) GetProject(ctx context.Context, linkName string) error {
	op := "get project " + linkName
	_, _, err := c.getJSON(ctx, c.api("projects/"+url.PathEscape(linkName)+"/", nil), httpx.DecodeJSON[project]())
	var se *httpx.StatusError
	if errors.As(err, &se) && se.Status == http.StatusNotFound {
		// The 404 is quoted, not wrapped: a missing project must match
		// ErrNoProject only, never httpx.ErrNotFound, which callers read as
		// "this item is gone" (a failed fetch never reads as gone).
		return c.errorf(op, fmt.Errorf("%w: no project with link name %q (%v)", ErrNoProject, linkName, err)) //nolint:errorlint // the 404 is quoted on purpose, see above

	}
	if err != nil {
		return c.errorf(op, err)
	}
	return nil
}

// CheckProject asks the instance whether the source's project exists. Fetch
// does it until it succeeds once, so that a misspelled project makes the
// source fail instead of yielding no changes; `trawl validate` calls it
// directly.
func (s *Source) CheckProject(ctx context.Context) error {
	if err := s.client.GetProject(ctx, s.o.Project); err != nil {
		return err
	}
	s.projectFound.Store(true)
	return nil
}
