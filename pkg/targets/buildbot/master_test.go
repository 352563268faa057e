package buildbot

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trawl-ci/trawl/pkg/change"
	"github.com/trawl-ci/trawl/pkg/httpx"
	"github.com/trawl-ci/trawl/pkg/secret"
	"github.com/trawl-ci/trawl/pkg/targets"
	"github.com/trawl-ci/trawl/pkg/targets/buildbot/bbmaster"
	"github.com/trawl-ci/trawl/pkg/targets/inflight/inflighttest"
)

// The tests of this file run against a real Buildbot master (Debian's
// package), started once for the package on first use and killed by
// TestMain.
var (
	masterOnce sync.Once
	master     *bbmaster.Master
	masterErr  error
	masterDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if master != nil {
		master.Stop()
	}
	if masterDir != "" {
		os.RemoveAll(masterDir)
	}
	os.Exit(code)
}

// realMaster returns the shared master, started on first use. Without
// Buildbot installed the test fails, naming the package to install.
func realMaster(t *testing.T) *bbmaster.Master {
	t.Helper()
	masterOnce.Do(func() {
		if masterDir, masterErr = os.MkdirTemp("", "trawl-buildbot-"); masterErr != nil {
			return
		}
		master, masterErr = bbmaster.Start(masterDir)
		if master != nil {
			fmt.Fprintf(os.Stderr, "buildbot master started in %s\n", master.Started.Round(time.Millisecond))
		}
	})
	if masterErr != nil {
		t.Fatal(masterErr)
	}
	return master
}

