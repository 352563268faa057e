// Package resultsdb is the ResultsDB reporter: it records each conclusive
// result of a unit as a ResultsDB (API v2.0) result, where a gate such as
// Greenwave finds it by testcase, item and type.
//
// # What is posted
//
// PostResult sends one POST <URL>/api/v2.0/results:
//
//	{"testcase": {"name": Opts.Testcase}, "outcome": <outcome>,
//	 "ref_url": Result.RefURL, "note": Result.Note,
//	 "data": {"item": Result.Item, "type": Opts.ItemType,
//	          "fingerprint": ..., "change_url": ..., "submitter": ...,
//	          "unit": ..., "target": ...}}
//
// Data values are strings; empty ones are left out, except item and type.
// No data key contains ':', which ResultsDB refuses. The testcase is sent
// as an object with its name only (ResultsDB creates it on first use, and a
// ref_url there would overwrite the one the testcase has). No submit_time
// is sent: the server stamps the result with its own clock.
//
// The outcome comes from DefaultOutcome unless Opts.Outcomes overrides it.
// ResultsDB upper-cases the outcome and accepts PASSED, INFO, FAILED,
// NEEDS_INSPECTION and the instance's ADDITIONAL_RESULT_OUTCOMES. Fedora's
// adds ERROR, which Greenwave reports as test-result-errored (the run did
// not finish properly) rather than test-result-failed: StateInfra -> "ERROR"
// fits there. An override the instance does not know is refused with 400
// on every post.
//
// # Pending results are not posted
//
// A ResultsDB result is a final record: there is no update, every POST adds
// one, and Greenwave gates on the latest per testcase and item. No preset
// outcome means "not finished": a pending result posted as INFO would pass
// a gate and one posted as NEEDS_INSPECTION would fail it, until a later
// result replaced it, and it would stay in the history either way. PostResult
// therefore returns nil without any request for a state that is not
// conclusive. The caller tells the two apart with
// targets.State.Conclusive(): PostResult skips exactly the states for which it is
// false, and only a conclusive state's result should be marked as
// reported.
//
// # Errors and retries
//
// PostResult never retries; the caller's outbox tries again on a later tick. The
// HTTP client from pkg/httpx retries a POST only on 429. A failed post
// returns an error wrapping *httpx.StatusError when the server answered:
//
//   - errors.Is(err, httpx.ErrBadRequest) (400: validation, a ':' in a data
//     key, an unknown outcome) is permanent: the same post fails again, and
//     the error carries the server's message. report.Permanent is true,
//     as it is for 401, 403 and 404 (a path-level credential refused, a
//     wrong URL).
//   - errors.Is(err, httpx.ErrServer) (5xx, 429), transport errors and
//     timeouts are retryable.
//
// PostResult also fails, before any request, for a result without an Item or
// with a state it has no outcome for: bugs of the caller, which no retry
// fixes.
//
// A 2xx other than 201 Created is an error too, retryable: it usually
// means the POST was redirected and turned into a GET (http:// to
// https://), so nothing was stored; configure the final URL. When a POST
// times out after the server stored it, the retry adds a second identical
// result, which readers of the latest result do not notice.
//
// # Authentication
//
// ResultsDB's API v2.0 checks no credential (see auth.go for what this
// rests on); a deployment that protects writes puts an HTTP server or proxy
// in front of it. Opts.Auth names the credential it asks for, HTTP Basic or
// a Bearer token read from a file or an environment variable, which the
// HTTP client sends on every request. A 401 or 403 is permanent, and its
// error says whether a credential was sent. The v3 API (OIDC) is not used:
// it takes only Red Hat artifact types.
//
// # Reading results back
//
// GET <URL>/api/v2.0/results/latest?testcases=<testcase>&item=<item>&type=<type>
// answers the newest result (Greenwave asks the same with _distinct_on).
// The API splits filter values on commas, so New refuses a testcase or an
// item type that contains one; change keys contain none.
package resultsdb

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"unicode"

	"go.uber.org/zap"

	"github.com/trawl-ci/trawl/pkg/httpx"
	"github.com/trawl-ci/trawl/pkg/report"
	"github.com/trawl-ci/trawl/pkg/targets"
)

// DefaultItemType is data.type when Opts.ItemType is empty.
const DefaultItemType = "trawl-change"

// resultsPath is where results are posted, under the ResultsDB root.
const resultsPath = "/api/v2.0/results"

// maxBody bounds the answer read after a post.
const maxBody = 1 << 20

