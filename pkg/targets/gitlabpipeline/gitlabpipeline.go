// Package gitlabpipeline is the GitLab pipeline target: it builds a unit by
// creating a pipeline on a configured project and ref, and follows that
// pipeline to its result.
//
// # The delivery
//
// Two ways to create the pipeline, chosen by Opts.Mode:
//
//   - ModeTrigger: POST /projects/:id/trigger/pipeline with the pipeline
//     trigger token, the ref and variables[KEY]=value (GitLab docs:
//     api/pipeline_triggers.md "Trigger a pipeline with a token";
//     ci/triggers). The token travels in the JSON body, never in the URL.
//     The pipeline's source is "trigger".
//   - ModeAPI: POST /projects/:id/pipeline with the ref and variables as
//     [{key, value}] (GitLab docs: api/pipelines.md "Create a new
//     pipeline"), authenticated by the access token of Opts.HTTP. The
//     pipeline's source is "api".
//
// In both modes the reads (the adoption look-up, the results) use the
// access token that Opts.HTTP adds (PRIVATE-TOKEN): reading a pipeline's
// variables needs the Developer role on the project.
//
// The variables carry the unit:
//
//	TRAWL_UNIT             the unit key
//	TRAWL_FINGERPRINT      the unit's fingerprint
//	TRAWL_ATTEMPT          0, or n for the n-th retry after an infrastructure error
//	TRAWL_CHANGE           the change key (e.g. pw:host/project/series/1)
//	TRAWL_TITLE            the change's title
//	TRAWL_WEB_URL          where a person reads the change
//	TRAWL_BASE_URL         the base tree's clone URL
//	TRAWL_BASE_BRANCH      the base branch
//	TRAWL_BASE_COMMIT      the base commit to build on
//	TRAWL_PATCH_MBOX_URLS  the patches' mbox URLs, one a line, in the order to apply
//	TRAWL_HEADS            the pull/merge request heads, JSON [{"key","repo","ref","sha"}]
//	TRAWL_DOCUMENT         all of the above as the webhook target's JSON body
//
// Values are variables of type env_var: a job reads them from its
// environment. No credential is among them. The project must let the
// creator set pipeline variables (its "minimum role to use pipeline
// variables"; GitLab.com sets "no one allowed" on new projects in new
// groups and on projects that never used pipeline variables,
// gitlab-org/gitlab#502382, and then answers such a creation with a 400:
// a failed trigger).
//
// # Idempotency
//
// Before creating a pipeline, Trigger looks for one of the same unit,
// fingerprint and attempt, and adopts it (Job.Adopted): it lists the
// project's pipelines on the ref from the mode's source (trigger or api),
// newest first (GET /projects/:id/pipelines?ref=&source=&order_by=id&sort=desc,
// Opts.MaxPages pages of 100), and reads the variables of each
// (GET /projects/:id/pipelines/:pipeline_id/variables; a trigger-token
// pipeline's variables are readable there as an API pipeline's are). A
// pipeline matches when its TRAWL_UNIT, TRAWL_FINGERPRINT and TRAWL_ATTEMPT
// are the request's and its id is not in Request.Exclude. A pipeline's
// variables never change, so what was read is remembered for the life of
// the process: a daemon reads each pipeline's variables once. A crash
// between the creation and the state write, or a lost state file, leads to
// adoption, not a second pipeline.
//
// A trawl killed while its creation request is on the wire cannot know
// whether GitLab got it, and GitLab may still be creating the pipeline
// when the next trawl looks. With Opts.StateDir, each creation is
// recorded on disk before it is sent (package inflight) and the record
// dropped once the pipeline is known (or GitLab refused the request with
// a 4xx); a trigger that finds a record but no pipeline waits
// (targets.ErrWaiting) up to PostGrace (default 2m) from the recorded
// request for the pipeline to appear, and only then creates it again.
//
// What cannot be matched: a pipeline older than the pages read (more than
// MaxPages×100 newer pipelines of that source on that ref), on another ref,
// one whose variables were changed by hand, and one still being created
// when its record is gone (a state directory deleted with the state file,
// no StateDir, or a creation GitLab lists only after PostGrace). A
// variables read that fails
// fails the trigger (nothing is created), so a token without the Developer
// role is an error every tick, never a duplicate. The look-up and the
// creation are two requests: run one trawl per target.
//
// # Results
//
// Result reads GET /projects/:id/pipelines/:pipeline_id (GitLab docs:
// api/pipelines.md "Get a single pipeline") and maps its status:
//
//	success                                    success
//	failed                                     fail
//	canceled, skipped                          infra-error (a person or a rule stopped it: nothing was learned about the change)
//	created, waiting_for_resource, preparing,
//	pending, running, manual, scheduled,
//	canceling                                  pending
//
// A pipeline GitLab created failed because the project's CI configuration
// is invalid (yaml_errors set) is an infra-error: it says nothing about the
// change. An unknown status is an error of the poll. The result URL is the
// pipeline's web_url. A pipeline that no longer exists (404, while the
// project still answers) wraps targets.ErrJobGone: the cycle triggers the
// unit again. A 404 from a project the token no longer sees (GitLab hides
// a private project so) is an error of the poll, never "gone".
package gitlabpipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	gl "gitlab.com/gitlab-org/api/client-go"
	"go.uber.org/zap"

	"github.com/trawl-ci/trawl/pkg/httpx"
	"github.com/trawl-ci/trawl/pkg/secret"
	"github.com/trawl-ci/trawl/pkg/targets"
	"github.com/trawl-ci/trawl/pkg/targets/inflight"
)

