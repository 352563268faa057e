package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/trawl-ci/trawl/forges/github/ghfake"
	"github.com/trawl-ci/trawl/forges/gitlab/glfake"
	"github.com/trawl-ci/trawl/forges/patchwork/pwfake"
	"github.com/trawl-ci/trawl/pkg/config"
	"github.com/trawl-ci/trawl/pkg/cycle"
	"github.com/trawl-ci/trawl/pkg/reporters/resultsdb/rdbfake"
	"github.com/trawl-ci/trawl/pkg/secret"
	"github.com/trawl-ci/trawl/pkg/setup"
	"github.com/trawl-ci/trawl/pkg/targets/kernelci/kcifake"
)

// Echo modes of a hostile server: which requests it answers with an error
// that quotes every header it was sent (the Authorization or
// PRIVATE-TOKEN header among them).
const (
	echoOff    int32 = iota
	echoWrites       // POST, PUT, PATCH and DELETE: reports and triggers are refused
	echoAll          // every request
)

// echoer wraps a fake: in an echo mode it answers with status and a body
// quoting the request's headers in the fields each client reads
// (Patchwork's and Django's "detail", GitHub's and GitLab's "message",
// "error"), and a plain-text line for the others. It also records a
// credential sent to a server it does not belong to.
type echoer struct {
	name    string
	next    http.Handler
	mode    *atomic.Int32
	status  *atomic.Int32
	foreign func(server string, r *http.Request)
}

func (e *echoer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e.foreign(e.name, r)
	mode := e.mode.Load()
	if mode == echoOff || (mode == echoWrites && r.Method == http.MethodGet) {
		e.next.ServeHTTP(w, r)
		return
	}
	var headers []string
	for k, vs := range r.Header {
		headers = append(headers, k+": "+strings.Join(vs, ","))
	}
	sort.Strings(headers)
	echo := fmt.Sprintf("%s %s refused; you sent %s", r.Method, r.URL, strings.Join(headers, "; "))
	body, _ := json.Marshal(map[string]string{"detail": echo, "message": echo, "error": echo})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(int(e.status.Load()))
	_, _ = w.Write(body)
}