// Opts configures a Reporter.
type Opts struct {
	// Name is the configured reporter name, used in errors and logs.
	Name string
	// URL is the ResultsDB root, e.g. https://resultsdb.example.org; PostResult
	// appends /api/v2.0/results.
	URL string
	// Testcase is the testcase name, e.g. "trawl.kernelci.build": not empty,
	// without white space or commas.
	Testcase string
	// ItemType is data.type; empty means DefaultItemType.
	ItemType string
	// Outcomes overrides DefaultOutcome for some conclusive states.
	Outcomes map[targets.State]string
	// HTTP makes the requests: the client pkg/httpx builds, with
	// Auth.Credential() as its credential. ResultsDB v2.0 has no
	// authentication of its own; a deployment that adds one in front of it
	// gets the credential from this client (see auth.go).
	HTTP *http.Client
	// Auth is the credential HTTP sends, if any; New checks it and errors
	// say whether one was sent.
	Auth Auth
	// Logger receives progress; nil means no logging.
	Logger *zap.Logger
}

// Result is one unit's result, as PostResult records it.
type Result struct {
	// Item is data.item: the change key, e.g.
	// pw:patchwork.kernel.org/netdevbpf/series/812345. Required.
	Item  string
	State targets.State
	// RefURL is where the result is (the job's page).
	RefURL string
	// Note is the one-line summary.
	Note string
	// Fingerprint, ChangeURL (series or pull request URL), Submitter, Unit
	// (the unit key) and Target go to the data fields of the same names
	// (change_url for ChangeURL).
	Fingerprint string
	ChangeURL   string
	Submitter   string
	Unit        string
	Target      string
}

// Reporter posts results to one ResultsDB. It is safe for concurrent use.
type Reporter struct {
	name     string
	authed   bool
	endpoint string
	testcase string
	itemType string
	outcomes map[targets.State]string
	http     *http.Client
	log      *zap.Logger
}

// What the cycle finds on a ResultsDB reporter: a result costs one
// request (Poster) where no crash can have left it posted unrecorded.
var (
	_ report.Reporter = (*Reporter)(nil)
	_ report.Poster   = (*Reporter)(nil)
)

// conclusiveStates are the states a result is posted for.
var conclusiveStates = []targets.State{targets.StateSuccess, targets.StateFail, targets.StateWarning, targets.StateInfra}

// DefaultOutcome maps a state to a ResultsDB outcome: success -> PASSED,
// fail -> FAILED, warning and infra-error -> NEEDS_INSPECTION. ok is false
// for pending, which is not posted (see the package documentation), and for
// an unknown state.
func DefaultOutcome(s targets.State) (outcome string, ok bool) {
	switch s {
	case targets.StateSuccess:
		return "PASSED", true
	case targets.StateFail:
		return "FAILED", true
	case targets.StateWarning, targets.StateInfra:
		return "NEEDS_INSPECTION", true
	}
	return "", false
}

// New checks the options and returns a Reporter.
func New(o Opts) (*Reporter, error) {
	if o.Name == "" {
		return nil, errors.New("resultsdb: reporter name is empty")
	}
	endpoint, err := endpointURL(o.URL)
	if err != nil {
		return nil, fmt.Errorf("resultsdb %s: url: %w", o.Name, err)
	}
	if err := checkName(o.Testcase); err != nil {
		return nil, fmt.Errorf("resultsdb %s: testcase: %w", o.Name, err)
	}
	itemType := o.ItemType
	if itemType == "" {
		itemType = DefaultItemType
	}
	if err := checkName(itemType); err != nil {
		return nil, fmt.Errorf("resultsdb %s: item type: %w", o.Name, err)
	}
	if o.HTTP == nil {
		return nil, fmt.Errorf("resultsdb %s: no HTTP client", o.Name)
	}
	if err := o.Auth.check(); err != nil {
		return nil, fmt.Errorf("resultsdb %s: %w", o.Name, err)
	}
	outcomes := make(map[targets.State]string, len(conclusiveStates))
	for _, s := range conclusiveStates {
		outcomes[s], _ = DefaultOutcome(s)
	}
	for s, out := range o.Outcomes {
		if _, ok := DefaultOutcome(s); !ok {
			return nil, fmt.Errorf("resultsdb %s: outcome for state %q: only conclusive states are posted", o.Name, s)
		}
		if strings.TrimSpace(out) == "" {
			return nil, fmt.Errorf("resultsdb %s: outcome for state %q is empty", o.Name, s)
		}
		outcomes[s] = out
	}
	log := o.Logger
	if log == nil {
		log = zap.NewNop()
	}
	return &Reporter{
		name:     o.Name,
		authed:   o.Auth.IsSet(),
		endpoint: endpoint,
		testcase: o.Testcase,
		itemType: itemType,
		outcomes: outcomes,
		http:     o.HTTP,
		log:      log.With(zap.String("reporter", o.Name)),
	}, nil
}