// The ways to create a pipeline.
const (
	// ModeTrigger creates pipelines with a pipeline trigger token.
	ModeTrigger = "trigger"
	// ModeAPI creates pipelines with the pipelines API and the access token.
	ModeAPI = "api"
)

// DefaultMaxPages is how many pages of 100 pipelines the adoption look-up
// reads when Opts.MaxPages is 0.
const DefaultMaxPages = 3

// perPage is the page size of the adoption look-up: GitLab's maximum.
const perPage = 100

// DefaultPostGrace is how long a trigger waits, when Opts.PostGrace is 0,
// for the pipeline of an earlier run's creation request to appear.
const DefaultPostGrace = 2 * time.Minute

// maxRemembered bounds the pipelines whose variables are remembered.
const maxRemembered = 10000

// Opts configures a Target.
type Opts struct {
	// Name is the configured target name.
	Name string
	// URL is the GitLab instance root, e.g. https://gitlab.com; the API is
	// URL + "/api/v4".
	URL string
	// Project is the project's numeric id or full path (group/project).
	Project string
	// Ref is the branch or tag the pipelines run on.
	Ref string
	// Mode is ModeTrigger or ModeAPI.
	Mode string
	// TriggerToken is the pipeline trigger token (ModeTrigger only). It is
	// read on every trigger, so a rotated token file takes effect at once.
	TriggerToken secret.Source
	// HTTP makes every request; it adds the access token (PRIVATE-TOKEN).
	HTTP *http.Client
	// MaxPages bounds the adoption look-up; 0 means DefaultMaxPages.
	MaxPages int
	// StateDir, when set, holds a record of each creation request under
	// StateDir/gitlab-pipeline/<Name> until its pipeline is known (package
	// inflight); empty means no records, and a request on the wire when
	// trawl dies may create a second pipeline.
	StateDir string
	// PostGrace is how long a trigger waits for the pipeline of an
	// earlier run's creation request to appear before creating it again;
	// 0 means DefaultPostGrace.
	PostGrace time.Duration
	// Now is the clock of the records; nil means time.Now.
	Now func() time.Time
	// Logger receives progress; nil means no logging.
	Logger *zap.Logger
}

