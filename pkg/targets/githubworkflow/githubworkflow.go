// Package githubworkflow is the GitHub Actions target: it builds a unit by
// dispatching a workflow_dispatch event to a configured workflow and ref,
// and follows the workflow run to its result.
//
// # The delivery
//
// One trigger is one POST /repos/{owner}/{repo}/actions/workflows/{workflow}/dispatches
// (GitHub docs: REST "Create a workflow dispatch event", API version
// 2022-11-28) with the ref, return_run_details true and two inputs:
//
//	trawl_run   the run name: "<unit> (trawl <attempt id>)", where the attempt
//	            id is targets.AttemptID of the unit, fingerprint and attempt
//	trawl_unit  the unit as the webhook target's JSON body (targets.Document):
//	            unit, fingerprint, attempt, change, base, patches (mbox URLs),
//	            heads, in one compact JSON string
//
// GitHub bounds a dispatch's inputs in number (10 in its Actions
// documentation for years; its REST description now says 25) and in size
// (65,535 characters in all); the unit is packed into one input so that any
// number of patches and heads fits the first bound, and a unit whose inputs
// exceed the second is refused before any request. The workflow must
// declare both inputs and set its run name from the first:
//
//	run-name: ${{ inputs.trawl_run }}
//	on:
//	  workflow_dispatch:
//	    inputs:
//	      trawl_run: {type: string, required: true}
//	      trawl_unit: {type: string, required: true}
//
// A job reads the unit with fromJSON(inputs.trawl_unit). No credential is
// among the inputs.
//
// # Idempotency
//
// A run is found again by its name (display_title), which carries the
// attempt id: before dispatching, Trigger lists the workflow's
// workflow_dispatch runs, newest first
// (GET /repos/{o}/{r}/actions/workflows/{w}/runs?event=workflow_dispatch,
// Opts.MaxPages pages of 100), and adopts the newest whose display_title
// holds the attempt id and whose id is not in Request.Exclude. A retry
// after an infrastructure error has another attempt id, so it is never
// taken for the run it retries.
//
// A workflow without the run-name line would name every run after the
// workflow, so trawl could never find a run again and would dispatch anew
// after every crash or lost state. Trigger therefore first reads the
// workflow (GET /repos/{o}/{r}/actions/workflows/{w}, then its file at the
// ref, GET /repos/{o}/{r}/contents/{path}?ref=; a file that passed is
// read again after a minute, so one cycle's triggers share one read) and
// refuses to dispatch,
// with an error naming the missing line, when its run-name does not use
// inputs.trawl_run or it does not declare both inputs under
// workflow_dispatch. The unit is then tried again every tick and nothing is
// dispatched until the workflow is fixed: no duplicate runs.
//
// The dispatch answers the run id when the server knows return_run_details
// (github.com since February 2026); an older server answers 204 without
// it, and Trigger then looks the run up by name, Opts.FindAttempts times
// Opts.FindInterval apart. A run GitHub has not listed by then is an error
// of this trigger, and the next tick adopts it by name.
//
// A trawl killed while its dispatch is on the wire cannot know whether
// GitHub got it, and GitHub may not list the run yet when the next trawl
// looks. With Opts.StateDir, each dispatch is recorded on disk before it
// is sent (package inflight) and the record dropped once the run is known
// (or GitHub refused the dispatch with a 4xx); a trigger that finds a
// record but no run waits (targets.ErrWaiting) up to PostGrace (default
// 2m) from the recorded dispatch for the run to be listed, and only then
// dispatches again. The record serves both answers: a server that answers
// the run's id has made the run by then, but that answer is lost with a
// killed process as surely as a 204, and the record is written before
// either is known.
//
// What cannot be matched: a run older than the pages read (more than
// MaxPages×100 newer dispatch runs of the workflow), a run renamed or
// deleted, and a run not listed yet when its record is gone (a state
// directory deleted with the state file, no StateDir, or a run GitHub
// lists only after PostGrace). The look-up and
// the dispatch are two requests: run one trawl per target.
//
// # Results
//
// Result reads GET /repos/{o}/{r}/actions/runs/{run_id} (GitHub docs: REST
// "Get a workflow run") and maps its status and conclusion:
//
//	status queued, in_progress, waiting, requested, pending   pending
//	completed, conclusion success                             success
//	completed, conclusion failure                             fail
//	completed, conclusion neutral                             warning (neither passed nor failed)
//	completed, conclusion skipped, cancelled, timed_out,
//	  startup_failure, action_required, stale                 infra-error (nothing learned about the change)
//
// Anything else is an error of the poll. The result URL is the run's
// html_url. A run that no longer exists (404, while the workflow still
// answers) wraps targets.ErrJobGone: the cycle triggers the unit again. A
// 404 from a repository the token no longer sees (GitHub hides a private
// repository so) is an error of the poll, never "gone".
package githubworkflow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	gh "github.com/google/go-github/v92/github"
	"go.uber.org/zap"
	"gopkg.in/yaml.v3"

	"github.com/trawl-ci/trawl/pkg/httpx"
	"github.com/trawl-ci/trawl/pkg/targets"
	"github.com/trawl-ci/trawl/pkg/targets/inflight"
)

