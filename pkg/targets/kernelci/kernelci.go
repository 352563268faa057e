// Package kernelci is the KernelCI target: it builds a unit by asking the
// KernelCI pipeline to apply the unit's patches on a checkout the pipeline
// already made of the base, and it resolves base branches from the
// checkouts the pipeline knows.
//
// Two services are involved. The KernelCI API (APIURL, reads need no
// token) is queried with GET /latest/nodes and field filters; the pipeline
// service (PipelineURL) takes POST /api/patchset with the checkout node id
// and the patches' mbox URLs, authenticated by a JWT sent raw in the
// Authorization header (no "Bearer "), and creates a patchset node under
// the checkout. That node id is the job.
//
// # Which checkout
//
// A checkout is usable when it is a node with kind "checkout" and name
// "checkout" whose data.kernel_revision url and branch are the base's, whose
// result is neither "fail" nor "incomplete", that carries no job or
// platform filter (the trigger service sets none; a checkout a person
// requested through /api/checkout may, and a patchset would copy them), and
// whose submitter is one of Opts.Submitters. The trigger service writes
// "service:pipeline" for the API users staging.kernelci.org and production
// and "user:<email of the API user>" for any other, a self-hosted
// pipeline's included (recorded: nodes-checkouts-trawl-query), so the
// default accepts both. ResolveBase answers the commit of the newest usable
// checkout of a branch (by created time) that is not marked
// tip_of_branch false, looking back 3 days, then 30, then without bound, so
// that a busy branch costs one small query. Trigger needs the newest usable
// checkout of the exact base commit. When there is none, both wrap
// targets.ErrWaiting with the query that found nothing; Opts.CheckoutWait
// (MaxWait) bounds how long the cycle lets a unit wait so.
//
// # Idempotency
//
// The body of /api/patchset carries no caller data, so neither the unit
// key nor the fingerprint can be attached to the job. Before submitting,
// Trigger therefore looks for a patchset node that builds the same thing
// and adopts it instead (Job.Adopted). A node matches when:
//
//   - its name is "patchset" and its data.kernel_revision url and branch are
//     the base's (and its commit is the base commit when Base.Exact);
//   - its artifacts named patch<N> are exactly patch0..patch<n-1> and equal
//     the request's mbox URLs in order, compared in the form the API stores
//     URLs (storedURL; other artifacts, such as the tarball the patchset
//     service adds, are ignored);
//   - its jobfilter and platform_filter equal the configured ones, as sets;
//   - its parent is a usable checkout (not another patchset node, nor a
//     failed checkout: the pipeline accepts both as parents), and it did
//     not end in a way a new submission cures: failed with its base
//     checkout, or by the infrastructure (timed out, incomplete). A
//     patchset that failed on a good checkout is adopted: its patches do
//     not apply, and a new submission would fail the same way.
//
// The newest match is adopted. What cannot be matched: the unit or
// fingerprint that caused the node, and the patch content behind the URLs
// (the pipeline records a hash of the applied lines only after processing,
// in another form than Patchwork's). A node submitted by someone else with
// the same patch URLs and filters is therefore adopted too, which is
// harmless: it builds the same thing. A crash between the submission and
// the state write, or a lost state file, leads to adoption, not a
// duplicate.
//
// The lookup and the submission are two requests: two trawl processes
// triggering the same unit at the same instant can both submit. Run one
// trawl per target.
//
// # Results
//
// Result follows a job. It reads the patchset node (GET /latest/node/{id})
// and, once the patchset service has applied the patches, every node under
// it in one query: the pipeline gives every node it grows under a patchset
// the patchset's treeid (GET /latest/nodes?treeid=<id>, limit
// Opts.MaxNodes+1, default 5000; the API has no page maximum), paged by
// offset until the total the API announced is read; a page that ends short
// of it is an error, never a complete tree. The summary says when MaxNodes
// cut the tree short. A patchset posted on top of the job has a treeid of
// its own and is not part of it.
//
// The pipeline grows this tree under a patchset (kernelci-pipeline's
// scheduler, kernelci-core's kbuild and LAVA callback): kbuild nodes, which
// become available with result pass when the build passed and done with
// fail or incomplete otherwise; under a passed build, one node per test job
// (kind job); under those, the results the runtime reports (suites of kind
// job, cases of kind test). kbuild nodes count in Result.Builds, job and
// test nodes in Result.Tests (each suite and each case counts); nodes of
// other kinds count in neither. One node counts as:
//
//	state     result      data.error_code                        counts as
//	not done  null        any                                    Running
//	any       pass        any                                    Pass
//	any       skip        any                                    Skip
//	any       fail        none, and no ancestor's infrastructure Fail
//	any       fail        infrastructure, its own or inherited   Error
//	any       incomplete  any                                    Error
//	done      null        any                                    Error
//
// A node still available or closing counts by its result once it has one:
// the pipeline gives a build its result when the build is over and keeps
// the node open while the tests on it run, and the timeout service keeps
// that result when it closes the node (recorded:
// kbuild-node-timed-out-keeps-result). The infrastructure codes are those
// the pipeline's own KCIDB bridge (src/send_kcidb.py) reports as MISS or
// ERROR instead of FAIL, and the timeout service's node_timeout: Bug,
// Canceled, Configuration, Infrastructure, invalid_job_params, Job,
// job_generation_error, kbuild_internal_error, LAVATimeout,
// MultinodeTimeout, node_timeout, ObjectNotPersisted, RequestBodyTooLarge,
// submit_error, Test, "Unexisting permission codename.". As that bridge
// does, a job's code carries down to the suites and cases under it: a LAVA
// job that ended incomplete with Infrastructure, whose setup suite and
// login case failed (recorded: job-node-lava-infra-error and its
// children), counts three Errors, no Fail.
//
// The state of the job, in this order:
//
//   - the patchset service failed the patchset (done, fail; it never
//     writes a code or a message of its own, recorded:
//     patchset-node-noapply-done-fail): infra-error when its base checkout
//     failed, is gone, or gave it its git_checkout_failure code (the
//     pipeline accepts a failed checkout as a parent and copies its data),
//     infra-error ("configuration") when a patch host is off the patch
//     domains, else fail, "patches do not apply (the pipeline gave no
//     reason)";
//   - the patchset ended without pass otherwise (incomplete or
//     node_timeout when it timed out before being processed): infra-error;
//   - infra-error when the patchset passed without evidence of its patches
//     (no patch<N> artifacts or no data.kernel_revision.patchset): the
//     tarball service also takes new patchset nodes for checkouts and
//     builds the base alone (recorded: patchset-race-2-after-tarball-service);
//   - pending while the patchset or any node under it is not done;
//   - fail when a build or a test failed;
//   - infra-error when nothing was built or tested, or when a build or a
//     test is an Error;
//   - success otherwise: skipped tests alone do not fail a job.
//
// warning is never produced; it is left to reporters' mappings. The summary
// is one line under 180 characters, e.g. "builds 12/12 passed; tests 140
// passed, 2 failed, 1 infra error" or "pending: builds 3/12 done".
// Result.URL is DashboardURL + node id when configured, else the API's node
// URL. A patchset node that no longer exists (null or 404) is an error
// wrapping ErrNodeGone (targets.ErrJobGone): the cycle triggers the unit
// again.
package kernelci

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/trawl-ci/trawl/pkg/change"
	"github.com/trawl-ci/trawl/pkg/cycle"
	"github.com/trawl-ci/trawl/pkg/httpx"
	"github.com/trawl-ci/trawl/pkg/secret"
	"github.com/trawl-ci/trawl/pkg/targets"
)

