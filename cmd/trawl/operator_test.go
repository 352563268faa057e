package main

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trawl-ci/trawl/forges/github/ghfake"
	"github.com/trawl-ci/trawl/forges/gitlab/glfake"
	"github.com/trawl-ci/trawl/forges/patchwork/pwfake"
	"github.com/trawl-ci/trawl/pkg/cycle"
	"github.com/trawl-ci/trawl/pkg/state"
)

// editConfig replaces old by new in the world's configuration.
func editConfig(t *testing.T, w *world, old, new string) {
	t.Helper()
	b, err := os.ReadFile(w.config)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), old) {
		t.Fatalf("config has no %q", old)
	}
	if err := os.WriteFile(w.config, []byte(strings.Replace(string(b), old, new, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
}

func statusJSON(t *testing.T, w *world) cycle.StatusDoc {
	t.Helper()
	code, out, errs := trawl(t, "status", "-c", w.config, "--json")
	if code != exitOK {
		t.Fatalf("status --json: exit %d\n%s", code, errs)
	}
	var doc cycle.StatusDoc
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("status --json is not the documented document: %v\n%s", err, out)
	}
	return doc
}

func TestRetriggerForgetAndStatusJSON(t *testing.T) {
	w := newWorld(t)
	if code, out, errs := trawl(t, "once", "-c", w.config); code != exitOK {
		t.Fatalf("once: exit %d\n%s%s", code, out, errs)
	}
	doc := statusJSON(t, w)
	if doc.Version != 1 || len(doc.Units) != 7 {
		t.Fatalf("status --json: version %d, %d units; want 1, 7", doc.Version, len(doc.Units))
	}
	var unit string
	var oldJob string
	for _, u := range doc.Units {
		if u.Job != nil {
			unit, oldJob = u.Unit, u.Job.ID
			break
		}
	}
	submitted := w.kci.Submissions()

	code, out, errs := trawl(t, "retrigger", "-c", w.config, unit)
	if code != exitOK || !strings.Contains(out, unit+": built again on its next cycle") {
		t.Fatalf("retrigger: exit %d\n%s%s", code, out, errs)
	}
	if u := statusJSON(t, w).Units; !hasRetrigger(u, unit) {
		t.Fatalf("status --json does not show the retrigger mark of %s", unit)
	}
	code, out, errs = trawl(t, "once", "-c", w.config)
	if code != exitOK || !strings.Contains(out, "retrigger requested") || !strings.Contains(out, "triggered 1") {
		t.Fatalf("once after retrigger: exit %d\n%s%s", code, out, errs)
	}
	if got := w.kci.Submissions(); got != submitted+1 {
		t.Fatalf("KernelCI holds %d submissions, want %d: the retrigger must submit anew, not adopt the old patchset", got, submitted+1)
	}
	for _, u := range statusJSON(t, w).Units {
		if u.Unit == unit && (u.Job == nil || u.Job.ID == oldJob || u.Job.Adopted || u.RetriggerRequested != nil) {
			t.Fatalf("after the retrigger: %+v (old job %s)", u, oldJob)
		}
	}

	code, out, _ = trawl(t, "forget", "-c", w.config, unit)
	if code != exitOK || !strings.Contains(out, unit+": forgotten") {
		t.Fatalf("forget: exit %d\n%s", code, out)
	}
	for _, u := range statusJSON(t, w).Units {
		if u.Unit == unit {
			t.Fatalf("forgotten unit %s still in the state", unit)
		}
	}

	for _, cmd := range []string{"retrigger", "forget"} {
		code, _, errs = trawl(t, cmd, "-c", w.config, "pw:nosuch/series/1@kernelci")
		if code != exitUsage || !strings.Contains(errs, `no such unit "pw:nosuch/series/1@kernelci"`) {
			t.Fatalf("%s of an unknown unit: exit %d, %q", cmd, code, errs)
		}
		if code, _, _ = trawl(t, cmd, "-c", w.config); code != exitUsage {
			t.Fatalf("%s without a unit: exit %d", cmd, code)
		}
	}
}

func hasRetrigger(units []cycle.UnitStatus, unit string) bool {
	for _, u := range units {
		if u.Unit == unit {
			return u.RetriggerRequested != nil
		}
	}
	return false
}

// TestOperatorCommandsTakeTheLock: while another trawl holds the state,
// retrigger, forget and once --source are refused with the lock named, and
// change nothing.
func TestOperatorCommandsTakeTheLock(t *testing.T) {
	w := newWorld(t)
	if code, out, errs := trawl(t, "once", "-c", w.config); code != exitOK {
		t.Fatalf("once: exit %d\n%s%s", code, out, errs)
	}
	before, err := os.ReadFile(w.state)
	if err != nil {
		t.Fatal(err)
	}
	unit := statusJSON(t, w).Units[0].Unit
	holder, err := state.Open(w.state)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	for _, args := range [][]string{
		{"retrigger", "-c", w.config, unit},
		{"forget", "-c", w.config, unit},
		{"once", "-c", w.config, "--source", "netdev"},
	} {
		code, _, errs := trawl(t, args...)
		if code != exitRuntime || !strings.Contains(errs, "in use by another trawl") {
			t.Fatalf("%v beside a lock holder: exit %d, %q", args, code, errs)
		}
	}
	after, err := os.ReadFile(w.state)
	if err != nil {
		t.Fatal(err)
	}
	if string(after) != string(before) {
		t.Fatal("the state changed while another trawl held it")
	}
}

// TestOnceSource: with two sources, `once --source bpf` triggers and
// reports only bpf's units and leaves netdev's alone.
func TestOnceSource(t *testing.T) {
	w := newWorld(t)
	b, err := os.ReadFile(w.config)
	if err != nil {
		t.Fatal(err)
	}
	src := string(b)
	i := strings.Index(src, "  - name: netdev")
	second := strings.Replace(strings.Replace(src[i:], "name: netdev", "name: bpf", 1), "project: netdev", "project: bpf", 1)
	if err := os.WriteFile(w.config, []byte(src+second), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errs := trawl(t, "once", "-c", w.config, "--source", "bpf")
	if code != exitOK {
		t.Fatalf("once --source bpf: exit %d\n%s%s", code, out, errs)
	}
	doc := statusJSON(t, w)
	if len(doc.Units) == 0 {
		t.Fatalf("no bpf unit triggered:\n%s", out)
	}
	for _, u := range doc.Units {
		if u.Source != "bpf" || !strings.Contains(u.Unit, "/bpf/") {
			t.Fatalf("once --source bpf touched %s of source %s", u.Unit, u.Source)
		}
	}
	if strings.Contains(out, "/netdev/") {
		t.Fatalf("once --source bpf printed netdev units:\n%s", out)
	}
	code, _, errs = trawl(t, "once", "-c", w.config, "--source", "nosuch")
	if code != exitRuntime || !strings.Contains(errs, `no source named "nosuch"`) {
		t.Fatalf("once --source nosuch: exit %d, %q", code, errs)
	}
}

func TestValidate(t *testing.T) {
	w := newWorld(t)
	code, out, errs := trawl(t, "validate", "-c", w.config)
	if code != exitOK || !strings.Contains(out, "projects checked") {
		t.Fatalf("validate: exit %d\n%s%s", code, out, errs)
	}

	editConfig(t, w, "project: netdev", "project: netdve")
	code, _, errs = trawl(t, "validate", "-c", w.config)
	if code != exitConfig || !strings.Contains(errs, "source netdev") || !strings.Contains(errs, `"netdve"`) {
		t.Fatalf("validate of a misspelled project: exit %d, %q", code, errs)
	}
	if code, out, errs := trawl(t, "validate", "-c", w.config, "--offline"); code != exitOK || !strings.Contains(out, "offline") {
		t.Fatalf("validate --offline: exit %d\n%s%s", code, out, errs)
	}
	// At run time too the misspelled project fails the source.
	code, out, _ = trawl(t, "once", "-c", w.config)
	if code != exitCycle || !strings.Contains(out, "source netdev unknown this cycle") || !strings.Contains(out, "netdve") {
		t.Fatalf("once with a misspelled project: exit %d\n%s", code, out)
	}

	if err := os.Remove(filepath.Join(filepath.Dir(w.config), "kci.jwt")); err != nil {
		t.Fatal(err)
	}
	code, _, errs = trawl(t, "validate", "-c", w.config, "--offline")
	if code != exitConfig || !strings.Contains(errs, w.config+":12: targets[0].kernelci.token_file: read open ") {
		t.Fatalf("validate with the token file gone: exit %d, %q", code, errs)
	}
}

// TestPlanWritesNoFile runs plan on a fresh directory and on one a cycle
// filled, and checks that no file or directory was created, changed or
// removed: not the state, not the HTTP cache.
func TestPlanWritesNoFile(t *testing.T) {
	w := newWorld(t)
	dir := filepath.Dir(w.config)
	for _, when := range []string{"fresh", "after once"} {
		if when == "after once" {
			if code, out, errs := trawl(t, "once", "-c", w.config); code != exitOK {
				t.Fatalf("once: exit %d\n%s%s", code, out, errs)
			}
		}
		before := tree(t, dir)
		if code, out, errs := trawl(t, "plan", "-c", w.config); code != exitOK {
			t.Fatalf("plan (%s): exit %d\n%s%s", when, code, out, errs)
		}
		after := tree(t, dir)
		for p, v := range after {
			if before[p] != v {
				t.Errorf("plan (%s) wrote %s", when, p)
			}
		}
		for p := range before {
			if _, ok := after[p]; !ok {
				t.Errorf("plan (%s) removed %s", when, p)
			}
		}
	}
}

// tree maps every path under dir to its mode, size and content.
func tree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		v := info.Mode().String()
		if !d.IsDir() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			v += " " + string(b)
		}
		out[p] = v
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestValidateAsksEveryForge: validate asks Patchwork, GitLab and GitHub
// whether each source's project exists, and names every source whose
// project does not.
func TestValidateAsksEveryForge(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	pw, err := pwfake.New(pwfake.Options{})
	if err != nil {
		t.Fatal(err)
	}
	pwSrv := httptest.NewServer(pw)
	defer pwSrv.Close()
	gl := glfake.New(glfake.Options{Token: "glpat-test"})
	gl.AddProject(glfake.Project{ID: 10, Path: "group/kernel"})
	glSrv := httptest.NewServer(gl)
	defer glSrv.Close()
	gh := ghfake.New(ghfake.Options{Tokens: []string{"ghp_test"}})
	gh.AddPR("rock-core/base-types", ghfake.PR{Number: 5, Title: "PR", HeadRef: "feature",
		HeadSHA: strings.Repeat("c", 40), BaseSHA: strings.Repeat("d", 40)})
	ghSrv := httptest.NewServer(gh)
	defer ghSrv.Close()
	cfg := func(pwProject, glProject, ghRepo string) string {
		return write("trawl.yaml", fmt.Sprintf(`http: {retries: 0}
targets:
  - name: hook
    type: webhook
    webhook: {url: https://ci.example.org/hook, secret_file: %s}
sources:
  - name: netdev
    type: patchwork
    targets: [hook]
    base: {tree: net-next, url: https://git.example.org/net-next.git, branch: main}
    patchwork: {url: %s, project: %s}
  - name: kernel
    type: gitlab
    targets: [hook]
    gitlab: {url: %s, project: %s, token_file: %s}
  - name: base-types
    type: github
    targets: [hook]
    github: {repo: %s, api_url: %s, host: ghe.test, token_file: %s}
`, write("hook.secret", "s3cret"), pwSrv.URL, pwProject, glSrv.URL, glProject, write("gl.token", "glpat-test"),
			ghRepo, ghSrv.URL, write("gh.token", "ghp_test")))
	}
	if code, out, errs := trawl(t, "validate", "-c", cfg("netdev", "group/kernel", "rock-core/base-types")); code != exitOK {
		t.Fatalf("validate: exit %d\n%s%s", code, out, errs)
	}
	code, _, errs := trawl(t, "validate", "-c", cfg("netdve", "group/kernl", "rock-core/base-typo"))
	for _, want := range []string{`source netdev: `, `"netdve"`, "source kernel: ", "group/kernl", "404", "source base-types: ", "rock-core/base-typo"} {
		if code != exitConfig || !strings.Contains(errs, want) {
			t.Fatalf("validate of three misspelled projects: exit %d, want %d and %q in\n%s", code, exitConfig, want, errs)
		}
	}
}