// The workflow inputs trawl sends.
const (
	InputRun  = "trawl_run"
	InputUnit = "trawl_unit"
)

// RunNameLine is the line a workflow needs for trawl to find its runs.
const RunNameLine = "run-name: ${{ inputs." + InputRun + " }}"

// maxInputs is GitHub's bound on the characters of all inputs together.
const maxInputs = 65535

// Defaults of the zero values of Opts.
const (
	DefaultAPIURL       = "https://api.github.com/"
	DefaultMaxPages     = 3
	DefaultFindAttempts = 5
	DefaultFindInterval = 2 * time.Second
	DefaultPostGrace    = 2 * time.Minute
)

// perPage is the page size of the run look-up: GitHub's maximum.
const perPage = 100

// Opts configures a Target.
type Opts struct {
	// Name is the configured target name.
	Name string
	// APIURL is the REST API root; "" is DefaultAPIURL. GitHub Enterprise
	// Server's is https://host/api/v3/.
	APIURL string
	// Repo is "owner/name" of the repository holding the workflow.
	Repo string
	// Workflow is the workflow's file name (trawl.yml) or numeric id.
	Workflow string
	// Ref is the branch or tag the workflow runs on.
	Ref string
	// HTTP makes every request; it adds the token (Authorization).
	HTTP *http.Client
	// MaxPages bounds the run look-up; 0 means DefaultMaxPages.
	MaxPages int
	// FindAttempts and FindInterval bound the look-up of a run after a
	// dispatch that did not name it; 0 means the defaults.
	FindAttempts int
	FindInterval time.Duration
	// StateDir, when set, holds a record of each dispatch under
	// StateDir/github-workflow/<Name> until its run is known (package
	// inflight); empty means no records, and a dispatch on the wire when
	// trawl dies may start a second run.
	StateDir string
	// PostGrace is how long a trigger waits for the run of an earlier
	// run's dispatch to be listed before dispatching again; 0 means
	// DefaultPostGrace.
	PostGrace time.Duration
	// Now is the clock of the records; nil means time.Now.
	Now func() time.Time
	// Logger receives progress; nil means no logging.
	Logger *zap.Logger
}

// Target dispatches GitHub Actions workflows. It is safe for concurrent
// use.
type Target struct {
	name         string
	owner, repo  string
	workflow     string
	ref          string
	api          *gh.Client
	maxPages     int
	findAttempts int
	findInterval time.Duration
	records      inflight.Dir
	postGrace    time.Duration
	log          *zap.Logger
	configHash   string

	mu      sync.Mutex
	checked time.Time // when the workflow file last passed checkWorkflow
}

// recheck is how long a workflow file that passed the check is trusted
// before it is read again: the triggers of one cycle share one read.
const recheck = time.Minute