// Target creates GitLab pipelines. It is safe for concurrent use.
type Target struct {
	name       string
	project    string
	ref        string
	mode       string
	token      secret.Source
	api        *gl.Client
	maxPages   int
	records    inflight.Dir
	postGrace  time.Duration
	log        *zap.Logger
	configHash string

	mu   sync.Mutex
	seen map[int64]attempt // pipeline id -> what its variables say
}

// attempt is what a pipeline's variables say it builds.
type attempt struct {
	unit, fingerprint, attempt string
}

// New checks the options and returns a Target.
func New(o Opts) (*Target, error) {
	if o.Name == "" {
		return nil, errors.New("gitlab-pipeline: target name is empty")
	}
	u, err := url.Parse(o.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("gitlab-pipeline %s: url %q is not an http(s) URL", o.Name, o.URL)
	}
	root := strings.TrimSuffix(o.URL, "/")
	switch {
	case o.Project == "":
		return nil, fmt.Errorf("gitlab-pipeline %s: no project", o.Name)
	case o.Ref == "":
		return nil, fmt.Errorf("gitlab-pipeline %s: no ref", o.Name)
	case o.Mode != ModeTrigger && o.Mode != ModeAPI:
		return nil, fmt.Errorf("gitlab-pipeline %s: mode %q is neither %q nor %q", o.Name, o.Mode, ModeTrigger, ModeAPI)
	case o.Mode == ModeTrigger && !o.TriggerToken.IsSet():
		return nil, fmt.Errorf("gitlab-pipeline %s: mode %s needs a trigger token", o.Name, ModeTrigger)
	case o.HTTP == nil:
		return nil, fmt.Errorf("gitlab-pipeline %s: no HTTP client", o.Name)
	case o.MaxPages < 0:
		return nil, fmt.Errorf("gitlab-pipeline %s: MaxPages %d is negative", o.Name, o.MaxPages)
	case o.PostGrace < 0:
		return nil, fmt.Errorf("gitlab-pipeline %s: PostGrace %s is negative", o.Name, o.PostGrace)
	}
	api, err := gl.NewAuthSourceClient(gl.Unauthenticated{},
		gl.WithBaseURL(root+"/api/v4"),
		gl.WithHTTPClient(o.HTTP),
		gl.WithoutRetries(),
		gl.WithCustomLimiter(unlimited{}),
		gl.WithURLWarningLogger(slog.New(slog.DiscardHandler)),
	)
	if err != nil {
		return nil, fmt.Errorf("gitlab-pipeline %s: %w", o.Name, err)
	}
	t := &Target{
		name:      o.Name,
		project:   o.Project,
		ref:       o.Ref,
		mode:      o.Mode,
		token:     o.TriggerToken,
		api:       api,
		maxPages:  o.MaxPages,
		postGrace: o.PostGrace,
		log:       o.Logger,
		seen:      map[int64]attempt{},
	}
	if o.StateDir != "" {
		t.records = inflight.Dir{Path: filepath.Join(o.StateDir, "gitlab-pipeline", o.Name), Now: o.Now}
	}
	if t.postGrace == 0 {
		t.postGrace = DefaultPostGrace
	}
	if t.maxPages == 0 {
		t.maxPages = DefaultMaxPages
	}
	if t.log == nil {
		t.log = zap.NewNop()
	}
	t.configHash = targets.HashConfig("trawl gitlab-pipeline config v1", root, o.Project, o.Ref, o.Mode)
	return t, nil
}

// unlimited is a rate limiter that never waits: pacing is httpx's business.
type unlimited struct{}

func (unlimited) Wait(ctx context.Context) error { return ctx.Err() }

// Name is the configured target name.
func (t *Target) Name() string { return t.name }

// ConfigHash identifies what decides the build: the instance, project, ref
// and mode. It never covers a token.
func (t *Target) ConfigHash() string { return t.configHash }

