package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/trawl-ci/trawl/forges/github/ghfake"
	"github.com/trawl-ci/trawl/forges/gitlab/glfake"
	"github.com/trawl-ci/trawl/forges/patchwork/pwfake"
)

// delivery is what the webhook receiver got.
type delivery struct {
	Unit    string `json:"unit"`
	Patches []struct {
		MboxURL string `json:"mbox_url"`
	} `json:"patches"`
	Heads []struct {
		Key string `json:"key"`
		SHA string `json:"sha"`
	} `json:"heads"`
}

// TestOneGraphAcrossRealForges runs the real GitHub, GitLab and Patchwork
// drivers against their fakes: a pull request depends on a merge request,
// which depends on a Patchwork series. The keys each driver derives from
// the others' URLs must meet in one graph.
func TestOneGraphAcrossRealForges(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	base := bareRepo(t, dir)
	pw, err := pwfake.New(pwfake.Options{})
	if err != nil {
		t.Fatal(err)
	}
	pwSrv := httptest.NewServer(pw)
	defer pwSrv.Close()
	gl := glfake.New(glfake.Options{Token: "glpat-test"})
	glSrv := httptest.NewServer(gl)
	defer glSrv.Close()
	gh := ghfake.New(ghfake.Options{Tokens: []string{"ghp_test"}})
	ghSrv := httptest.NewServer(gh)
	defer ghSrv.Close()

	var mu sync.Mutex
	var got []delivery
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var d delivery
		b, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(b, &d); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		got = append(got, d)
		mu.Unlock()
	}))
	defer hook.Close()

	mrDesc := "Needs the series.\nDepends-on: " + pwSrv.URL + "/project/netdev/list/?series=1\n"
	gl.AddProject(glfake.Project{ID: 10, Path: "group/kernel"})
	gl.AddMR(glfake.MR{ProjectID: 10, IID: 1, Title: "kernel MR", Description: &mrDesc, SourceBranch: "topic", TargetBranch: "main",
		SHA: strings.Repeat("a", 40), BaseSHA: strings.Repeat("b", 40), Author: "alice"})
	prBody := "Needs the kernel MR.\r\nDepends-On: " + glSrv.URL + "/group/kernel/-/merge_requests/1\r\n"
	gh.AddPR("rock-core/base-types", ghfake.PR{Number: 5, Title: "PR", Body: &prBody, HeadRef: "feature",
		HeadSHA: strings.Repeat("c", 40), BaseSHA: strings.Repeat("d", 40)})

	cfg := fmt.Sprintf(`state_dir: state
http: {retries: 0}
log: {level: error}
targets:
  - name: hook
    type: webhook
    webhook: {url: %s, secret_file: %s}
sources:
  - name: netdev
    type: patchwork
    targets: [hook]
    base: {tree: net-next, url: %s, branch: main}
    patchwork: {url: %s, project: netdev, lookback: 10000d}
  - name: kernel
    type: gitlab
    targets: [hook]
    gitlab: {url: %s, project: group/kernel, token_file: %s}
  - name: base-types
    type: github
    targets: [hook]
    github: {repo: rock-core/base-types, api_url: %s, host: ghe.test, token_file: %s}
`, hook.URL, write("hook.secret", "s3cret"), base, pwSrv.URL, glSrv.URL, write("gl.token", "glpat-test"),
		ghSrv.URL, write("gh.token", "ghp_test"))
	path := write("trawl.yaml", cfg)

	code, out, errs := trawl(t, "once", "-c", path)
	if code != exitOK {
		t.Fatalf("once: exit %d\n%s\n%s", code, out, errs)
	}
	byUnit := map[string]delivery{}
	mu.Lock()
	for _, d := range got {
		byUnit[d.Unit] = d
	}
	mu.Unlock()
	prUnit := "gh:ghe.test/rock-core/base-types#5@hook"
	pr, ok := byUnit[prUnit]
	if !ok {
		t.Fatalf("no delivery for the PR; deliveries %v\n%s", keysOf(byUnit), out)
	}
	if len(pr.Patches) != 4 || !strings.Contains(pr.Patches[0].MboxURL, pwSrv.Listener.Addr().String()) {
		t.Fatalf("PR delivery patches %+v, want the 4 patches of series 1", pr.Patches)
	}
	if len(pr.Heads) != 2 || !strings.HasPrefix(pr.Heads[0].Key, "gl:") || pr.Heads[1].SHA != strings.Repeat("c", 40) {
		t.Fatalf("PR delivery heads %+v, want the MR's then the PR's", pr.Heads)
	}
	if !strings.Contains(out, "built on pw:") {
		t.Fatalf("plan output does not show the graph:\n%s", out)
	}

	// A push on the merge request rebuilds it and the pull request that
	// depends on it, and nothing else.
	gl.Push(10, 1, strings.Repeat("e", 40))
	code, out, errs = trawl(t, "once", "-c", path)
	if code != exitOK || !strings.Contains(out, "triggered 2") {
		t.Fatalf("after the push: exit %d\n%s\n%s", code, out, errs)
	}
}

