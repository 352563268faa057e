package kernelci_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/trawl-ci/trawl/pkg/capture"
	"github.com/trawl-ci/trawl/pkg/change"
	"github.com/trawl-ci/trawl/pkg/httpx"
	"github.com/trawl-ci/trawl/pkg/targets"
	"github.com/trawl-ci/trawl/pkg/targets/kernelci"
	"github.com/trawl-ci/trawl/pkg/targets/kernelci/kcifake"
)

// The ids of recorded nodes (../shared/fixtures/kernelci/INDEX.md).
const (
	recCheckout       = "6b11363cfd3ad16ddefe1141" // staging checkout of 0f155ab
	recFailedCheckout = "6b1135cdfd3ad16ddefe1132" // done/fail git_checkout_failure
	recBigTree        = "6b1136e1fd3ad16ddefe1159" // series 3 applied, 271 nodes
	recCommit         = "0f155ab7d6443aa22bddcae9e075c775b8b7eee1"
	recPatch2         = "http://127.0.0.1:8703/project/netdev/patch/1473632795-9971-2-git-send-email-stephenfinucane@gmail.com/mbox/"
	recPatch3         = "http://127.0.0.1:8703/project/netdev/patch/1473632795-9971-3-git-send-email-stephenfinucane@gmail.com/mbox/"
)

// recorded reads the nodes in the bodies of recorded captures: a node, a
// {"items": [...]} page, or a {"node": ...} pipeline answer.
func recorded(t testing.TB, names ...string) []kcifake.Node {
	t.Helper()
	dir, err := capture.Shared("kernelci")
	if err != nil {
		t.Fatal(err)
	}
	var out []kcifake.Node
	for _, name := range names {
		x, err := capture.Load(dir, name)
		if err != nil {
			t.Fatal(err)
		}
		var body struct {
			ID    string         `json:"id"`
			Items []kcifake.Node `json:"items"`
			Node  *kcifake.Node  `json:"node"`
		}
		if err := json.Unmarshal(x.Body, &body); err != nil {
			t.Fatalf("capture %s: %v", name, err)
		}
		switch {
		case body.Items != nil:
			out = append(out, body.Items...)
		case body.Node != nil:
			out = append(out, *body.Node)
		case body.ID != "":
			var n kcifake.Node
			if err := json.Unmarshal(x.Body, &n); err != nil {
				t.Fatalf("capture %s: %v", name, err)
			}
			out = append(out, n)
		default:
			t.Fatalf("capture %s holds no node", name)
		}
	}
	return out
}

// bigTree is the recorded tree under patchset …1159 while it closes: the
// treeid query's 271 nodes, the patchset posted on it (its own treeid) and
// its base checkout.
var bigTree = []string{"checkout-staging-4-done", "tree-treeid-one-query", "tree-parent-01-patchset"}