// New checks the options and returns a Target.
func New(o Opts) (*Target, error) {
	if o.Name == "" {
		return nil, errors.New("github-workflow: target name is empty")
	}
	root := o.APIURL
	if root == "" {
		root = DefaultAPIURL
	}
	u, err := url.Parse(root)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("github-workflow %s: api url %q is not an http(s) URL", o.Name, o.APIURL)
	}
	if !strings.HasSuffix(root, "/") {
		root += "/"
	}
	owner, repo, ok := strings.Cut(o.Repo, "/")
	switch {
	case !ok || owner == "" || repo == "" || strings.Contains(repo, "/"):
		return nil, fmt.Errorf("github-workflow %s: repo %q is not owner/name", o.Name, o.Repo)
	case o.Workflow == "" || strings.ContainsAny(o.Workflow, "/?#"):
		return nil, fmt.Errorf("github-workflow %s: workflow %q is not a file name or id", o.Name, o.Workflow)
	case o.Ref == "":
		return nil, fmt.Errorf("github-workflow %s: no ref", o.Name)
	case o.HTTP == nil:
		return nil, fmt.Errorf("github-workflow %s: no HTTP client", o.Name)
	case o.MaxPages < 0 || o.FindAttempts < 0 || o.FindInterval < 0 || o.PostGrace < 0:
		return nil, fmt.Errorf("github-workflow %s: a negative bound", o.Name)
	}
	api, err := gh.NewClient(gh.WithHTTPClient(o.HTTP), gh.WithURLs(&root, &root), gh.WithDisableRateLimitCheck())
	if err != nil {
		return nil, fmt.Errorf("github-workflow %s: %w", o.Name, err)
	}
	t := &Target{
		name: o.Name, owner: owner, repo: repo, workflow: o.Workflow, ref: o.Ref, api: api,
		maxPages: o.MaxPages, findAttempts: o.FindAttempts, findInterval: o.FindInterval, postGrace: o.PostGrace, log: o.Logger,
	}
	if o.StateDir != "" {
		t.records = inflight.Dir{Path: filepath.Join(o.StateDir, "github-workflow", o.Name), Now: o.Now}
	}
	if t.postGrace == 0 {
		t.postGrace = DefaultPostGrace
	}
	if t.maxPages == 0 {
		t.maxPages = DefaultMaxPages
	}
	if t.findAttempts == 0 {
		t.findAttempts = DefaultFindAttempts
	}
	if t.findInterval == 0 {
		t.findInterval = DefaultFindInterval
	}
	if t.log == nil {
		t.log = zap.NewNop()
	}
	t.configHash = targets.HashConfig("trawl github-workflow config v1", root, o.Repo, o.Workflow, o.Ref)
	return t, nil
}

// Name is the configured target name.
func (t *Target) Name() string { return t.name }

// ConfigHash identifies what decides the build: the API, repository,
// workflow and ref. It never covers the token.
func (t *Target) ConfigHash() string { return t.configHash }

// RunName is the run name of r's attempt: what the workflow's run-name
// shows and what Trigger finds the run by.
func RunName(r targets.Request) string {
	return fmt.Sprintf("%s (trawl %s)", r.Unit, targets.AttemptID(r.Unit, r.Fingerprint, r.Attempt))
}

// Inputs are the workflow inputs of r (see the package documentation).
func Inputs(r targets.Request) (map[string]any, error) {
	doc, err := json.Marshal(targets.NewDocument(r))
	if err != nil {
		return nil, err
	}
	name := RunName(r)
	if n := len(name) + len(doc); n > maxInputs {
		return nil, fmt.Errorf("its inputs are %d characters, more than GitHub's %d", n, maxInputs)
	}
	return map[string]any{InputRun: name, InputUnit: string(doc)}, nil
}