// maxPatches is the most patches the pipeline takes in one patchset (the
// limit of its inline patch upload; URLs are held to the same bound).
const maxPatches = 32

// lookback is how far back ResolveBase looks for checkouts, widening in
// turn; 0 means without bound.
func lookback() []time.Duration {
	return []time.Duration{3 * 24 * time.Hour, 30 * 24 * time.Hour, 0}
}

// Opts configures a Target.
type Opts struct {
	// Name is the configured target name.
	Name string
	// APIURL is the KernelCI API base, e.g. https://staging.kernelci.org:9000;
	// requests go to APIURL + "/latest/...".
	APIURL string
	// PipelineURL is the pipeline service base, e.g.
	// https://staging.kernelci.org:9100; patchsets go to PipelineURL +
	// "/api/patchset".
	PipelineURL string
	// Token is the pipeline JWT. When set, Trigger sends it raw in the
	// Authorization header of POST /api/patchset. When unset, PipelineHTTP
	// must add that header itself.
	Token secret.Source
	// JobFilter and PlatformFilter restrict what the pipeline schedules on
	// the patchset; empty means everything.
	JobFilter, PlatformFilter []string
	// PatchDomains lists the hosts patch URLs may have; empty means
	// DefaultPatchDomains. It mirrors the pipeline's [patchset]
	// allowed_domains: an off-list patch is refused here, before any
	// request, instead of being accepted by the pipeline and failed later by
	// its patchset service, and a failed patchset whose patches are off the
	// list is reported as a configuration error, not as patches that do not
	// apply.
	PatchDomains []string
	// Submitters lists the data submitters of the checkouts the pipeline
	// made of branch heads (see the package documentation); an entry ending
	// in "*" matches by prefix. Empty means DefaultSubmitters.
	Submitters []string
	// CheckoutWait is how long a unit may wait for a checkout before the
	// wait is reported as an error of the cycle; 0 means
	// DefaultCheckoutWait.
	CheckoutWait time.Duration
	// APIHTTP makes the API reads.
	APIHTTP *http.Client
	// PipelineHTTP makes the POST to the pipeline.
	PipelineHTTP *http.Client
	// DashboardURL, when set, makes Job.URL and Result.URL DashboardURL +
	// node id; otherwise they are the API's node URL.
	DashboardURL string
	// MaxNodes bounds how many nodes under a patchset Result reads; 0
	// means 5000.
	MaxNodes int
	// Now is the clock for the ResolveBase look-back; nil means time.Now.
	Now func() time.Time
	// Logger receives progress; nil means no logging.
	Logger *zap.Logger
}

