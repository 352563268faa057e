package githubworkflow_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/trawl-ci/trawl/forges/github/ghfake"
	"github.com/trawl-ci/trawl/pkg/change"
	"github.com/trawl-ci/trawl/pkg/httpx"
	"github.com/trawl-ci/trawl/pkg/secret"
	"github.com/trawl-ci/trawl/pkg/targets"
	"github.com/trawl-ci/trawl/pkg/targets/githubworkflow"
)

const (
	token = "ghp_workflowtoken0123456789"
	repo  = "ci-org/kernel-ci"
)

// workflowYAML is the workflow the README documents.
const workflowYAML = `name: trawl
run-name: ${{ inputs.trawl_run }}
on:
  workflow_dispatch:
    inputs:
      trawl_run: {type: string, required: true}
      trawl_unit: {type: string, required: true}
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - run: echo '${{ fromJSON(inputs.trawl_unit).fingerprint }}'
`

// world is a fake GitHub with the workflow and a target on it.
type world struct {
	fake *ghfake.Fake
	srv  *httptest.Server
	tg   *githubworkflow.Target
	logs *bytes.Buffer
	hc   *http.Client
}

func newWorld(t *testing.T, content string, edit ...func(*githubworkflow.Opts)) *world {
	t.Helper()
	f := ghfake.New(ghfake.Options{Tokens: []string{token}})
	f.AddWorkflow(repo, ghfake.Workflow{Path: ".github/workflows/trawl.yml", Content: content})
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	p := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(p, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	logs := &bytes.Buffer{}
	log := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(logs), zap.DebugLevel))
	hc, err := httpx.New(httpx.Options{Name: "github-workflow test", UserAgent: httpx.UserAgent("test"), RetryMax: -1, Logger: log,
		Credential: &httpx.Credential{Header: "Authorization", Prefix: "Bearer ", Secret: secret.Source{File: p}}})
	if err != nil {
		t.Fatal(err)
	}
	w := &world{fake: f, srv: srv, logs: logs, hc: hc}
	w.tg = w.target(t, append([]func(*githubworkflow.Opts){func(o *githubworkflow.Opts) { o.Logger = log }}, edit...)...)
	return w
}