// TestRecordedTrees summarises every recorded patchset as Result reads it,
// the recorded nodes served by the fake.
func TestRecordedTrees(t *testing.T) {
	tests := []struct {
		name    string
		seed    []string
		job     string
		state   targets.State
		summary string
		builds  targets.Tally
		tests   targets.Tally
	}{
		{name: "big tree, a build still open", seed: bigTree, job: recBigTree, state: targets.StatePending,
			summary: "pending: builds 3/3 done, 1 failed; tests 267/267 done, 14 failed",
			builds:  targets.Tally{Pass: 2, Fail: 1}, tests: targets.Tally{Pass: 229, Fail: 14, Error: 4, Skip: 20}},
		{name: "big tree, done", seed: append(bigTree, "patchset-node-2-done", "kbuild-node-pass-done"), job: recBigTree,
			state:   targets.StateFail,
			summary: "builds 2/3 passed, 1 failed; tests 229 passed, 14 failed, 4 infra errors, 20 skipped",
			builds:  targets.Tally{Pass: 2, Fail: 1}, tests: targets.Tally{Pass: 229, Fail: 14, Error: 4, Skip: 20}},
		{name: "LAVA infrastructure error: the failed setup and login under it are infra errors",
			seed: []string{"checkout-staging-4-done", "patchset-node-2-done", "kbuild-node-pass-done", "job-node-lava-infra-error",
				"job-node-lava-infra-error-children", "job-node-lava-infra-error-grandchildren"},
			job: recBigTree, state: targets.StateInfra, summary: "builds 1/1 passed; tests 0 passed, 3 infra errors",
			builds: targets.Tally{Pass: 1}, tests: targets.Tally{Error: 3}},
		{name: "test job timed out without a result",
			seed: []string{"checkout-staging-4-done", "patchset-node-2-done", "kbuild-node-pass-done", "job-node-2-timed-out"},
			job:  recBigTree, state: targets.StateInfra, summary: "builds 1/1 passed; tests 0 passed, 1 infra error",
			builds: targets.Tally{Pass: 1}, tests: targets.Tally{Error: 1}},
		{name: "passed build timed out waiting for its tests keeps its pass",
			seed: []string{"checkout-staging-4-done", "patchset-node-2-done", "kbuild-node-timed-out-keeps-result"},
			job:  recBigTree, state: targets.StateSuccess, summary: "builds 1/1 passed; no tests", builds: targets.Tally{Pass: 1}},
		{name: "LAVA job with failed cases",
			seed: []string{"checkout-staging-4-done", "patchset-node-2-done", "kbuild-node-pass-done", "job-node-lava-pass-with-failures"},
			job:  recBigTree, state: targets.StateFail, summary: "builds 1/1 passed; tests 0 passed, 1 failed",
			builds: targets.Tally{Pass: 1}, tests: targets.Tally{Fail: 1}},
		{name: "just posted", seed: []string{"checkout-staging-2-available", "patchset-post-200"}, job: recBigTree,
			state: targets.StatePending, summary: "pending: waiting for the pipeline to apply the patches"},
		{name: "applied, nothing built yet", seed: []string{"checkout-staging-2-available", "patchset-node-1-available-pass"},
			job: recBigTree, state: targets.StatePending, summary: "pending: patches applied, waiting for builds"},
		{name: "odd URLs applied", seed: []string{"checkout-staging-2-available", "patchset-node-normalised-urls-available-pass"},
			job: "6b1136e1fd3ad16ddefe1161", state: targets.StatePending, summary: "pending: patches applied, waiting for builds"},
		{name: "inline patch applied", seed: []string{"checkout-staging-2-available", "patchset-node-inline-available-pass"},
			job: "6b1136e1fd3ad16ddefe1163", state: targets.StatePending, summary: "pending: patches applied, waiting for builds"},
		{name: "patches do not apply", seed: []string{"checkout-staging-4-done", "patchset-node-noapply-done-fail"},
			job: "6b1136e1fd3ad16ddefe115d", state: targets.StateFail,
			summary: "patches do not apply (the pipeline gave no reason)"},
		{name: "patch host off the allowed domains", seed: []string{"checkout-staging-4-done", "patchset-node-forbidden-domain-done-fail"},
			job: "6b1136e1fd3ad16ddefe115f", state: targets.StateInfra,
			summary: "infra error: configuration: patch host localhost is not among the pipeline's allowed patch domains; the patches were not tried"},
		{name: "posted on a failed checkout", seed: []string{"checkout-failed-git-checkout-failure", "patchset-node-failed-parent-done-fail"},
			job: "6b113708fd3ad16ddefe116b", state: targets.StateInfra,
			summary: "infra error: the pipeline could not check out the base (git_checkout_failure: Failed to init/update git repo); the patches were not tried"},
		{name: "failed with a checkout error code", seed: []string{"checkout-staging-4-done", "patchset-node-noapply-done-fail-with-error-code"},
			job: "6b113721fd3ad16ddefe1172", state: targets.StateInfra,
			summary: "infra error: the pipeline could not check out the base (git_checkout_failure: patch0 does not apply); the patches were not tried"},
		{name: "taken over by the tarball service: built without the patches",
			seed: []string{"checkout-staging-4-done", "patchset-race-2-after-tarball-service"},
			job:  "6b113692fd3ad16ddefe1147", state: targets.StateInfra,
			summary: "infra error: the pipeline built the base without the patches (the patchset node lost its patch artifacts)"},
		{name: "posted on a patchset: nothing applied", seed: append(bigTree, "patchset-node-on-patchset-node"),
			job: "6b113708fd3ad16ddefe116d", state: targets.StateFail,
			summary: "patches do not apply (the pipeline gave no reason)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.fake.Seed(recorded(t, tt.seed...)...)
			tg := e.target(t, func(o *kernelci.Opts) { o.PatchDomains = []string{"127.0.0.1", "patchwork.kernel.org"} })
			got, err := tg.Result(t.Context(), targets.Job{Target: "kernelci-staging", ID: tt.job})
			if err != nil {
				t.Fatalf("Result: %v", err)
			}
			want := targets.Result{State: tt.state, Summary: tt.summary, URL: e.api.URL + "/latest/node/" + tt.job,
				Builds: tt.builds, Tests: tt.tests}
			if got != want {
				t.Errorf("Result =\n  %+v\nwant\n  %+v", got, want)
			}
		})
	}
}

