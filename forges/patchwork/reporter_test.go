package patchwork

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trawl-ci/trawl/forges/patchwork/pwfake"
	"github.com/trawl-ci/trawl/pkg/change"
	"github.com/trawl-ci/trawl/pkg/httpx"
	"github.com/trawl-ci/trawl/pkg/report"
	"github.com/trawl-ci/trawl/pkg/secret"
	"github.com/trawl-ci/trawl/pkg/targets"
)

// checkContext is the check context the reporter tests post in.
const checkContext = "trawl-kernelci"

// reporterEnv is a Reporter posting to pwfake through the real HTTP stack
// of pkg/httpx, with its token in a file and its cache on disk.
type reporterEnv struct {
	srv      *server
	src      *Source
	rp       *Reporter
	cacheDir string
}

func newReporterEnv(t *testing.T, token string) *reporterEnv {
	t.Helper()
	srv := newServer(t, pwfake.Phase1, nil)
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cacheDir := t.TempDir()
	hc, err := httpx.New(httpx.Options{
		Name:         "patchwork test",
		CacheDir:     cacheDir,
		Credential:   &httpx.Credential{Header: "Authorization", Prefix: "Token ", Secret: secret.Source{File: tokenFile}},
		UserAgent:    httpx.UserAgent("test"),
		RetryWaitMin: time.Millisecond,
		RetryWaitMax: 2 * time.Millisecond,
		Transport:    srv.client.Transport,
	})
	if err != nil {
		t.Fatal(err)
	}
	o := srv.opts("netdev")
	o.HTTP = hc
	src := srv.newSource(t, o)
	rp, err := src.Reporter(ReporterOpts{Name: "pw-netdev", Context: checkContext})
	if err != nil {
		t.Fatal(err)
	}
	return &reporterEnv{srv: srv, src: src, rp: rp, cacheDir: cacheDir}
}

// series returns the change of netdev series id, as the source yields it.
func (e *reporterEnv) series(t *testing.T, id int64) *change.Change {
	t.Helper()
	changes, err := e.src.Fetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := seriesKeys("netdev", id)[0]
	for i := range changes {
		if changes[i].Key == want {
			return &changes[i]
		}
	}
	t.Fatalf("no change %s in %v", want, keys(changes))
	return nil
}

// post reports m on every item of c, as the cycle does, and returns the
// first error.
func (e *reporterEnv) post(c *change.Change, m report.Message) error {
	posted, ok := e.rp.Map(m.State)
	if !ok {
		return errors.New("state not reported")
	}
	for _, item := range e.rp.Items(c) {
		if _, err := e.rp.Report(context.Background(), item, m, posted); err != nil {
			return err
		}
	}
	return nil
}

// ours returns the checks on patch id in the test's context.
func (e *reporterEnv) ours(id int64) []pwfake.CheckRecord {
	var out []pwfake.CheckRecord
	for _, c := range e.srv.fake.Checks(id) {
		if c.Context == checkContext {
			out = append(out, c)
		}
	}
	return out
}

func message(fp string, s targets.State, summary, url string) report.Message {
	return report.Message{
		Unit: "pw:patchwork.test/netdev/series/1", Change: "pw:patchwork.test/netdev/series/1", Target: "kernelci",
		Fingerprint: fp, State: s, Summary: summary, URL: url,
	}
}

func TestReporterPostsOnEveryPatch(t *testing.T) {
	const fp = "0123456789abcdef0123456789abcdef"
	e := newReporterEnv(t, pwfake.BotToken)
	c := e.series(t, 1)
	if got := e.rp.Items(c); !slices.Equal(got, []string{"1", "2", "3", "4"}) {
		t.Fatalf("items %v", got)
	}
	runURL := "https://ci.example.org/runs/42"
	if err := e.post(c, message(fp, targets.StateSuccess, "build and boot\n passed", runURL)); err != nil {
		t.Fatal(err)
	}
	for id := int64(1); id <= 4; id++ {
		got := e.ours(id)
		if len(got) != 1 {
			t.Fatalf("patch %d: %d checks in %s", id, len(got), checkContext)
		}
		chk := got[0]
		if chk.State != CheckSuccess || chk.TargetURL != runURL || chk.User != "ci-bot" ||
			!strings.Contains(chk.Description, "build and boot passed") || !strings.Contains(chk.Description, fp[:12]) {
			t.Errorf("patch %d: %+v", id, chk)
		}
	}
	if n := e.srv.fake.PostCount(); n != 4 {
		t.Errorf("%d posts, want 4", n)
	}
}

