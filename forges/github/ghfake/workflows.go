package ghfake

// The GitHub Actions endpoints, as GitHub documents them (docs.github.com,
// REST API version 2022-11-28: "Get a workflow", "Create a workflow
// dispatch event", "List workflow runs for a workflow", "Get a workflow
// run"; "Get repository content"; Actions docs: "Events that trigger
// workflows" workflow_dispatch, "Workflow syntax" run-name):
//
//   - GET /repos/{owner}/{repo}/actions/workflows/{workflow_id} takes the
//     file name or the numeric id; 404 when unknown.
//   - GET /repos/{owner}/{repo}/contents/{path}?ref= serves a workflow file
//     as {"type":"file","encoding":"base64","content":...}; 404 for other
//     paths or refs.
//   - POST /repos/{owner}/{repo}/actions/workflows/{workflow_id}/dispatches
//     needs a credential (401 "Requires authentication"), a ref the
//     repository has (422 "No ref found for: X"), a workflow_dispatch
//     trigger (422 "Workflow does not have 'workflow_dispatch' trigger"),
//     inputs the workflow declares (422 "Unexpected inputs provided: [...]"),
//     its required inputs (422 "Required input 'x' not provided"), at most 25
//     inputs (the REST description's bound) and 65,535 characters of them
//     (422). It creates a queued run
//     whose display_title is the workflow's run-name with ${{ inputs.X }}
//     (or github.event.inputs.X) replaced, or the workflow's name without
//     a run-name; it answers 200 {"workflow_run_id","run_url","html_url"}
//     when the body sets return_run_details (the API since February 2026),
//     204 with no body otherwise or after SetDispatchDetails(false) (an
//     older server).
//   - GET /repos/{owner}/{repo}/actions/workflows/{workflow_id}/runs lists
//     {"total_count","workflow_runs"} newest first, filtered on event,
//     branch, status (a status or a conclusion) and head_sha, paged with
//     per_page (default 30, at most 100), page and the Link header, with a
//     weak ETag.
//   - GET /repos/{owner}/{repo}/actions/runs/{run_id} is the run (strong
//     ETag) or 404.
//
// Tests move runs on with SetRunStatus and FinishRun and remove them with
// DeleteRun.

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Bounds GitHub puts on a dispatch's inputs.
const (
	maxDispatchInputs = 25
	maxInputChars     = 65535
)

// Workflow is one workflow file of a repository.
type Workflow struct {
	// ID is the workflow id; 0 picks one.
	ID int64
	// Path is the file, e.g. .github/workflows/trawl.yml.
	Path string
	// Content is the file's YAML text.
	Content string
	// Refs are the branches the repository has; default ["main"].
	Refs []string
	// State is "active" (the default) or a disabled state.
	State string
}

// Run is one workflow run.
type Run struct {
	ID           int64
	WorkflowID   int64
	Repo         string
	Name         string // the workflow's name
	DisplayTitle string
	Event        string
	Status       string
	Conclusion   string
	HeadBranch   string
	HeadSHA      string
	RunNumber    int
	Inputs       map[string]string
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// ciState is the fake's Actions data. f.mu guards it.
type ciState struct {
	workflows []*workflow
	runs      []*Run
	nextRun   int64
	noDetails bool
}

// workflow is a stored workflow with what its file says.
type workflow struct {
	Workflow
	repo     string
	name     string
	runName  string
	dispatch bool
	inputs   map[string]bool // declared input -> required
}

// AddWorkflow adds a workflow to repo ("owner/name", created on first use)
// and returns its id. It panics when the content is not a workflow, a
// mistake in the test.
func (f *Fake) AddWorkflow(repoName string, w Workflow) int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.repo(repoName, true)
	if w.ID == 0 {
		w.ID = 5000 + int64(len(f.ci.workflows))
	}
	if len(w.Refs) == 0 {
		w.Refs = []string{"main"}
	}
	if w.State == "" {
		w.State = "active"
	}
	wf := &workflow{Workflow: w, repo: strings.ToLower(repoName)}
	if err := wf.parse(); err != nil {
		panic("ghfake: workflow " + w.Path + ": " + err.Error())
	}
	f.ci.workflows = append(f.ci.workflows, wf)
	return w.ID
}