// DefaultPatchDomains is the pipeline's default [patchset] allowed_domains
// (kernelci-pipeline config/kernelci.toml).
func DefaultPatchDomains() []string { return []string{"patchwork.kernel.org"} }

// DefaultSubmitters accepts the checkouts of the hosted instances, whose
// trigger service writes "service:pipeline", and those of a self-hosted
// pipeline, whose trigger writes "user:<email of its API user>" (measured:
// kernelci-pipeline trigger.py writes service:pipeline only for the API
// users named staging.kernelci.org and production).
func DefaultSubmitters() []string { return []string{"service:pipeline", "user:*"} }

// DefaultCheckoutWait is how long a unit may wait for a checkout before the
// wait counts as an error.
const DefaultCheckoutWait = 6 * time.Hour

// Target triggers KernelCI patchset builds. It is safe for concurrent use.
type Target struct {
	name           string
	api            string
	pipeline       string
	token          secret.Source
	jobFilter      []string
	platformFilter []string
	patchDomains   []string
	submitters     []string
	checkoutWait   time.Duration
	apiHTTP        *http.Client
	pipelineHTTP   *http.Client
	dashboard      string
	maxNodes       int
	now            func() time.Time
	log            *zap.Logger
	configHash     string
}

// What the cycle finds on a KernelCI target.
var (
	_ cycle.Target       = (*Target)(nil)
	_ cycle.BaseResolver = (*Target)(nil)
	_ cycle.WaitLimit    = (*Target)(nil)
	_ cycle.ResultPoller = (*Target)(nil)
)

