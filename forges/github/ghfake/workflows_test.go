package ghfake_test

import (
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/trawl-ci/trawl/forges/github/ghfake"
)

const workflowFile = `name: trawl
run-name: build ${{ inputs.what }} for ${{ github.event.inputs.who }}
on:
  workflow_dispatch:
    inputs:
      what: {type: string, required: true}
      who: {type: string}
`

// TestDispatchAndRuns: a dispatch answers as documented (204, or 200 with
// the run's details when asked), creates a queued run named by run-name,
// refuses what GitHub refuses, and the runs list pages newest first with
// Link and a weak ETag that revalidates.
func TestDispatchAndRuns(t *testing.T) {
	f := newFake(ghfake.Options{})
	wid := f.AddWorkflow(repo, ghfake.Workflow{Path: ".github/workflows/trawl.yml", Content: workflowFile})
	auth := "Bearer " + token
	dispatch := "/repos/" + repo + "/actions/workflows/trawl.yml/dispatches"

	refusals := []struct{ body, auth, msg string }{
		{`{"ref":"main","inputs":{"what":"x"}}`, "", "Requires authentication"},
		{`{"ref":"nope","inputs":{"what":"x"}}`, auth, "No ref found for: nope"},
		{`{"ref":"main","inputs":{"what":"x","extra":"y"}}`, auth, `Unexpected inputs provided: ["extra"]`},
		{`{"ref":"main","inputs":{"who":"x"}}`, auth, "Required input 'what' not provided"},
		{`{"ref":"main","inputs":{"what":"` + strings.Repeat("x", 65536) + `"}}`, auth, "too large"},
	}
	for _, r := range refusals {
		resp := call(t, f, http.MethodPost, dispatch, r.auth, r.body)
		var m struct{ Message string }
		decode(t, resp, &m)
		if resp.StatusCode/100 != 4 || !strings.Contains(m.Message, r.msg) {
			t.Errorf("%.60s: %d %q, want 4xx %q", r.body, resp.StatusCode, m.Message, r.msg)
		}
	}
	if n := len(f.Runs()); n != 0 {
		t.Fatalf("%d runs after refusals", n)
	}

	resp := call(t, f, http.MethodPost, dispatch, auth, `{"ref":"main","inputs":{"what":"a","who":"me"}}`)
	if resp.StatusCode != http.StatusNoContent || resp.ContentLength > 0 {
		t.Errorf("dispatch: %d, length %d; want 204 without a body", resp.StatusCode, resp.ContentLength)
	}
	resp = call(t, f, http.MethodPost, dispatch, auth, `{"ref":"main","inputs":{"what":"b"},"return_run_details":true}`)
	var details struct {
		WorkflowRunID int64  `json:"workflow_run_id"`
		RunURL        string `json:"run_url"`
		HTMLURL       string `json:"html_url"`
	}
	decode(t, resp, &details)
	runs := f.Runs()
	if resp.StatusCode != http.StatusOK || len(runs) != 2 || details.WorkflowRunID != runs[1].ID ||
		details.RunURL != "http://api.test/repos/"+repo+"/actions/runs/"+strconv.FormatInt(runs[1].ID, 10) ||
		details.HTMLURL != "https://github.com/"+repo+"/actions/runs/"+strconv.FormatInt(runs[1].ID, 10) {
		t.Errorf("dispatch with details: %d %+v, runs %+v", resp.StatusCode, details, runs)
	}
	if runs[0].DisplayTitle != "build a for me" || runs[1].DisplayTitle != "build b for " || runs[0].Status != "queued" ||
		runs[0].Event != "workflow_dispatch" || runs[0].WorkflowID != wid || runs[0].HeadBranch != "main" {
		t.Errorf("runs = %+v", runs)
	}
	f.SetDispatchDetails(false)
	resp = call(t, f, http.MethodPost, dispatch, auth, `{"ref":"main","inputs":{"what":"c"},"return_run_details":true}`)
	if resp.StatusCode != http.StatusNoContent {
		t.Errorf("an older server: %d, want 204", resp.StatusCode)
	}

	list := "/repos/" + repo + "/actions/workflows/" + strconv.FormatInt(wid, 10) + "/runs?event=workflow_dispatch&per_page=2"
	resp = call(t, f, http.MethodGet, list, auth, "")
	etag, link := resp.Header.Get("ETag"), resp.Header.Get("Link")
	var page struct {
		TotalCount   int `json:"total_count"`
		WorkflowRuns []struct {
			ID           int64
			DisplayTitle string  `json:"display_title"`
			Status       string  `json:"status"`
			Conclusion   *string `json:"conclusion"`
			HTMLURL      string  `json:"html_url"`
			Event        string  `json:"event"`
			HeadSHA      string  `json:"head_sha"`
		} `json:"workflow_runs"`
	}
	decode(t, resp, &page)
	if page.TotalCount != 3 || len(page.WorkflowRuns) != 2 || page.WorkflowRuns[0].DisplayTitle != "build c for " ||
		page.WorkflowRuns[0].Conclusion != nil || len(page.WorkflowRuns[0].HeadSHA) != 40 {
		t.Errorf("page 1 = %+v", page)
	}
	if !strings.HasPrefix(etag, `W/"`) || !strings.Contains(link, `page=2>; rel="next"`) {
		t.Errorf("ETag %q, Link %q", etag, link)
	}
	if resp := call(t, f, http.MethodGet, list, auth, "", "If-None-Match", etag); resp.StatusCode != http.StatusNotModified {
		t.Errorf("revalidation: %d, want 304", resp.StatusCode)
	}
	f.FinishRun(runs[0].ID, "failure")
	if resp := call(t, f, http.MethodGet, list+"&page=2", auth, ""); resp.StatusCode != http.StatusOK {
		t.Errorf("page 2: %d", resp.StatusCode)
	} else {
		decode(t, resp, &page)
		if len(page.WorkflowRuns) != 1 || page.WorkflowRuns[0].Status != "completed" || *page.WorkflowRuns[0].Conclusion != "failure" {
			t.Errorf("page 2 = %+v", page)
		}
	}

	run := "/repos/" + repo + "/actions/runs/" + strconv.FormatInt(runs[0].ID, 10)
	if resp := call(t, f, http.MethodGet, run, auth, ""); resp.StatusCode != http.StatusOK || strings.HasPrefix(resp.Header.Get("ETag"), "W/") {
		t.Errorf("run: %d, ETag %q; want 200 with a strong ETag", resp.StatusCode, resp.Header.Get("ETag"))
	}
	f.DeleteRun(runs[0].ID)
	if resp := call(t, f, http.MethodGet, run, auth, ""); resp.StatusCode != http.StatusNotFound {
		t.Errorf("deleted run: %d, want 404", resp.StatusCode)
	}
}