// parse reads the name, run-name and workflow_dispatch inputs of the file.
func (w *workflow) parse() error {
	var doc struct {
		Name    string    `yaml:"name"`
		RunName string    `yaml:"run-name"`
		On      yaml.Node `yaml:"on"`
	}
	if err := yaml.Unmarshal([]byte(w.Content), &doc); err != nil {
		return err
	}
	w.name, w.runName = doc.Name, doc.RunName
	if w.name == "" {
		w.name = w.Path
	}
	w.inputs = map[string]bool{}
	switch doc.On.Kind {
	case yaml.ScalarNode:
		w.dispatch = doc.On.Value == "workflow_dispatch"
	case yaml.SequenceNode:
		for _, n := range doc.On.Content {
			w.dispatch = w.dispatch || n.Value == "workflow_dispatch"
		}
	case yaml.MappingNode:
		var on struct {
			Dispatch *struct {
				Inputs map[string]struct {
					Required bool `yaml:"required"`
				} `yaml:"inputs"`
			} `yaml:"workflow_dispatch"`
		}
		if err := doc.On.Decode(&on); err != nil {
			return err
		}
		for i := 0; i+1 < len(doc.On.Content); i += 2 {
			w.dispatch = w.dispatch || doc.On.Content[i].Value == "workflow_dispatch"
		}
		if on.Dispatch != nil {
			for k, v := range on.Dispatch.Inputs {
				w.inputs[k] = v.Required
			}
		}
	}
	return nil
}

// AddRun adds a run of workflow run.WorkflowID, as one dispatched by
// someone else, and returns its id. Repo and Name come from the workflow;
// Event defaults to workflow_dispatch, Status to queued, DisplayTitle to
// the workflow's name. It panics on an unknown workflow.
func (f *Fake) AddRun(run Run) int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	var w *workflow
	for _, x := range f.ci.workflows {
		if x.ID == run.WorkflowID {
			w = x
		}
	}
	if w == nil {
		panic("ghfake: run of unknown workflow " + strconv.FormatInt(run.WorkflowID, 10))
	}
	return f.addRun(w, run).ID
}

// addRun stores run as a new run of w. f.mu is held.
func (f *Fake) addRun(w *workflow, run Run) *Run {
	f.ci.nextRun++
	now := f.tick()
	run.ID, run.WorkflowID, run.Repo, run.Name = 9000000000+f.ci.nextRun, w.ID, w.repo, w.name
	run.RunNumber = 1
	for _, x := range f.ci.runs {
		if x.WorkflowID == w.ID {
			run.RunNumber++
		}
	}
	run.Event = valueOr(run.Event, "workflow_dispatch")
	run.Status = valueOr(run.Status, "queued")
	run.DisplayTitle = valueOr(run.DisplayTitle, w.name)
	run.HeadBranch = valueOr(run.HeadBranch, w.Refs[0])
	run.HeadSHA = valueOr(run.HeadSHA, fmt.Sprintf("%040x", nameID(w.repo+"\x00"+run.HeadBranch)))
	run.CreatedAt, run.UpdatedAt = now, now
	f.ci.runs = append(f.ci.runs, &run)
	return &run
}

// SetDispatchDetails makes dispatches answer the run details when asked
// (true, the default, as github.com does) or always 204 (false, as a
// server older than February 2026 does).
func (f *Fake) SetDispatchDetails(on bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ci.noDetails = !on
}

// SetRunStatus sets the status of run id (queued, in_progress, waiting,
// requested, pending). It panics on an unknown run.
func (f *Fake) SetRunStatus(id int64, status string) {
	f.editRun(id, func(r *Run) { r.Status, r.Conclusion = status, "" })
}

// FinishRun completes run id with conclusion (success, failure, neutral,
// cancelled, skipped, timed_out, action_required, startup_failure, stale).
func (f *Fake) FinishRun(id int64, conclusion string) {
	f.editRun(id, func(r *Run) { r.Status, r.Conclusion = "completed", conclusion })
}

// editRun changes run id and bumps its updated_at.
func (f *Fake) editRun(id int64, fn func(*Run)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := f.run(id)
	if r == nil {
		panic("ghfake: no run " + strconv.FormatInt(id, 10))
	}
	fn(r)
	r.UpdatedAt = f.tick()
}

// DeleteRun removes run id, as "Delete a workflow run" does.
func (f *Fake) DeleteRun(id int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ci.runs = slices.DeleteFunc(f.ci.runs, func(r *Run) bool { return r.ID == id })
}