// New checks the options and returns a Target.
func New(o Opts) (*Target, error) {
	if o.Name == "" {
		return nil, errors.New("kernelci: target name is empty")
	}
	api, err := baseURL(o.APIURL)
	if err != nil {
		return nil, fmt.Errorf("kernelci %s: api url: %w", o.Name, err)
	}
	pipeline, err := baseURL(o.PipelineURL)
	if err != nil {
		return nil, fmt.Errorf("kernelci %s: pipeline url: %w", o.Name, err)
	}
	if o.APIHTTP == nil || o.PipelineHTTP == nil {
		return nil, fmt.Errorf("kernelci %s: both HTTP clients are required", o.Name)
	}
	if o.MaxNodes < 0 {
		return nil, fmt.Errorf("kernelci %s: MaxNodes %d is negative", o.Name, o.MaxNodes)
	}
	if o.CheckoutWait < 0 {
		return nil, fmt.Errorf("kernelci %s: CheckoutWait %s is negative", o.Name, o.CheckoutWait)
	}
	for _, l := range [][]string{o.JobFilter, o.PlatformFilter, o.PatchDomains, o.Submitters} {
		if slices.Contains(l, "") {
			return nil, fmt.Errorf("kernelci %s: empty entry in a filter or domain list", o.Name)
		}
	}
	t := &Target{
		name:           o.Name,
		api:            api,
		pipeline:       pipeline,
		token:          o.Token,
		jobFilter:      slices.Clone(o.JobFilter),
		platformFilter: slices.Clone(o.PlatformFilter),
		patchDomains:   lower(o.PatchDomains),
		submitters:     slices.Clone(o.Submitters),
		checkoutWait:   o.CheckoutWait,
		apiHTTP:        o.APIHTTP,
		pipelineHTTP:   o.PipelineHTTP,
		dashboard:      o.DashboardURL,
		maxNodes:       o.MaxNodes,
		now:            o.Now,
		log:            o.Logger,
	}
	if len(t.patchDomains) == 0 {
		t.patchDomains = DefaultPatchDomains()
	}
	if len(t.submitters) == 0 {
		t.submitters = DefaultSubmitters()
	}
	if t.checkoutWait == 0 {
		t.checkoutWait = DefaultCheckoutWait
	}
	if t.maxNodes == 0 {
		t.maxNodes = defaultMaxNodes
	}
	if t.now == nil {
		t.now = time.Now
	}
	if t.log == nil {
		t.log = zap.NewNop()
	}
	t.configHash = configHash(api, pipeline, t.jobFilter, t.platformFilter)
	return t, nil
}

// lower returns the host names lower-cased, as URLs carry them once
// stored.
func lower(hosts []string) []string {
	out := make([]string, len(hosts))
	for i, h := range hosts {
		out[i] = strings.ToLower(h)
	}
	return out
}

// baseURL checks an http(s) base URL and drops its trailing slash.
func baseURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", err
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("%q is not an http(s) URL", raw)
	}
	return strings.TrimRight(raw, "/"), nil
}

// configHash hashes what changes the build: both service URLs and the
// filters (as sets).
func configHash(api, pipeline string, jobFilter, platformFilter []string) string {
	parts := []string{"trawl kernelci config v1", api, pipeline}
	for _, l := range [][]string{jobFilter, platformFilter} {
		s := slices.Clone(l)
		slices.Sort(s)
		parts = append(append(parts, strconv.Itoa(len(s))), s...)
	}
	return targets.HashConfig(parts...)
}

// Name is the configured target name.
func (t *Target) Name() string { return t.name }

// ConfigHash identifies the configuration that changes what gets built:
// the API and pipeline URLs and the filters. It never covers the token.
func (t *Target) ConfigHash() string { return t.configHash }

