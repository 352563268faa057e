package patchwork

import (
	"context"
	"net/url"
	"strconv"
)

// SearchSeries returns the series of project whose name holds every word
// of terms, in any case (the q= filter: Django REST framework's search on
// the series name; recorded: series-list-q-search,
// p2-03-series-list-q-sample). Revisions of a series are unlinked in
// Patchwork 3.1.3; this is how a newer revision is found.
func (c *Client) SearchSeries(ctx context.Context, project, terms string) ([]Series, error) {
	q := url.Values{"per_page": {strconv.Itoa(perPage)}}
	q.Set("project", project)
	q.Set("q", terms)
	series, err := getList[Series](ctx, c, c.api("series/", q))
	if err != nil {
		return nil, c.errorf("search series", err)
	}
	return series, nil
}