// target is a new target on the world: a fresh process.
func (w *world) target(t *testing.T, edit ...func(*githubworkflow.Opts)) *githubworkflow.Target {
	t.Helper()
	o := githubworkflow.Opts{Name: "gh-ci", APIURL: w.srv.URL + "/", Repo: repo, Workflow: "trawl.yml", Ref: "main", HTTP: w.hc,
		FindInterval: time.Millisecond}
	for _, e := range edit {
		e(&o)
	}
	tg, err := githubworkflow.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

func request(fp string, attempt int) targets.Request {
	return targets.Request{
		Unit:        "pw:pw.example.org/netdev/series/9@gh-ci",
		Fingerprint: fp,
		Attempt:     attempt,
		Change:      "pw:pw.example.org/netdev/series/9",
		Title:       "net: fix a thing",
		Base:        targets.Base{URL: "https://git.example.org/net-next.git", Branch: "main", Commit: "1111111111111111111111111111111111111111"},
		Patches: []change.Patch{
			{ID: 7, Name: "[1/2] one", Hash: "h1", MboxURL: "https://pw.example.org/patch/7/mbox/"},
			{ID: 8, Name: "[2/2] two", Hash: "h2", MboxURL: "https://pw.example.org/patch/8/mbox/"},
		},
		Heads: []targets.Head{{Key: "gh:o/r#3", Repo: "https://github.com/o/r.git", Ref: "refs/pull/3/head", SHA: "2222222222222222222222222222222222222222"}},
	}
}

func id(t *testing.T, s string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestDispatchCarriesUnit: one dispatch, on the ref, whose inputs carry the
// run name and the unit; the job is the run GitHub named, with or without
// return_run_details.
func TestDispatchCarriesUnit(t *testing.T) {
	for _, details := range []bool{true, false} {
		t.Run("details="+strconv.FormatBool(details), func(t *testing.T) {
			w := newWorld(t, workflowYAML)
			w.fake.SetDispatchDetails(details)
			r := request("fp1", 0)
			job, err := w.tg.Trigger(context.Background(), r)
			if err != nil {
				t.Fatal(err)
			}
			runs := w.fake.Runs()
			if len(runs) != 1 {
				t.Fatalf("%d runs, want 1", len(runs))
			}
			run := runs[0]
			if job.Adopted || job.ID != strconv.FormatInt(run.ID, 10) || job.URL != "https://github.com/"+repo+"/actions/runs/"+job.ID {
				t.Errorf("job = %+v, run %d", job, run.ID)
			}
			if run.HeadBranch != "main" || run.Event != "workflow_dispatch" || run.DisplayTitle != githubworkflow.RunName(r) {
				t.Errorf("run = %+v", run)
			}
			if len(run.Inputs) != 2 {
				t.Errorf("inputs %v, want 2", run.Inputs)
			}
			var doc targets.Document
			if err := json.Unmarshal([]byte(run.Inputs[githubworkflow.InputUnit]), &doc); err != nil {
				t.Fatal(err)
			}
			if doc.Unit != r.Unit || doc.Fingerprint != "fp1" || len(doc.Patches) != 2 || doc.Patches[1].MboxURL != r.Patches[1].MboxURL ||
				len(doc.Heads) != 1 || doc.Base.Commit != r.Base.Commit {
				t.Errorf("trawl_unit = %+v", doc)
			}
			for _, v := range run.Inputs {
				if strings.Contains(v, token) {
					t.Error("the token is among the inputs")
				}
			}
		})
	}
}

// TestResultStatuses: every status and conclusion maps to its documented
// state; the result URL is the run's html_url.
func TestResultStatuses(t *testing.T) {
	w := newWorld(t, workflowYAML)
	job, err := w.tg.Trigger(context.Background(), request("fp1", 0))
	if err != nil {
		t.Fatal(err)
	}
	run := id(t, job.ID)
	for _, s := range []string{"queued", "in_progress", "waiting", "requested", "pending"} {
		w.fake.SetRunStatus(run, s)
		res, err := w.tg.Result(context.Background(), job)
		if err != nil || res.State != targets.StatePending || res.URL != job.URL {
			t.Errorf("%s: %+v, %v; want pending", s, res, err)
		}
	}
	cases := map[string]targets.State{
		"success": targets.StateSuccess, "failure": targets.StateFail, "neutral": targets.StateWarning,
		"skipped": targets.StateInfra, "cancelled": targets.StateInfra, "timed_out": targets.StateInfra,
		"startup_failure": targets.StateInfra, "action_required": targets.StateInfra, "stale": targets.StateInfra,
	}
	for c, want := range cases {
		w.fake.FinishRun(run, c)
		res, err := w.tg.Result(context.Background(), job)
		if err != nil || res.State != want || res.URL != job.URL || !strings.Contains(res.Summary, c) {
			t.Errorf("%s: %+v, %v; want %s", c, res, err, want)
		}
	}
	for _, bad := range [][2]string{{"exploded", ""}, {"completed", "exploded"}, {"completed", ""}} {
		if _, err := githubworkflow.State(bad[0], bad[1]); err == nil {
			t.Errorf("%v maps to a state", bad)
		}
	}
}

// TestAdoptionAfterLostState: a trigger whose job was lost adopts the run,
// from the same or a fresh process, with or without run details, among
// other runs; the workflow keeps one run of the unit.
func TestAdoptionAfterLostState(t *testing.T) {
	for _, details := range []bool{true, false} {
		t.Run("details="+strconv.FormatBool(details), func(t *testing.T) {
			w := newWorld(t, workflowYAML)
			w.fake.SetDispatchDetails(details)
			first, err := w.tg.Trigger(context.Background(), request("fp1", 0))
			if err != nil {
				t.Fatal(err)
			}
			for i := range 3 {
				other := request("other"+strconv.Itoa(i), 0)
				if _, err := w.tg.Trigger(context.Background(), other); err != nil {
					t.Fatal(err)
				}
			}
			for _, tg := range []*githubworkflow.Target{w.tg, w.target(t)} {
				again, err := tg.Trigger(context.Background(), request("fp1", 0))
				if err != nil {
					t.Fatal(err)
				}
				if !again.Adopted || again.ID != first.ID || again.URL != first.URL {
					t.Errorf("again = %+v, want adoption of %+v", again, first)
				}
			}
			if n := len(w.fake.Runs()); n != 4 {
				t.Errorf("%d runs, want 4", n)
			}
		})
	}
}

// TestAdoptionBounds: a run beyond the pages read is not found (what cannot
// be matched) and is dispatched anew; within them it is found across pages.
func TestAdoptionBounds(t *testing.T) {
	w := newWorld(t, workflowYAML)
	first, err := w.tg.Trigger(context.Background(), request("fp1", 0))
	if err != nil {
		t.Fatal(err)
	}
	wf := w.fake.Runs()[0].WorkflowID
	others := func(n int) {
		for i := range n {
			w.fake.AddRun(ghfake.Run{WorkflowID: wf, DisplayTitle: "someone's run " + strconv.Itoa(i)})
		}
	}
	others(120) // ours on page 2 of 100
	again, err := w.target(t, func(o *githubworkflow.Opts) { o.MaxPages = 2 }).Trigger(context.Background(), request("fp1", 0))
	if err != nil || !again.Adopted || again.ID != first.ID {
		t.Fatalf("page 2: %+v, %v", again, err)
	}
	third, err := w.target(t, func(o *githubworkflow.Opts) { o.MaxPages = 1 }).Trigger(context.Background(), request("fp1", 0))
	if err != nil || third.Adopted || third.ID == first.ID {
		t.Fatalf("beyond the pages: %+v, %v; want a new run", third, err)
	}
}

// TestRetryAttemptIsNotAdopted: a retry has its own run; an excluded run
// is never adopted.
func TestRetryAttemptIsNotAdopted(t *testing.T) {
	w := newWorld(t, workflowYAML)
	first, err := w.tg.Trigger(context.Background(), request("fp1", 0))
	if err != nil {
		t.Fatal(err)
	}
	w.fake.FinishRun(id(t, first.ID), "cancelled")
	retry := request("fp1", 1)
	retry.Exclude = []string{first.ID}
	second, err := w.tg.Trigger(context.Background(), retry)
	if err != nil || second.Adopted || second.ID == first.ID {
		t.Fatalf("retry = %+v, %v; want a new run", second, err)
	}
	again, err := w.tg.Trigger(context.Background(), retry)
	if err != nil || !again.Adopted || again.ID != second.ID {
		t.Errorf("retry again = %+v, %v; want adoption of %s", again, err, second.ID)
	}
	excluded := request("fp1", 0)
	excluded.Exclude = []string{first.ID}
	third, err := w.tg.Trigger(context.Background(), excluded)
	if err != nil || third.Adopted || third.ID == first.ID {
		t.Errorf("excluded = %+v, %v; want a new run", third, err)
	}
}

// TestGone: a deleted run is ErrJobGone; a refusal is not, nor a 404 from
// a repository the token does not see.
func TestGone(t *testing.T) {
	w := newWorld(t, workflowYAML)
	job, err := w.tg.Trigger(context.Background(), request("fp1", 0))
	if err != nil {
		t.Fatal(err)
	}
	w.fake.Refuse(http.MethodGet, ghfake.NotAccessible, 1)
	if _, err := w.tg.Result(context.Background(), job); err == nil || errors.Is(err, targets.ErrJobGone) {
		t.Errorf("refused: %v, want an error that is not ErrJobGone", err)
	}
	// A repository the token does not see: GitHub answers 404 to all.
	hidden := w.target(t, func(o *githubworkflow.Opts) { o.Repo = "ci-org/private" })
	if _, err := hidden.Result(context.Background(), job); err == nil || errors.Is(err, targets.ErrJobGone) {
		t.Errorf("hidden repository: %v, want an error that is not ErrJobGone", err)
	}
	w.fake.DeleteRun(id(t, job.ID))
	if _, err := w.tg.Result(context.Background(), job); !errors.Is(err, targets.ErrJobGone) {
		t.Errorf("deleted: %v, want ErrJobGone", err)
	}
}

// TestWorkflowWithoutRunName: a workflow that does not name its runs by
// trawl_run (the user forgot the line) is refused with an error that gives
// the line, every tick, and nothing is ever dispatched: no duplicate runs.
// So is one that does not declare the inputs.
func TestWorkflowWithoutRunName(t *testing.T) {
	cases := map[string]struct{ content, want string }{
		"no run-name":    {strings.Replace(workflowYAML, "run-name: ${{ inputs.trawl_run }}\n", "", 1), githubworkflow.RunNameLine},
		"other run-name": {strings.Replace(workflowYAML, "${{ inputs.trawl_run }}", "build ${{ github.ref }}", 1), githubworkflow.RunNameLine},
		"no input":       {strings.Replace(workflowYAML, "      trawl_unit: {type: string, required: true}\n", "", 1), "trawl_unit"},
		"no dispatch":    {"name: x\nrun-name: ${{ inputs.trawl_run }}\non: push\n", "workflow_dispatch"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			w := newWorld(t, c.content)
			for range 3 { // three ticks
				_, err := w.tg.Trigger(context.Background(), request("fp1", 0))
				if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "trawl.yml") {
					t.Fatalf("err = %v, want one naming the workflow and %q", err, c.want)
				}
			}
			if n := len(w.fake.Runs()); n != 0 {
				t.Errorf("%d runs dispatched, want 0", n)
			}
		})
	}
	if err := githubworkflow.CheckWorkflowFile([]byte(strings.Replace(workflowYAML, "inputs.trawl_run", "github.event.inputs.trawl_run", 1))); err != nil {
		t.Errorf("github.event.inputs form refused: %v", err)
	}
}

