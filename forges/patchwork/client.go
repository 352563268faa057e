package patchwork

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/trawl-ci/trawl/pkg/httpx"
)

// APIVersion is the Patchwork REST API version the client speaks. It is
// pinned in every URL: a bare /api/ means whatever the server's latest is.
const APIVersion = "1.3"

const (
	// perPage is the page size the client asks for: the server's maximum.
	perPage = 250
	// maxPages bounds one listing, so a server that links pages in a loop
	// cannot keep a cycle busy forever.
	maxPages = 1000
	// maxBody bounds one response body (a large series mbox is a few MiB).
	maxBody = 64 << 20
)

// Client is a small typed client for the REST API of one Patchwork
// instance. It is safe for concurrent use.
type Client struct {
	base *url.URL // scheme, host and path prefix, without a trailing slash
	hc   *http.Client
}

// NewClient returns a client for the instance at baseURL (for example
// "https://patchwork.kernel.org") that sends its requests through hc, the
// cached and retrying client of pkg/httpx.
func NewClient(baseURL string, hc *http.Client) (*Client, error) {
	u, err := url.Parse(strings.TrimSuffix(baseURL, "/"))
	if err != nil {
		return nil, fmt.Errorf("patchwork %s: parse URL: %w", baseURL, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("patchwork %s: URL must be http(s)://host[/prefix]", baseURL)
	}
	if hc == nil {
		return nil, fmt.Errorf("patchwork %s: no HTTP client", baseURL)
	}
	return &Client{base: u, hc: hc}, nil
}

// BaseURL returns the instance URL the client was made with.
func (c *Client) BaseURL() string { return c.base.String() }

// ListOptions filters ListPatches. Zero fields do not filter.
type ListOptions struct {
	Project  string   // link_name or id
	States   []string // state slugs, OR-ed
	Archived *bool
	Since    time.Time // patches dated at or after Since
	Delegate string    // username or id
	Series   int64
	MsgID    string // with or without angle brackets
}

// ListPatches returns every patch matching o, following the pages of the
// listing to the end. A listing by MsgID that matched is served from the
// cache afterwards (a message id never moves to another series), so use it
// to find a patch's series, not its current state.
func (c *Client) ListPatches(ctx context.Context, o ListOptions) ([]Patch, error) {
	q := url.Values{"per_page": {strconv.Itoa(perPage)}}
	if o.Project != "" {
		q.Set("project", o.Project)
	}
	for _, s := range o.States {
		if s != "" {
			q.Add("state", s)
		}
	}
	if o.Archived != nil {
		q.Set("archived", strconv.FormatBool(*o.Archived))
	}
	if !o.Since.IsZero() {
		q.Set("since", o.Since.UTC().Format(sinceLayout))
	}
	if o.Delegate != "" {
		q.Set("delegate", o.Delegate)
	}
	if o.Series != 0 {
		q.Set("series", strconv.FormatInt(o.Series, 10))
	}
	if o.MsgID != "" {
		q.Set("msgid", bareMsgID(o.MsgID))
		ctx = httpx.CacheIfComplete(ctx, nonEmptyList)
	}
	patches, err := getList[Patch](ctx, c, c.api("patches/", q))
	if err != nil {
		return nil, c.errorf("list patches", err)
	}
	return patches, nil
}

// FindCovers returns the cover letters of project with message id msgid
// (with or without angle brackets). The covers msgid filter is in
// Patchwork 3.x (CoverFilterSet); a matching answer is served from the
// cache afterwards.
func (c *Client) FindCovers(ctx context.Context, project, msgid string) ([]Cover, error) {
	q := url.Values{"per_page": {strconv.Itoa(perPage)}}
	q.Set("project", project)
	q.Set("msgid", bareMsgID(msgid))
	covers, err := getList[Cover](httpx.CacheIfComplete(ctx, nonEmptyList), c, c.api("covers/", q))
	if err != nil {
		return nil, c.errorf("find covers", err)
	}
	return covers, nil
}

// GetSeries returns series id. A series that received all its patches is
// served from the cache afterwards, with no round trip.
func (c *Client) GetSeries(ctx context.Context, id int64) (*Series, error) {
	op := fmt.Sprintf("get series %d", id)
	body, _, err := c.get(httpx.CacheIfComplete(ctx, seriesComplete), c.api(fmt.Sprintf("series/%d/", id), nil))
	if err != nil {
		return nil, c.errorf(op, err)
	}
	var s Series
	if err := json.Unmarshal(body, &s); err != nil {
		return nil, c.errorf(op, fmt.Errorf("decode: %w", err))
	}
	return &s, nil
}

// GetCover returns cover letter id with its content. A cover letter never
// changes, so it is served from the cache afterwards.
func (c *Client) GetCover(ctx context.Context, id int64) (*Cover, error) {
	op := fmt.Sprintf("get cover %d", id)
	body, _, err := c.get(httpx.CacheIfComplete(ctx, nonEmpty), c.api(fmt.Sprintf("covers/%d/", id), nil))
	if err != nil {
		return nil, c.errorf(op, err)
	}
	var cv Cover
	if err := json.Unmarshal(body, &cv); err != nil {
		return nil, c.errorf(op, fmt.Errorf("decode: %w", err))
	}
	return &cv, nil
}

// SeriesMbox returns the mbox at mboxURL (a series' mbox field): the
// series' patches, without the cover letter. It is empty while the series
// has no patch; a non-empty one is served from the cache afterwards.
func (c *Client) SeriesMbox(ctx context.Context, mboxURL string) ([]byte, error) {
	u, err := c.onInstance(mboxURL)
	if err != nil {
		return nil, c.errorf("series mbox", err)
	}
	body, _, err := c.get(httpx.CacheIfComplete(ctx, nonEmpty), u)
	if err != nil {
		return nil, c.errorf("series mbox", err)
	}
	return body, nil
}

// api returns the URL of an API path below the pinned version.
func (c *Client) api(path string, q url.Values) *url.URL {
	u := *c.base
	u.Path = c.base.Path + "/api/" + APIVersion + "/" + path
	u.RawPath = ""
	if q != nil {
		u.RawQuery = q.Encode()
	}
	return &u
}

// onInstance parses a URL the server gave (relative or absolute) and checks
// that it is on this instance. The instance's own scheme is kept, so a
// server behind a TLS proxy that builds http:// links is still read over
// https.
func (c *Client) onInstance(raw string) (*url.URL, error) {
	u, err := c.base.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("parse %q: %w", raw, err)
	}
	if !strings.EqualFold(u.Host, c.base.Host) {
		return nil, fmt.Errorf("%s is not on %s", u.Redacted(), c.base.Host)
	}
	u.Scheme, u.User = c.base.Scheme, nil
	return u, nil
}