// TestWorkflowAndContents: the workflow by file name or id, and its file
// at a ref, base64 in lines as GitHub sends it.
func TestWorkflowAndContents(t *testing.T) {
	f := newFake(ghfake.Options{})
	wid := f.AddWorkflow(repo, ghfake.Workflow{Path: ".github/workflows/trawl.yml", Content: workflowFile})
	for _, key := range []string{"trawl.yml", strconv.FormatInt(wid, 10)} {
		var wf struct {
			ID    int64
			Path  string
			State string
			Name  string
		}
		decode(t, call(t, f, http.MethodGet, "/repos/"+repo+"/actions/workflows/"+key, "", ""), &wf)
		if wf.ID != wid || wf.Path != ".github/workflows/trawl.yml" || wf.State != "active" || wf.Name != "trawl" {
			t.Errorf("%s: %+v", key, wf)
		}
	}
	var file struct {
		Type, Encoding, Content string
	}
	decode(t, call(t, f, http.MethodGet, "/repos/"+repo+"/contents/.github/workflows/trawl.yml?ref=main", "", ""), &file)
	text, err := base64.StdEncoding.DecodeString(strings.ReplaceAll(file.Content, "\n", ""))
	if err != nil || string(text) != workflowFile || file.Type != "file" || file.Encoding != "base64" {
		t.Errorf("contents: %+v (%v)", file, err)
	}
	if resp := call(t, f, http.MethodGet, "/repos/"+repo+"/contents/.github/workflows/trawl.yml?ref=other", "", ""); resp.StatusCode != http.StatusNotFound {
		t.Errorf("another ref: %d, want 404", resp.StatusCode)
	}
}