// Runs returns every run, oldest first.
func (f *Fake) Runs() []Run {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]Run, len(f.ci.runs))
	for i, r := range f.ci.runs {
		out[i] = *r
	}
	return out
}

// run returns run id, or nil. f.mu is held.
func (f *Fake) run(id int64) *Run {
	for _, r := range f.ci.runs {
		if r.ID == id {
			return r
		}
	}
	return nil
}

// workflowRoutes adds the Actions endpoints to mux.
func (f *Fake) workflowRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /repos/{owner}/{repo}/actions/workflows/{workflow}", f.api(f.getWorkflow))
	mux.HandleFunc("POST /repos/{owner}/{repo}/actions/workflows/{workflow}/dispatches", f.api(f.dispatch))
	mux.HandleFunc("GET /repos/{owner}/{repo}/actions/workflows/{workflow}/runs", f.api(f.listRuns))
	mux.HandleFunc("GET /repos/{owner}/{repo}/actions/runs/{run}", f.api(f.getRun))
	mux.HandleFunc("GET /repos/{owner}/{repo}/contents/{path...}", f.api(f.getContents))
}

// findWorkflow returns the workflow of the request's repo and workflow
// path value (file name or id), or nil. f.mu is held.
func (f *Fake) findWorkflow(r *http.Request) *workflow {
	repo := strings.ToLower(r.PathValue("owner") + "/" + r.PathValue("repo"))
	key := r.PathValue("workflow")
	for _, w := range f.ci.workflows {
		if w.repo != repo {
			continue
		}
		if strconv.FormatInt(w.ID, 10) == key || w.Path[strings.LastIndex(w.Path, "/")+1:] == key {
			return w
		}
	}
	return nil
}

// workflowJSON is a workflow as the API renders it.
type workflowJSON struct {
	ID        int64  `json:"id"`
	NodeID    string `json:"node_id"`
	Name      string `json:"name"`
	Path      string `json:"path"`
	State     string `json:"state"`
	CreatedAt string `json:"created_at"`
	UpdatedAt string `json:"updated_at"`
	URL       string `json:"url"`
	HTMLURL   string `json:"html_url"`
	BadgeURL  string `json:"badge_url"`
}

func (f *Fake) getWorkflow(r *http.Request, _ caller) answer {
	w := f.findWorkflow(r)
	if w == nil {
		return notFound()
	}
	full := r.PathValue("owner") + "/" + r.PathValue("repo")
	epoch := timestamp(time.Unix(0, 0))
	return answer{status: http.StatusOK, etag: strongETag, body: workflowJSON{
		ID: w.ID, NodeID: fmt.Sprintf("W_%d", w.ID), Name: w.name, Path: w.Path, State: w.State,
		CreatedAt: epoch, UpdatedAt: epoch,
		URL:      fmt.Sprintf("%s/repos/%s/actions/workflows/%d", apiBase(r), full, w.ID),
		HTMLURL:  fmt.Sprintf("%s/%s/blob/main/%s", f.o.WebURL, full, w.Path),
		BadgeURL: fmt.Sprintf("%s/%s/workflows/%s/badge.svg", f.o.WebURL, full, w.name),
	}}
}

// contentJSON is a file as "Get repository content" renders it.
type contentJSON struct {
	Type        string `json:"type"`
	Encoding    string `json:"encoding"`
	Size        int    `json:"size"`
	Name        string `json:"name"`
	Path        string `json:"path"`
	Content     string `json:"content"`
	SHA         string `json:"sha"`
	URL         string `json:"url"`
	HTMLURL     string `json:"html_url"`
	DownloadURL string `json:"download_url"`
}