// TestResultRequests counts what reading the recorded 271-node tree costs:
// the patchset node and one treeid query. (The per-parent walk trawl made
// before took 275 requests on the same tree.)
func TestResultRequests(t *testing.T) {
	tests := []struct {
		name     string
		maxNodes int
		requests int64
		cut      bool
	}{
		{name: "whole tree", requests: 2},
		{name: "bounded", maxNodes: 100, requests: 2, cut: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.fake.Seed(recorded(t, bigTree...)...)
			tg := e.target(t, func(o *kernelci.Opts) { o.MaxNodes = tt.maxNodes })
			before := e.apiHits.Load()
			got, err := tg.Result(t.Context(), targets.Job{ID: recBigTree})
			if err != nil {
				t.Fatal(err)
			}
			if n := e.apiHits.Load() - before; n != tt.requests {
				t.Errorf("%d requests, want %d", n, tt.requests)
			}
			if cut := strings.Contains(got.Summary, "only the first"); cut != tt.cut {
				t.Errorf("summary %q: cut = %v, want %v", got.Summary, cut, tt.cut)
			}
		})
	}
}

// BenchmarkResultRecordedTree reports the requests one poll of the recorded
// big tree costs.
func BenchmarkResultRecordedTree(b *testing.B) {
	e := newEnv(b)
	e.fake.Seed(recorded(b, bigTree...)...)
	tg := e.target(b)
	before := e.apiHits.Load()
	for b.Loop() {
		if _, err := tg.Result(b.Context(), targets.Job{ID: recBigTree}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(e.apiHits.Load()-before)/float64(b.N), "requests/op")
}

// TestShortPageIsAnError: a page that ends before the total the API
// announced is an error, never a complete tree.
func TestShortPageIsAnError(t *testing.T) {
	e := newEnv(t)
	e.fake.Seed(recorded(t, bigTree...)...)
	var served atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Has("treeid") {
			served.Add(1)
			w.Header().Set("Content-Type", "application/json")
			// The first page, then nothing, of 271 announced.
			if r.URL.Query().Get("offset") == "0" {
				e.fake.APIHandler().ServeHTTP(w, r)
				return
			}
			w.Write([]byte(`{"items":[],"total":271,"limit":5001,"offset":271}`))
			return
		}
		e.fake.APIHandler().ServeHTTP(w, r)
	}))
	defer srv.Close()
	tg := e.target(t, func(o *kernelci.Opts) { o.APIURL = srv.URL })
	if _, err := tg.Result(t.Context(), targets.Job{ID: recBigTree}); err != nil {
		t.Fatalf("a whole answer: %v", err)
	}
	short := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Has("treeid") {
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"items":[],"total":271,"limit":5001,"offset":0}`))
			return
		}
		e.fake.APIHandler().ServeHTTP(w, r)
	}))
	defer short.Close()
	tg = e.target(t, func(o *kernelci.Opts) { o.APIURL = short.URL })
	_, err := tg.Result(t.Context(), targets.Job{ID: recBigTree})
	if err == nil || !strings.Contains(err.Error(), "a page ends at 0 nodes of the 271 announced") {
		t.Fatalf("err = %v, want a short page refused", err)
	}
}

// TestSelfHostedCheckouts builds on the checkouts a self-hosted pipeline's
// trigger service wrote (submitter user:<email of its API user>).
func TestSelfHostedCheckouts(t *testing.T) {
	selfHosted := "6b113640fd3ad16ddefe1143"
	tests := []struct {
		name       string
		submitters []string
		want       string // the checkout the patchset is posted on; "" to wait
	}{
		{name: "default submitters", want: selfHosted},
		{name: "the self-hosted user named", submitters: []string{"user:ci@selfhosted.example.org"}, want: selfHosted},
		{name: "hosted pipeline only", submitters: []string{"service:pipeline"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.fake.Seed(recorded(t, "checkout-selfhosted-3-done", "checkout-failed-git-checkout-failure")...)
			tg := e.target(t, func(o *kernelci.Opts) { o.Submitters = tt.submitters })
			commit, rerr := tg.ResolveBase(t.Context(), treeURL, branch)
			job, err := tg.Trigger(t.Context(), e.request(recCommit, true, e.patchList(1)))
			if tt.want == "" {
				if !errors.Is(err, targets.ErrWaiting) || !errors.Is(rerr, targets.ErrWaiting) {
					t.Fatalf("Trigger: %v; ResolveBase: %v; want both waiting", err, rerr)
				}
				// The wait names the query that found nothing.
				for _, e := range []error{err, rerr} {
					if !strings.Contains(e.Error(), "/latest/nodes?data.kernel_revision.branch=main") ||
						!strings.Contains(e.Error(), "by submitters service:pipeline") {
						t.Errorf("wait %q does not name the query", e)
					}
				}
				return
			}
			if err != nil || rerr != nil || commit != recCommit {
				t.Fatalf("Trigger: %v; ResolveBase: %q, %v", err, commit, rerr)
			}
			n, _ := e.fake.Node(job.ID)
			if n.Parent == nil || *n.Parent != tt.want {
				t.Errorf("patchset posted on %v, want %s", n.Parent, tt.want)
			}
		})
	}
}

// TestAdoptionOfRecordedPatchsets: the recorded adoption query matches a
// patchset on a failed checkout and one posted on a patchset too; only a
// patchset on the base checkout is adopted.
func TestAdoptionOfRecordedPatchsets(t *testing.T) {
	tests := []struct {
		name    string
		patches []string
		adopt   string // "" to submit anew
	}{
		{name: "the series applied on the base checkout", patches: []string{recPatch2, recPatch3}, adopt: recBigTree},
		{name: "the single patch: on a failed checkout and on a patchset only", patches: []string{recPatch2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.fake.Seed(recorded(t, "checkout-staging-4-done", "checkout-failed-git-checkout-failure", "nodes-patchset-adopt-query")...)
			var ps []change.Patch
			for _, u := range tt.patches {
				ps = append(ps, change.Patch{MboxURL: u})
			}
			// Nothing serves 127.0.0.1:8703 here: a new submission is
			// refused by the pipeline's URL check, which shows it was made.
			job, err := e.target(t).Trigger(t.Context(), e.request(recCommit, false, ps))
			if tt.adopt != "" {
				if err != nil || !job.Adopted || job.ID != tt.adopt {
					t.Fatalf("job %+v, %v; want %s adopted", job, err, tt.adopt)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), "submit patchset") || e.pipeHits.Load() != 1 {
				t.Fatalf("job %+v, %v after %d pipeline requests; want a new submission", job, err, e.pipeHits.Load())
			}
		})
	}
}

// TestAdoptionSurvivesNormalisation: after the state is lost, a Patchwork
// configured with the default port, a space, non-ASCII characters or an
// upper-case host finds the patchset the API stored in normalised form.
func TestAdoptionSurvivesNormalisation(t *testing.T) {
	t.Run("recorded normalised node", func(t *testing.T) {
		e := newEnv(t)
		e.fake.Seed(recorded(t, "checkout-staging-4-done", "patchset-node-normalised-urls-available-pass")...)
		r := e.request(recCommit, true, []change.Patch{
			{MboxURL: "http://127.0.0.1:80/odd path/with space.mbox"},
			{MboxURL: "http://127.0.0.1:8703/odd-path/pätch-ü.mbox"},
		})
		job, err := e.target(t).Trigger(t.Context(), r)
		if err != nil || !job.Adopted || job.ID != "6b1136e1fd3ad16ddefe1161" || e.pipeHits.Load() != 0 {
			t.Fatalf("job %+v, %v, %d pipeline requests; want the recorded node adopted", job, err, e.pipeHits.Load())
		}
	})
	t.Run("upper-case host", func(t *testing.T) {
		e := newEnv(t)
		e.fake.AddCheckout("net-next", treeURL, branch, c1)
		ps := e.patchList(2)
		for i := range ps {
			ps[i].MboxURL = strings.Replace(ps[i].MboxURL, "127.0.0.1", "LocalHost", 1)
		}
		domains := func(o *kernelci.Opts) { o.PatchDomains = []string{"localhost"} }
		if _, err := e.target(t, domains).Trigger(t.Context(), e.request(c1, true, ps)); err != nil {
			t.Fatal(err)
		}
		job, err := e.target(t, domains).Trigger(t.Context(), e.request(c1, true, ps))
		if err != nil || !job.Adopted || e.fake.Submissions() != 1 {
			t.Fatalf("job %+v, %v after %d submissions; want the first adopted", job, err, e.fake.Submissions())
		}
	})
}

// TestVanishedJob: a patchset node that no longer exists is an error
// wrapping targets.ErrJobGone, on which the cycle triggers again.
func TestVanishedJob(t *testing.T) {
	e := newEnv(t)
	e.fake.Seed(recorded(t, "checkout-staging-4-done", "patchset-node-2-done")...)
	e.fake.Delete(recBigTree)
	_, err := e.target(t).Result(t.Context(), targets.Job{ID: recBigTree})
	if !errors.Is(err, targets.ErrJobGone) || !errors.Is(err, kernelci.ErrNodeGone) || !strings.Contains(err.Error(), recBigTree) {
		t.Fatalf("err = %v, want one wrapping targets.ErrJobGone naming the node", err)
	}
}

// TestFinishedJobReadFromTheCache: once a patchset and every node under it
// are done, the treeid answer is final and a second read of it comes from
// the HTTP cache; an unfinished tree is always read from the API.
func TestFinishedJobReadFromTheCache(t *testing.T) {
	tests := []struct {
		name           string
		seed           []string
		network, cache int64
	}{
		{name: "done", seed: []string{"checkout-staging-4-done", "patchset-node-2-done", "kbuild-node-pass-done",
			"job-node-lava-infra-error", "job-node-lava-infra-error-children", "job-node-lava-infra-error-grandchildren"},
			network: 1, cache: 1},
		{name: "closing", seed: bigTree, network: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.fake.Seed(recorded(t, tt.seed...)...)
			meter := &httpx.Meter{}
			hc, err := httpx.New(httpx.Options{Name: "kci", CacheDir: t.TempDir(), UserAgent: "test", Meter: meter})
			if err != nil {
				t.Fatal(err)
			}
			tg := e.target(t, func(o *kernelci.Opts) { o.APIHTTP = hc })
			first, err := tg.Result(t.Context(), targets.Job{ID: recBigTree})
			if err != nil {
				t.Fatal(err)
			}
			before := meter.Snapshot()
			second, err := tg.Result(t.Context(), targets.Job{ID: recBigTree})
			if err != nil || second != first {
				t.Fatalf("second read %+v, %v; first %+v", second, err, first)
			}
			if got := meter.Snapshot().Sub(before); got.Network != tt.network || got.Cache != tt.cache {
				t.Errorf("second read: %+v, want %d network and %d cached", got, tt.network, tt.cache)
			}
		})
	}
}

// TestAdoptionOfEndedPatchsets: a patchset whose patches do not apply on
// the base checkout is adopted (a new submission would fail the same way);
// one the infrastructure ended is not (a new submission may pass).
func TestAdoptionOfEndedPatchsets(t *testing.T) {
	t.Run("recorded: patches do not apply", func(t *testing.T) {
		e := newEnv(t)
		noApply := recorded(t, "checkout-staging-4-done", "patchset-node-noapply-done-fail")
		e.fake.Seed(noApply...)
		var ps []change.Patch
		for _, k := range []string{"patch0", "patch1", "patch2", "patch3"} {
			ps = append(ps, change.Patch{MboxURL: noApply[1].Artifacts[k]})
		}
		job, err := e.target(t).Trigger(t.Context(), e.request(recCommit, true, ps))
		if err != nil || !job.Adopted || job.ID != noApply[1].ID || e.pipeHits.Load() != 0 {
			t.Fatalf("job %+v, %v after %d pipeline requests; want the failed node adopted", job, err, e.pipeHits.Load())
		}
	})
	t.Run("timed out before it was processed", func(t *testing.T) {
		e := newEnv(t)
		e.fake.AddCheckout("net-next", treeURL, branch, c1)
		r := e.request(c1, true, e.patchList(2))
		first, err := e.target(t).Trigger(t.Context(), r)
		if err != nil {
			t.Fatal(err)
		}
		must(t, e.fake.Expire(first.ID))
		again, err := e.target(t).Trigger(t.Context(), r)
		if err != nil || again.Adopted || again.ID == first.ID || e.fake.Submissions() != 2 {
			t.Fatalf("job %+v, %v after %d submissions; want a new submission", again, err, e.fake.Submissions())
		}
	})
}