// Trigger adopts the run of r's attempt when there is one, and dispatches
// it otherwise (see the package documentation).
func (t *Target) Trigger(ctx context.Context, r targets.Request) (targets.Job, error) {
	if r.Unit == "" || r.Fingerprint == "" {
		return targets.Job{}, fmt.Errorf("github-workflow %s: request needs a unit and a fingerprint", t.name)
	}
	fail := func(what string, err error) (targets.Job, error) {
		return targets.Job{}, fmt.Errorf("github-workflow %s: unit %s: %s: %w", t.name, r.Unit, what, err)
	}
	inputs, err := Inputs(r)
	if err != nil {
		return fail("encode", err)
	}
	if err := t.checkWorkflow(ctx); err != nil {
		return fail("workflow "+t.workflow, err)
	}
	marker := targets.AttemptID(r.Unit, r.Fingerprint, r.Attempt)
	run, err := t.find(ctx, marker, r.Exclude)
	if err != nil {
		return fail("look for its run", err)
	}
	if run != nil {
		t.done(marker)
		t.log.Info("github-workflow: adopted", zap.String("target", t.name), zap.String("unit", r.Unit), zap.Int64("run", run.GetID()))
		return t.job(r, run.GetID(), run.GetHTMLURL(), true), nil
	}
	if at, wait := t.records.Waiting(marker, t.postGrace); wait {
		return fail("dispatch", fmt.Errorf("an earlier run dispatched %q at %s and may have died before GitHub answered or listed the run; "+
			"looking again until %s before dispatching: %w",
			RunName(r), at.UTC().Format(time.RFC3339), at.Add(t.postGrace).UTC().Format(time.RFC3339), targets.ErrWaiting))
	}
	// Recorded whatever the answer will be: a server that answers the run
	// id has made the run by then, but the answer is lost as surely as a
	// 204 when trawl dies with the dispatch on the wire.
	if err := t.records.Record(marker); err != nil {
		return fail("record the dispatch before sending it", err)
	}
	details, _, err := t.api.Actions.CreateWorkflowDispatchEventByFileName(ctx, t.owner, t.repo, t.workflow,
		gh.CreateWorkflowDispatchEventRequest{Ref: t.ref, Inputs: inputs, ReturnRunDetails: new(true)})
	if err != nil {
		err = apiError(err)
		if inflight.Refused(err) {
			// Refused: GitHub started no run.
			t.done(marker)
		}
		return fail("dispatch", err)
	}
	if id := details.GetWorkflowRunID(); id > 0 {
		t.done(marker)
		t.log.Info("github-workflow: dispatched", zap.String("target", t.name), zap.String("unit", r.Unit), zap.Int64("run", id))
		return t.job(r, id, details.GetHTMLURL(), false), nil
	}
	for i := range t.findAttempts {
		if i > 0 {
			select {
			case <-ctx.Done():
				return fail("find the dispatched run", ctx.Err())
			case <-time.After(t.findInterval):
			}
		}
		run, err := t.find(ctx, marker, r.Exclude)
		if err != nil {
			return fail("find the dispatched run", err)
		}
		if run != nil {
			t.done(marker)
			t.log.Info("github-workflow: dispatched", zap.String("target", t.name), zap.String("unit", r.Unit), zap.Int64("run", run.GetID()))
			return t.job(r, run.GetID(), run.GetHTMLURL(), false), nil
		}
	}
	return fail("dispatched", fmt.Errorf("no run named %q listed after %d looks %s apart; the next tick adopts it once GitHub lists it",
		RunName(r), t.findAttempts, t.findInterval))
}

// done deletes the record of marker's dispatch: its run is known, or
// GitHub refused it.
func (t *Target) done(marker string) {
	if err := t.records.Done(marker); err != nil {
		t.log.Warn("github-workflow: cannot delete a dispatch record", zap.String("target", t.name), zap.Error(err))
	}
}

// job is the Job of run id.
func (t *Target) job(r targets.Request, id int64, htmlURL string, adopted bool) targets.Job {
	return targets.Job{Target: t.name, ID: strconv.FormatInt(id, 10), URL: htmlURL, BaseCommit: r.Base.Commit, Adopted: adopted}
}