// ResolveBase returns the commit of the newest usable checkout (see the
// package documentation) of branch on the tree at treeURL. Without one it
// returns an error wrapping targets.ErrWaiting that names the query.
func (t *Target) ResolveBase(ctx context.Context, treeURL, branch string) (string, error) {
	now := t.now().UTC()
	var q url.Values
	for _, back := range lookback() {
		q = checkoutQuery(treeURL, branch)
		if back > 0 {
			q.Set("created__gte", now.Add(-back).Format(queryTimeLayout))
		}
		nodes, err := t.findNodes(ctx, q)
		if err != nil {
			return "", fmt.Errorf("kernelci %s: resolve %s %s: %w", t.name, treeURL, branch, err)
		}
		n, ok, err := newest(nodes, func(n *node) bool {
			tip := n.Data.KernelRevision.TipOfBranch
			return t.usableCheckout(n) && (tip == nil || *tip)
		})
		if err != nil {
			return "", fmt.Errorf("kernelci %s: resolve %s %s: %w", t.name, treeURL, branch, err)
		}
		if ok {
			return n.Data.KernelRevision.Commit, nil
		}
	}
	return "", fmt.Errorf("kernelci %s: no usable checkout node for %s %s yet: %s: %w",
		t.name, treeURL, branch, t.noneFound(q), targets.ErrWaiting)
}

// noneFound says which query found no usable checkout, for the wait's
// message.
func (t *Target) noneFound(q url.Values) string {
	q.Del("limit")
	q.Del("offset")
	return fmt.Sprintf("GET %s/latest/nodes?%s found none by submitters %s that did not fail",
		t.api, q.Encode(), strings.Join(t.submitters, ", "))
}

// MaxWait is how long a unit may wait for a checkout before the wait
// is an error of the cycle.
func (t *Target) MaxWait() time.Duration { return t.checkoutWait }

// checkoutQuery filters the checkouts of a branch.
func checkoutQuery(treeURL, branch string) url.Values {
	return url.Values{
		"kind":                        {"checkout"},
		"name":                        {"checkout"},
		"data.kernel_revision.url":    {treeURL},
		"data.kernel_revision.branch": {branch},
	}
}

// usableCheckout reports whether a checkout may serve as a base: made by
// the pipeline (one of the configured submitters), with no job or platform
// filter (the trigger service sets none; a checkout a person requested
// through /api/checkout may carry them, and a patchset copies them), and
// not failed.
func (t *Target) usableCheckout(n *node) bool {
	return n.Name == "checkout" && n.Result != "fail" && n.Result != "incomplete" &&
		n.Data.KernelRevision.Commit != "" && len(n.JobFilter) == 0 && len(n.PlatformFilter) == 0 &&
		slices.ContainsFunc(t.submitters, func(s string) bool { return matchSubmitter(s, n.Submitter) })
}

// matchSubmitter matches a submitter against a configured entry: equal, or
// starting with the entry's text before a final "*".
func matchSubmitter(entry, submitter string) bool {
	if prefix, ok := strings.CutSuffix(entry, "*"); ok {
		return strings.HasPrefix(submitter, prefix)
	}
	return entry == submitter
}