// Variables are the pipeline variables that carry r (see the package
// documentation), sorted by key.
func Variables(r targets.Request) (map[string]string, error) {
	doc := targets.NewDocument(r)
	heads, err := json.Marshal(doc.Heads)
	if err != nil {
		return nil, err
	}
	all, err := json.Marshal(doc)
	if err != nil {
		return nil, err
	}
	mboxes := make([]string, len(r.Patches))
	for i, p := range r.Patches {
		mboxes[i] = p.MboxURL
	}
	return map[string]string{
		"TRAWL_UNIT":            r.Unit,
		"TRAWL_FINGERPRINT":     r.Fingerprint,
		"TRAWL_ATTEMPT":         strconv.Itoa(r.Attempt),
		"TRAWL_CHANGE":          string(r.Change),
		"TRAWL_TITLE":           r.Title,
		"TRAWL_WEB_URL":         r.WebURL,
		"TRAWL_BASE_URL":        r.Base.URL,
		"TRAWL_BASE_BRANCH":     r.Base.Branch,
		"TRAWL_BASE_COMMIT":     r.Base.Commit,
		"TRAWL_PATCH_MBOX_URLS": strings.Join(mboxes, "\n"),
		"TRAWL_HEADS":           string(heads),
		"TRAWL_DOCUMENT":        string(all),
	}, nil
}

// Trigger adopts the pipeline of r's unit, fingerprint and attempt when
// there is one, and creates it otherwise (see the package documentation).
func (t *Target) Trigger(ctx context.Context, r targets.Request) (targets.Job, error) {
	if r.Unit == "" || r.Fingerprint == "" {
		return targets.Job{}, fmt.Errorf("gitlab-pipeline %s: request needs a unit and a fingerprint", t.name)
	}
	want := attempt{r.Unit, r.Fingerprint, strconv.Itoa(r.Attempt)}
	key := targets.AttemptID(r.Unit, r.Fingerprint, r.Attempt)
	found, err := t.find(ctx, want, r.Exclude)
	if err != nil {
		return targets.Job{}, fmt.Errorf("gitlab-pipeline %s: unit %s: look for its pipeline: %w", t.name, r.Unit, err)
	}
	if found != nil {
		t.done(key)
		t.log.Info("gitlab-pipeline: adopted", zap.String("target", t.name), zap.String("unit", r.Unit),
			zap.Int64("pipeline", found.ID))
		return targets.Job{Target: t.name, ID: strconv.FormatInt(found.ID, 10), URL: found.WebURL,
			BaseCommit: r.Base.Commit, Adopted: true}, nil
	}
	if at, wait := t.records.Waiting(key, t.postGrace); wait {
		return targets.Job{}, fmt.Errorf("gitlab-pipeline %s: unit %s: an earlier run asked for the pipeline of job %s at %s and may have died before GitLab answered; "+
			"no such pipeline is listed yet: looking again until %s before creating it: %w",
			t.name, r.Unit, key, at.UTC().Format(time.RFC3339), at.Add(t.postGrace).UTC().Format(time.RFC3339), targets.ErrWaiting)
	}
	vars, err := Variables(r)
	if err != nil {
		return targets.Job{}, fmt.Errorf("gitlab-pipeline %s: unit %s: encode: %w", t.name, r.Unit, err)
	}
	if err := t.records.Record(key); err != nil {
		return targets.Job{}, fmt.Errorf("gitlab-pipeline %s: unit %s: record the creation before sending it: %w", t.name, r.Unit, err)
	}
	p, err := t.create(ctx, vars)
	if err != nil {
		if inflight.Refused(err) {
			// Refused: GitLab made no pipeline.
			t.done(key)
		}
		return targets.Job{}, fmt.Errorf("gitlab-pipeline %s: unit %s: create pipeline: %w", t.name, r.Unit, err)
	}
	t.done(key)
	t.remember(p.ID, want)
	t.log.Info("gitlab-pipeline: created", zap.String("target", t.name), zap.String("unit", r.Unit),
		zap.Int64("pipeline", p.ID), zap.String("status", p.Status))
	return targets.Job{Target: t.name, ID: strconv.FormatInt(p.ID, 10), URL: p.WebURL, BaseCommit: r.Base.Commit}, nil
}