// find returns the newest workflow_dispatch run of the workflow whose name
// holds marker and whose id is not excluded; nil when none is among the
// pages read.
func (t *Target) find(ctx context.Context, marker string, exclude []string) (*gh.WorkflowRun, error) {
	opt := &gh.ListWorkflowRunsOptions{Event: "workflow_dispatch", ListOptions: gh.ListOptions{PerPage: perPage, Page: 1}}
	for range t.maxPages {
		runs, resp, err := t.api.Actions.ListWorkflowRunsByFileName(ctx, t.owner, t.repo, t.workflow, opt)
		if err != nil {
			return nil, apiError(err)
		}
		for _, run := range runs.WorkflowRuns {
			if strings.Contains(run.GetDisplayTitle(), "(trawl "+marker+")") &&
				!slices.Contains(exclude, strconv.FormatInt(run.GetID(), 10)) {
				return run, nil
			}
		}
		if resp.NextPage == 0 {
			return nil, nil
		}
		opt.Page = resp.NextPage
	}
	return nil, nil
}

// checkWorkflow refuses a workflow whose runs trawl could not find again:
// one that is not active, or whose file at the ref does not set run-name
// from inputs.trawl_run or does not declare both inputs. A workflow that
// passed is trusted for recheck; a failure is never remembered.
func (t *Target) checkWorkflow(ctx context.Context) error {
	t.mu.Lock()
	fresh := !t.checked.IsZero() && time.Since(t.checked) < recheck
	t.mu.Unlock()
	if fresh {
		return nil
	}
	if err := t.readWorkflow(ctx); err != nil {
		return err
	}
	t.mu.Lock()
	t.checked = time.Now()
	t.mu.Unlock()
	return nil
}

// readWorkflow reads the workflow and its file at the ref and checks them.
func (t *Target) readWorkflow(ctx context.Context) error {
	wf, _, err := t.api.Actions.GetWorkflowByFileName(ctx, t.owner, t.repo, t.workflow)
	if err != nil {
		return apiError(err)
	}
	if s := wf.GetState(); s != "active" {
		return fmt.Errorf("is %s, not active", s)
	}
	file, _, _, err := t.api.Repositories.GetContents(ctx, t.owner, t.repo, wf.GetPath(), &gh.RepositoryContentGetOptions{Ref: t.ref})
	if err != nil {
		return fmt.Errorf("read %s at %s: %w", wf.GetPath(), t.ref, apiError(err))
	}
	if file == nil {
		return fmt.Errorf("%s at %s is not a file", wf.GetPath(), t.ref)
	}
	text, err := file.GetContent()
	if err != nil {
		return fmt.Errorf("read %s at %s: %w", wf.GetPath(), t.ref, err)
	}
	if err := CheckWorkflowFile([]byte(text)); err != nil {
		return fmt.Errorf("%s at %s: %w", wf.GetPath(), t.ref, err)
	}
	return nil
}

// runNameRE matches a run-name expression that uses the trawl_run input.
var runNameRE = regexp.MustCompile(`\$\{\{\s*(github\.event\.)?inputs\.` + InputRun + `\s*\}\}`)

// CheckWorkflowFile checks a workflow file's text: its run-name must use
// inputs.trawl_run, and its workflow_dispatch trigger must declare the
// inputs trawl_run and trawl_unit. The error says what to add.
func CheckWorkflowFile(text []byte) error {
	var wf struct {
		RunName string    `yaml:"run-name"`
		On      yaml.Node `yaml:"on"`
	}
	if err := yaml.Unmarshal(text, &wf); err != nil {
		return fmt.Errorf("not a workflow: %w", err)
	}
	if !runNameRE.MatchString(wf.RunName) {
		return fmt.Errorf("its run-name does not name runs by the %s input, so trawl could not find a run again after a crash and would dispatch it twice: add the line %q at the top level", InputRun, RunNameLine)
	}
	var on struct {
		Dispatch *struct {
			Inputs map[string]yaml.Node `yaml:"inputs"`
		} `yaml:"workflow_dispatch"`
	}
	if wf.On.Kind != yaml.MappingNode || wf.On.Decode(&on) != nil || on.Dispatch == nil {
		return errors.New("it has no workflow_dispatch trigger with inputs (on: workflow_dispatch: inputs:)")
	}
	for _, in := range []string{InputRun, InputUnit} {
		if _, ok := on.Dispatch.Inputs[in]; !ok {
			return fmt.Errorf("its workflow_dispatch does not declare the input %s", in)
		}
	}
	return nil
}