// Trigger builds r: it adopts a matching patchset node if one exists (see
// the package documentation), and otherwise submits r's patches against the
// usable checkout of r.Base.Commit. Without such a checkout it returns an
// error wrapping targets.ErrWaiting that names the query.
func (t *Target) Trigger(ctx context.Context, r targets.Request) (targets.Job, error) {
	urls, err := t.patchURLs(r.Patches)
	if err != nil {
		return targets.Job{}, fmt.Errorf("kernelci %s: unit %s: %w", t.name, r.Unit, err)
	}
	b := r.Base
	if b.URL == "" || b.Branch == "" || b.Commit == "" {
		return targets.Job{}, fmt.Errorf("kernelci %s: unit %s: base needs a URL, a branch and a commit", t.name, r.Unit)
	}

	existing, adopted, err := t.adopt(ctx, b, urls, r.Exclude)
	if err != nil {
		return targets.Job{}, fmt.Errorf("kernelci %s: unit %s: look for an existing patchset: %w", t.name, r.Unit, err)
	}
	if adopted {
		t.log.Info("kernelci: adopted existing patchset node",
			zap.String("target", t.name), zap.String("unit", r.Unit), zap.String("node", existing.ID))
		return existing, nil
	}

	q := checkoutQuery(b.URL, b.Branch)
	q.Set("data.kernel_revision.commit", b.Commit)
	nodes, err := t.findNodes(ctx, q)
	if err != nil {
		return targets.Job{}, fmt.Errorf("kernelci %s: unit %s: find checkout: %w", t.name, r.Unit, err)
	}
	checkout, ok, err := newest(nodes, t.usableCheckout)
	if err != nil {
		return targets.Job{}, fmt.Errorf("kernelci %s: unit %s: find checkout: %w", t.name, r.Unit, err)
	}
	if !ok {
		return targets.Job{}, fmt.Errorf("kernelci %s: unit %s: no checkout node for %s %s %s yet: %s: %w",
			t.name, r.Unit, b.URL, b.Branch, b.Commit, t.noneFound(q), targets.ErrWaiting)
	}

	n, err := t.submit(ctx, checkout.ID, urls)
	if err != nil {
		return targets.Job{}, fmt.Errorf("kernelci %s: unit %s: submit patchset: %w", t.name, r.Unit, err)
	}
	t.log.Info("kernelci: submitted patchset",
		zap.String("target", t.name), zap.String("unit", r.Unit),
		zap.String("node", n.ID), zap.String("checkout", checkout.ID), zap.Int("patches", len(urls)))
	commit := n.Data.KernelRevision.Commit
	if commit == "" {
		commit = checkout.Data.KernelRevision.Commit
	}
	return t.job(n.ID, commit, false), nil
}

// patchURLs returns the mbox URLs of the patches in order, in the form the
// API stores them (storedURL), refusing what the pipeline would refuse or
// fail: no patches, more than maxPatches, a URL that is not http(s), a host
// off the patch domains.
func (t *Target) patchURLs(patches []change.Patch) ([]string, error) {
	switch {
	case len(patches) == 0:
		return nil, errors.New("no patches to submit")
	case len(patches) > maxPatches:
		return nil, fmt.Errorf("%d patches, the pipeline takes at most %d", len(patches), maxPatches)
	}
	urls := make([]string, len(patches))
	for i, p := range patches {
		u, err := storedURL(p.MboxURL)
		if err != nil {
			return nil, fmt.Errorf("patch %d (%s): mbox URL %q is not an http(s) URL", i, p.Name, p.MboxURL)
		}
		if host := hostOf(u); !t.allowedHost(host) {
			return nil, fmt.Errorf("patch %d: mbox URL %s: host %s is not one of the patch domains %v",
				i, p.MboxURL, host, t.patchDomains)
		}
		urls[i] = u
	}
	return urls, nil
}

// hostOf returns the host name of a URL, "" when it has none.
func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return strings.ToLower(u.Hostname())
}

// allowedHost reports whether the pipeline fetches patches from host.
func (t *Target) allowedHost(host string) bool {
	return host != "" && slices.Contains(t.patchDomains, host)
}

