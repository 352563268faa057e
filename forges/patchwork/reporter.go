package patchwork

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"

	"github.com/trawl-ci/trawl/pkg/change"
	"github.com/trawl-ci/trawl/pkg/forgekit"
	"github.com/trawl-ci/trawl/pkg/httpx"
	"github.com/trawl-ci/trawl/pkg/report"
	"github.com/trawl-ci/trawl/pkg/targets"
)

// Check is a Patchwork check on a patch.
type Check struct {
	ID          int64  `json:"id,omitempty"`
	State       string `json:"state"`
	TargetURL   string `json:"target_url,omitempty"`
	Context     string `json:"context"`
	Description string `json:"description"`
	Date        Time   `json:"date,omitzero"`
}

// Check states Patchwork accepts (case-sensitive).
const (
	CheckPending = "pending"
	CheckSuccess = "success"
	CheckWarning = "warning"
	CheckFail    = "fail"
)

// MaxTargetURL is the longest target_url Patchwork stores (a URLField of 200).
const MaxTargetURL = 200

// contextRe is Patchwork's slug rule for a check context.
var contextRe = regexp.MustCompile(`^[-a-zA-Z0-9_]{1,255}$`)

// ValidContext reports whether ctx is a context Patchwork accepts.
func ValidContext(ctx string) bool { return contextRe.MatchString(ctx) }

// PostCheck creates a check on patch id. It needs a token of a maintainer
// of the project, or of the patch's submitter or delegate.
func (c *Client) PostCheck(ctx context.Context, patchID int64, chk Check) (*Check, error) {
	body, err := json.Marshal(chk)
	if err != nil {
		return nil, err
	}
	u := c.api("patches/"+strconv.FormatInt(patchID, 10)+"/checks/", nil)
	op := fmt.Sprintf("post check on patch %d", patchID)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, c.errorf(op, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, c.errorf(op, err)
	}
	defer resp.Body.Close()
	if err := httpx.CheckResponse(resp); err != nil {
		return nil, c.errorf(op, err)
	}
	var out Check
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err == nil {
		err = json.Unmarshal(b, &out)
	}
	if err != nil {
		return nil, c.errorf(op, fmt.Errorf("decode answer: %w", err))
	}
	return &out, nil
}

// ReporterOpts configures a Patchwork reporter.
type ReporterOpts struct {
	// Name is the reporter's name in the state (e.g. "patchwork-netdev").
	Name string
	// Context is the check context, a slug ([-a-zA-Z0-9_]).
	Context string
	// PerTarget appends "-<target>" to the context, so that each target of
	// a source has its own check.
	PerTarget bool
	// States maps result states to check states; missing states use
	// DefaultCheckStates. An empty value means "not reported".
	States map[targets.State]string
}

// DefaultCheckStates is the default mapping of result states to check
// states. An infrastructure error is a warning, not a failure: it says
// nothing about the patches.
var DefaultCheckStates = report.States{
	targets.StatePending: CheckPending,
	targets.StateSuccess: CheckSuccess,
	targets.StateWarning: CheckWarning,
	targets.StateFail:    CheckFail,
	targets.StateInfra:   CheckWarning,
}

// Reporter writes results as checks on every patch of a series (Patchwork
// has no series-level checks).
type Reporter struct {
	o      ReporterOpts
	states report.States
	client *Client
}

// What the cycle finds on a Patchwork reporter: a check costs one request
// (Poster) where no crash can have left it posted unrecorded.
var (
	_ report.Reporter = (*Reporter)(nil)
	_ report.Poster   = (*Reporter)(nil)
)

// Reporter returns the reporter that posts checks on this source's
// instance. The source's HTTP client must carry a token allowed to post.
func (s *Source) Reporter(o ReporterOpts) (*Reporter, error) {
	if !ValidContext(o.Context) {
		return nil, fmt.Errorf("patchwork reporter %s: context %q must match [-a-zA-Z0-9_]+ (no dots, slashes or spaces)", o.Name, o.Context)
	}
	states, err := DefaultCheckStates.WithOverrides(o.States, func(v string) bool {
		return v == CheckPending || v == CheckSuccess || v == CheckWarning || v == CheckFail
	})
	if err != nil {
		return nil, fmt.Errorf("patchwork reporter %s: %w (pending, success, warning, fail)", o.Name, err)
	}
	return &Reporter{o: o, states: states, client: s.client}, nil
}

// Name is the reporter's name.
func (r *Reporter) Name() string { return r.o.Name }

// Map returns the check state of a result state.
func (r *Reporter) Map(s targets.State) (string, bool) { return r.states.Map(s) }

// Items lists the series' patch ids, in order.
func (r *Reporter) Items(c *change.Change) []string {
	items := make([]string, 0, len(c.Patches))
	for _, p := range c.Patches {
		items = append(items, strconv.FormatInt(p.ID, 10))
	}
	return items
}

// Report posts the check on one patch unless the patch's latest check in
// this context already says the same thing for the same fingerprint: a
// crash between a post and the state write then makes no duplicate.
func (r *Reporter) Report(ctx context.Context, item string, m report.Message, posted string) (report.Done, error) {
	id, err := strconv.ParseInt(item, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("patchwork reporter %s: item %q is not a patch id", r.o.Name, item)
	}
	chk := r.check(m, posted)
	return forgekit.LookBeforePost(ctx, m, posted,
		func(ctx context.Context) ([]forgekit.Existing, error) { return r.current(ctx, id, chk.Context) },
		func(ctx context.Context) (report.Done, error) {
			if _, err := r.client.PostCheck(ctx, id, chk); err != nil {
				return 0, err
			}
			return report.Posted, nil
		})
}

// Post posts the check on one patch without looking first: one request.
// The cycle calls it for a patch no earlier run may have posted on, and
// Report for the others.
func (r *Reporter) Post(ctx context.Context, item string, m report.Message, posted string) error {
	id, err := strconv.ParseInt(item, 10, 64)
	if err != nil {
		return fmt.Errorf("patchwork reporter %s: item %q is not a patch id", r.o.Name, item)
	}
	_, err = r.client.PostCheck(ctx, id, r.check(m, posted))
	return err
}

// check is the check that reports m as posted.
func (r *Reporter) check(m report.Message, posted string) Check {
	chk := Check{State: posted, Context: r.context(m.Target), Description: report.Description(m, maxDescription)}
	if validTargetURL(m.URL) {
		chk.TargetURL = m.URL
	}
	return chk
}

// validTargetURL reports whether Patchwork will take u as a target_url: an
// http(s) URL with a host, within its 200 characters. Any other link is
// left out rather than have Django refuse the whole check.
func validTargetURL(u string) bool {
	p, err := url.Parse(u)
	return err == nil && len(u) <= MaxTargetURL && (p.Scheme == "http" || p.Scheme == "https") && p.Host != "" && p.User == nil
}

// context is the check context of a target's results.
func (r *Reporter) context(target string) string {
	if r.o.PerTarget {
		return r.o.Context + "-" + target
	}
	return r.o.Context
}

// maxDescription bounds a check description: Patchwork takes any length,
// but a check is read in a one-line table.
const maxDescription = 200
