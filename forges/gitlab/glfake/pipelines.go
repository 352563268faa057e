package glfake

// The CI pipeline endpoints, as GitLab documents them (docs.gitlab.com:
// api/pipelines.md "List project pipelines", "Get a single pipeline", "Get
// variables of a pipeline", "Create a new pipeline"; api/pipeline_triggers.md
// "Trigger a pipeline with a token"; ci/triggers):
//
//   - POST /projects/:id/trigger/pipeline takes token, ref and variables
//     (a JSON object, or variables[KEY]=value in a form or the query) and
//     needs no other credential: an unknown token is a 404, as GitLab
//     answers it; a ref the project does not have is a 400
//     {"message":{"base":["Reference not found"]}}. It answers 201 with the
//     pipeline, source "trigger".
//   - POST /projects/:id/pipeline takes ref and variables as
//     [{key, value, variable_type}], needs the Developer role (401 without
//     a token, 403 on a ReadOnly project) and answers 201, source "api".
//   - GET /projects/:id/pipelines filters on ref, source, status and sha,
//     orders on id (default) or updated_at, sort desc (default) or asc, and
//     pages like every list (X-Next-Page and friends).
//   - GET /projects/:id/pipelines/:pipeline_id is the pipeline or a 404
//     {"message":"404 Not found"}.
//   - GET /projects/:id/pipelines/:pipeline_id/variables lists the
//     variables a pipeline was created with ([{variable_type, key, value}]),
//     trigger pipelines' included; it needs the Developer role.
//
// A new pipeline is "created"; tests move it on with SetPipelineStatus and
// remove it with DeletePipeline.

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Pipeline is one CI pipeline of the fake.
type Pipeline struct {
	ID        int64
	IID       int64
	ProjectID int64
	Status    string
	Source    string // "trigger" or "api"
	Ref       string
	SHA       string
	Variables []Variable
	// YAMLErrors is the CI configuration's error, for a pipeline GitLab
	// created failed because its .gitlab-ci.yml is invalid.
	YAMLErrors string
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// Variable is one pipeline variable.
type Variable struct {
	Key   string
	Value string
	Type  string // "env_var" or "file"
}

// ciState is the fake's CI data. f.mu guards it.
type ciState struct {
	triggers  map[string]int64 // trigger token -> project id
	pipelines []*Pipeline
}

// pipelineStatuses are the statuses GitLab gives a pipeline
// (Ci::HasStatus::AVAILABLE_STATUSES).
var pipelineStatuses = []string{"created", "waiting_for_resource", "preparing", "pending", "running",
	"success", "failed", "canceling", "canceled", "skipped", "manual", "scheduled"}

// AddTriggerToken makes token a pipeline trigger token of project id.
func (f *Fake) AddTriggerToken(projectID int64, token string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ci.triggers == nil {
		f.ci.triggers = map[string]int64{}
	}
	f.ci.triggers[token] = projectID
}

// AddPipeline adds a pipeline, as one created outside the test's client
// would be, and returns its id. It fills in ID, IID, Status ("created"),
// SHA and the times when they are zero, and panics on an unknown project.
func (f *Fake) AddPipeline(p Pipeline) int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	pr := f.projectByID(p.ProjectID)
	if pr == nil {
		panic("glfake: pipeline of unknown project " + strconv.FormatInt(p.ProjectID, 10))
	}
	return f.addPipeline(pr, p).ID
}

// addPipeline stores p as a new pipeline of pr. f.mu is held.
func (f *Fake) addPipeline(pr *Project, p Pipeline) *Pipeline {
	f.nextID++
	p.ID = f.nextID
	p.ProjectID = pr.ID
	for _, q := range f.ci.pipelines {
		if q.ProjectID == pr.ID {
			p.IID = max(p.IID, q.IID)
		}
	}
	p.IID++
	if p.Status == "" {
		p.Status = "created"
	}
	if p.SHA == "" {
		sum := sha256.Sum256([]byte(pr.Path + "\x00" + p.Ref))
		p.SHA = hex.EncodeToString(sum[:20])
	}
	now := f.o.Now().UTC()
	if p.CreatedAt.IsZero() {
		p.CreatedAt = now
	}
	if p.UpdatedAt.IsZero() {
		p.UpdatedAt = p.CreatedAt
	}
	p.Variables = slices.Clone(p.Variables)
	f.ci.pipelines = append(f.ci.pipelines, &p)
	return &p
}

