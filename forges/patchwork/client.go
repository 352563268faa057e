package patchwork

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/trawl-ci/trawl/pkg/forgekit"
	"github.com/trawl-ci/trawl/pkg/httpx"
)

// APIVersion is the Patchwork REST API version the client speaks. It is
// pinned in every URL: a bare /api/ means whatever the server's latest is.
const APIVersion = "1.3"

const (
	// perPage is the page size the client asks for: the server's maximum.
	perPage = 250
	// maxPages bounds one pass over a listing, so a server whose Link
	// chain never ends cannot hold a cycle: 200 pages of 250 are 50,000
	// items, far more than one project's actionable patches.
	maxPages = 200
	// maxPasses bounds the passes over a listing of several pages that
	// keeps changing while it is read.
	maxPasses = 3
	// pageWorkers bounds the pages of one listing read at once.
	pageWorkers = 4
	// maxBody bounds one response body (a large series mbox is a few MiB).
	maxBody = 64 << 20
)

// ErrListing marks a listing that cannot be trusted to be complete: a page
// cut short, a missing or inconsistent Link header, more pages than
// maxPages, or a listing that kept changing while it was read.
var ErrListing = errors.New("listing not complete")

// Client is a small typed client for the REST API of one Patchwork
// instance. It is safe for concurrent use.
type Client struct {
	base *url.URL // scheme, host and path prefix, without a trailing slash
	hc   *http.Client

	mu       sync.Mutex
	listings map[string]*pageMemo // by listingKey, for ListPatches' listings
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
	// Known, when not nil, holds the ids of the latest complete read of
	// the same listing (the previous tick's). A listing of several pages
	// read once is trusted when it still holds every one of them (see
	// getList); nil reads such a listing at least twice.
	Known map[int64]bool
}

// ListPatches returns every patch matching o, following the pages of the
// listing to the end. A listing by MsgID that matched is served from the
// cache afterwards (a message id never moves to another series), so use it
// to find a patch's series, not its current state.
func (c *Client) ListPatches(ctx context.Context, o ListOptions) ([]Patch, error) {
	return listPatches(ctx, c, o, func(p Patch) int64 { return p.ID })
}

// listActionable is ListPatches decoding only what a Source reads of its
// project's listing, read in full every tick (see listedPatch).
func (c *Client) listActionable(ctx context.Context, o ListOptions) ([]listedPatch, error) {
	return listPatches(ctx, c, o, func(p listedPatch) int64 { return p.ID })
}

// listPatches is ListPatches into T, a patch's list form or part of it;
// id gives a T's patch id.
func listPatches[T any](ctx context.Context, c *Client, o ListOptions, id func(T) int64) ([]T, error) {
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
	u := c.api("patches/", q)
	var memo *pageMemo
	if o.MsgID == "" && o.Series == 0 {
		memo = c.memo(u) // a project's listing, read every tick
	}
	patches, err := getList(ctx, c, u, id, o.Known, memo)
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
	covers, err := getList(httpx.CacheIfComplete(ctx, nonEmptyList), c, c.api("covers/", q), func(cv Cover) int64 { return cv.ID }, nil, nil)
	if err != nil {
		return nil, c.errorf("find covers", err)
	}
	return covers, nil
}