// done deletes the record of key's creation request: its pipeline is
// known, or GitLab refused it.
func (t *Target) done(key string) {
	if err := t.records.Done(key); err != nil {
		t.log.Warn("gitlab-pipeline: cannot delete a creation record", zap.String("target", t.name), zap.Error(err))
	}
}

// source is the pipeline source the mode creates.
func (t *Target) source() string {
	if t.mode == ModeTrigger {
		return "trigger"
	}
	return "api"
}

// create creates one pipeline with vars.
func (t *Target) create(ctx context.Context, vars map[string]string) (*gl.Pipeline, error) {
	if t.mode == ModeTrigger {
		tok, err := t.token.Value()
		if err != nil {
			return nil, fmt.Errorf("trigger token: %w", err)
		}
		p, resp, err := t.api.PipelineTriggers.RunPipelineTrigger(t.project, &gl.RunPipelineTriggerOptions{
			Ref: gl.Ptr(t.ref), Token: gl.Ptr(tok), Variables: vars,
		}, gl.WithContext(ctx))
		if err != nil {
			return nil, apiError(resp, err)
		}
		return p, nil
	}
	keys := make([]string, 0, len(vars))
	for k := range vars {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	list := make([]*gl.PipelineVariableOptions, len(keys))
	for i, k := range keys {
		list[i] = &gl.PipelineVariableOptions{Key: gl.Ptr(k), Value: gl.Ptr(vars[k]), VariableType: gl.Ptr(gl.EnvVariableType)}
	}
	p, resp, err := t.api.Pipelines.CreatePipeline(t.project, &gl.CreatePipelineOptions{
		Ref: gl.Ptr(t.ref), Variables: &list,
	}, gl.WithContext(ctx))
	if err != nil {
		return nil, apiError(resp, err)
	}
	return p, nil
}

// find returns the newest pipeline of the mode's source on the ref whose
// variables say want, skipping the excluded ones; nil when none is among
// the pages read.
func (t *Target) find(ctx context.Context, want attempt, exclude []string) (*gl.PipelineInfo, error) {
	opt := &gl.ListProjectPipelinesOptions{
		ListOptions: gl.ListOptions{PerPage: perPage, Page: 1},
		Ref:         gl.Ptr(t.ref),
		Source:      gl.Ptr(t.source()),
		OrderBy:     gl.Ptr("id"),
		Sort:        gl.Ptr("desc"),
	}
	for range t.maxPages {
		list, resp, err := t.api.Pipelines.ListProjectPipelines(t.project, opt, gl.WithContext(ctx))
		if err != nil {
			return nil, apiError(resp, err)
		}
		for _, p := range list {
			if slices.Contains(exclude, strconv.FormatInt(p.ID, 10)) {
				continue
			}
			got, err := t.variables(ctx, p.ID)
			if err != nil {
				return nil, err
			}
			if got == want {
				return p, nil
			}
		}
		if resp.NextPage == 0 {
			return nil, nil
		}
		opt.Page = resp.NextPage
	}
	return nil, nil
}

// variables returns what pipeline id's variables say, read once.
func (t *Target) variables(ctx context.Context, id int64) (attempt, error) {
	t.mu.Lock()
	a, ok := t.seen[id]
	t.mu.Unlock()
	if ok {
		return a, nil
	}
	vars, resp, err := t.api.Pipelines.GetPipelineVariables(t.project, id, gl.WithContext(ctx))
	if err != nil {
		return attempt{}, apiError(resp, err)
	}
	for _, v := range vars {
		switch v.Key {
		case "TRAWL_UNIT":
			a.unit = v.Value
		case "TRAWL_FINGERPRINT":
			a.fingerprint = v.Value
		case "TRAWL_ATTEMPT":
			a.attempt = v.Value
		}
	}
	t.remember(id, a)
	return a, nil
}

// remember records what pipeline id builds.
func (t *Target) remember(id int64, a attempt) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.seen) >= maxRemembered {
		clear(t.seen)
	}
	t.seen[id] = a
}