// TestRunNotListedYet: a server that answers 204 and does not list the run
// within the look-ups makes the trigger fail; the next tick adopts the run
// once listed, so nothing is dispatched twice.
func TestRunNotListedYet(t *testing.T) {
	w := newWorld(t, workflowYAML)
	w.fake.SetDispatchDetails(false)
	// The look-up before the dispatch and the two after it see no run.
	lister := &hideRuns{next: w.fake, hide: 3}
	srv := httptest.NewServer(lister)
	t.Cleanup(srv.Close)
	tg := w.target(t, func(o *githubworkflow.Opts) { o.APIURL = srv.URL + "/"; o.FindAttempts = 2 })
	_, err := tg.Trigger(context.Background(), request("fp1", 0))
	if err == nil || !strings.Contains(err.Error(), "next tick adopts it") {
		t.Fatalf("err = %v, want the run not listed yet", err)
	}
	job, err := tg.Trigger(context.Background(), request("fp1", 0))
	if err != nil || !job.Adopted {
		t.Fatalf("next tick: %+v, %v; want adoption", job, err)
	}
	if n := len(w.fake.Runs()); n != 1 {
		t.Errorf("%d runs, want 1", n)
	}
}

// hideRuns answers the first hide run lists with no runs, as GitHub does
// for a few seconds after a dispatch.
type hideRuns struct {
	next http.Handler
	hide int
}