func (c *Client) errorf(op string, err error) error {
	return fmt.Errorf("patchwork %s: %s: %w", c.base, op, err)
}

// get reads u to the end (so that the cache can store it).
func (c *Client) get(ctx context.Context, u *url.URL) ([]byte, http.Header, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	if err := httpx.CheckResponse(resp); err != nil {
		return nil, nil, err
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return nil, nil, fmt.Errorf("GET %s: read body: %w", u.Redacted(), err)
	}
	if len(body) > maxBody {
		return nil, nil, fmt.Errorf("GET %s: body larger than %d bytes", u.Redacted(), maxBody)
	}
	return body, resp.Header, nil
}

// getList reads a paginated listing, following the Link header's rel="next"
// until there is none.
func getList[T any](ctx context.Context, c *Client, u *url.URL) ([]T, error) {
	var all []T
	seen := map[string]bool{}
	for u != nil {
		if len(seen) == maxPages {
			return nil, fmt.Errorf("listing %s: more than %d pages", u.Redacted(), maxPages)
		}
		seen[u.String()] = true
		body, header, err := c.get(ctx, u)
		if err != nil {
			return nil, err
		}
		var page []T
		if err := json.Unmarshal(body, &page); err != nil {
			return nil, fmt.Errorf("decode %s: %w", u.Redacted(), err)
		}
		all = append(all, page...)
		next := nextLink(header.Values("Link"))
		if next == "" {
			break
		}
		if u, err = c.onInstance(next); err != nil {
			return nil, fmt.Errorf("next page: %w", err)
		}
		if seen[u.String()] {
			return nil, fmt.Errorf("next page %s was read already", u.Redacted())
		}
	}
	return all, nil
}

// nextLink returns the target of rel="next" in RFC 8288 Link headers.
func nextLink(headers []string) string {
	for _, h := range headers {
		for h != "" {
			start := strings.IndexByte(h, '<')
			end := strings.IndexByte(h, '>')
			if start < 0 || end < start {
				break
			}
			target := h[start+1 : end]
			h = h[end+1:]
			params := h
			if i := strings.IndexByte(h, '<'); i >= 0 {
				params = h[:i]
			}
			for p := range strings.SplitSeq(params, ";") {
				k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
				if !ok || !strings.EqualFold(strings.TrimSpace(k), "rel") {
					continue
				}
				for rel := range strings.FieldsSeq(strings.Trim(strings.TrimSpace(strings.TrimRight(v, ", ")), `"`)) {
					if strings.EqualFold(rel, "next") {
						return target
					}
				}
			}
		}
	}
	return ""
}

// bareMsgID strips the angle brackets Patchwork's msgid filter must not get.
func bareMsgID(id string) string {
	return strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(id), "<"), ">")
}

// seriesComplete reports a series detail that received all its patches:
// it no longer changes.
func seriesComplete(body []byte) bool {
	var s struct {
		ReceivedAll bool `json:"received_all"`
	}
	return json.Unmarshal(body, &s) == nil && s.ReceivedAll
}

// nonEmpty reports a body with content.
func nonEmpty(body []byte) bool { return len(bytes.TrimSpace(body)) > 0 }

// nonEmptyList reports a JSON listing with at least one element.
func nonEmptyList(body []byte) bool {
	var items []json.RawMessage
	return json.Unmarshal(body, &items) == nil && len(items) > 0
}
