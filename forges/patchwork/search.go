package patchwork

import (
	"context"
	"net/url"
	"strconv"
)

// SearchSeries returns the series of project sent by submitter (a person
// id; 0 for anyone) whose name holds every word of terms, in any case (the
// q= filter: Django REST framework's search on the series name; recorded:
// series-list-q-search, p2-03-series-list-q-sample). Revisions of a series
// are unlinked in Patchwork 3.1.3; this is how a newer revision is found.
func (c *Client) SearchSeries(ctx context.Context, project string, submitter int64, terms string) ([]Series, error) {
	q := url.Values{"per_page": {strconv.Itoa(perPage)}}
	q.Set("project", project)
	if submitter != 0 {
		q.Set("submitter", strconv.FormatInt(submitter, 10))
	}
	q.Set("q", terms)
	series, err := getList(ctx, c, c.api("series/", q), func(sr Series) int64 { return sr.ID })
	if err != nil {
		return nil, c.errorf("search series", err)
	}
	return series, nil
}