// TestReporterLooksBeforePosting replays what the cycle does around a
// crash: each step posts one message on some items, and only the checks
// that Patchwork does not already show are posted.
func TestReporterLooksBeforePosting(t *testing.T) {
	const fp1, fp2 = "1111111111111111aaaa", "2222222222222222bbbb"
	long := "https://ci.example.org/" + strings.Repeat("r", MaxTargetURL)
	steps := []struct {
		name     string
		items    []string
		m        report.Message
		newPosts int
	}{
		{"pending on two patches, then a crash", []string{"1", "2"}, message(fp1, targets.StatePending, "queued", ""), 2},
		{"after the restart, all four", []string{"1", "2", "3", "4"}, message(fp1, targets.StatePending, "queued", ""), 2},
		{"the same again", []string{"1", "2", "3", "4"}, message(fp1, targets.StatePending, "queued", ""), 0},
		{"a conclusive state", []string{"1", "2", "3", "4"}, message(fp1, targets.StateFail, "build failed", "https://ci.example.org/1"), 4},
		{"the same again", []string{"1", "2", "3", "4"}, message(fp1, targets.StateFail, "build failed", "https://ci.example.org/1"), 0},
		{"a new fingerprint, same state and summary", []string{"1"}, message(fp2, targets.StateFail, "build failed", "https://ci.example.org/2"), 1},
		{"an infrastructure error, a URL too long to keep", []string{"1"}, message(fp2, targets.StateInfra, "lab offline", long), 1},
		{"the same again", []string{"1"}, message(fp2, targets.StateInfra, "lab offline", long), 0},
		{"no summary", []string{"1"}, message(fp2, targets.StateSuccess, "", ""), 1},
		{"no summary again", []string{"1"}, message(fp2, targets.StateSuccess, "", ""), 0},
	}
	e := newReporterEnv(t, pwfake.BotToken)
	for _, st := range steps {
		before := e.srv.fake.PostCount()
		posted, _ := e.rp.Map(st.m.State)
		said := map[report.Done]int{}
		for _, item := range st.items {
			done, err := e.rp.Report(context.Background(), item, st.m, posted)
			if err != nil {
				t.Fatalf("%s: %v", st.name, err)
			}
			said[done]++
		}
		if said[report.Posted] != st.newPosts || said[report.Found] != len(st.items)-st.newPosts {
			t.Errorf("%s: Report said posted %d times, found %d; want %d and %d",
				st.name, said[report.Posted], said[report.Found], st.newPosts, len(st.items)-st.newPosts)
		}
		if n := e.srv.fake.PostCount() - before; n != st.newPosts {
			t.Errorf("%s: %d posts, want %d", st.name, n, st.newPosts)
		}
	}
	got := e.ours(1)
	var states []string
	for _, c := range got {
		states = append(states, c.State)
	}
	if want := []string{"pending", "fail", "fail", "warning", "success"}; !slices.Equal(states, want) {
		t.Errorf("states on patch 1 %v, want %v", states, want)
	}
	if infra := got[3]; infra.TargetURL != "" || !strings.Contains(infra.Description, "lab offline") {
		t.Errorf("infra check %+v: want no target_url", infra)
	}
	if n := len(e.ours(4)); n != 2 {
		t.Errorf("patch 4 has %d checks, want 2", n)
	}
}