// GetSeries returns series id. A series that received all its patches is
// served from the cache afterwards, with no round trip.
func (c *Client) GetSeries(ctx context.Context, id int64) (*Series, error) {
	op := fmt.Sprintf("get series %d", id)
	body, _, err := c.getJSON(httpx.CacheIfComplete(ctx, seriesComplete), c.api(fmt.Sprintf("series/%d/", id), nil), httpx.DecodeJSON[Series]())
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
	body, _, err := c.getJSON(httpx.CacheIfComplete(ctx, nonEmpty), c.api(fmt.Sprintf("covers/%d/", id), nil), httpx.DecodeJSON[Cover]())
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
// series' patches, without the cover letter. patches are the ids of the
// series' patches, in order: the mbox must hold one mail per patch (an
// X-Patchwork-Id header, where a mail has one, names its patch), and it
// must be served as text/plain, as Patchwork does (recorded:
// mbox-series-1.headers.txt); anything else, such as an HTML page or a
// body cut at a mail boundary, is an error and is not cached. An mbox
// with all its mails is served from the cache afterwards.
func (c *Client) SeriesMbox(ctx context.Context, mboxURL string, patches []int64) ([]byte, error) {
	u, err := c.onInstance(mboxURL)
	if err != nil {
		return nil, c.errorf("series mbox", err)
	}
	body, _, err := c.get(httpx.CacheIfComplete(ctx, nonEmpty), u, "text/plain", mboxValidator(patches))
	if err != nil {
		return nil, c.errorf("series mbox", err)
	}
	return body, nil
}

// mboxValidator accepts a series mbox served as text/plain with one mail
// per patch, in order.
func mboxValidator(patches []int64) httpx.Validator {
	return func(resp *http.Response, body []byte) error {
		if err := httpx.MediaType(resp, "text/plain"); err != nil {
			return err
		}
		msgs := SplitMbox(body)
		if len(msgs) != len(patches) {
			return fmt.Errorf("%d mails for a series of %d patches", len(msgs), len(patches))
		}
		for i, msg := range msgs {
			if id, ok := patchworkID(msg); ok && id != patches[i] {
				return fmt.Errorf("mail %d is patch %d, want patch %d", i+1, id, patches[i])
			}
		}
		return nil
	}
}

// patchworkID returns the X-Patchwork-Id header of one mail, if it has one.
func patchworkID(msg []byte) (int64, bool) {
	for line := range bytes.Lines(msg) {
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			break // end of the headers
		}
		k, v, ok := bytes.Cut(line, []byte(":"))
		if !ok || !strings.EqualFold(string(k), "X-Patchwork-Id") {
			continue
		}
		id, err := strconv.ParseInt(strings.TrimSpace(string(v)), 10, 64)
		return id, err == nil
	}
	return 0, false
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

// getJSON reads an API answer at u, which must be JSON that v accepts.
func (c *Client) getJSON(ctx context.Context, u *url.URL, v httpx.Validator) ([]byte, http.Header, error) {
	return c.get(ctx, u, "application/json", v)
}

// get reads u to the end (so that the cache can store it) and checks a 200
// answer with v: in the HTTP stack, so that nothing v refuses is stored,
// or here when the Client was given another client.
func (c *Client) get(ctx context.Context, u *url.URL, accept string, v httpx.Validator) ([]byte, http.Header, error) {
	ctx = httpx.WithMaxBody(httpx.WithValidator(ctx, v), maxBody)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Accept", accept)
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	if err := httpx.CheckResponse(resp); err != nil {
		return nil, nil, err
	}
	body, err := readBody(resp.Body, resp.ContentLength)
	if err != nil {
		return nil, nil, fmt.Errorf("GET %s: read body: %w", u.Redacted(), err)
	}
	if len(body) > maxBody {
		return nil, nil, fmt.Errorf("GET %s: body larger than %d bytes", u.Redacted(), maxBody)
	}
	if !httpx.Checked(resp) {
		if err := v(resp, body); err != nil {
			return nil, nil, &httpx.ContentError{Method: http.MethodGet, URL: u.Redacted(), Err: err}
		}
	}
	return body, resp.Header, nil
}

// readBody reads at most maxBody+1 bytes of r into a buffer sized for the
// size the server announced (-1: unknown), so that a list page of a few
// hundred kB is not copied through a dozen doublings.
func readBody(r io.Reader, size int64) ([]byte, error) {
	if size < 0 || size > maxBody {
		size = 0
	}
	buf := bytes.NewBuffer(make([]byte, 0, size+bytes.MinRead))
	_, err := buf.ReadFrom(io.LimitReader(r, maxBody+1))
	return buf.Bytes(), err
}

// getList reads a listing to its end. Patchwork paginates with page
// numbers and says where a listing ends in its Link header: rel="last" is
// on every page (recorded: page-series-per_page2-p1 and -last,
// series-list-netdev), rel="next" on every page but the last. A listing is
// trusted only when it ends on the page rel="last" names, every page but
// the last is as full as the first, and each rel="next" is the next page
// of the same listing; anything else is ErrListing.
//
// Pages are read one request at a time, so an item that leaves the
// listing while it is read shifts the later pages and another item is
// skipped. Patchwork orders its listings by id, so a new item is added at
// the end and shifts nothing; only an item leaving does. A pass is
// therefore trusted only when it holds every item of the read before it:
// an item skipped by a shift was in the listing all along, so it was in
// that read too, and its absence now sends the listing to another pass
// (at most maxPasses); the last pass is returned. The read before the
// first pass is known, the previous complete read of the same listing (an
// item skipped then was new, and is only seen one read later, never
// lost); without it, a listing of several pages is read twice. So a
// listing from which nothing left since the previous tick costs one pass,
// and one from which an item left costs two. A page out of range
// ("Invalid page.", when the listing shrank) also starts a new pass.
func getList[T any](ctx context.Context, c *Client, u *url.URL, id func(T) int64, known map[int64]bool, memo *pageMemo) ([]T, error) {
	prev := known
	var lastErr error
	for pass := 1; pass <= maxPasses; pass++ {
		items, pages, err := listPass(ctx, c, u, id, memo)
		var se *httpx.StatusError
		if (errors.As(err, &se) && se.Status == http.StatusNotFound && pages > 1) || errors.Is(err, errChanged) {
			lastErr = err // the listing grew or shrank under us
			prev = nil
			continue
		}
		if err != nil {
			return nil, err
		}
		if pages == 1 {
			return items, nil
		}
		ids := make(map[int64]bool, len(items))
		for _, it := range items {
			ids[id(it)] = true
		}
		if prev != nil && holdsAll(ids, prev) {
			return items, nil
		}
		prev = ids
		lastErr = fmt.Errorf("listing %s: %w: it changed while it was read", u.Redacted(), ErrListing)
	}
	return nil, fmt.Errorf("%w (read %d times)", lastErr, maxPasses)
}

// holdsAll reports whether every id of prev is in ids.
func holdsAll(ids, prev map[int64]bool) bool {
	for id := range prev {
		if !ids[id] {
			return false
		}
	}
	return true
}

// pageMemo keeps the pages of one listing as last decoded, by page
// number, with the SHA-256 of their bodies: a page whose body is the same
// bytes again is not decoded again. Patchwork sends no validators
// (recorded: no ETag, Last-Modified or Cache-Control on any API answer,
// fixtures/patchwork/INDEX.md), so an idle tick reads every page of the
// listing in full, and decoding them was a third of its CPU at 10,000
// series. The items it hands out are shared between reads: read-only.
// A nil *pageMemo keeps nothing (see decodePage).
type pageMemo struct {
	mu    sync.Mutex
	pages map[int]memoPage
}

type memoPage struct {
	sum   [sha256.Size]byte
	items any // []T of the listing
}

// decodePage decodes body, page n of a listing, into its items: from memo
// when it holds them for the very same bytes, else by decoding them, which
// memo then keeps.
func decodePage[T any](memo *pageMemo, n int, body []byte) ([]T, error) {
	if memo == nil {
		var items []T
		err := json.Unmarshal(body, &items)
		return items, err
	}
	sum := sha256.Sum256(body)
	memo.mu.Lock()
	pg, ok := memo.pages[n]
	memo.mu.Unlock()
	if items, same := pg.items.([]T); ok && same && pg.sum == sum {
		return items, nil
	}
	var items []T
	if err := json.Unmarshal(body, &items); err != nil {
		return nil, err
	}
	memo.mu.Lock()
	defer memo.mu.Unlock()
	if memo.pages == nil {
		memo.pages = map[int]memoPage{}
	}
	memo.pages[n] = memoPage{sum: sum, items: items}
	return items, nil
}

// memo returns the page memo of the listing u is a page of: the same
// path and query but for the page, its size and since (which moves with
// every tick's lookback window, while the pages often stay the same).
func (c *Client) memo(u *url.URL) *pageMemo {
	q := u.Query()
	for _, k := range []string{"page", "per_page", "since"} {
		q.Del(k)
	}
	key := u.Path + "?" + q.Encode()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.listings == nil {
		c.listings = map[string]*pageMemo{}
	}
	m := c.listings[key]
	if m == nil {
		m = &pageMemo{}
		c.listings[key] = m
	}
	return m
}

// errChanged marks a pass over a listing whose pages disagree on where
// it ends: it grew or shrank while it was read.
var errChanged = errors.New("the listing changed while it was read")

// listPage is one page of a listing as read.
type listPage[T any] struct {
	u     *url.URL
	items []T
	last  int    // rel="last"
	next  string // rel="next", "" on the last page
}

// readPage reads page u of a listing. The body is decoded once: by the
// validator the HTTP stack runs before it trusts (or caches) an answer,
// which keeps what it decoded for the body it accepted last; only when
// that is not the body returned is it decoded again. With a memo, a body
// that is the same bytes as the page's last one is not decoded at all.
func readPage[T any](ctx context.Context, c *Client, u *url.URL, memo *pageMemo) (listPage[T], error) {
	var (
		mu      sync.Mutex
		checked []byte // the body the validator accepted last
		decoded []T
	)
	n, err := pageNumber(u)
	if err != nil {
		return listPage[T]{}, fmt.Errorf("listing page %s: %w: %w", u.Redacted(), ErrListing, err)
	}
	v := func(resp *http.Response, body []byte) error {
		// Patchwork serves its API as application/json (recorded: every
		// *.headers.txt of the API).
		if err := httpx.MediaType(resp, "application/json"); err != nil {
			return err
		}
		items, err := decodePage[T](memo, n, body)
		if err != nil {
			return fmt.Errorf("decode: %w", err)
		}
		mu.Lock()
		defer mu.Unlock()
		checked, decoded = body, items
		return nil
	}
	body, header, err := c.getJSON(ctx, u, v)
	if err != nil {
		return listPage[T]{}, err
	}
	pg := listPage[T]{u: u}
	mu.Lock()
	if checked != nil && bytes.Equal(checked, body) {
		pg.items = decoded
	}
	mu.Unlock()
	if pg.items == nil {
		if err := json.Unmarshal(body, &pg.items); err != nil {
			return listPage[T]{}, fmt.Errorf("decode %s: %w", u.Redacted(), err)
		}
	}
	links := header.Values("Link")
	if pg.last, err = lastPage(links); err != nil {
		return listPage[T]{}, fmt.Errorf("listing page %s: %w: %w", u.Redacted(), ErrListing, err)
	}
	pg.next = nextLink(links)
	return pg, nil
}

// listPass reads the pages of a listing once, from u, and returns its
// items without duplicates and the number of pages read (the page that
// failed included). The first page says which page is the last
// (rel="last"); the others are then read at most pageWorkers at a time,
// and the pass is trusted only when they form the chain a sequential read
// would have followed: each page but the last as full as the first with a
// rel="next" to the page after it, the last without one, all agreeing on
// the last page. Pages that disagree on it (the listing grew or shrank
// while it was read) are errChanged, for another pass.
func listPass[T any](ctx context.Context, c *Client, u *url.URL, id func(T) int64, memo *pageMemo) ([]T, int, error) {
	first, err := readPage[T](ctx, c, u, memo)
	if err != nil {
		return nil, 1, err
	}
	last := first.last
	if last > maxPages {
		return nil, 1, fmt.Errorf("listing %s: %w: more than %d pages", u.Redacted(), ErrListing, maxPages)
	}
	pages := []listPage[T]{first}
	if first.next != "" && last > 1 {
		nu, err := c.onInstance(first.next)
		if err != nil {
			return nil, 1, fmt.Errorf("next page: %w", err)
		}
		if err := samePageOf(u, nu, 2); err != nil {
			return nil, 1, fmt.Errorf("listing page %s: %w: %w", u.Redacted(), ErrListing, err)
		}
		pages = append(pages, make([]listPage[T], last-1)...)
		var read atomic.Int64
		err = forgekit.ForEach(ctx, pageWorkers, last-1, func(ctx context.Context, i int) error {
			pu := *nu
			q := pu.Query()
			q.Set("page", strconv.Itoa(i+2))
			pu.RawQuery = q.Encode()
			read.Add(1)
			pg, err := readPage[T](ctx, c, &pu, memo)
			if err != nil {
				return err
			}
			if pg.last != last {
				return fmt.Errorf("listing %s: %w: %w: page %d says the last page is %d, page 1 said %d",
					u.Redacted(), ErrListing, errChanged, i+2, pg.last, last)
			}
			pages[i+1] = pg
			return nil
		})
		if err != nil {
			return nil, 1 + int(read.Load()), err
		}
	}
	var all []T
	seen := map[int64]bool{}
	full := len(first.items) // items on a page that is not the last
	for i, pg := range pages {
		n := i + 1
		bad := func(format string, args ...any) error {
			return fmt.Errorf("listing page %s: %w: %s", pg.u.Redacted(), ErrListing, fmt.Sprintf(format, args...))
		}
		switch {
		case pg.next == "" && n != last:
			return nil, len(pages), bad("page %d of %d has no rel=\"next\" link", n, last)
		case pg.next == "" && len(pg.items) > full && n > 1:
			return nil, len(pages), bad("last page has %d items, more than the %d of a page", len(pg.items), full)
		case pg.next != "" && len(pg.items) == 0:
			return nil, len(pages), bad("page %d is empty but not the last", n)
		case pg.next != "" && len(pg.items) != full:
			return nil, len(pages), bad("page %d has %d items, not the %d of a full page, but is not the last", n, len(pg.items), full)
		case pg.next != "" && n >= last:
			return nil, len(pages), bad("page %d has a rel=\"next\" link, but rel=\"last\" is page %d", n, last)
		}
		if pg.next != "" && n > 1 {
			nu, err := c.onInstance(pg.next)
			if err != nil {
				return nil, len(pages), fmt.Errorf("next page: %w", err)
			}
			if err := samePageOf(u, nu, n+1); err != nil {
				return nil, len(pages), bad("%v", err)
			}
		}
		for _, it := range pg.items {
			if k := id(it); !seen[k] {
				seen[k] = true
				all = append(all, it)
			}
		}
	}
	return all, len(pages), nil
}

// pageNumber returns the page parameter of u: 1 when there is none.
func pageNumber(u *url.URL) (int, error) {
	v := u.Query().Get("page")
	if v == "" {
		return 1, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("page %q is not a page number", v)
	}
	return n, nil
}

// samePageOf checks that next is page n of the listing cur is a page of:
// the same path and query but for the page number and size.
func samePageOf(cur, next *url.URL, n int) error {
	got, err := pageNumber(next)
	if err != nil {
		return fmt.Errorf("rel=\"next\" %s: %w", next.Redacted(), err)
	}
	if got != n {
		return fmt.Errorf("rel=\"next\" %s is page %d, want page %d", next.Redacted(), got, n)
	}
	// per_page may differ: a server whose largest page is smaller than
	// the one asked for may say so in its links. Page sizes are checked on
	// the items.
	a, b := cur.Query(), next.Query()
	for _, k := range []string{"page", "per_page"} {
		a.Del(k)
		b.Del(k)
	}
	if next.Path != cur.Path || a.Encode() != b.Encode() {
		return fmt.Errorf("rel=\"next\" %s is not a page of this listing", next.Redacted())
	}
	return nil
}

// lastPage returns the page number of rel="last" in Link headers.
func lastPage(headers []string) (int, error) {
	target := linkTarget(headers, "last")
	if target == "" {
		return 0, errors.New(`no rel="last" link: the end of the listing is unknown`)
	}
	u, err := url.Parse(target)
	if err != nil {
		return 0, fmt.Errorf(`rel="last" %q: %w`, target, err)
	}
	n, err := pageNumber(u)
	if err != nil {
		return 0, fmt.Errorf(`rel="last": %w`, err)
	}
	return n, nil
}

// nextLink returns the target of rel="next" in RFC 8288 Link headers.
func nextLink(headers []string) string { return linkTarget(headers, "next") }

// linkTarget returns the target of the link of relation rel in RFC 8288
// Link headers.
func linkTarget(headers []string, relation string) string {
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
					if strings.EqualFold(rel, relation) {
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
	series, err := getList(ctx, c, c.api("series/", q), func(sr Series) int64 { return sr.ID }, nil, nil)
	if err != nil {
		return nil, c.errorf("search series", err)
	}
	return series, nil
}