// SetPipelineStatus sets the status of pipeline id, as GitLab does as its
// jobs run and end. It panics on an unknown pipeline or status, a mistake
// in the test.
func (f *Fake) SetPipelineStatus(id int64, status string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !slices.Contains(pipelineStatuses, status) {
		panic("glfake: unknown pipeline status " + status)
	}
	p := f.pipeline(id)
	if p == nil {
		panic("glfake: no pipeline " + strconv.FormatInt(id, 10))
	}
	p.Status, p.UpdatedAt = status, f.o.Now().UTC()
}

// DeletePipeline removes pipeline id, as a maintainer's delete does.
func (f *Fake) DeletePipeline(id int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ci.pipelines = slices.DeleteFunc(f.ci.pipelines, func(p *Pipeline) bool { return p.ID == id })
}

// Pipelines returns every pipeline, oldest first.
func (f *Fake) Pipelines() []Pipeline {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]Pipeline, len(f.ci.pipelines))
	for i, p := range f.ci.pipelines {
		out[i] = *p
		out[i].Variables = slices.Clone(p.Variables)
	}
	return out
}

// pipeline returns pipeline id, or nil. f.mu is held.
func (f *Fake) pipeline(id int64) *Pipeline {
	for _, p := range f.ci.pipelines {
		if p.ID == id {
			return p
		}
	}
	return nil
}

// routeCI serves the pipeline endpoints and reports whether the request
// was one of them. segs are the unescaped path segments below
// /api/v4/projects/. f.mu is held.
func (f *Fake) routeCI(w http.ResponseWriter, r *http.Request, segs []string, acc access) bool {
	if len(segs) == 3 && segs[1] == "trigger" && segs[2] == "pipeline" && r.Method == http.MethodPost {
		f.triggerPipeline(w, r, segs[0])
		return true
	}
	isCI := (len(segs) == 2 && (segs[1] == "pipeline" || segs[1] == "pipelines")) ||
		(len(segs) >= 3 && segs[1] == "pipelines")
	if !isCI {
		return false
	}
	p := f.project(segs[0])
	if p == nil || (p.Private && (acc != authenticated || p.NoAccess)) {
		writeJSON(w, r, http.StatusNotFound, map[string]string{"message": "404 Project Not Found"})
		return true
	}
	get := r.Method == http.MethodGet || r.Method == http.MethodHead
	developer := func() bool {
		switch {
		case acc != authenticated:
			writeJSON(w, r, http.StatusUnauthorized, map[string]string{"message": "401 Unauthorized"})
			return false
		case p.ReadOnly:
			writeJSON(w, r, http.StatusForbidden, map[string]string{"message": "403 Forbidden"})
			return false
		}
		return true
	}
	switch {
	case len(segs) == 2 && segs[1] == "pipeline" && r.Method == http.MethodPost:
		if developer() {
			f.createPipeline(w, r, p)
		}
	case len(segs) == 2 && segs[1] == "pipelines" && get:
		f.listPipelines(w, r, p)
	case len(segs) == 3 && get:
		if pl := f.projectPipeline(p, segs[2]); pl != nil {
			writeJSON(w, r, http.StatusOK, f.pipelineJSON(base(r), p, pl))
		} else {
			writeJSON(w, r, http.StatusNotFound, map[string]string{"message": "404 Not found"})
		}
	case len(segs) == 4 && segs[3] == "variables" && get:
		if !developer() {
			return true
		}
		pl := f.projectPipeline(p, segs[2])
		if pl == nil {
			writeJSON(w, r, http.StatusNotFound, map[string]string{"message": "404 Not found"})
			return true
		}
		out := make([]variableJSON, len(pl.Variables))
		for i, v := range pl.Variables {
			out[i] = variableJSON{VariableType: v.Type, Key: v.Key, Value: v.Value}
		}
		writeJSON(w, r, http.StatusOK, out)
	default:
		writeJSON(w, r, http.StatusNotFound, map[string]string{"error": "404 Not Found"})
	}
	return true
}

