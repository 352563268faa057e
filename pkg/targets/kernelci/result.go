package kernelci

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/trawl-ci/trawl/pkg/httpx"
	"github.com/trawl-ci/trawl/pkg/targets"
)

// ErrNodeGone reports that a job's patchset node no longer exists on the
// API: the job vanished. Result wraps it; it is targets.ErrJobGone, on
// which the cycle triggers the unit again.
var ErrNodeGone = targets.ErrJobGone

// defaultMaxNodes is how many nodes under a patchset Result reads unless
// Opts.MaxNodes says otherwise.
const defaultMaxNodes = 5000

// maxSummary bounds the length of Result.Summary, in characters.
const maxSummary = 180

// infraCode reports whether a data.error_code value names an
// infrastructure or pipeline error: the codes the pipeline's own KCIDB
// bridge (kernelci-pipeline src/send_kcidb.py) maps to MISS or ERROR
// instead of FAIL, and the timeout service's node_timeout.
func infraCode(code string) bool {
	switch code {
	case "Bug", "Configuration", "Infrastructure", "invalid_job_params", "Job",
		"job_generation_error", "ObjectNotPersisted", "RequestBodyTooLarge",
		"submit_error", "Unexisting permission codename.", "kbuild_internal_error",
		"Canceled", "LAVATimeout", "MultinodeTimeout", "node_timeout", "Test":
		return true
	}
	return false
}

// outcome is what one node counts as in a Tally.
type outcome int

const (
	running outcome = iota
	passed
	failed
	skipped
	errored
)

// classify maps a node to its outcome (see the package documentation);
// inherited is the infrastructure code of its nearest ancestor that has
// one, or "".
func classify(n *node, inherited string) outcome {
	if n.State != "done" && n.Result == "" {
		return running
	}
	switch n.Result {
	case "pass":
		return passed
	case "skip":
		return skipped
	case "fail":
		if infraCode(n.Data.ErrorCode) || inherited != "" {
			return errored
		}
		return failed
	}
	return errored
}

// inheritedCodes maps the id of every node whose ancestor under the root
// carries an infrastructure code to that code, the nearest ancestor's, as
// the pipeline's KCIDB bridge carries a job's error down to the suites and
// cases under it.
func inheritedCodes(nodes []node) map[string]string {
	byID := make(map[string]*node, len(nodes))
	for i := range nodes {
		byID[nodes[i].ID] = &nodes[i]
	}
	out := map[string]string{}
	for i := range nodes {
		seen := 0
		for p := byID[nodes[i].Parent]; p != nil && seen < len(nodes); p = byID[p.Parent] {
			if infraCode(p.Data.ErrorCode) {
				out[nodes[i].ID] = p.Data.ErrorCode
				break
			}
			seen++
		}
	}
	return out
}

// count adds one node with outcome o to t.
func count(t *targets.Tally, o outcome) {
	switch o {
	case running:
		t.Running++
	case passed:
		t.Pass++
	case failed:
		t.Fail++
	case skipped:
		t.Skip++
	default:
		t.Error++
	}
}

// tree is what Result read about one job.
type tree struct {
	patchset *node
	// base, when the patchset failed, says why its base checkout is at
	// fault instead of the patches; empty when the base is fine.
	base string
	// offDomains, when the patchset failed, names a patch host off the
	// configured patch domains; empty when every host is on the list.
	offDomains string
	// nodes are the patchset's descendants read, breadth-first.
	nodes []node
	// cut reports that the descendants were not all read: more than
	// maxNodes exist.
	cut      bool
	maxNodes int
}

// Result polls the patchset node job.ID and its descendants and
// summarises them (see the package documentation). A patchset node that no
// longer exists is an error wrapping ErrNodeGone.
func (t *Target) Result(ctx context.Context, job targets.Job) (targets.Result, error) {
	fail := func(err error) (targets.Result, error) {
		return targets.Result{}, fmt.Errorf("kernelci %s: result of job %s: %w", t.name, job.ID, err)
	}
	if job.ID == "" {
		return fail(errors.New("the job has no node id"))
	}
	ps, err := t.getNode(ctx, job.ID)
	switch {
	case errors.Is(err, httpx.ErrNotFound):
		return fail(fmt.Errorf("patchset node: %w: %w", ErrNodeGone, err))
	case err != nil:
		return fail(err)
	case ps == nil:
		return fail(fmt.Errorf("patchset node: %w", ErrNodeGone))
	}
	tr := tree{patchset: ps, maxNodes: t.maxNodes}
	switch {
	case patchsetFailed(ps):
		if tr.base, err = t.baseFault(ctx, ps); err != nil {
			return fail(err)
		}
		tr.offDomains = t.offDomains(ps)
	case ps.State != "running" && (ps.State != "done" || ps.Result == "pass") && unpatched(ps) == "":
		if tr.nodes, tr.cut, err = t.subtree(ctx, ps, t.maxNodes); err != nil {
			return fail(fmt.Errorf("nodes under the patchset: %w", err))
		}
	}
	r := summarise(&tr)
	r.URL = t.nodeURL(job.ID)
	return r, nil
}