// TestNoSecretLeaks runs every forge (Patchwork, GitHub, GitLab), target
// (KernelCI, exec, webhook) and reporter (Patchwork checks, GitHub and
// GitLab statuses, ResultsDB) with canary credentials, first normally,
// then against servers that echo the credentials they were sent in 401,
// 403 and 500 answers, then with unreachable URLs. No canary may appear in
// stdout or stderr of once/plan/status at debug level, in any file under
// the state directory (state.json, the HTTP cache, the exec target's job
// records and logs), in /metrics, or in the environment or input of the
// exec target's command; and no credential may reach a server it is not
// for.
func TestNoSecretLeaks(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	kci := kcifake.New(kcifake.Options{Secret: []byte("pipeline-secret"), AllowedDomains: []string{"127.0.0.1"}})
	canary := map[string]string{
		"patchwork": pwfake.BotToken,
		"github":    "ghp_canaryGitHub0123456789abcdefABCDEF",
		"gitlab":    "glpat-canaryGitLab-0123456789",
		"kernelci":  kci.Token("trawl@example.org", "patchset"),
		"webhook":   "whsec-canaryWebhook-0123456789",
		"resultsdb": "rdb-canaryResultsDB-0123456789",
	}
	t.Setenv("TRAWL_CANARY_GH", canary["github"])
	t.Setenv("TRAWL_CANARY_GL", canary["gitlab"])
	t.Setenv("TRAWL_CANARY_HOOK", canary["webhook"])
	t.Setenv("TRAWL_CANARY_RDB", canary["resultsdb"])

	var mode, status atomic.Int32
	var fmu sync.Mutex
	var foreign []string
	sentTo := map[string]bool{}
	check := func(server string, r *http.Request) {
		fmu.Lock()
		defer fmu.Unlock()
		// The webhook secret is an HMAC key: it is used, never sent.
		sentTo["webhook"] = sentTo["webhook"] || (server == "webhook" && r.Header.Get("X-Trawl-Signature-256") != "")
		for k, vs := range r.Header {
			for _, v := range vs {
				for owner, c := range canary {
					if strings.Contains(v, c) {
						sentTo[owner] = sentTo[owner] || owner == server
						if owner != server {
							foreign = append(foreign, fmt.Sprintf("%s token sent to %s in %s", owner, server, k))
						}
					}
				}
			}
		}
	}
	serve := func(name string, h http.Handler) *httptest.Server {
		s := httptest.NewServer(&echoer{name: name, next: h, mode: &mode, status: &status, foreign: check})
		t.Cleanup(s.Close)
		return s
	}

	pw, err := pwfake.New(pwfake.Options{Phase: pwfake.Phase1})
	if err != nil {
		t.Fatal(err)
	}
	pwSrv := serve("patchwork", pw)
	gh := ghfake.New(ghfake.Options{Tokens: []string{canary["github"]}})
	ghSrv := serve("github", gh)
	gl := glfake.New(glfake.Options{Token: canary["gitlab"]})
	glSrv := serve("gitlab", gl)
	apiSrv := serve("kernelci-api", kci.APIHandler())
	pipeSrv := serve("kernelci", kci.PipelineHandler())
	rdb := rdbfake.New(rdbfake.Options{WriteAuth: "Bearer " + canary["resultsdb"]})
	rdbSrv := serve("resultsdb", rdb.Handler())
	hookSrv := serve("webhook", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = w.Write([]byte(`{"id": "hook-job-1"}`))
	}))

	const (
		tree    = "net-next"
		treeURL = "https://git.kernel.org/pub/scm/linux/kernel/git/netdev/net-next.git"
	)
	kci.AddCheckout(tree, treeURL, "main", strings.Repeat("1", 40))
	sha := func(c string) string { return strings.Repeat(c, 40) }
	gh.AddPR("o/r", ghfake.PR{Number: 3, Title: "pr", HeadRef: "topic", HeadSHA: sha("a"), BaseSHA: sha("b")})
	gl.AddProject(glfake.Project{ID: 7, Path: "g/p"})
	gl.AddMR(glfake.MR{ProjectID: 7, IID: 2, Title: "mr", SourceBranch: "topic", TargetBranch: "main",
		SHA: sha("c"), BaseSHA: sha("d"), Author: "alice"})

	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Fatal(err)
	}
	execOut := filepath.Join(dir, "exec-out")
	if err := os.Mkdir(execOut, 0o700); err != nil {
		t.Fatal(err)
	}
	cfgText := func(pwURL, ghURL, glURL, apiURL, pipeURL, rdbURL, hookURL string) string {
		return fmt.Sprintf(`state_dir: state
http: {retries: 0, timeout: 5s}
log: {level: debug, format: console}
targets:
  - name: kernelci
    type: kernelci
    kernelci: {api_url: %s, pipeline_url: %s, token_file: %s, patch_domains: [127.0.0.1]}
  - name: local
    type: exec
    exec:
      command: [%s, -c, 'env > %s/env.$$; cat > %s/stdin.$$']
  - name: hook
    type: webhook
    webhook: {url: %s, secret_env: TRAWL_CANARY_HOOK}
reporters:
  - name: rdb
    type: resultsdb
    resultsdb: {url: %s, testcase: trawl.build, token_env: TRAWL_CANARY_RDB}
sources:
  - name: netdev
    type: patchwork
    targets: [kernelci]
    base: {tree: %s, url: %s, branch: main}
    patchwork: {url: %s, project: netdev, lookback: 10000d, token_file: %s}
    report: {reporters: [rdb]}
  - name: repo
    type: github
    targets: [local]
    base: {policy: pinned}
    github: {repo: o/r, api_url: %s, host: ghe.test, token_env: TRAWL_CANARY_GH}
  - name: proj
    type: gitlab
    targets: [hook]
    base: {policy: pinned}
    gitlab: {url: %s, project: g/p, token_env: TRAWL_CANARY_GL}
`, apiURL, pipeURL, write("kci.jwt", canary["kernelci"]+"\n"), sh, execOut, execOut, hookURL, rdbURL,
			tree, treeURL, pwURL, write("pw.token", canary["patchwork"]+"\n"), ghURL, glURL)
	}
	path := write("trawl.yaml", cfgText(pwSrv.URL, ghSrv.URL, glSrv.URL, apiSrv.URL, pipeSrv.URL, rdbSrv.URL, hookSrv.URL))

	var outputs []string
	cmd := func(args ...string) int {
		code, out, errs := trawl(t, args...)
		outputs = append(outputs, fmt.Sprintf("== trawl %v (exit %d)\n%s\n%s", args, code, out, errs))
		return code
	}

	// Normal operation: trigger everything and post pending reports; run
	// the KernelCI pipeline; then follow the jobs and post their results,
	// except that every write is refused by servers echoing the token.
	if code := cmd("once", "-c", path); code != exitOK {
		t.Fatalf("first once: exit %d\n%s", code, strings.Join(outputs, "\n"))
	}
	kci.Process()
	for _, n := range kci.Patchsets() {
		plan := kcifake.RunPlan{Builds: []kcifake.BuildPlan{{Name: "kbuild", Arch: "x86_64", Result: "pass"}}}
		if err := kci.Run(n.ID, plan); err != nil {
			t.Fatal(err)
		}
	}
	kci.Settle()
	waitFiles(t, execOut, "stdin.", 1)
	// A new revision arrives, so that a trigger meets the refusal too.
	if err := pw.SetPhase(pwfake.P2V3Complete); err != nil {
		t.Fatal(err)
	}
	mode.Store(echoWrites)
	status.Store(http.StatusForbidden)
	cmd("once", "-c", path)
	// Every request answered 401, then 403, then 500, echoing the token.
	mode.Store(echoAll)
	for _, s := range []int32{http.StatusUnauthorized, http.StatusForbidden, http.StatusInternalServerError} {
		status.Store(s)
		cmd("once", "-c", path)
		cmd("plan", "-c", path)
	}
	cmd("status", "-c", path)
	// Unreachable and malformed URLs.
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	bad := write("bad.yaml", cfgText(closed.URL, closed.URL+"/%zz", closed.URL, closed.URL, "http://[::1", closed.URL, closed.URL))
	cmd("once", "-c", bad)
	cmd("plan", "-c", bad)

	// /metrics of a wired trawl, after a cycle against the echoing servers.
	cfg, err := config.LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	app, err := setup.New(cfg, setup.Options{Version: "test", ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if _, err := app.Runner.Run(ctx, cycle.Plan, nil); err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(app.Metrics, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	outputs = append(outputs, "== /metrics\n"+rec.Body.String())

	all := strings.Join(outputs, "\n")
	// The scenario did what it claims: every credential was used on its
	// server, the echoes reached trawl, and were redacted there.
	fmu.Lock()
	for owner := range canary {
		if !sentTo[owner] {
			t.Errorf("the %s credential was never sent: the scenario does not exercise it", owner)
		}
	}
	for _, f := range foreign {
		t.Error(f)
	}
	fmu.Unlock()
	for _, want := range []string{"401 Unauthorized", "403 Forbidden", "500 Internal Server Error", "you sent", secret.Mask, "trawl_http_"} {
		if !strings.Contains(all, want) {
			t.Errorf("no %q in the output: the echoes did not reach trawl", want)
		}
	}
	if n := len(pw.Requests()); n == 0 {
		t.Error("no Patchwork request")
	}

	// Where a canary must never be.
	var places []string
	files := map[string][]byte{"output": []byte(all)}
	for _, root := range []string{filepath.Join(dir, "state"), execOut} {
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := os.ReadFile(p)
			files[p] = b
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for p, b := range files {
		places = append(places, p)
		for owner, c := range canary {
			if i := leak(string(b), c); i >= 0 {
				t.Errorf("the %s token is in %s: ...%s...", owner, p, b[max(0, i-200):min(len(b), i+60)])
			}
		}
	}
	for _, want := range []string{"state.json", "/cache/", "/exec/", "env.", "stdin."} {
		found := false
		for _, p := range places {
			found = found || strings.Contains(p, want)
		}
		if !found {
			t.Errorf("nothing like %q was written: the scan does not cover it (%d files)", want, len(places))
		}
	}
}

// leak returns where in s a piece of token (any 20 bytes of it, so that a
// clipped message counts too) appears, or -1.
func leak(s, token string) int {
	for i := 0; i+20 <= len(token); i += 10 {
		if j := strings.Index(s, token[i:i+20]); j >= 0 {
			return j
		}
	}
	return strings.Index(s, token)
}

// waitFiles waits (at most 30s) until dir holds n files named with prefix:
// the exec target's command runs on after trawl returns.
func waitFiles(t *testing.T, dir, prefix string, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		matches, _ := filepath.Glob(filepath.Join(dir, prefix+"*"))
		if len(matches) >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d files %s* in %s after 30s, want %d", len(matches), prefix, dir, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
