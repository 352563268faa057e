package resultsdb

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/trawl-ci/trawl/pkg/change"
	"github.com/trawl-ci/trawl/pkg/httpx"
	"github.com/trawl-ci/trawl/pkg/report"
	"github.com/trawl-ci/trawl/pkg/targets"
)

// Name is the reporter's configured name.
func (r *Reporter) Name() string { return r.name }

// Map returns the outcome a result state is posted as; pending is not
// posted (ResultsDB results are final).
func (r *Reporter) Map(s targets.State) (string, bool) {
	if !s.Conclusive() {
		return "", false
	}
	o, ok := r.outcomes[s]
	return o, ok
}

// Items is the change itself: ResultsDB holds one result per unit.
func (r *Reporter) Items(c *change.Change) []string { return []string{string(c.Key)} }

// Report posts m for item (a change key) unless ResultsDB already holds a
// result of this testcase for the same unit, fingerprint and outcome: a
// crash between a post and the state write then makes no duplicate. It
// says report.Found when it posted nothing for that reason.
func (r *Reporter) Report(ctx context.Context, item string, m report.Message, posted string) (report.Done, error) {
	exists, err := r.has(ctx, item, m, posted)
	if err != nil {
		return 0, err
	}
	if exists {
		return report.Found, nil
	}
	if err := r.Post(ctx, item, m, posted); err != nil {
		return 0, err
	}
	return report.Posted, nil
}

// Post posts m for item without looking first: one request. ResultsDB
// results are append-only (recorded: post-201-trawl-same-item-newer in
// ../shared/fixtures/resultsdb; every POST answers 201 with a new id), so
// a result posted twice is stored twice: the cycle calls Post only for an
// item no earlier run may have posted, and Report, which looks first, for
// the others.
func (r *Reporter) Post(ctx context.Context, item string, m report.Message, posted string) error {
	return r.PostResult(ctx, Result{
		Item:        item,
		State:       m.State,
		RefURL:      m.URL,
		Note:        m.Summary,
		Fingerprint: m.Fingerprint,
		ChangeURL:   m.ChangeURL,
		Submitter:   m.Submitter,
		Unit:        m.Unit,
		Target:      m.Target,
	})
}

// has asks whether the result is stored already. Every key but the
// reserved ones filters on data, so item, unit and fingerprint select it.
func (r *Reporter) has(ctx context.Context, item string, m report.Message, outcome string) (bool, error) {
	q := url.Values{
		"testcases":   {r.testcase},
		"outcome":     {outcome},
		"item":        {item},
		"type":        {r.itemType},
		"unit":        {m.Unit},
		"fingerprint": {m.Fingerprint},
		"limit":       {"1"},
	}
	u := r.endpoint + "?" + q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return false, fmt.Errorf("resultsdb %s: look up %s: %w", r.name, item, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := r.http.Do(req)
	if err != nil {
		return false, fmt.Errorf("resultsdb %s: look up %s: %w", r.name, item, err)
	}
	defer resp.Body.Close()
	if err := httpx.CheckResponse(resp); err != nil {
		return false, fmt.Errorf("resultsdb %s: look up %s: %w%s", r.name, item, err, r.authHint(err))
	}
	var page struct {
		Data []json.RawMessage `json:"data"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxBody)).Decode(&page); err != nil {
		return false, fmt.Errorf("resultsdb %s: look up %s: decode: %w", r.name, item, err)
	}
	return len(page.Data) > 0, nil
}