// patchsetFailed reports whether the patchset service failed the patchset
// node, as opposed to the infrastructure ending it.
func patchsetFailed(ps *node) bool {
	return ps.State == "done" && ps.Result == "fail" && !infraCode(ps.Data.ErrorCode)
}

// baseFault says why the base checkout of a failed patchset is at fault
// (the patchset service also fails a patchset whose checkout failed or has
// no tarball), or "" when the base is fine and the patches are.
func (t *Target) baseFault(ctx context.Context, ps *node) (string, error) {
	if ps.Parent == "" {
		return "the patchset has no base checkout", nil
	}
	if ps.Data.ErrorCode == "git_checkout_failure" {
		// Copied from the base checkout when the patchset was posted on a
		// failed one: the patchset service writes no code of its own.
		return "the pipeline could not check out the base" + reason(ps), nil
	}
	base, err := t.getNode(ctx, ps.Parent)
	switch {
	case err != nil && !errors.Is(err, httpx.ErrNotFound):
		return "", fmt.Errorf("base checkout: %w", err)
	case base == nil:
		return "base checkout " + ps.Parent + " is gone", nil
	case base.State == "done" && base.Result != "pass":
		return "base checkout " + ps.Parent + " " + resultWord(base.Result) + reason(base), nil
	}
	return "", nil
}

// offDomains returns the first host of a patchset's patch artifacts that is
// off the configured patch domains, or "". The patchset service fails such
// a patchset without a reason of its own.
func (t *Target) offDomains(ps *node) string {
	for _, k := range patchKeys(ps.Artifacts) {
		if h := hostOf(ps.Artifacts[k]); !t.allowedHost(h) {
			return h
		}
	}
	return ""
}

// patchKeys returns the names of the patch<N> artifacts, sorted by N.
func patchKeys(artifacts map[string]string) []string {
	var keys []string
	for i := 0; ; i++ {
		k := "patch" + strconv.Itoa(i)
		if _, ok := artifacts[k]; !ok {
			return keys
		}
		keys = append(keys, k)
	}
}

// unpatched says why a patchset node that the pipeline processed carries
// no evidence of its patches, or "" when it does. The patchset service keeps
// the patch<N> artifacts and records data.kernel_revision.patchset; the
// tarball service, which also takes new patchset nodes for checkouts
// (recorded: patchset-race-2-after-tarball-service), replaces the artifacts
// with the unpatched tarball and records no patchset hash.
func unpatched(ps *node) string {
	switch {
	case ps.State == "running" || ps.Result != "pass":
		return ""
	case len(patchKeys(ps.Artifacts)) == 0:
		return "the pipeline built the base without the patches (the patchset node lost its patch artifacts)"
	case ps.Data.KernelRevision.Patchset == "":
		return "the pipeline built the base without the patches (no patchset hash on the node)"
	}
	return ""
}