// bareRepo makes a local git repository with a main branch, so that the
// base resolves without leaving the machine.
func bareRepo(t *testing.T, dir string) string {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not in PATH; this test resolves a base with the real git (CI has it)")
	}
	work := filepath.Join(dir, "work")
	for _, args := range [][]string{
		{"init", "-q", "-b", "main", work},
		{"-C", work, "-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-q", "--allow-empty", "-m", "base"},
		{"clone", "-q", "--bare", work, filepath.Join(dir, "base.git")},
	} {
		cmd := exec.Command("git", args...)
		cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	return "file://" + filepath.Join(dir, "base.git")
}

func keysOf(m map[string]delivery) []string {
	var k []string
	for u := range m {
		k = append(k, u)
	}
	return k
}

// TestPatchworkDependsOnOtherForges runs the three real drivers against
// their fakes: a Patchwork series (series 16 as recorded, its Depends-on
// tags edited) names a GitHub pull request and a GitLab merge request. The
// Patchwork driver reads its tags with the parser the other forges use, so
// both join the graph and the series is built on them.
func TestPatchworkDependsOnOtherForges(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	base := bareRepo(t, dir)
	pw, err := pwfake.New(pwfake.Options{Phase: pwfake.P2DependsOn})
	if err != nil {
		t.Fatal(err)
	}
	pwSrv := httptest.NewServer(pw)
	defer pwSrv.Close()
	gl := glfake.New(glfake.Options{Token: "glpat-test"})
	glSrv := httptest.NewServer(gl)
	defer glSrv.Close()
	gh := ghfake.New(ghfake.Options{Tokens: []string{"ghp_test"}})
	ghSrv := httptest.NewServer(gh)
	defer ghSrv.Close()

	var mu sync.Mutex
	byUnit := map[string]delivery{}
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var d delivery
		b, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(b, &d); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		byUnit[d.Unit] = d
		mu.Unlock()
	}))
	defer hook.Close()

	gl.AddProject(glfake.Project{ID: 10, Path: "group/kernel"})
	gl.AddMR(glfake.MR{ProjectID: 10, IID: 1, Title: "kernel MR", SourceBranch: "topic", TargetBranch: "main",
		SHA: strings.Repeat("a", 40), BaseSHA: strings.Repeat("b", 40), Author: "alice"})
	gh.AddPR("rock-core/base-types", ghfake.PR{Number: 5, Title: "PR", HeadRef: "feature",
		HeadSHA: strings.Repeat("c", 40), BaseSHA: strings.Repeat("d", 40)})
	// The cover letter names the pull request (a URL, then a short form of
	// the same), patch 1 the merge request.
	pw.EditText("Depends-on: <20261121050000.4242-0-stephenfinucane@example.org>",
		"Depends-on: https://ghe.test/rock-core/base-types/pull/5, rock-core/base-types#5")
	pw.EditText("Depends-on: http://127.0.0.1:8000/project/netdev/list/?series=1",
		"Depends-on: "+glSrv.URL+"/group/kernel/-/merge_requests/1")

	cfg := fmt.Sprintf(`state_dir: state
http: {retries: 0}
log: {level: error}
targets:
  - name: hook
    type: webhook
    webhook: {url: %s, secret_file: %s}
sources:
  - name: netdev
    type: patchwork
    targets: [hook]
    base: {tree: net-next, url: %s, branch: main}
    patchwork: {url: %s, project: netdev, lookback: 10000d}
  - name: kernel
    type: gitlab
    targets: [hook]
    gitlab: {url: %s, project: group/kernel, token_file: %s}
  - name: base-types
    type: github
    targets: [hook]
    github: {repo: rock-core/base-types, api_url: %s, host: ghe.test, token_file: %s}
`, hook.URL, write("hook.secret", "s3cret"), base, pwSrv.URL, glSrv.URL, write("gl.token", "glpat-test"),
		ghSrv.URL, write("gh.token", "ghp_test"))
	path := write("trawl.yaml", cfg)

	code, out, errs := trawl(t, "once", "-c", path)
	if code != exitOK {
		t.Fatalf("once: exit %d\n%s\n%s", code, out, errs)
	}
	unit := "pw:" + pwSrv.Listener.Addr().String() + "/netdev/series/16@hook"
	mu.Lock()
	d, ok := byUnit[unit]
	mu.Unlock()
	if !ok {
		t.Fatalf("no delivery for series 16\n%s", out)
	}
	var heads []string
	for _, h := range d.Heads {
		heads = append(heads, h.Key)
	}
	glKey := "gl:" + glSrv.Listener.Addr().String() + "/group/kernel!1"
	want := []string{"gh:ghe.test/rock-core/base-types#5", glKey}
	if !slices.Equal(heads, want) {
		t.Errorf("series 16 is built on heads %v, want the pull request's and the merge request's %v", heads, want)
	}
	if len(d.Patches) != 2 {
		t.Errorf("series 16 delivery has %d patches, want its own 2", len(d.Patches))
	}
	if !strings.Contains(out, "built on gh:ghe.test/rock-core/base-types#5, "+glKey) {
		t.Errorf("once does not show series 16 built on both:\n%s", out)
	}
}