// Result reads the pipeline of job and maps its status (see the package
// documentation).
func (t *Target) Result(ctx context.Context, job targets.Job) (targets.Result, error) {
	id, err := strconv.ParseInt(job.ID, 10, 64)
	if err != nil || id <= 0 {
		return targets.Result{}, fmt.Errorf("gitlab-pipeline %s: job %q is not a pipeline id", t.name, job.ID)
	}
	p, resp, err := t.api.Pipelines.GetPipeline(t.project, id, gl.WithContext(ctx))
	if err != nil {
		err = apiError(resp, err)
		if errors.Is(err, httpx.ErrNotFound) {
			// Gone only if the project itself still answers.
			if _, resp, perr := t.api.Projects.GetProject(t.project, nil, gl.WithContext(ctx)); perr != nil {
				return targets.Result{}, fmt.Errorf("gitlab-pipeline %s: pipeline %d: %w; and the project: %w", t.name, id, err, apiError(resp, perr))
			}
			return targets.Result{}, fmt.Errorf("gitlab-pipeline %s: pipeline %d: %w: %w", t.name, id, targets.ErrJobGone, err)
		}
		return targets.Result{}, fmt.Errorf("gitlab-pipeline %s: pipeline %d: %w", t.name, id, err)
	}
	if p.YamlErrors != "" {
		return targets.Result{State: targets.StateInfra, URL: p.WebURL,
			Summary: fmt.Sprintf("pipeline #%d: the CI configuration is invalid: %s", p.ID, clip(secret.Redact(p.YamlErrors)))}, nil
	}
	state, err := State(p.Status)
	if err != nil {
		return targets.Result{}, fmt.Errorf("gitlab-pipeline %s: pipeline %d: %w", t.name, id, err)
	}
	return targets.Result{State: state, Summary: fmt.Sprintf("pipeline #%d: %s", p.ID, p.Status), URL: p.WebURL}, nil
}

// clip shortens a server's message to one line of at most 120 bytes.
func clip(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 120 {
		s = s[:117]
		for !utf8.ValidString(s) { // not in the middle of a character
			s = s[:len(s)-1]
		}
		s += "..."
	}
	return s
}

// State maps a pipeline status to a result state (see the package
// documentation).
func State(status string) (targets.State, error) {
	switch status {
	case "success":
		return targets.StateSuccess, nil
	case "failed":
		return targets.StateFail, nil
	case "canceled", "skipped":
		return targets.StateInfra, nil
	case "created", "waiting_for_resource", "preparing", "pending", "running", "manual", "scheduled", "canceling":
		return targets.StatePending, nil
	}
	return "", fmt.Errorf("unknown pipeline status %q", status)
}

// apiError turns a failed client-go call into an *httpx.StatusError naming
// the request, the status and the server's message (never a request
// header or body); transport errors are returned as they are.
func apiError(resp *gl.Response, err error) error {
	if er, ok := errors.AsType[*gl.ErrorResponse](err); ok && er.Response != nil {
		return httpx.CheckResponse(&http.Response{
			StatusCode: er.Response.StatusCode,
			Request:    er.Response.Request,
			Body:       io.NopCloser(bytes.NewReader(er.Body)),
		})
	}
	if errors.Is(err, gl.ErrNotFound) && resp != nil && resp.Response != nil {
		return httpx.CheckResponse(&http.Response{StatusCode: resp.StatusCode, Request: resp.Request, Body: http.NoBody})
	}
	return err
}
