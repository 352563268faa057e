package patchwork

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"strconv"

	"go.uber.org/zap"

	"github.com/trawl-ci/trawl/pkg/change"
)

// Event is one entry of a project's event log (/api/events/; recorded:
// events-all): what happened, and when the server recorded it (naive
// UTC with microseconds).
type Event struct {
	ID       int64  `json:"id"`
	Category string `json:"category"`
	Date     string `json:"date"`
}

// quietCategories are the events that change nothing a Fetch returns: the
// checks (trawl's own posts among them) and comments.
var quietCategories = []string{"check-created", "patch-comment-created", "cover-comment-created"}

// ListEvents returns the events of project recorded at or after since (a
// date as the server writes it, naive UTC; "" for all), newest first, at
// most perPage of them: more says that there are more than one page
// holds. Patchwork's since is greater-or-equal (recorded:
// events-since-micro), so the events at since come back again.
func (c *Client) ListEvents(ctx context.Context, project, since string) (events []Event, more bool, err error) {
	q := url.Values{"per_page": {strconv.Itoa(perPage)}}
	q.Set("project", project)
	if since != "" {
		q.Set("since", since)
	}
	u := c.api("events/", q)
	pg, err := readPage[Event](ctx, c, u, nil)
	if err != nil {
		return nil, false, c.errorf("list events", err)
	}
	return pg.items, pg.next != "", nil
}

// hint is the state of the events hint of a Source (Opts.EventsRelist):
// the changes of the latest full Fetch, the cursor in the event log taken
// just before it, and how many Fetches answered from the hint since.
type hint struct {
	ready   bool
	changes []change.Change
	cursor  string         // date of the newest event seen
	seen    map[int64]bool // the events seen at or after cursor
	quiet   int            // Fetches answered from the hint since the last full one
}

// fromHint answers a Fetch from the events hint: when the previous Fetch
// was full (or answered from the hint) fewer than EventsRelist Fetches
// ago, and the event log holds nothing new since it but checks and
// comments, the changes of the latest full Fetch are returned, for one
// request. ok is false when a full Fetch is needed: the hint is off, due
// for a relist, or names a change, or its request failed (which fails
// nothing: the full Fetch follows).
func (s *Source) fromHint(ctx context.Context) (changes []change.Change, ok bool) {
	s.mu.Lock()
	h := s.hint
	s.mu.Unlock()
	if s.o.EventsRelist <= 0 || !h.ready || h.quiet+1 >= s.o.EventsRelist {
		return nil, false
	}
	events, more, err := s.client.ListEvents(ctx, s.o.Project, h.cursor)
	if err != nil {
		s.log.Info("events hint failed: listing instead", zap.Error(err))
		return nil, false
	}
	if more {
		return nil, false
	}
	for _, e := range events {
		if !h.seen[e.ID] && !slices.Contains(quietCategories, e.Category) {
			s.log.Debug("events hint: a change", zap.Int64("event", e.ID), zap.String("category", e.Category))
			return nil, false
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hint.quiet++
	return slices.Clone(s.hint.changes), true
}

// markEvents takes the cursor of the events hint before a full Fetch: the
// newest event of the project and every event at its date. A failed
// request leaves the hint unready, so that the next Fetch is full too.
func (s *Source) markEvents(ctx context.Context) (cursor string, seen map[int64]bool, err error) {
	events, _, err := s.client.ListEvents(ctx, s.o.Project, "")
	if err != nil {
		return "", nil, err
	}
	seen = map[int64]bool{}
	for _, e := range events {
		switch {
		case cursor == "" || e.Date > cursor:
			cursor, seen = e.Date, map[int64]bool{e.ID: true}
		case e.Date == cursor:
			seen[e.ID] = true
		}
	}
	if cursor == "" {
		return "", nil, errors.New("the project has no event yet")
	}
	return cursor, seen, nil
}

// fetchWithHint is Fetch with the events hint on: an idle Fetch costs one
// request, and at least every EventsRelist-th Fetch lists in full.
func (s *Source) fetchWithHint(ctx context.Context) ([]change.Change, error) {
	if changes, ok := s.fromHint(ctx); ok {
		return changes, nil
	}
	s.mu.Lock()
	s.hint.ready = false
	s.mu.Unlock()
	cursor, seen, markErr := s.markEvents(ctx)
	changes, err := s.fetch(ctx)
	if err != nil {
		return nil, err
	}
	if markErr != nil {
		s.log.Info("events hint: no cursor, the next Fetch lists in full", zap.Error(markErr))
		return changes, nil
	}
	s.mu.Lock()
	s.hint = hint{ready: true, changes: slices.Clone(changes), cursor: cursor, seen: seen}
	s.mu.Unlock()
	return changes, nil
}