func (f *Fake) getContents(r *http.Request, _ caller) answer {
	repo := strings.ToLower(r.PathValue("owner") + "/" + r.PathValue("repo"))
	path := r.PathValue("path")
	ref := r.URL.Query().Get("ref")
	for _, w := range f.ci.workflows {
		if w.repo != repo || w.Path != path || (ref != "" && !slices.Contains(w.Refs, ref)) {
			continue
		}
		full := r.PathValue("owner") + "/" + r.PathValue("repo")
		// GitHub wraps the base64 content at 60 characters.
		enc := base64.StdEncoding.EncodeToString([]byte(w.Content))
		var lines []string
		for len(enc) > 60 {
			lines, enc = append(lines, enc[:60]), enc[60:]
		}
		lines = append(lines, enc)
		return answer{status: http.StatusOK, etag: strongETag, body: contentJSON{
			Type: "file", Encoding: "base64", Size: len(w.Content), Name: path[strings.LastIndex(path, "/")+1:], Path: path,
			Content: strings.Join(lines, "\n") + "\n", SHA: fmt.Sprintf("%040x", nameID(w.Content)),
			URL:         fmt.Sprintf("%s/repos/%s/contents/%s", apiBase(r), full, path),
			HTMLURL:     fmt.Sprintf("%s/%s/blob/%s/%s", f.o.WebURL, full, valueOr(ref, "main"), path),
			DownloadURL: fmt.Sprintf("https://raw.githubusercontent.com/%s/%s/%s", full, valueOr(ref, "main"), path),
		}}
	}
	return notFound()
}