// endpointURL checks the ResultsDB root and returns the results endpoint.
// Its errors show the URL without a password.
func endpointURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", errors.New("not a valid URL")
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("%q is not an http(s) URL", u.Redacted())
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", fmt.Errorf("%q: give the ResultsDB root without query, fragment or user", u.Redacted())
	}
	root := strings.TrimRight(raw, "/")
	if strings.HasSuffix(root, "/api/v2.0") {
		return "", fmt.Errorf("%q: give the ResultsDB root; /api/v2.0 is added", raw)
	}
	return root + resultsPath, nil
}

// authHint adds to a 401 or 403 whether a credential was sent: ResultsDB
// answers neither itself on API v2.0, so a proxy in front of it refused.
func (r *Reporter) authHint(err error) string {
	switch {
	case !errors.Is(err, httpx.ErrForbidden):
		return ""
	case r.authed:
		return " (refused by the server or a proxy in front of it: check the reporter's token and auth scheme)"
	}
	return " (no credential was sent: set token_file or token_env on the reporter if this ResultsDB protects writes)"
}

// checkName refuses what cannot be a testcase name or item type: an empty
// name, white space, and commas (the API splits query values on them, so a
// result named with one could not be found again).
func checkName(s string) error {
	switch {
	case s == "":
		return errors.New("empty")
	case strings.IndexFunc(s, unicode.IsSpace) >= 0:
		return fmt.Errorf("%q contains white space", s)
	case strings.Contains(s, ","):
		return fmt.Errorf("%q contains a comma", s)
	}
	return nil
}

// payload is the body of POST /api/v2.0/results.
type payload struct {
	Testcase testcase          `json:"testcase"`
	Outcome  string            `json:"outcome"`
	RefURL   string            `json:"ref_url,omitempty"`
	Note     string            `json:"note,omitempty"`
	Data     map[string]string `json:"data"`
}

// testcase names the testcase of a posted result.
type testcase struct {
	Name string `json:"name"`
}

// data returns the data fields of res, leaving out empty optional ones.
func (r *Reporter) data(res Result) map[string]string {
	d := map[string]string{"item": res.Item, "type": r.itemType}
	for k, v := range map[string]string{
		"fingerprint": res.Fingerprint,
		"change_url":  res.ChangeURL,
		"submitter":   res.Submitter,
		"unit":        res.Unit,
		"target":      res.Target,
	} {
		if v != "" {
			d[k] = v
		}
	}
	return d
}

// PostResult records res. For a state that is not conclusive it does nothing and
// returns nil. See the package documentation for which errors are
// permanent.
func (r *Reporter) PostResult(ctx context.Context, res Result) error {
	if !res.State.Conclusive() {
		r.log.Debug("not posting a result that is not conclusive: ResultsDB results are final",
			zap.String("item", res.Item), zap.String("state", string(res.State)))
		return nil
	}
	outcome, ok := r.outcomes[res.State]
	if !ok {
		return fmt.Errorf("resultsdb %s: no outcome for state %q of %s", r.name, res.State, res.Item)
	}
	if res.Item == "" {
		return fmt.Errorf("resultsdb %s: result of unit %q has no item", r.name, res.Unit)
	}
	var body bytes.Buffer
	enc := json.NewEncoder(&body)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(payload{
		Testcase: testcase{Name: r.testcase},
		Outcome:  outcome,
		RefURL:   res.RefURL,
		Note:     res.Note,
		Data:     r.data(res),
	}); err != nil {
		return fmt.Errorf("resultsdb %s: encode result of %s: %w", r.name, res.Item, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.endpoint, &body)
	if err != nil {
		return fmt.Errorf("resultsdb %s: post %s for %s: %w", r.name, outcome, res.Item, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := r.http.Do(req)
	if err != nil {
		return fmt.Errorf("resultsdb %s: post %s for %s: %w", r.name, outcome, res.Item, err)
	}
	defer resp.Body.Close()
	if err := httpx.CheckResponse(resp); err != nil {
		return fmt.Errorf("resultsdb %s: post %s for %s: %w%s", r.name, outcome, res.Item, err, r.authHint(err))
	}
	if resp.StatusCode != http.StatusCreated {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxBody))
		return fmt.Errorf("resultsdb %s: post %s for %s: POST %s answered %d, not 201 Created: nothing was stored "+
			"(a redirect turns a POST into a GET; configure the final URL)", r.name, outcome, res.Item, r.endpoint, resp.StatusCode)
	}
	var created struct {
		ID   int    `json:"id"`
		Href string `json:"href"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxBody)).Decode(&created); err != nil {
		// The result is stored: failing here would post it again.
		r.log.Warn("result posted, but its answer is unreadable",
			zap.String("item", res.Item), zap.String("outcome", outcome), zap.Error(err))
		return nil
	}
	r.log.Info("result posted",
		zap.String("item", res.Item), zap.String("outcome", outcome),
		zap.Int("id", created.ID), zap.String("href", created.Href))
	return nil
}