// Result reads the run of job and maps its status and conclusion (see the
// package documentation).
func (t *Target) Result(ctx context.Context, job targets.Job) (targets.Result, error) {
	id, err := strconv.ParseInt(job.ID, 10, 64)
	if err != nil || id <= 0 {
		return targets.Result{}, fmt.Errorf("github-workflow %s: job %q is not a run id", t.name, job.ID)
	}
	run, _, err := t.api.Actions.GetWorkflowRunByID(ctx, t.owner, t.repo, id)
	if err != nil {
		err = apiError(err)
		if errors.Is(err, httpx.ErrNotFound) {
			// Gone only if the workflow itself still answers.
			if _, _, werr := t.api.Actions.GetWorkflowByFileName(ctx, t.owner, t.repo, t.workflow); werr != nil {
				return targets.Result{}, fmt.Errorf("github-workflow %s: run %d: %w; and the workflow: %w", t.name, id, err, apiError(werr))
			}
			return targets.Result{}, fmt.Errorf("github-workflow %s: run %d: %w: %w", t.name, id, targets.ErrJobGone, err)
		}
		return targets.Result{}, fmt.Errorf("github-workflow %s: run %d: %w", t.name, id, err)
	}
	state, err := State(run.GetStatus(), run.GetConclusion())
	if err != nil {
		return targets.Result{}, fmt.Errorf("github-workflow %s: run %d: %w", t.name, id, err)
	}
	summary := fmt.Sprintf("workflow run %d: %s", id, run.GetStatus())
	if run.GetConclusion() != "" {
		summary += ", " + run.GetConclusion()
	}
	return targets.Result{State: state, Summary: summary, URL: run.GetHTMLURL()}, nil
}

// State maps a run's status and conclusion to a result state (see the
// package documentation).
func State(status, conclusion string) (targets.State, error) {
	switch status {
	case "queued", "in_progress", "waiting", "requested", "pending":
		return targets.StatePending, nil
	case "completed":
	default:
		return "", fmt.Errorf("unknown run status %q", status)
	}
	switch conclusion {
	case "success":
		return targets.StateSuccess, nil
	case "failure":
		return targets.StateFail, nil
	case "neutral":
		return targets.StateWarning, nil
	case "skipped", "cancelled", "timed_out", "startup_failure", "action_required", "stale":
		return targets.StateInfra, nil
	}
	return "", fmt.Errorf("unknown conclusion %q of a completed run", conclusion)
}

// apiError turns go-github's answer errors into an *httpx.StatusError
// naming the request, the status and GitHub's message (never a request
// header); other errors are returned as they are.
func apiError(err error) error {
	var resp *http.Response
	msg := ""
	if e, ok := errors.AsType[*gh.ErrorResponse](err); ok {
		resp, msg = e.Response, e.Message
		for _, d := range e.Errors {
			if d.Message != "" {
				msg += ": " + d.Message
			}
		}
	} else if e, ok := errors.AsType[*gh.RateLimitError](err); ok {
		resp, msg = e.Response, e.Message
	} else if e, ok := errors.AsType[*gh.AbuseRateLimitError](err); ok {
		resp, msg = e.Response, e.Message
	} else {
		return err
	}
	se := &httpx.StatusError{Message: msg}
	if resp != nil {
		se.Status = resp.StatusCode
		if resp.Request != nil && resp.Request.URL != nil {
			u := *resp.Request.URL
			u.User = nil
			se.Method, se.URL = resp.Request.Method, u.String()
		}
	}
	return se
}