// valueOr is v, or def when v is empty.
func valueOr(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// inputExprRE matches ${{ inputs.X }} and ${{ github.event.inputs.X }}.
var inputExprRE = regexp.MustCompile(`\$\{\{\s*(?:github\.event\.)?inputs\.([A-Za-z0-9_-]+)\s*\}\}`)

func (f *Fake) dispatch(r *http.Request, c caller) answer {
	if !c.authenticated {
		return fail(http.StatusUnauthorized, "Requires authentication")
	}
	w := f.findWorkflow(r)
	if w == nil {
		return notFound()
	}
	var in struct {
		Ref              string          `json:"ref"`
		Inputs           map[string]any  `json:"inputs"`
		ReturnRunDetails json.RawMessage `json:"return_run_details"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		return fail(http.StatusBadRequest, "Problems parsing JSON")
	}
	invalid := func(msg string) answer { return fail(http.StatusUnprocessableEntity, msg) }
	switch {
	case in.Ref == "":
		return invalid("Invalid request.\n\n\"ref\" wasn't supplied.")
	case !slices.Contains(w.Refs, strings.TrimPrefix(in.Ref, "refs/heads/")):
		return invalid("No ref found for: " + in.Ref)
	case !w.dispatch:
		return invalid("Workflow does not have 'workflow_dispatch' trigger")
	case len(in.Inputs) > maxDispatchInputs:
		return invalid(fmt.Sprintf("Invalid request.\n\nNo more than %d properties are allowed; %d were supplied.", maxDispatchInputs, len(in.Inputs)))
	}
	inputs := map[string]string{}
	var unexpected []string
	chars := 0
	for k, v := range in.Inputs {
		s, ok := v.(string)
		if !ok {
			b, _ := json.Marshal(v)
			s = string(b)
		}
		inputs[k] = s
		chars += len(s)
		if _, ok := w.inputs[k]; !ok {
			unexpected = append(unexpected, k)
		}
	}
	slices.Sort(unexpected)
	switch {
	case len(unexpected) > 0:
		return invalid(fmt.Sprintf("Unexpected inputs provided: %q", unexpected))
	case chars > maxInputChars:
		return invalid(fmt.Sprintf("inputs are too large: %d characters, at most %d", chars, maxInputChars))
	}
	for k, required := range w.inputs {
		if _, ok := inputs[k]; required && !ok {
			return invalid(fmt.Sprintf("Required input '%s' not provided", k))
		}
	}
	title := w.name
	if w.runName != "" {
		title = inputExprRE.ReplaceAllStringFunc(w.runName, func(m string) string {
			return inputs[inputExprRE.FindStringSubmatch(m)[1]]
		})
	}
	run := f.addRun(w, Run{DisplayTitle: title, HeadBranch: strings.TrimPrefix(in.Ref, "refs/heads/"), Inputs: inputs})
	if string(in.ReturnRunDetails) != "true" || f.ci.noDetails {
		return answer{status: http.StatusNoContent}
	}
	full := r.PathValue("owner") + "/" + r.PathValue("repo")
	return answer{status: http.StatusOK, body: dispatchDetailsJSON{
		WorkflowRunID: run.ID,
		RunURL:        fmt.Sprintf("%s/repos/%s/actions/runs/%d", apiBase(r), full, run.ID),
		HTMLURL:       fmt.Sprintf("%s/%s/actions/runs/%d", f.o.WebURL, full, run.ID),
	}}
}

// dispatchDetailsJSON is a dispatch's answer with return_run_details.
type dispatchDetailsJSON struct {
	WorkflowRunID int64  `json:"workflow_run_id"`
	RunURL        string `json:"run_url"`
	HTMLURL       string `json:"html_url"`
}

// runJSON is a workflow run as the API renders it (the fields trawl and a
// reader need; GitHub sends more).
type runJSON struct {
	ID           int64   `json:"id"`
	Name         string  `json:"name"`
	NodeID       string  `json:"node_id"`
	HeadBranch   string  `json:"head_branch"`
	HeadSHA      string  `json:"head_sha"`
	Path         string  `json:"path"`
	DisplayTitle string  `json:"display_title"`
	RunNumber    int     `json:"run_number"`
	Event        string  `json:"event"`
	Status       string  `json:"status"`
	Conclusion   *string `json:"conclusion"`
	WorkflowID   int64   `json:"workflow_id"`
	URL          string  `json:"url"`
	HTMLURL      string  `json:"html_url"`
	CreatedAt    string  `json:"created_at"`
	UpdatedAt    string  `json:"updated_at"`
	RunAttempt   int     `json:"run_attempt"`
}

// runJSON renders run. f.mu is held.
func (f *Fake) runJSON(r *http.Request, run *Run) runJSON {
	full := r.PathValue("owner") + "/" + r.PathValue("repo")
	path := ""
	for _, w := range f.ci.workflows {
		if w.ID == run.WorkflowID {
			path = w.Path
		}
	}
	var conclusion *string
	if run.Conclusion != "" {
		c := run.Conclusion
		conclusion = &c
	}
	return runJSON{
		ID: run.ID, Name: run.Name, NodeID: fmt.Sprintf("WFR_%d", run.ID), HeadBranch: run.HeadBranch, HeadSHA: run.HeadSHA,
		Path: path, DisplayTitle: run.DisplayTitle, RunNumber: run.RunNumber, Event: run.Event, Status: run.Status,
		Conclusion: conclusion, WorkflowID: run.WorkflowID,
		URL:       fmt.Sprintf("%s/repos/%s/actions/runs/%d", apiBase(r), full, run.ID),
		HTMLURL:   fmt.Sprintf("%s/%s/actions/runs/%d", f.o.WebURL, full, run.ID),
		CreatedAt: timestamp(run.CreatedAt), UpdatedAt: timestamp(run.UpdatedAt), RunAttempt: 1,
	}
}

func (f *Fake) listRuns(r *http.Request, _ caller) answer {
	w := f.findWorkflow(r)
	if w == nil {
		return notFound()
	}
	q := r.URL.Query()
	var list []*Run
	for i := len(f.ci.runs) - 1; i >= 0; i-- { // newest first
		run := f.ci.runs[i]
		switch {
		case run.WorkflowID != w.ID,
			q.Has("event") && run.Event != q.Get("event"),
			q.Has("branch") && run.HeadBranch != q.Get("branch"),
			q.Has("status") && run.Status != q.Get("status") && run.Conclusion != q.Get("status"),
			q.Has("head_sha") && run.HeadSHA != q.Get("head_sha"):
			continue
		}
		list = append(list, run)
	}
	perPage := min(intParam(q, "per_page", 30), 100)
	page := intParam(q, "page", 1)
	last := max(1, (len(list)+perPage-1)/perPage)
	lo := min((page-1)*perPage, len(list))
	hi := min(lo+perPage, len(list))
	out := struct {
		TotalCount   int       `json:"total_count"`
		WorkflowRuns []runJSON `json:"workflow_runs"`
	}{TotalCount: len(list), WorkflowRuns: []runJSON{}}
	for _, run := range list[lo:hi] {
		out.WorkflowRuns = append(out.WorkflowRuns, f.runJSON(r, run))
	}
	return answer{status: http.StatusOK, etag: weakETag, link: links(r, page, last), body: out}
}

func (f *Fake) getRun(r *http.Request, _ caller) answer {
	repo := strings.ToLower(r.PathValue("owner") + "/" + r.PathValue("repo"))
	id, err := strconv.ParseInt(r.PathValue("run"), 10, 64)
	if err != nil {
		return notFound()
	}
	run := f.run(id)
	if run == nil || run.Repo != repo {
		return notFound()
	}
	return answer{status: http.StatusOK, etag: strongETag, body: f.runJSON(r, run)}
}