// summarise turns what Result read into a Result without URL.
func summarise(tr *tree) targets.Result {
	ps := tr.patchset
	switch {
	case patchsetFailed(ps) && tr.base != "":
		return clip(targets.Result{State: targets.StateInfra,
			Summary: "infra error: " + tr.base + "; the patches were not tried"})
	case patchsetFailed(ps) && tr.offDomains != "":
		return clip(targets.Result{State: targets.StateInfra,
			Summary: "infra error: configuration: patch host " + tr.offDomains +
				" is not among the pipeline's allowed patch domains; the patches were not tried"})
	case patchsetFailed(ps):
		s := "patches do not apply (the pipeline gave no reason)"
		if w := why(ps); w != "" {
			s = "patches do not apply: " + w
		}
		return clip(targets.Result{State: targets.StateFail, Summary: s})
	case ps.State == "done" && ps.Result != "pass":
		return clip(targets.Result{State: targets.StateInfra,
			Summary: "infra error: patchset " + resultWord(ps.Result) + reason(ps)})
	case unpatched(ps) != "":
		return clip(targets.Result{State: targets.StateInfra, Summary: "infra error: " + unpatched(ps)})
	}

	var r targets.Result
	pending := ps.State != "done"
	inherited := inheritedCodes(tr.nodes)
	for i := range tr.nodes {
		n := &tr.nodes[i]
		if n.State != "done" {
			pending = true
		}
		switch n.Kind {
		case "kbuild":
			count(&r.Builds, classify(n, inherited[n.ID]))
		case "test", "job":
			count(&r.Tests, classify(n, inherited[n.ID]))
		}
	}
	b, ts := r.Builds, r.Tests
	switch {
	case ps.State == "running":
		r.State, r.Summary = targets.StatePending, "pending: waiting for the pipeline to apply the patches"
	case pending && b.Total()+ts.Total() == 0:
		r.State, r.Summary = targets.StatePending, "pending: patches applied, waiting for builds"
	case pending:
		r.State, r.Summary = targets.StatePending, "pending: "+progress(b, ts)
	case b.Fail+ts.Fail > 0:
		r.State, r.Summary = targets.StateFail, counts(b, ts)
	case b.Total()+ts.Total() == 0:
		r.State, r.Summary = targets.StateInfra, "infra error: patches applied but no builds or tests were scheduled"
	case b.Error+ts.Error > 0:
		r.State, r.Summary = targets.StateInfra, counts(b, ts)
	default:
		r.State, r.Summary = targets.StateSuccess, counts(b, ts)
	}
	if tr.cut {
		r.Summary += "; only the first " + strconv.Itoa(tr.maxNodes) + " nodes read"
	}
	return clip(r)
}

// counts renders final tallies: "builds 12/12 passed; tests 140 passed, 2
// failed, 1 infra error".
func counts(b, t targets.Tally) string {
	s := "no builds"
	if b.Total() > 0 {
		s = fmt.Sprintf("builds %d/%d passed", b.Pass, b.Total()) + extras(b)
	}
	if t.Total() == 0 {
		return s + "; no tests"
	}
	return s + fmt.Sprintf("; tests %d passed", t.Pass) + extras(t)
}

// extras renders the outcomes other than pass that occurred.
func extras(t targets.Tally) string {
	var s string
	if t.Fail > 0 {
		s += fmt.Sprintf(", %d failed", t.Fail)
	}
	switch {
	case t.Error == 1:
		s += ", 1 infra error"
	case t.Error > 1:
		s += fmt.Sprintf(", %d infra errors", t.Error)
	}
	if t.Skip > 0 {
		s += fmt.Sprintf(", %d skipped", t.Skip)
	}
	if t.Running > 0 {
		s += fmt.Sprintf(", %d running", t.Running)
	}
	return s
}

// progress renders tallies still moving: "builds 3/12 done, 1 failed;
// tests 20/45 done".
func progress(b, t targets.Tally) string {
	part := func(what string, t targets.Tally) string {
		s := fmt.Sprintf("%s %d/%d done", what, t.Total()-t.Running, t.Total())
		if t.Fail > 0 {
			s += fmt.Sprintf(", %d failed", t.Fail)
		}
		return s
	}
	if t.Total() == 0 {
		return part("builds", b)
	}
	return part("builds", b) + "; " + part("tests", t)
}

// resultWord renders a node result for a sentence.
func resultWord(result string) string {
	switch result {
	case "fail":
		return "failed"
	case "incomplete":
		return "incomplete"
	case "skip":
		return "skipped"
	case "":
		return "ended without a result"
	}
	return "ended with result " + strconv.Quote(result)
}

// why renders a node's data.error_code and data.error_msg as "code:
// message", or "" when it has neither.
func why(n *node) string {
	var parts []string
	for _, s := range []string{n.Data.ErrorCode, n.Data.ErrorMsg} {
		if s = oneLine(s); s != "" {
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, ": ")
}

// reason renders why(n) as " (code: message)", or "" when empty.
func reason(n *node) string {
	if w := why(n); w != "" {
		return " (" + w + ")"
	}
	return ""
}

// oneLine turns control characters into spaces and collapses runs of
// white space, so that a server's message cannot break a summary's line.
func oneLine(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return ' '
		}
		return r
	}, s)
	return strings.Join(strings.Fields(s), " ")
}

// clip makes r.Summary one line of fewer than maxSummary characters.
func clip(r targets.Result) targets.Result {
	r.Summary = oneLine(r.Summary)
	if utf8.RuneCountInString(r.Summary) >= maxSummary {
		runes := []rune(r.Summary)
		r.Summary = string(runes[:maxSummary-2]) + "…"
	}
	return r
}