func TestReporterErrors(t *testing.T) {
	tests := []struct {
		name      string
		token     string
		patch     int64
		fail      string // FailPath prefix, with status failStatus
		permanent bool
		want      []string // in the error
	}{
		{"ci-bot on a bpf patch", pwfake.BotToken, 19, "", true,
			[]string{"patch 19", "403 Forbidden", "You do not have permission to perform this action."}},
		{"bad token", "deadbeefdeadbeef", 1, "", true, []string{"patch 1", "403 Forbidden", "Invalid token."}},
		{"unknown patch", pwfake.AdminToken, 9999, "", true, []string{"patch 9999", "404 Not Found", "Not found."}},
		{"server error on the post", pwfake.AdminToken, 1, "POST /api/1.3/patches/1/checks/", false,
			[]string{"post check on patch 1", "503 Service Unavailable"}},
		{"server error on the look", pwfake.AdminToken, 1, "/api/1.3/patches/1/checks/", false,
			[]string{"list checks of patch 1", "503 Service Unavailable"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newReporterEnv(t, tt.token)
			if tt.fail != "" {
				e.srv.fake.FailPath(tt.fail, http.StatusServiceUnavailable)
			}
			c := &change.Change{Patches: []change.Patch{{ID: tt.patch}}}
			err := e.post(c, message("abcdef0123456789", targets.StateSuccess, "ok", ""))
			if err == nil {
				t.Fatal("no error")
			}
			if report.Permanent(err) != tt.permanent {
				t.Errorf("Permanent = %v, want %v: %v", report.Permanent(err), tt.permanent, err)
			}
			for _, s := range tt.want {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not name %q", err, s)
				}
			}
			if strings.Contains(err.Error(), tt.token) {
				t.Errorf("error %q holds the token", err)
			}
			if n := len(e.ours(tt.patch)); n != 0 {
				t.Errorf("%d checks posted", n)
			}
		})
	}
}

func TestReporterOptions(t *testing.T) {
	e := newReporterEnv(t, pwfake.BotToken)
	tests := []struct {
		name   string
		o      ReporterOpts
		errs   bool
		mapped map[targets.State]string // "" means not reported
	}{
		{"defaults", ReporterOpts{Name: "d", Context: "trawl_kernelci-1"}, false, map[targets.State]string{
			targets.StatePending: "pending", targets.StateSuccess: "success", targets.StateWarning: "warning",
			targets.StateFail: "fail", targets.StateInfra: "warning", targets.State("bogus"): "",
		}},
		{"overrides", ReporterOpts{Name: "o", Context: "trawl", States: map[targets.State]string{
			targets.StateInfra: CheckFail, targets.StatePending: "",
		}}, false, map[targets.State]string{
			targets.StatePending: "", targets.StateSuccess: "success", targets.StateInfra: "fail",
		}},
		{"context with a dot", ReporterOpts{Name: "x", Context: "kernelci.org"}, true, nil},
		{"context with a slash", ReporterOpts{Name: "x", Context: "ci/build"}, true, nil},
		{"context with a space", ReporterOpts{Name: "x", Context: "ci build"}, true, nil},
		{"empty context", ReporterOpts{Name: "x"}, true, nil},
		{"context too long", ReporterOpts{Name: "x", Context: strings.Repeat("c", 256)}, true, nil},
		{"unknown check state", ReporterOpts{Name: "x", Context: "trawl", States: map[targets.State]string{targets.StateFail: "failed"}}, true, nil},
		{"capitalised check state", ReporterOpts{Name: "x", Context: "trawl", States: map[targets.State]string{targets.StateSuccess: "Success"}}, true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rp, err := e.src.Reporter(tt.o)
			if (err != nil) != tt.errs {
				t.Fatalf("err = %v, want error %v", err, tt.errs)
			}
			if err != nil {
				if !strings.Contains(err.Error(), "patchwork reporter x") {
					t.Errorf("error %q does not name the reporter", err)
				}
				return
			}
			for s, want := range tt.mapped {
				got, ok := rp.Map(s)
				if got != want || ok != (want != "") {
					t.Errorf("Map(%s) = %q, %v, want %q", s, got, ok, want)
				}
			}
		})
	}
	if DefaultCheckStates[targets.StateInfra] != CheckWarning {
		t.Error("the reporter's overrides changed DefaultCheckStates")
	}
}