// projectPipeline returns pipeline id of project p, or nil. f.mu is held.
func (f *Fake) projectPipeline(p *Project, id string) *Pipeline {
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil {
		return nil
	}
	if pl := f.pipeline(n); pl != nil && pl.ProjectID == p.ID {
		return pl
	}
	return nil
}

// triggerPipeline serves POST /projects/:id/trigger/pipeline.
func (f *Fake) triggerPipeline(w http.ResponseWriter, r *http.Request, id string) {
	var in struct {
		Token     string            `json:"token"`
		Ref       string            `json:"ref"`
		Variables map[string]string `json:"variables"`
	}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			writeJSON(w, r, http.StatusBadRequest, map[string]string{"error": "malformed JSON body"})
			return
		}
	} else {
		if err := r.ParseForm(); err != nil {
			writeJSON(w, r, http.StatusBadRequest, map[string]string{"error": "malformed form"})
			return
		}
		in.Token, in.Ref = r.Form.Get("token"), r.Form.Get("ref")
		in.Variables = map[string]string{}
		for k, v := range r.Form {
			if name, ok := strings.CutPrefix(k, "variables["); ok && strings.HasSuffix(name, "]") {
				in.Variables[strings.TrimSuffix(name, "]")] = v[0]
			}
		}
	}
	switch {
	case in.Token == "":
		writeJSON(w, r, http.StatusBadRequest, map[string]string{"error": "token is missing"})
		return
	case in.Ref == "":
		writeJSON(w, r, http.StatusBadRequest, map[string]string{"error": "ref is missing"})
		return
	}
	p := f.project(id)
	if owner, ok := f.ci.triggers[in.Token]; p == nil || !ok || owner != p.ID {
		writeJSON(w, r, http.StatusNotFound, map[string]string{"message": "404 Not Found"})
		return
	}
	keys := make([]string, 0, len(in.Variables))
	for k := range in.Variables {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	vars := make([]Variable, len(keys))
	for i, k := range keys {
		vars[i] = Variable{Key: k, Value: in.Variables[k], Type: "env_var"}
	}
	f.newPipeline(w, r, p, "trigger", in.Ref, vars)
}