// newTarget is a Target on the shared master whose changes carry project,
// so that each test sees its own.
func newTarget(t *testing.T, m *bbmaster.Master, project, password string) *Target {
	t.Helper()
	pw := filepath.Join(t.TempDir(), "hook.password")
	if err := os.WriteFile(pw, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	hc, err := httpx.New(httpx.Options{Name: "buildbot test", UserAgent: httpx.UserAgent("test"), RetryMax: -1})
	if err != nil {
		t.Fatal(err)
	}
	tg, err := New(Opts{
		Name: "bb", URL: m.URL, User: bbmaster.User, Password: secret.Source{File: pw},
		Builders: []string{bbmaster.Builder}, Project: project, Category: bbmaster.Category, HTTP: hc,
	})
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

// request is a unit of a Patchwork series with one dependency, whose
// title drives the master's build (see bbmaster.Builder).
func request(title string) targets.Request {
	return targets.Request{
		Unit:        "netdev/1234",
		Fingerprint: fmt.Sprintf("%x", time.Now().UnixNano()),
		Change:      change.Key("pw:netdev/1234"),
		Title:       title,
		WebURL:      "https://patchwork.example.org/project/netdev/list/?series=1234",
		Base:        targets.Base{Tree: "net-next", URL: "https://git.example.org/net-next.git", Branch: "main", Commit: strings.Repeat("ab", 20)},
		Patches: []change.Patch{
			{ID: 1, MsgID: "<dep@x>", Name: "dependency", MboxURL: "https://patchwork.example.org/patch/1/mbox/"},
			{ID: 2, MsgID: "<own@x>", Name: "the change", MboxURL: "https://patchwork.example.org/patch/2/mbox/"},
		},
		Heads: []targets.Head{{Key: "gh:o/r#7", Repo: "https://github.com/o/r.git", Ref: "refs/pull/7/head", SHA: strings.Repeat("c", 40)}},
	}
}

// waitResult polls the job until its result is final, bounded.
func waitResult(t *testing.T, tg *Target, job targets.Job) targets.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for {
		r, err := tg.Result(ctx, job)
		if err != nil {
			t.Fatal(err)
		}
		if r.State.Conclusive() {
			return r
		}
		select {
		case <-ctx.Done():
			t.Fatalf("job %s still %s: %s", job.ID, r.State, r.Summary)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// projectChanges lists the master's changes of one test's project.
func projectChanges(t *testing.T, m *bbmaster.Master, project string) []bbmaster.Change {
	t.Helper()
	cs, err := m.Changes(context.Background(), project+"/")
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

func TestRealMasterResults(t *testing.T) {
	m := realMaster(t)
	for _, tc := range []struct {
		title string
		want  targets.State
	}{
		{"net: fix a leak", targets.StateSuccess},
		{"[fail] net: break the build", targets.StateFail},
		{"[warn] net: warn", targets.StateWarning},
	} {
		t.Run(string(tc.want), func(t *testing.T) {
			t.Parallel()
			project := "results-" + string(tc.want)
			tg := newTarget(t, m, project, bbmaster.Password)
			r := request(tc.title)
			job, err := tg.Trigger(context.Background(), r)
			if err != nil {
				t.Fatal(err)
			}
			if job.Adopted || job.Target != "bb" || job.BaseCommit != r.Base.Commit || !strings.HasPrefix(job.URL, m.URL) {
				t.Errorf("job %+v", job)
			}
			res := waitResult(t, tg, job)
			if res.State != tc.want {
				t.Errorf("state %s, want %s: %s", res.State, tc.want, res.Summary)
			}
			if !strings.HasPrefix(res.URL, m.URL+"#/builders/") || res.Builds.Total() != 1 {
				t.Errorf("result %+v", res)
			}

			// What the build sees: the change's properties.
			cs := projectChanges(t, m, project)
			if len(cs) != 1 {
				t.Fatalf("%d changes on the master, want 1", len(cs))
			}
			c := cs[0]
			for name, want := range map[string]string{
				"trawl_job":         JobKey(r.Unit, r.Fingerprint, 0),
				"trawl_unit":        r.Unit,
				"trawl_fingerprint": r.Fingerprint,
				"trawl_change":      string(r.Change),
			} {
				if got := c.Property(name); got != want {
					t.Errorf("property %s = %q, want %q", name, got, want)
				}
			}
			for name, want := range map[string]string{
				"trawl_mbox_urls": `["https://patchwork.example.org/patch/1/mbox/","https://patchwork.example.org/patch/2/mbox/"]`,
				"trawl_heads":     `[{"key":"gh:o/r#7","repo":"https://github.com/o/r.git","ref":"refs/pull/7/head","sha":"` + strings.Repeat("c", 40) + `"}]`,
				"trawl_base":      `{"tree":"net-next","url":"https://git.example.org/net-next.git","branch":"main","commit":"` + strings.Repeat("ab", 20) + `","exact":false}`,
			} {
				if got := c.Properties[name]; len(got) == 0 || !sameJSON(t, got[0], want) {
					t.Errorf("property %s = %s, want %s", name, got, want)
				}
			}
		})
	}
}

// sameJSON reports whether got and want are the same JSON value.
func sameJSON(t *testing.T, got json.RawMessage, want string) bool {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatal(err)
	}
	return reflect.DeepEqual(g, w)
}

// TestRealMasterAdoption: trawl posts a change, then "crashes" before it
// writes the job to its state; the next trigger of the same unit and
// fingerprint adopts the change, and the master holds one change and one
// build. A job of an earlier attempt named in Exclude is not adopted.
func TestRealMasterAdoption(t *testing.T) {
	t.Parallel()
	m := realMaster(t)
	const project = "adoption"
	tg := newTarget(t, m, project, bbmaster.Password)
	r := request("net: adopt me")
	first, err := tg.Trigger(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	// The job is lost here: the state was never written.
	again, err := newTarget(t, m, project, bbmaster.Password).Trigger(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	if !again.Adopted || again.ID != first.ID {
		t.Fatalf("second trigger: %+v, want the first job %s adopted", again, first.ID)
	}
	// The job as the state file keeps it is all a new process needs to
	// follow it.
	b, err := json.Marshal(again)
	if err != nil {
		t.Fatal(err)
	}
	var stored targets.Job
	if err := json.Unmarshal(b, &stored); err != nil {
		t.Fatal(err)
	}
	if res := waitResult(t, newTarget(t, m, project, bbmaster.Password), stored); res.State != targets.StateSuccess {
		t.Errorf("adopted job: %s: %s", res.State, res.Summary)
	}
	cs := projectChanges(t, m, project)
	if len(cs) != 1 {
		t.Fatalf("%d changes on the master, want 1", len(cs))
	}
	builds, err := m.Builds(context.Background(), cs[0].ChangeID)
	if err != nil {
		t.Fatal(err)
	}
	if len(builds) != 1 {
		t.Errorf("%d builds on the master, want 1", len(builds))
	}

	// A retry after an infrastructure error is a new attempt: a change
	// of its own, even with the earlier job excluded.
	r.Attempt, r.Exclude = 1, []string{first.ID}
	retry, err := tg.Trigger(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	if retry.Adopted || retry.ID == first.ID {
		t.Errorf("retry: %+v", retry)
	}
	if n := len(projectChanges(t, m, project)); n != 2 {
		t.Errorf("%d changes after the retry, want 2", n)
	}
}

func TestRealMasterWrongPassword(t *testing.T) {
	t.Parallel()
	m := realMaster(t)
	const wrong = "not-the-password-42"
	tg := newTarget(t, m, "wrong-password", wrong)
	_, err := tg.Trigger(context.Background(), request("net: refused"))
	if err == nil {
		t.Fatal("trigger with a wrong password succeeded")
	}
	msg := err.Error()
	for _, want := range []string{m.URL + "change_hook/base", "401"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not name %q", msg, want)
		}
	}
	if strings.Contains(msg, wrong) || strings.Contains(msg, bbmaster.Password) {
		t.Errorf("error %q carries a password", msg)
	}
	if !errors.Is(err, httpx.ErrForbidden) {
		t.Errorf("error %v is not ErrForbidden", err)
	}
	if n := len(projectChanges(t, m, "wrong-password")); n != 0 {
		t.Errorf("%d changes on the master after a refused POST", n)
	}
}

// TestRealMasterJobGone: a job whose change the master does not have, or
// whose change is another job's (a database reset reused the id), is gone.
func TestRealMasterJobGone(t *testing.T) {
	t.Parallel()
	m := realMaster(t)
	tg := newTarget(t, m, "gone", bbmaster.Password)
	job, err := tg.Trigger(context.Background(), request("net: here"))
	if err != nil {
		t.Fatal(err)
	}
	changeID, _, err := parseJobID(job.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"999999:" + strings.Repeat("0", 64), jobID(changeID, strings.Repeat("1", 64))} {
		_, err := tg.Result(context.Background(), targets.Job{Target: "bb", ID: id})
		if !errors.Is(err, targets.ErrJobGone) {
			t.Errorf("Result(%s): %v, want ErrJobGone", id, err)
		}
	}
	if _, err := tg.Result(context.Background(), job); err != nil {
		t.Errorf("Result of the real job: %v", err)
	}
}

// TestRealMasterUnknownBuilder: a builder the master does not have is an
// error naming it, never a job gone nor pending forever.
func TestRealMasterUnknownBuilder(t *testing.T) {
	t.Parallel()
	m := realMaster(t)
	tg := newTarget(t, m, "unknown-builder", bbmaster.Password)
	job, err := tg.Trigger(context.Background(), request("net: build me"))
	if err != nil {
		t.Fatal(err)
	}
	tg.builders = []string{"no-such-builder"}
	_, err = tg.Result(context.Background(), job)
	if err == nil || errors.Is(err, targets.ErrJobGone) || !strings.Contains(err.Error(), `"no-such-builder"`) {
		t.Errorf("Result: %v", err)
	}
	// Let the build end before the master is killed.
	tg.builders = []string{bbmaster.Builder}
	waitResult(t, tg, job)
}

// TestRealMasterOwnSourceStamp: two units on the same base get a source
// stamp each, and each build runs with its own unit's properties.
// Buildbot shares a source stamp among changes of the same branch,
// revision, repository, project and codebase, and a build takes the
// properties of its source stamp's newest change: the job key in the
// project is what keeps them apart.
func TestRealMasterOwnSourceStamp(t *testing.T) {
	t.Parallel()
	m := realMaster(t)
	const project = "same-base"
	tg := newTarget(t, m, project, bbmaster.Password)
	a, b := request("net: a"), request("net: b")
	b.Unit, b.Change = "netdev/5678", "pw:netdev/5678"
	var jobs []targets.Job
	for _, r := range []targets.Request{a, b} {
		job, err := tg.Trigger(context.Background(), r)
		if err != nil {
			t.Fatal(err)
		}
		jobs = append(jobs, job)
	}
	for _, job := range jobs {
		waitResult(t, tg, job)
	}
	cs := projectChanges(t, m, project)
	if len(cs) != 2 || cs[0].SourceStamp.SSID == cs[1].SourceStamp.SSID {
		var got []string
		for _, c := range cs {
			got = append(got, fmt.Sprintf("change %d on source stamp %d", c.ChangeID, c.SourceStamp.SSID))
		}
		t.Fatalf("%s: want two changes on two source stamps", strings.Join(got, ", "))
	}
	for _, c := range cs {
		builds, err := m.Builds(context.Background(), c.ChangeID)
		if err != nil {
			t.Fatal(err)
		}
		if len(builds) != 1 {
			t.Fatalf("change %d: %d builds, want 1", c.ChangeID, len(builds))
		}
		unit := builds[0].Properties["trawl_unit"]
		if len(unit) == 0 || !sameJSON(t, unit[0], strconv.Quote(c.Property("trawl_unit"))) {
			t.Errorf("change %d of unit %s: its build ran with trawl_unit %s", c.ChangeID, c.Property("trawl_unit"), unit)
		}
	}
}

// TestRealMasterKilledWithPostOnTheWire: trawl is killed after sending its
// POST and before the master has added the change (a proxy holds the POST
// back, then hands it on: the master gets it after all). The next trawl
// finds no change and the record of the POST: it waits instead of posting
// a second change, and adopts the change once the master lists it.
func TestRealMasterKilledWithPostOnTheWire(t *testing.T) {
	t.Parallel()
	m := realMaster(t)
	const project = "post-on-the-wire"
	masterURL, err := url.Parse(m.URL)
	if err != nil {
		t.Fatal(err)
	}
	received, release, forwarded := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	var posts atomic.Int32
	rp := httputil.NewSingleHostReverseProxy(masterURL)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/change_hook/base" {
			rp.ServeHTTP(w, r)
			return
		}
		if posts.Add(1) > 1 {
			http.Error(w, "a second POST", http.StatusConflict)
			return
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			forwarded <- err
			return
		}
		close(received)
		<-release
		// The master gets the POST after all, though nobody waits for
		// its answer any more (r's context is cancelled by then).
		req, err := http.NewRequestWithContext(context.WithoutCancel(r.Context()), http.MethodPost, m.URL+"change_hook/base", bytes.NewReader(body))
		if err != nil {
			forwarded <- err
			return
		}
		req.Header = r.Header.Clone()
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				err = fmt.Errorf("the master answered %s", resp.Status)
			}
		}
		forwarded <- err
	}))
	defer proxy.Close()
	// On a failure below, let the held POST go, or closing the proxy
	// would wait for it forever.
	var once sync.Once
	letGo := func() { once.Do(func() { close(release) }) }
	defer letGo()

	stateDir := t.TempDir()
	target := func() *Target {
		tg := newTarget(t, m, project, bbmaster.Password)
		tg.hook = proxy.URL + "/change_hook/base"
		tg.api = proxy.URL + "/api/v2"
		tg.dir = filepath.Join(stateDir, "buildbot", "bb")
		return tg
	}
	r := request("net: on the wire")
	next := inflighttest.Kill(t, received, target, r)
	letGo()
	if err := <-forwarded; err != nil {
		t.Fatal(err)
	}
	job, err := next.Trigger(context.Background(), r)
	if err != nil || !job.Adopted {
		t.Fatalf("trigger once the master has the change: %+v %v, want it adopted", job, err)
	}
	if n := len(projectChanges(t, m, project)); n != 1 || posts.Load() != 1 {
		t.Errorf("%d changes on the master after %d POSTs, want 1 and 1", n, posts.Load())
	}
	waitResult(t, next, job)
}