// TestReporterPerTarget posts each target's results in its own context.
// A target whose name is not a slug makes a context Patchwork refuses: the
// post fails for good, with Patchwork's reason.
func TestReporterPerTarget(t *testing.T) {
	e := newReporterEnv(t, pwfake.BotToken)
	rp, err := e.src.Reporter(ReporterOpts{Name: "pw-netdev", Context: "trawl", PerTarget: true})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		target    string
		context   string // of the check posted, "" for none
		permanent bool
	}{
		{"kernelci", "trawl-kernelci", false},
		{"kernelci_staging", "trawl-kernelci_staging", false},
		{"kernelci.org", "", true},
	}
	for _, tt := range tests {
		m := message("0123456789abcdef", targets.StateSuccess, "ok", "")
		m.Target = tt.target
		_, err := rp.Report(context.Background(), "2", m, CheckSuccess)
		if tt.context == "" {
			if !report.Permanent(err) || !strings.Contains(err.Error(), `Enter a valid \"slug\"`) {
				t.Errorf("target %s: %v, want a permanent slug error", tt.target, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("target %s: %v", tt.target, err)
		}
		if !slices.ContainsFunc(e.srv.fake.Checks(2), func(c pwfake.CheckRecord) bool { return c.Context == tt.context }) {
			t.Errorf("target %s: no check in context %s", tt.target, tt.context)
		}
	}
}

// TestTokenNeverCached posts and reads through a cached client and looks
// for the token in every file of the cache.
func TestTokenNeverCached(t *testing.T) {
	e := newReporterEnv(t, pwfake.AdminToken)
	c := e.series(t, 1)
	if err := e.post(c, message("feedface", targets.StateSuccess, "ok", "https://ci.example.org/7")); err != nil {
		t.Fatal(err)
	}
	if len(e.ours(4)) != 1 {
		t.Fatal("nothing posted")
	}
	files := 0
	err := filepath.WalkDir(e.cacheDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.Contains(path, pwfake.AdminToken) {
			t.Errorf("cache path %s holds the token", path)
		}
		if d.IsDir() {
			return nil
		}
		files++
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.Contains(b, []byte(pwfake.AdminToken)) {
			t.Errorf("cache file %s holds the token", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files == 0 {
		t.Error("the cache is empty: the test looked at nothing")
	}
}

// TestReporterPostCostsOneRequest: Post writes the same check as Report,
// with one request per patch and no look-up (the cycle calls it for
// patches no earlier run began posting on).
func TestReporterPostCostsOneRequest(t *testing.T) {
	const fp = "0123456789abcdef0123456789abcdef"
	e := newReporterEnv(t, pwfake.BotToken)
	c := e.series(t, 1)
	before := e.srv.fake.Requests()
	m := message(fp, targets.StateFail, "build failed", "https://ci.example.org/runs/7")
	for _, item := range e.rp.Items(c) {
		if err := e.rp.Post(context.Background(), item, m, CheckFail); err != nil {
			t.Fatal(err)
		}
	}
	after := e.srv.fake.Requests()
	for id := int64(1); id <= 4; id++ {
		path := fmt.Sprintf("/api/1.3/patches/%d/checks/", id)
		if n := after[path] - before[path]; n != 1 {
			t.Errorf("patch %d: %d requests, want 1 (the POST)", id, n)
		}
		got := e.ours(id)
		if len(got) != 1 || got[0].State != CheckFail || !strings.Contains(got[0].Description, fp[:12]) {
			t.Errorf("patch %d: checks %+v", id, got)
		}
	}
	if err := e.rp.Post(context.Background(), "x", m, CheckFail); err == nil {
		t.Error("Post on item x: no error")
	}
}