// createPipeline serves POST /projects/:id/pipeline.
func (f *Fake) createPipeline(w http.ResponseWriter, r *http.Request, p *Project) {
	var in struct {
		Ref       string `json:"ref"`
		Variables []struct {
			Key          string `json:"key"`
			Value        string `json:"value"`
			VariableType string `json:"variable_type"`
		} `json:"variables"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		writeJSON(w, r, http.StatusBadRequest, map[string]string{"error": "malformed JSON body"})
		return
	}
	if in.Ref == "" {
		writeJSON(w, r, http.StatusBadRequest, map[string]string{"error": "ref is missing"})
		return
	}
	vars := make([]Variable, 0, len(in.Variables))
	for _, v := range in.Variables {
		typ := valueOr(v.VariableType, "env_var")
		if v.Key == "" || !oneOf(typ, "env_var", "file") {
			writeJSON(w, r, http.StatusBadRequest, map[string]string{"error": "variables is invalid"})
			return
		}
		vars = append(vars, Variable{Key: v.Key, Value: v.Value, Type: typ})
	}
	f.newPipeline(w, r, p, "api", in.Ref, vars)
}

// newPipeline creates a pipeline on ref of p and answers 201 with it, or
// 400 when p has no such ref. f.mu is held.
func (f *Fake) newPipeline(w http.ResponseWriter, r *http.Request, p *Project, source, ref string, vars []Variable) {
	if !f.hasRef(p, ref) {
		writeJSON(w, r, http.StatusBadRequest, map[string]any{"message": map[string][]string{"base": {"Reference not found"}}})
		return
	}
	pl := f.addPipeline(p, Pipeline{Source: source, Ref: ref, Variables: vars})
	writeJSON(w, r, http.StatusCreated, f.pipelineJSON(base(r), p, pl))
}

// hasRef reports whether ref is a branch of p: its default branch or the
// source branch of one of its merge requests. f.mu is held.
func (f *Fake) hasRef(p *Project, ref string) bool {
	if ref == p.DefaultBranch {
		return true
	}
	for _, m := range f.mrs {
		if m.SourceProjectID == p.ID && m.SourceBranch == ref {
			return true
		}
	}
	return false
}

// listPipelines serves GET /projects/:id/pipelines.
func (f *Fake) listPipelines(w http.ResponseWriter, r *http.Request, p *Project) {
	q := r.URL.Query()
	orderBy := valueOr(q.Get("order_by"), "id")
	sortDir := valueOr(q.Get("sort"), "desc")
	switch {
	case !oneOf(orderBy, "id", "status", "ref", "updated_at", "user_id"):
		writeJSON(w, r, http.StatusBadRequest, map[string]string{"error": "order_by does not have a valid value"})
		return
	case !oneOf(sortDir, "asc", "desc"):
		writeJSON(w, r, http.StatusBadRequest, map[string]string{"error": "sort does not have a valid value"})
		return
	}
	var rows []*Pipeline
	for _, pl := range f.ci.pipelines {
		switch {
		case pl.ProjectID != p.ID,
			q.Has("ref") && pl.Ref != q.Get("ref"),
			q.Has("source") && pl.Source != q.Get("source"),
			q.Has("status") && pl.Status != q.Get("status"),
			q.Has("sha") && pl.SHA != q.Get("sha"):
			continue
		}
		rows = append(rows, pl)
	}
	slices.SortFunc(rows, func(a, b *Pipeline) int {
		c := 0
		if orderBy == "updated_at" {
			c = a.UpdatedAt.Compare(b.UpdatedAt)
		}
		if c == 0 {
			c = int(a.ID - b.ID)
		}
		if sortDir == "desc" {
			return -c
		}
		return c
	})
	lo, hi := f.paginate(w, r, len(rows))
	root := base(r)
	out := make([]pipelineInfoJSON, 0, hi-lo)
	for _, pl := range rows[lo:hi] {
		out = append(out, f.pipelineJSON(root, p, pl).pipelineInfoJSON)
	}
	writeJSON(w, r, http.StatusOK, out)
}

// pipelineInfoJSON is a pipeline as the lists show it.
type pipelineInfoJSON struct {
	ID        int64  `json:"id"`
	IID       int64  `json:"iid"`
	ProjectID int64  `json:"project_id"`
	Status    string `json:"status"`
	Source    string `json:"source"`
	Ref       string `json:"ref"`
	SHA       string `json:"sha"`
	Name      any    `json:"name"`
	WebURL    string `json:"web_url"`
	CreatedAt string `json:"created_at"`
	UpdatedAt string `json:"updated_at"`
}

// pipelineJSONOut is a single pipeline, as GET and the creations answer.
type pipelineJSONOut struct {
	pipelineInfoJSON
	BeforeSHA  string   `json:"before_sha"`
	Tag        bool     `json:"tag"`
	YamlErrors *string  `json:"yaml_errors"`
	User       userJSON `json:"user"`
	StartedAt  *string  `json:"started_at"`
	FinishedAt *string  `json:"finished_at"`
	Duration   *int     `json:"duration"`
	Coverage   *string  `json:"coverage"`
}

// variableJSON is one entry of the variables list.
type variableJSON struct {
	VariableType string `json:"variable_type"`
	Key          string `json:"key"`
	Value        string `json:"value"`
}

// pipelineJSON renders pl of p.
func (f *Fake) pipelineJSON(root string, p *Project, pl *Pipeline) pipelineJSONOut {
	return pipelineJSONOut{
		pipelineInfoJSON: pipelineInfoJSON{
			ID: pl.ID, IID: pl.IID, ProjectID: pl.ProjectID, Status: pl.Status, Source: pl.Source,
			Ref: pl.Ref, SHA: pl.SHA, WebURL: root + "/" + p.Path + "/-/pipelines/" + strconv.FormatInt(pl.ID, 10),
			CreatedAt: pl.CreatedAt.Format(timeFormat), UpdatedAt: pl.UpdatedAt.Format(timeFormat),
		},
		BeforeSHA:  strings.Repeat("0", 40),
		YamlErrors: nullableString(pl.YAMLErrors),
		User:       user(root, "trawl-bot"),
	}
}

// nullableString is nil for "", JSON null.
func nullableString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
