package gitlabpipeline_test

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

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/trawl-ci/trawl/forges/gitlab/glfake"
	"github.com/trawl-ci/trawl/pkg/change"
	"github.com/trawl-ci/trawl/pkg/httpx"
	"github.com/trawl-ci/trawl/pkg/secret"
	"github.com/trawl-ci/trawl/pkg/targets"
	"github.com/trawl-ci/trawl/pkg/targets/gitlabpipeline"
)

const (
	accessToken  = "glpat-access-0123456789"
	triggerToken = "glptt-trigger-0123456789"
	project      = "ci/kernel-tests"
)

// world is a fake GitLab with one CI project (id 7) and a target on it.
type world struct {
	fake *glfake.Fake
	srv  *httptest.Server
	tg   *gitlabpipeline.Target
	logs *bytes.Buffer
}

func newWorld(t *testing.T, mode string, edit ...func(*gitlabpipeline.Opts)) *world {
	t.Helper()
	f := glfake.New(glfake.Options{Token: accessToken})
	f.AddProject(glfake.Project{ID: 7, Path: project, Private: true})
	f.AddTriggerToken(7, triggerToken)
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	write := func(name, v string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(v+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	logs := &bytes.Buffer{}
	log := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(logs), zap.DebugLevel))
	hc, err := httpx.New(httpx.Options{Name: "gitlab-pipeline test", UserAgent: httpx.UserAgent("test"), RetryMax: -1, Logger: log,
		Credential: &httpx.Credential{Header: "PRIVATE-TOKEN", Secret: secret.Source{File: write("access", accessToken)}}})
	if err != nil {
		t.Fatal(err)
	}
	o := gitlabpipeline.Opts{Name: "gl-ci", URL: srv.URL, Project: project, Ref: "main", Mode: mode, HTTP: hc, Logger: log}
	if mode == gitlabpipeline.ModeTrigger {
		o.TriggerToken = secret.Source{File: write("trigger", triggerToken)}
	}
	for _, e := range edit {
		e(&o)
	}
	tg, err := gitlabpipeline.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return &world{fake: f, srv: srv, tg: tg, logs: logs}
}

func request(fp string, attempt int) targets.Request {
	return targets.Request{
		Unit:        "pw:pw.example.org/netdev/series/9@gl-ci",
		Fingerprint: fp,
		Attempt:     attempt,
		Change:      "pw:pw.example.org/netdev/series/9",
		Title:       "net: fix a thing",
		WebURL:      "https://pw.example.org/project/netdev/list/?series=9",
		Base:        targets.Base{Tree: "net-next", URL: "https://git.example.org/net-next.git", Branch: "main", Commit: "1111111111111111111111111111111111111111"},
		Patches: []change.Patch{
			{ID: 7, Name: "[1/2] one", Hash: "h1", MboxURL: "https://pw.example.org/patch/7/mbox/"},
			{ID: 8, Name: "[2/2] two", Hash: "h2", MboxURL: "https://pw.example.org/patch/8/mbox/"},
		},
		Heads: []targets.Head{{Key: "gh:o/r#3", Repo: "https://github.com/o/r.git", Ref: "refs/pull/3/head", SHA: "2222222222222222222222222222222222222222"}},
	}
}