// adopt looks for a patchset node that builds the same thing as a new
// submission would (see the package documentation), other than the
// excluded ones (earlier attempts that ended in an infrastructure error).
func (t *Target) adopt(ctx context.Context, b targets.Base, urls []string, exclude []string) (targets.Job, bool, error) {
	q := url.Values{
		"name":                        {"patchset"},
		"data.kernel_revision.url":    {b.URL},
		"data.kernel_revision.branch": {b.Branch},
		"artifacts.patch0":            {urls[0]},
	}
	if b.Exact {
		q.Set("data.kernel_revision.commit", b.Commit)
	}
	nodes, err := t.findNodes(ctx, q)
	if err != nil {
		return targets.Job{}, false, err
	}
	candidates := slices.DeleteFunc(nodes, func(n node) bool {
		return !samePatches(n.Artifacts, urls) || slices.Contains(exclude, n.ID) ||
			!sameSet(n.JobFilter, t.jobFilter) || !sameSet(n.PlatformFilter, t.platformFilter)
	})
	parents := map[string]*node{}
	for len(candidates) > 0 {
		n, _, err := newest(candidates, func(*node) bool { return true })
		if err != nil {
			return targets.Job{}, false, err
		}
		ok, why, err := t.adoptable(ctx, n, parents)
		if err != nil {
			return targets.Job{}, false, fmt.Errorf("patchset node %s: %w", n.ID, err)
		}
		if ok {
			return t.job(n.ID, n.Data.KernelRevision.Commit, true), true, nil
		}
		t.log.Info("kernelci: not adopting a patchset node with the same patches",
			zap.String("target", t.name), zap.String("node", n.ID), zap.String("why", why))
		id := n.ID
		candidates = slices.DeleteFunc(candidates, func(c node) bool { return c.ID == id })
	}
	return targets.Job{}, false, nil
}

// adoptable reports whether a patchset node with the unit's patches is
// trawl's own kind of job: posted on a usable checkout (not on another
// patchset, nor on a checkout that failed), and not failed for a reason
// that a new submission cures (its base checkout failed or is gone, it
// timed out or the infrastructure ended it). parents caches the parents
// read.
func (t *Target) adoptable(ctx context.Context, n *node, parents map[string]*node) (bool, string, error) {
	if n.Parent == "" {
		return false, "it has no parent", nil
	}
	p, seen := parents[n.Parent]
	if !seen {
		var err error
		if p, err = t.getNode(ctx, n.Parent); err != nil && !errors.Is(err, httpx.ErrNotFound) {
			return false, "", fmt.Errorf("parent: %w", err)
		}
		parents[n.Parent] = p
	}
	switch {
	case p == nil:
		return false, "its parent " + n.Parent + " is gone", nil
	case p.Name != "checkout":
		return false, "its parent " + n.Parent + " is a " + p.Name + " node, not a checkout", nil
	case !t.usableCheckout(p):
		return false, "its parent checkout " + n.Parent + " failed or was not made by the pipeline", nil
	}
	if n.State != "done" || n.Result == "pass" {
		return true, "", nil
	}
	if n.Result == "fail" && !infraCode(n.Data.ErrorCode) && n.Data.ErrorCode != "git_checkout_failure" {
		// The patches do not apply (their hosts are on the patch domains,
		// or patchURLs would have refused them): a new submission fails
		// the same way.
		return true, "", nil
	}
	return false, "it ended " + resultWord(n.Result) + reason(n) + ", which a new submission may cure", nil
}

// samePatches reports whether the patch<N> artifacts are exactly patch0 ..
// patch<len(urls)-1> with the URLs in order.
func samePatches(artifacts map[string]string, urls []string) bool {
	count := 0
	for k, v := range artifacts {
		s, ok := strings.CutPrefix(k, "patch")
		if !ok {
			continue
		}
		i, err := strconv.Atoi(s)
		if err != nil || strconv.Itoa(i) != s {
			continue
		}
		if i >= len(urls) || urls[i] != v {
			return false
		}
		count++
	}
	return count == len(urls)
}

// sameSet compares two string lists as sets; nil and empty are equal.
func sameSet(a, b []string) bool {
	x, y := slices.Clone(a), slices.Clone(b)
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(slices.Compact(x), slices.Compact(y))
}

// job makes the Job for a patchset node.
func (t *Target) job(id, commit string, adopted bool) targets.Job {
	return targets.Job{Target: t.name, ID: id, URL: t.nodeURL(id), BaseCommit: commit, Adopted: adopted}
}

// nodeURL is where a person looks at a node: DashboardURL + id when
// configured, else the API's node URL.
func (t *Target) nodeURL(id string) string {
	if t.dashboard != "" {
		return t.dashboard + id
	}
	return t.api + "/latest/node/" + id
}
