package glfake

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"testing"
)

// TestPipelines: the trigger endpoint takes a form or JSON and the trigger
// token only; the pipelines API needs a Developer; both answer 201 with the
// pipeline; the list filters and pages with X-Next-Page; the variables
// endpoint gives what the pipeline was created with.
func TestPipelines(t *testing.T) {
	f, srv, _ := setup(t, Options{}, 0)
	f.AddTriggerToken(2, "glptt-u-p")
	root := srv.URL + "/api/v4/projects/u%2Fp"
	form := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	jsonType := map[string]string{"Content-Type": "application/json"}

	// The trigger token alone creates a pipeline on a private project.
	v := url.Values{"token": {"glptt-u-p"}, "ref": {"main"}, "variables[TRAWL_UNIT]": {"u1"}}
	resp, body := do(t, "POST", root+"/trigger/pipeline", "", form, v.Encode())
	var p struct {
		ID, IID       int64
		Status        string `json:"status"`
		Source        string `json:"source"`
		Ref, SHA      string
		WebURL        string `json:"web_url"`
		CreatedAt     string `json:"created_at"`
		DetailedStats any    `json:"detailed_status"`
	}
	if err := json.Unmarshal(body, &p); err != nil || resp.StatusCode != 201 || p.Source != "trigger" || p.Status != "created" ||
		p.Ref != "main" || len(p.SHA) != 40 || p.IID != 1 || p.WebURL != srv.URL+"/u/p/-/pipelines/"+strconv.FormatInt(p.ID, 10) {
		t.Fatalf("trigger: %d %s", resp.StatusCode, body)
	}
	for _, c := range []struct {
		body string
		code int
	}{
		{url.Values{"token": {"wrong"}, "ref": {"main"}}.Encode(), 404},
		{url.Values{"token": {"glptt-u-p"}, "ref": {"nope"}}.Encode(), 400},
		{url.Values{"ref": {"main"}}.Encode(), 400},
	} {
		if resp, body := do(t, "POST", root+"/trigger/pipeline", "", form, c.body); resp.StatusCode != c.code {
			t.Errorf("%s: %d %s, want %d", c.body, resp.StatusCode, body, c.code)
		}
	}
	// JSON, as client-go sends it.
	if resp, body := do(t, "POST", root+"/trigger/pipeline", "", jsonType,
		`{"token":"glptt-u-p","ref":"main","variables":{"TRAWL_UNIT":"u2"}}`); resp.StatusCode != 201 {
		t.Fatalf("JSON trigger: %d %s", resp.StatusCode, body)
	}
	// The pipelines API needs the access token.
	apiBody := `{"ref":"main","variables":[{"key":"TRAWL_UNIT","value":"u3"}]}`
	if resp, _ := do(t, "POST", root+"/pipeline", "", jsonType, apiBody); resp.StatusCode != 404 {
		t.Errorf("anonymous on a private project: %d, want 404", resp.StatusCode)
	}
	if resp, body := do(t, "POST", root+"/pipeline", token, jsonType, apiBody); resp.StatusCode != 201 {
		t.Fatalf("api: %d %s", resp.StatusCode, body)
	}

	resp, body = do(t, "GET", root+"/pipelines?per_page=2", token, nil, "")
	var list []struct {
		ID     int64
		Source string
	}
	if err := json.Unmarshal(body, &list); err != nil || len(list) != 2 || list[0].Source != "api" || list[0].ID < list[1].ID ||
		resp.Header.Get("X-Next-Page") != "2" || resp.Header.Get("X-Total") != "3" {
		t.Errorf("list: %s, X-Next-Page %q", body, resp.Header.Get("X-Next-Page"))
	}
	resp, body = do(t, "GET", root+"/pipelines?source=trigger&sort=asc", token, nil, "")
	if err := json.Unmarshal(body, &list); err != nil || len(list) != 2 || list[0].ID != p.ID || resp.Header.Get("X-Next-Page") != "" {
		t.Errorf("list of triggered: %s", body)
	}

	resp, body = do(t, "GET", root+"/pipelines/"+strconv.FormatInt(p.ID, 10)+"/variables", token, nil, "")
	var vars []map[string]string
	if err := json.Unmarshal(body, &vars); err != nil || resp.StatusCode != 200 || len(vars) != 1 ||
		vars[0]["key"] != "TRAWL_UNIT" || vars[0]["value"] != "u1" || vars[0]["variable_type"] != "env_var" {
		t.Errorf("variables: %d %s", resp.StatusCode, body)
	}
	f.UpdateProject(2, func(p *Project) { p.ReadOnly = true })
	if resp, _ := do(t, "GET", root+"/pipelines/"+strconv.FormatInt(p.ID, 10)+"/variables", token, nil, ""); resp.StatusCode != 403 {
		t.Errorf("variables as a Reporter: %d, want 403", resp.StatusCode)
	}

	f.SetPipelineStatus(p.ID, "success")
	resp, body = do(t, "GET", root+"/pipelines/"+strconv.FormatInt(p.ID, 10), token, nil, "")
	if err := json.Unmarshal(body, &p); err != nil || p.Status != "success" || resp.Header.Get("ETag") == "" {
		t.Errorf("get: %s", body)
	}
	f.DeletePipeline(p.ID)
	if resp, _ := do(t, "GET", root+"/pipelines/"+strconv.FormatInt(p.ID, 10), token, nil, ""); resp.StatusCode != http.StatusNotFound {
		t.Errorf("deleted: %d, want 404", resp.StatusCode)
	}
}