// TestTriggerCarriesUnit: each mode creates one pipeline on the ref, from
// its source, whose variables carry the unit.
func TestTriggerCarriesUnit(t *testing.T) {
	for _, mode := range []string{gitlabpipeline.ModeTrigger, gitlabpipeline.ModeAPI} {
		t.Run(mode, func(t *testing.T) {
			w := newWorld(t, mode)
			r := request("fp1", 0)
			job, err := w.tg.Trigger(context.Background(), r)
			if err != nil {
				t.Fatal(err)
			}
			ps := w.fake.Pipelines()
			if len(ps) != 1 {
				t.Fatalf("%d pipelines, want 1", len(ps))
			}
			p := ps[0]
			if job.Adopted || job.ID != itoa(p.ID) || job.URL != w.srv.URL+"/"+project+"/-/pipelines/"+itoa(p.ID) || job.Target != "gl-ci" {
				t.Errorf("job = %+v, pipeline %d", job, p.ID)
			}
			if p.Source != mode || p.Ref != "main" {
				t.Errorf("pipeline source %q ref %q, want %q main", p.Source, p.Ref, mode)
			}
			vars := map[string]string{}
			for _, v := range p.Variables {
				vars[v.Key] = v.Value
				if v.Type != "env_var" {
					t.Errorf("variable %s is %s, want env_var", v.Key, v.Type)
				}
			}
			want := map[string]string{
				"TRAWL_UNIT": r.Unit, "TRAWL_FINGERPRINT": "fp1", "TRAWL_ATTEMPT": "0", "TRAWL_CHANGE": string(r.Change),
				"TRAWL_BASE_URL": r.Base.URL, "TRAWL_BASE_BRANCH": "main", "TRAWL_BASE_COMMIT": r.Base.Commit,
				"TRAWL_PATCH_MBOX_URLS": "https://pw.example.org/patch/7/mbox/\nhttps://pw.example.org/patch/8/mbox/",
				"TRAWL_TITLE":           r.Title, "TRAWL_WEB_URL": r.WebURL,
			}
			for k, v := range want {
				if vars[k] != v {
					t.Errorf("%s = %q, want %q", k, vars[k], v)
				}
			}
			var heads []targets.Head
			if err := json.Unmarshal([]byte(vars["TRAWL_HEADS"]), &heads); err != nil || len(heads) != 1 || heads[0].Ref != "refs/pull/3/head" {
				t.Errorf("TRAWL_HEADS = %s (%v)", vars["TRAWL_HEADS"], err)
			}
			var doc targets.Document
			if err := json.Unmarshal([]byte(vars["TRAWL_DOCUMENT"]), &doc); err != nil || doc.Fingerprint != "fp1" || len(doc.Patches) != 2 {
				t.Errorf("TRAWL_DOCUMENT = %s (%v)", vars["TRAWL_DOCUMENT"], err)
			}
			for _, v := range vars {
				if strings.Contains(v, triggerToken) || strings.Contains(v, accessToken) {
					t.Error("a token is among the pipeline's variables")
				}
			}
		})
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestResultStatuses: every pipeline status maps to its documented state,
// and the result URL is the pipeline's web_url.
func TestResultStatuses(t *testing.T) {
	w := newWorld(t, gitlabpipeline.ModeTrigger)
	job, err := w.tg.Trigger(context.Background(), request("fp1", 0))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		status string
		want   targets.State
	}{
		{"created", targets.StatePending},
		{"waiting_for_resource", targets.StatePending},
		{"preparing", targets.StatePending},
		{"pending", targets.StatePending},
		{"running", targets.StatePending},
		{"manual", targets.StatePending},
		{"scheduled", targets.StatePending},
		{"canceling", targets.StatePending},
		{"success", targets.StateSuccess},
		{"failed", targets.StateFail},
		{"canceled", targets.StateInfra},
		{"skipped", targets.StateInfra},
	}
	for _, c := range cases {
		w.fake.SetPipelineStatus(mustID(t, job.ID), c.status)
		res, err := w.tg.Result(context.Background(), job)
		if err != nil {
			t.Fatalf("%s: %v", c.status, err)
		}
		if res.State != c.want || res.URL != job.URL || !strings.Contains(res.Summary, c.status) {
			t.Errorf("%s: result %+v, want state %s, url %s", c.status, res, c.want, job.URL)
		}
	}
	// A pipeline that failed on the CI configuration, not on the change.
	bad := w.fake.AddPipeline(glfake.Pipeline{ProjectID: 7, Source: "trigger", Ref: "main", Status: "failed",
		YAMLErrors: "jobs:build config contains unknown keys: scirpt"})
	res, err := w.tg.Result(context.Background(), targets.Job{ID: itoa(bad)})
	if err != nil || res.State != targets.StateInfra || !strings.Contains(res.Summary, "unknown keys: scirpt") {
		t.Errorf("yaml errors: %+v, %v; want infra-error naming them", res, err)
	}
	if _, err := gitlabpipeline.State("exploded"); err == nil {
		t.Error("an unknown status maps to a state")
	}
}

func mustID(t *testing.T, s string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestAdoptionAfterLostState: a trigger whose job was lost (a crash before
// the state write, a deleted state file) adopts the pipeline, also from a
// fresh process, and the project keeps one pipeline.
func TestAdoptionAfterLostState(t *testing.T) {
	for _, mode := range []string{gitlabpipeline.ModeTrigger, gitlabpipeline.ModeAPI} {
		t.Run(mode, func(t *testing.T) {
			w := newWorld(t, mode)
			first, err := w.tg.Trigger(context.Background(), request("fp1", 0))
			if err != nil {
				t.Fatal(err)
			}
			// Someone else's pipelines on the ref, newer than ours.
			for i := range 3 {
				other := request("other", i)
				other.Unit = "gh:o/r#1@gl-ci"
				if _, err := w.tg.Trigger(context.Background(), other); err != nil {
					t.Fatal(err)
				}
			}
			// A new process: nothing remembered.
			fresh, err := gitlabpipeline.New(gitlabpipeline.Opts{Name: "gl-ci", URL: w.srv.URL, Project: project, Ref: "main", Mode: mode,
				TriggerToken: triggerSource(t), HTTP: w.httpClient(t)})
			if err != nil {
				t.Fatal(err)
			}
			for _, tg := range []*gitlabpipeline.Target{w.tg, fresh} {
				again, err := tg.Trigger(context.Background(), request("fp1", 0))
				if err != nil {
					t.Fatal(err)
				}
				if !again.Adopted || again.ID != first.ID || again.URL != first.URL {
					t.Errorf("second trigger = %+v, want adoption of %s", again, first.ID)
				}
			}
			if n := len(w.fake.Pipelines()); n != 4 {
				t.Errorf("%d pipelines, want 4 (ours once, 3 others)", n)
			}
		})
	}
}

func triggerSource(t *testing.T) secret.Source {
	p := filepath.Join(t.TempDir(), "trigger")
	if err := os.WriteFile(p, []byte(triggerToken), 0o600); err != nil {
		t.Fatal(err)
	}
	return secret.Source{File: p}
}

func (w *world) httpClient(t *testing.T) *http.Client {
	p := filepath.Join(t.TempDir(), "access")
	if err := os.WriteFile(p, []byte(accessToken), 0o600); err != nil {
		t.Fatal(err)
	}
	hc, err := httpx.New(httpx.Options{Name: "fresh", UserAgent: httpx.UserAgent("test"), RetryMax: -1,
		Credential: &httpx.Credential{Header: "PRIVATE-TOKEN", Secret: secret.Source{File: p}}})
	if err != nil {
		t.Fatal(err)
	}
	return hc
}

// TestAdoptionBounds: a pipeline beyond the pages read is not found, and a
// new one is created (what cannot be matched); within them it is adopted
// across page boundaries.
func TestAdoptionBounds(t *testing.T) {
	w := newWorld(t, gitlabpipeline.ModeAPI, func(o *gitlabpipeline.Opts) { o.MaxPages = 2 })
	first, err := w.tg.Trigger(context.Background(), request("fp1", 0))
	if err != nil {
		t.Fatal(err)
	}
	hc := w.httpClient(t)
	newTarget := func() *gitlabpipeline.Target {
		tg, err := gitlabpipeline.New(gitlabpipeline.Opts{Name: "gl-ci", URL: w.srv.URL, Project: project, Ref: "main", Mode: gitlabpipeline.ModeAPI, HTTP: hc, MaxPages: 2})
		if err != nil {
			t.Fatal(err)
		}
		return tg
	}
	other := func(n int) {
		for range n {
			w.fake.AddPipeline(glfake.Pipeline{ProjectID: 7, Source: "api", Ref: "main",
				Variables: []glfake.Variable{{Key: "BUILD", Value: "nightly", Type: "env_var"}}})
		}
	}
	other(150) // ours is on page 2 of 100
	// Pipelines of another source or ref are not read.
	w.fake.AddPipeline(glfake.Pipeline{ProjectID: 7, Source: "trigger", Ref: "main"})
	w.fake.AddPipeline(glfake.Pipeline{ProjectID: 7, Source: "api", Ref: "stable"})
	before := len(w.fake.Requests())
	again, err := newTarget().Trigger(context.Background(), request("fp1", 0))
	if err != nil || !again.Adopted || again.ID != first.ID {
		t.Fatalf("on page 2: %+v, %v; want adoption of %s", again, err, first.ID)
	}
	// 2 list pages, 151 variables reads.
	if n := len(w.fake.Requests()) - before; n != 153 {
		t.Errorf("%d requests to adopt, want 153", n)
	}
	other(60) // ours is on page 3 now
	third, err := newTarget().Trigger(context.Background(), request("fp1", 0))
	if err != nil || third.Adopted || third.ID == first.ID {
		t.Fatalf("beyond the pages read: %+v, %v; want a new pipeline", third, err)
	}
}

// TestRetryAttemptIsNotAdopted: a retry after an infrastructure error is a
// new pipeline, and an excluded pipeline is never adopted.
func TestRetryAttemptIsNotAdopted(t *testing.T) {
	w := newWorld(t, gitlabpipeline.ModeTrigger)
	first, err := w.tg.Trigger(context.Background(), request("fp1", 0))
	if err != nil {
		t.Fatal(err)
	}
	w.fake.SetPipelineStatus(mustID(t, first.ID), "canceled")
	retry := request("fp1", 1)
	retry.Exclude = []string{first.ID}
	second, err := w.tg.Trigger(context.Background(), retry)
	if err != nil {
		t.Fatal(err)
	}
	if second.Adopted || second.ID == first.ID {
		t.Errorf("retry = %+v, want a new pipeline", second)
	}
	again, err := w.tg.Trigger(context.Background(), retry)
	if err != nil || !again.Adopted || again.ID != second.ID {
		t.Errorf("retry again = %+v, %v; want adoption of %s", again, err, second.ID)
	}
	// A pipeline of attempt 0 that a mistaken caller excludes is not adopted either.
	first0 := request("fp1", 0)
	first0.Exclude = []string{first.ID}
	third, err := w.tg.Trigger(context.Background(), first0)
	if err != nil || third.Adopted || third.ID == first.ID {
		t.Errorf("excluded = %+v, %v; want a new pipeline", third, err)
	}
	if n := len(w.fake.Pipelines()); n != 3 {
		t.Errorf("%d pipelines, want 3", n)
	}
}

// TestGone: a deleted pipeline is ErrJobGone; another failure is not, nor
// a 404 from a project the token no longer sees.
func TestGone(t *testing.T) {
	w := newWorld(t, gitlabpipeline.ModeTrigger)
	job, err := w.tg.Trigger(context.Background(), request("fp1", 0))
	if err != nil {
		t.Fatal(err)
	}
	w.fake.SetFault(func(*http.Request) int { return http.StatusInternalServerError })
	if _, err := w.tg.Result(context.Background(), job); err == nil || errors.Is(err, targets.ErrJobGone) {
		t.Errorf("500: %v, want an error that is not ErrJobGone", err)
	}
	w.fake.SetFault(nil)
	// The token no longer sees the project: GitLab answers 404 to all.
	w.fake.UpdateProject(7, func(p *glfake.Project) { p.NoAccess = true })
	if _, err := w.tg.Result(context.Background(), job); err == nil || errors.Is(err, targets.ErrJobGone) {
		t.Errorf("hidden project: %v, want an error that is not ErrJobGone", err)
	}
	w.fake.UpdateProject(7, func(p *glfake.Project) { p.NoAccess = false })
	w.fake.DeletePipeline(mustID(t, job.ID))
	if _, err := w.tg.Result(context.Background(), job); !errors.Is(err, targets.ErrJobGone) {
		t.Errorf("deleted: %v, want ErrJobGone", err)
	}
}

// TestTokensNeverShown: a refused trigger token, a refused access token and
// a failed variables read name the request and the status, never a token,
// in errors and logs; nothing is created when the look-up fails.
func TestTokensNeverShown(t *testing.T) {
	w := newWorld(t, gitlabpipeline.ModeTrigger)
	var errs []error
	// The trigger token is not the project's: GitLab answers 404.
	w.fake.AddTriggerToken(8, "unused")
	bad := filepath.Join(t.TempDir(), "bad")
	if err := os.WriteFile(bad, []byte("glptt-not-this-one-42"), 0o600); err != nil {
		t.Fatal(err)
	}
	tg, err := gitlabpipeline.New(gitlabpipeline.Opts{Name: "gl-ci", URL: w.srv.URL, Project: project, Ref: "main", Mode: gitlabpipeline.ModeTrigger,
		TriggerToken: secret.Source{File: bad}, HTTP: w.httpClient(t)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = tg.Trigger(context.Background(), request("fp1", 0))
	errs = append(errs, err)
	// The access token may not read variables (a Reporter): the look-up
	// fails, and nothing is created.
	if _, err := w.tg.Trigger(context.Background(), request("fp0", 0)); err != nil {
		t.Fatal(err)
	}
	w.fake.UpdateProject(7, func(p *glfake.Project) { p.ReadOnly = true })
	fresh, err := gitlabpipeline.New(gitlabpipeline.Opts{Name: "gl-ci", URL: w.srv.URL, Project: project, Ref: "main", Mode: gitlabpipeline.ModeTrigger,
		TriggerToken: triggerSource(t), HTTP: w.httpClient(t)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = fresh.Trigger(context.Background(), request("fp2", 0))
	errs = append(errs, err)
	if n := len(w.fake.Pipelines()); n != 1 {
		t.Errorf("%d pipelines, want 1: a failed look-up must not create one", n)
	}
	for _, err := range errs {
		if err == nil {
			t.Fatal("no error")
		}
		for _, tok := range []string{triggerToken, accessToken, "glptt-not-this-one-42"} {
			if strings.Contains(err.Error(), tok) || strings.Contains(w.logs.String(), tok) {
				t.Errorf("a token is shown: %v", err)
			}
		}
		if !strings.Contains(err.Error(), w.srv.URL) {
			t.Errorf("error %q does not name the request", err)
		}
	}
	if !errors.Is(errs[0], httpx.ErrNotFound) || !errors.Is(errs[1], httpx.ErrForbidden) {
		t.Errorf("errors %v / %v, want 404 / 403", errs[0], errs[1])
	}
}

// TestNewRejects: bad options are refused with the option named.
func TestNewRejects(t *testing.T) {
	hc := http.DefaultClient
	ok := gitlabpipeline.Opts{Name: "n", URL: "https://gitlab.com", Project: "g/p", Ref: "main", Mode: gitlabpipeline.ModeAPI, HTTP: hc}
	cases := map[string]func(*gitlabpipeline.Opts){
		"name":     func(o *gitlabpipeline.Opts) { o.Name = "" },
		"url":      func(o *gitlabpipeline.Opts) { o.URL = "ftp://x" },
		"project":  func(o *gitlabpipeline.Opts) { o.Project = "" },
		"ref":      func(o *gitlabpipeline.Opts) { o.Ref = "" },
		"mode":     func(o *gitlabpipeline.Opts) { o.Mode = "webhook" },
		"token":    func(o *gitlabpipeline.Opts) { o.Mode = gitlabpipeline.ModeTrigger },
		"http":     func(o *gitlabpipeline.Opts) { o.HTTP = nil },
		"maxpages": func(o *gitlabpipeline.Opts) { o.MaxPages = -1 },
	}
	for name, edit := range cases {
		o := ok
		edit(&o)
		if _, err := gitlabpipeline.New(o); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := gitlabpipeline.New(ok); err != nil {
		t.Errorf("valid options: %v", err)
	}
}