func (h *hideRuns) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasSuffix(r.URL.Path, "/runs") && h.hide > 0 {
		h.hide--
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"total_count":0,"workflow_runs":[]}`))
		return
	}
	h.next.ServeHTTP(w, r)
}

// TestTokenNeverShown: refusals name the request and status, never the
// token, in errors and logs.
func TestTokenNeverShown(t *testing.T) {
	w := newWorld(t, workflowYAML)
	var errs []error
	bad := filepath.Join(t.TempDir(), "bad")
	if err := os.WriteFile(bad, []byte("ghp_not_the_right_one_42"), 0o600); err != nil {
		t.Fatal(err)
	}
	badHC, err := httpx.New(httpx.Options{Name: "bad", UserAgent: httpx.UserAgent("test"), RetryMax: -1,
		Credential: &httpx.Credential{Header: "Authorization", Prefix: "Bearer ", Secret: secret.Source{File: bad}}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = w.target(t, func(o *githubworkflow.Opts) { o.HTTP = badHC }).Trigger(context.Background(), request("fp1", 0))
	errs = append(errs, err)
	_, err = w.target(t, func(o *githubworkflow.Opts) { o.Ref = "nope" }).Trigger(context.Background(), request("fp1", 0))
	errs = append(errs, err)
	for _, err := range errs {
		if err == nil {
			t.Fatal("no error")
		}
		for _, tok := range []string{token, "ghp_not_the_right_one_42"} {
			if strings.Contains(err.Error(), tok) || strings.Contains(w.logs.String(), tok) {
				t.Errorf("a token is shown: %v", err)
			}
		}
		if !strings.Contains(err.Error(), w.srv.URL) {
			t.Errorf("%v does not name the request", err)
		}
	}
	if n := len(w.fake.Runs()); n != 0 {
		t.Errorf("%d runs, want 0", n)
	}
}

// TestInputsTooLarge: a unit whose inputs exceed GitHub's bound is refused
// before any request.
func TestInputsTooLarge(t *testing.T) {
	w := newWorld(t, workflowYAML)
	r := request("fp1", 0)
	for i := range 600 {
		r.Patches = append(r.Patches, change.Patch{ID: int64(i), MboxURL: "https://pw.example.org/patch/" + strings.Repeat("x", 100) + "/mbox/"})
	}
	before := len(w.fake.Requests())
	if _, err := w.tg.Trigger(context.Background(), r); err == nil || !strings.Contains(err.Error(), "65535") {
		t.Errorf("err = %v, want the bound named", err)
	}
	if n := len(w.fake.Requests()) - before; n != 0 {
		t.Errorf("%d requests, want none", n)
	}
}

// TestNewRejects: bad options are refused.
func TestNewRejects(t *testing.T) {
	ok := githubworkflow.Opts{Name: "n", Repo: "o/r", Workflow: "trawl.yml", Ref: "main", HTTP: http.DefaultClient}
	cases := map[string]func(*githubworkflow.Opts){
		"name":     func(o *githubworkflow.Opts) { o.Name = "" },
		"api":      func(o *githubworkflow.Opts) { o.APIURL = "ftp://x" },
		"repo":     func(o *githubworkflow.Opts) { o.Repo = "o" },
		"repo3":    func(o *githubworkflow.Opts) { o.Repo = "o/r/x" },
		"workflow": func(o *githubworkflow.Opts) { o.Workflow = "../x" },
		"ref":      func(o *githubworkflow.Opts) { o.Ref = "" },
		"http":     func(o *githubworkflow.Opts) { o.HTTP = nil },
		"pages":    func(o *githubworkflow.Opts) { o.MaxPages = -1 },
	}
	for name, edit := range cases {
		o := ok
		edit(&o)
		if _, err := githubworkflow.New(o); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := githubworkflow.New(ok); err != nil {
		t.Error(err)
	}
}

// TestWorkflowReadOncePerCycle: the triggers of one cycle share one read
// of the workflow and its file.
func TestWorkflowReadOncePerCycle(t *testing.T) {
	w := newWorld(t, workflowYAML)
	for i := range 3 {
		if _, err := w.tg.Trigger(context.Background(), request("fp"+strconv.Itoa(i), 0)); err != nil {
			t.Fatal(err)
		}
	}
	reads := 0
	for _, r := range w.fake.Requests() {
		if strings.Contains(r.URI, "/contents/") || strings.HasSuffix(r.URI, "/actions/workflows/trawl.yml") {
			reads++
		}
	}
	if reads != 2 {
		t.Errorf("%d reads of the workflow and its file for 3 triggers, want 2", reads)
	}
}
