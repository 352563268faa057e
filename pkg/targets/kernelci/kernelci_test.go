package kernelci_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trawl-ci/trawl/pkg/change"
	"github.com/trawl-ci/trawl/pkg/httpx"
	"github.com/trawl-ci/trawl/pkg/secret"
	"github.com/trawl-ci/trawl/pkg/targets"
	"github.com/trawl-ci/trawl/pkg/targets/kernelci"
	"github.com/trawl-ci/trawl/pkg/targets/kernelci/kcifake"
)

const (
	treeURL = "https://git.kernel.org/pub/scm/linux/kernel/git/netdev/net-next.git"
	branch  = "main"
	email   = "trawl@example.org"
	c1      = "1111111111111111111111111111111111111111"
	c2      = "2222222222222222222222222222222222222222"
	c3      = "3333333333333333333333333333333333333333"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// env is a fake KernelCI (API and pipeline on two servers) plus a server
// for patch mboxes.
type env struct {
	fake     *kcifake.Fake
	clock    *clock
	api      *httptest.Server
	pipe     *httptest.Server
	patches  *httptest.Server
	apiHits  atomic.Int64
	pipeHits atomic.Int64
	token    string // path of the token file
}

func newEnv(t testing.TB, allowed ...string) *env {
	t.Helper()
	e := &env{clock: &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}}
	e.patches = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/mbox/") {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintf(w, "From: dev@example.org\nSubject: [PATCH] %s\n\n---\n", r.URL.Path)
	}))
	t.Cleanup(e.patches.Close)
	if allowed == nil {
		allowed = []string{"127.0.0.1"}
	}
	e.fake = kcifake.New(kcifake.Options{
		Secret:         []byte("pipeline-secret"),
		AllowedDomains: allowed,
		Now:            e.clock.Now,
		PipelineUser:   "staging.kernelci.org",
		HTTPClient:     e.patches.Client(),
	})
	e.api = httptest.NewServer(counting(e.fake.APIHandler(), &e.apiHits))
	t.Cleanup(e.api.Close)
	e.pipe = httptest.NewServer(counting(e.fake.PipelineHandler(), &e.pipeHits))
	t.Cleanup(e.pipe.Close)
	e.token = writeToken(t, e.fake.Token(email, "patchset", "checkout"))
	return e
}

func counting(h http.Handler, n *atomic.Int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		h.ServeHTTP(w, r)
	})
}

func writeToken(t testing.TB, tok string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(p, []byte(tok+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func (e *env) opts() kernelci.Opts {
	return kernelci.Opts{
		Name:         "kernelci-staging",
		APIURL:       e.api.URL,
		PipelineURL:  e.pipe.URL,
		Token:        secret.Source{File: e.token},
		APIHTTP:      &http.Client{},
		PipelineHTTP: &http.Client{},
		PatchDomains: []string{"127.0.0.1"},
		Now:          e.clock.Now,
	}
}

func (e *env) target(t testing.TB, mods ...func(*kernelci.Opts)) *kernelci.Target {
	t.Helper()
	o := e.opts()
	for _, m := range mods {
		m(&o)
	}
	tg, err := kernelci.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

// patches returns n patches whose mboxes the patch server serves.
func (e *env) patchList(n int) []change.Patch {
	ps := make([]change.Patch, n)
	for i := range ps {
		ps[i] = change.Patch{ID: int64(100 + i), Name: fmt.Sprintf("patch %d", i),
			MboxURL: fmt.Sprintf("%s/mbox/%d/", e.patches.URL, 100+i)}
	}
	return ps
}

func (e *env) request(commit string, exact bool, patches []change.Patch) targets.Request {
	return targets.Request{
		Unit:        "pw:patchwork.kernel.org/netdevbpf/series/812345@kernelci-staging",
		Fingerprint: "fp",
		Change:      "pw:patchwork.kernel.org/netdevbpf/series/812345",
		Base:        targets.Base{Tree: "net-next", URL: treeURL, Branch: branch, Commit: commit, Exact: exact},
		Patches:     patches,
	}
}

func mboxURLs(ps []change.Patch) map[string]string {
	m := map[string]string{}
	for i, p := range ps {
		m[fmt.Sprintf("patch%d", i)] = p.MboxURL
	}
	return m
}

func TestTriggerSubmitsPatchset(t *testing.T) {
	tests := []struct {
		name           string
		jobFilter      []string
		platformFilter []string
		dashboard      string
		patches        int
	}{
		{name: "one patch, no filters", patches: 1},
		{name: "series with filters", patches: 3,
			jobFilter: []string{"kbuild-gcc-12-x86", "baseline-x86"}, platformFilter: []string{"qemu-x86"}},
		{name: "dashboard link", patches: 2, dashboard: "https://dashboard.example.org/node/"},
		{name: "largest series the pipeline takes", patches: 32},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			checkout := e.fake.AddCheckout("net-next", treeURL, branch, c1)
			tg := e.target(t, func(o *kernelci.Opts) {
				o.JobFilter, o.PlatformFilter, o.DashboardURL = tt.jobFilter, tt.platformFilter, tt.dashboard
			})
			ps := e.patchList(tt.patches)

			job, err := tg.Trigger(t.Context(), e.request(c1, true, ps))
			if err != nil {
				t.Fatalf("Trigger: %v", err)
			}

			nodes := e.fake.Patchsets()
			if len(nodes) != 1 || e.fake.Submissions() != 1 {
				t.Fatalf("got %d patchset nodes and %d submissions, want 1 and 1", len(nodes), e.fake.Submissions())
			}
			n := nodes[0]
			if n.Parent == nil || *n.Parent != checkout {
				t.Errorf("parent = %v, want the checkout %s", n.Parent, checkout)
			}
			if !reflect.DeepEqual(n.Artifacts, mboxURLs(ps)) {
				t.Errorf("artifacts = %v, want %v", n.Artifacts, mboxURLs(ps))
			}
			if !reflect.DeepEqual(n.JobFilter, tt.jobFilter) || !reflect.DeepEqual(n.PlatformFilter, tt.platformFilter) {
				t.Errorf("filters = %v %v, want %v %v", n.JobFilter, n.PlatformFilter, tt.jobFilter, tt.platformFilter)
			}
			if n.Submitter != "user:"+email || n.Revision("commit") != c1 {
				t.Errorf("submitter %q commit %q, want user:%s %s", n.Submitter, n.Revision("commit"), email, c1)
			}
			wantURL := e.api.URL + "/latest/node/" + n.ID
			if tt.dashboard != "" {
				wantURL = tt.dashboard + n.ID
			}
			want := targets.Job{Target: "kernelci-staging", ID: n.ID, URL: wantURL, BaseCommit: c1}
			if job != want {
				t.Errorf("job = %+v, want %+v", job, want)
			}
		})
	}
}

func TestTriggerWaitsForCheckout(t *testing.T) {
	tests := []struct {
		name  string
		setup func(e *env)
	}{
		{name: "no checkout at all", setup: func(*env) {}},
		{name: "only a failed checkout", setup: func(e *env) {
			must(t, e.fake.Finish(e.fake.AddCheckout("net-next", treeURL, branch, c1), "fail"))
		}},
		{name: "only an incomplete checkout", setup: func(e *env) {
			must(t, e.fake.Finish(e.fake.AddCheckout("net-next", treeURL, branch, c1), "incomplete"))
		}},
		{name: "checkout of the commit on another branch", setup: func(e *env) {
			e.fake.AddCheckout("net-next", treeURL, "testing", c1)
		}},
		{name: "checkout of another commit", setup: func(e *env) {
			e.fake.AddCheckout("net-next", treeURL, branch, c2)
		}},
		{name: "checkout a person requested with a job filter", setup: func(e *env) {
			n := checkoutNode(c1, "user:someone@example.org")
			n.JobFilter = []string{"kbuild-gcc-12-x86"}
			e.fake.AddNode(n)
		}},
		{name: "checkout a patchset node", setup: func(e *env) {
			n := checkoutNode(c1, "service:pipeline")
			n.Name = "patchset"
			e.fake.AddNode(n)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			tt.setup(e)
			_, err := e.target(t).Trigger(t.Context(), e.request(c1, true, e.patchList(2)))
			if !errors.Is(err, targets.ErrWaiting) {
				t.Fatalf("err = %v, want one wrapping targets.ErrWaiting", err)
			}
			if !strings.Contains(err.Error(), "no checkout node for "+treeURL+" "+branch+" "+c1) {
				t.Errorf("err = %q does not say which base it waits for", err)
			}
			if e.fake.Submissions() != 0 || e.pipeHits.Load() != 0 {
				t.Errorf("%d submissions, %d pipeline requests, want none", e.fake.Submissions(), e.pipeHits.Load())
			}
		})
	}
}

func checkoutNode(commit, submitter string) kcifake.Node {
	return kcifake.Node{
		Kind: "checkout", Name: "checkout", Path: []string{"checkout"},
		State: "available", Result: kcifake.StrPtr("pass"), Submitter: submitter,
		Data: map[string]any{"kernel_revision": map[string]any{
			"tree": "net-next", "url": treeURL, "branch": branch, "commit": commit,
		}},
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestTriggerAdoptsAfterLostState(t *testing.T) {
	e := newEnv(t)
	e.fake.AddCheckout("net-next", treeURL, branch, c1)
	r := e.request(c1, false, e.patchList(3))
	first, err := e.target(t).Trigger(t.Context(), r)
	if err != nil {
		t.Fatal(err)
	}

	steps := []struct {
		name   string
		target *kernelci.Target
	}{
		// The same process triggers again, as after a crash between the
		// trigger and the state write.
		{name: "same target", target: e.target(t)},
		// A new process with no state at all.
		{name: "restarted target", target: e.target(t)},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			job, err := s.target.Trigger(t.Context(), r)
			if err != nil {
				t.Fatal(err)
			}
			want := first
			want.Adopted = true
			if job != want {
				t.Errorf("job = %+v, want %+v", job, want)
			}
			if n := e.fake.Submissions(); n != 1 {
				t.Errorf("%d submissions, want 1", n)
			}
		})
	}
}

func TestTriggerAdoption(t *testing.T) {
	jobs := []string{"kbuild-gcc-12-x86", "baseline-x86"}
	tests := []struct {
		name      string
		process   bool // let the patchset service process the first node
		commit    string
		exact     bool
		patches   func(ps []change.Patch) []change.Patch
		jobFilter []string
		adopt     bool
		base      string // BaseCommit of the job
	}{
		{name: "same request", commit: c1, exact: true, adopt: true, base: c1},
		{name: "same request after the patchset service added its tarball", process: true,
			commit: c1, exact: true, adopt: true, base: c1},
		{name: "pinned base resolved to another commit", commit: c2, exact: false, adopt: true, base: c1},
		{name: "exact base on another commit", commit: c2, exact: true, adopt: false, base: c2},
		{name: "patches in another order", commit: c1, exact: true, base: c1,
			patches: func(ps []change.Patch) []change.Patch { return []change.Patch{ps[1], ps[0], ps[2]} }},
		{name: "the first patches only", commit: c1, exact: true, base: c1,
			patches: func(ps []change.Patch) []change.Patch { return ps[:2] }},
		{name: "one more patch", commit: c1, exact: true, base: c1,
			patches: func(ps []change.Patch) []change.Patch {
				return append(ps, change.Patch{MboxURL: strings.Replace(ps[0].MboxURL, "100", "999", 1)})
			}},
		{name: "another job filter", commit: c1, exact: true, base: c1, jobFilter: jobs[:1]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.fake.AddCheckout("net-next", treeURL, branch, c1)
			e.fake.AddCheckout("net-next", treeURL, branch, c2)
			ps := e.patchList(3)
			first, err := e.target(t, func(o *kernelci.Opts) { o.JobFilter = jobs }).
				Trigger(t.Context(), e.request(c1, true, ps))
			if err != nil {
				t.Fatal(err)
			}
			if tt.process {
				e.fake.Process()
				if n, _ := e.fake.Node(first.ID); n.State != "available" || n.Artifacts["tarball"] == "" {
					t.Fatalf("processed node: state %s artifacts %v", n.State, n.Artifacts)
				}
			}
			e.clock.Advance(time.Hour)

			if tt.patches != nil {
				ps = tt.patches(ps)
			}
			filter := jobs
			if tt.jobFilter != nil {
				filter = tt.jobFilter
			}
			job, err := e.target(t, func(o *kernelci.Opts) { o.JobFilter = filter }).
				Trigger(t.Context(), e.request(tt.commit, tt.exact, ps))
			if err != nil {
				t.Fatal(err)
			}

			wantSubmissions := 2
			if tt.adopt {
				wantSubmissions = 1
				if job.ID != first.ID {
					t.Errorf("adopted %s, want %s", job.ID, first.ID)
				}
			}
			if job.Adopted != tt.adopt || e.fake.Submissions() != wantSubmissions {
				t.Errorf("adopted = %v with %d submissions, want %v with %d",
					job.Adopted, e.fake.Submissions(), tt.adopt, wantSubmissions)
			}
			if job.BaseCommit != tt.base {
				t.Errorf("base commit = %s, want %s", job.BaseCommit, tt.base)
			}
		})
	}
}

func TestTriggerPipelineRefusal(t *testing.T) {
	other := kcifake.New(kcifake.Options{Secret: []byte("another-secret")})
	tests := []struct {
		name    string
		token   func(f *kcifake.Fake) string
		patch   string // path on the patch server; "" for a served mbox
		status  int
		message string
	}{
		{name: "Bearer prefix", token: func(f *kcifake.Fake) string { return "Bearer " + f.Token(email, "patchset") },
			status: http.StatusUnauthorized, message: "Unauthorized"},
		{name: "signed with another secret", token: func(*kcifake.Fake) string { return other.Token(email, "patchset") },
			status: http.StatusUnauthorized, message: "Unauthorized"},
		{name: "no patchset permission", token: func(f *kcifake.Fake) string { return f.Token(email, "checkout") },
			status: http.StatusUnauthorized, message: "Unauthorized"},
		{name: "no email", token: func(f *kcifake.Fake) string { return f.Token("", "patchset") },
			status: http.StatusUnauthorized, message: "Unauthorized"},
		{name: "unreachable patch", token: func(f *kcifake.Fake) string { return f.Token(email, "patchset") },
			patch: "/gone/", status: http.StatusBadRequest, message: "Invalid patch URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.fake.AddCheckout("net-next", treeURL, branch, c1)
			tok := tt.token(e.fake)
			tg := e.target(t, func(o *kernelci.Opts) { o.Token = secret.Source{File: writeToken(t, tok)} })
			ps := e.patchList(2)
			if tt.patch != "" {
				ps[1].MboxURL = e.patches.URL + tt.patch
			}

			_, err := tg.Trigger(t.Context(), e.request(c1, true, ps))

			var se *httpx.StatusError
			if !errors.As(err, &se) || se.Status != tt.status || se.Message != tt.message {
				t.Fatalf("err = %v, want a %d %q StatusError", err, tt.status, tt.message)
			}
			if errors.Is(err, targets.ErrWaiting) {
				t.Errorf("err = %v wraps ErrWaiting", err)
			}
			if !strings.Contains(err.Error(), e.pipe.URL+"/api/patchset") {
				t.Errorf("err = %q does not name the URL", err)
			}
			if strings.Contains(err.Error(), strings.TrimPrefix(tok, "Bearer ")) {
				t.Errorf("err = %q contains the token", err)
			}
			if n := len(e.fake.Patchsets()); n != 0 || e.fake.Submissions() != 0 {
				t.Errorf("%d patchset nodes, %d submissions, want none", n, e.fake.Submissions())
			}
		})
	}
}

func TestTriggerRefusesBeforeAnyRequest(t *testing.T) {
	tests := []struct {
		name     string
		domains  []string
		defaults bool // the default patch domains
		edit     func(r *targets.Request, patchHost string)
		want     string
	}{
		{name: "patch off the default domains", defaults: true,
			edit: func(*targets.Request, string) {}, want: "not one of the patch domains [patchwork.kernel.org]"},
		{name: "no patches", edit: func(r *targets.Request, _ string) { r.Patches = nil }, want: "no patches"},
		{name: "33 patches", edit: func(r *targets.Request, h string) {
			for len(r.Patches) < 33 {
				r.Patches = append(r.Patches, change.Patch{MboxURL: "http://" + h + "/mbox/x/"})
			}
		}, want: "at most 32"},
		{name: "patch without mbox URL", edit: func(r *targets.Request, _ string) { r.Patches[1].MboxURL = "" },
			want: "not an http(s) URL"},
		{name: "patch on a disallowed domain", domains: []string{"patchwork.kernel.org"},
			edit: func(*targets.Request, string) {}, want: "not one of the patch domains"},
		{name: "base without commit", edit: func(r *targets.Request, _ string) { r.Base.Commit = "" },
			want: "base needs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.fake.AddCheckout("net-next", treeURL, branch, c1)
			tg := e.target(t, func(o *kernelci.Opts) {
				if tt.domains != nil || tt.defaults {
					o.PatchDomains = tt.domains
				}
			})
			r := e.request(c1, true, e.patchList(3))
			tt.edit(&r, strings.TrimPrefix(e.patches.URL, "http://"))

			_, err := tg.Trigger(t.Context(), r)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one saying %q", err, tt.want)
			}
			if errors.Is(err, targets.ErrWaiting) {
				t.Errorf("err = %v wraps ErrWaiting", err)
			}
			if a, p := e.apiHits.Load(), e.pipeHits.Load(); a != 0 || p != 0 {
				t.Errorf("%d API and %d pipeline requests, want none", a, p)
			}
		})
	}
}

// TestOffListDomainFailsLater shows why PatchDomains exists: the pipeline
// accepts a patch URL off its allow-list, and its patchset service fails
// the node later.
func TestOffListDomainFailsLater(t *testing.T) {
	e := newEnv(t, "patchwork.kernel.org")
	e.fake.AddCheckout("net-next", treeURL, branch, c1)
	job, err := e.target(t).Trigger(t.Context(), e.request(c1, true, e.patchList(1)))
	if err != nil {
		t.Fatalf("Trigger: %v", err)
	}
	e.fake.Process()
	n, _ := e.fake.Node(job.ID)
	if n.State != "done" || n.Result == nil || *n.Result != "fail" {
		t.Errorf("node state %s result %v, want done fail", n.State, n.Result)
	}
}

func TestResolveBase(t *testing.T) {
	add := func(e *env, commit string) string {
		e.clock.Advance(time.Minute)
		return e.fake.AddCheckout("net-next", treeURL, branch, commit)
	}
	tests := []struct {
		name  string
		setup func(e *env)
		want  string // "" means waiting
	}{
		{name: "no checkout", setup: func(*env) {}},
		{name: "newest of several", want: c2, setup: func(e *env) {
			add(e, c1)
			add(e, c3)
			add(e, c2)
		}},
		{name: "newest by created time, not by position", want: c3, setup: func(e *env) {
			add(e, c1)
			n := checkoutNode(c3, "service:pipeline")
			n.Created = kcifake.Time{Time: e.clock.Now().Add(time.Hour)}
			e.fake.AddNode(n)
			add(e, c2)
		}},
		{name: "failed newest is skipped", want: c1, setup: func(e *env) {
			add(e, c1)
			must(t, e.fake.Finish(add(e, c2), "fail"))
		}},
		{name: "incomplete newest is skipped", want: c1, setup: func(e *env) {
			add(e, c1)
			must(t, e.fake.Finish(add(e, c2), "incomplete"))
		}},
		{name: "finished newest counts", want: c2, setup: func(e *env) {
			add(e, c1)
			must(t, e.fake.Finish(add(e, c2), "pass"))
		}},
		{name: "other branches and trees are ignored", want: c1, setup: func(e *env) {
			add(e, c1)
			e.clock.Advance(time.Minute)
			e.fake.AddCheckout("net-next", treeURL, "testing", c2)
			e.fake.AddCheckout("net", "https://git.kernel.org/pub/scm/linux/kernel/git/netdev/net.git", branch, c3)
		}},
		{name: "a person's checkout of an older commit is ignored", want: c1, setup: func(e *env) {
			add(e, c1)
			e.clock.Advance(time.Minute)
			n := checkoutNode(c2, "user:someone@example.org")
			n.Data["kernel_revision"].(map[string]any)["tip_of_branch"] = false
			e.fake.AddNode(n)
		}},
		{name: "patchset nodes are ignored", want: c1, setup: func(e *env) {
			add(e, c1)
			e.clock.Advance(time.Minute)
			n := checkoutNode(c2, "user:someone@example.org")
			n.Name, n.Path = "patchset", []string{"checkout", "patchset"}
			e.fake.AddNode(n)
		}},
		{name: "quiet branch, old checkout", want: c1, setup: func(e *env) {
			add(e, c1)
			e.clock.Advance(40 * 24 * time.Hour)
		}},
		{name: "newest spread over pages", want: c3, setup: func(e *env) {
			for range 150 {
				add(e, c1)
			}
			add(e, c3)
			for range 60 {
				n := checkoutNode(c2, "user:someone@example.org")
				n.PlatformFilter = []string{"qemu-x86"}
				e.fake.AddNode(n)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			tt.setup(e)
			got, err := e.target(t).ResolveBase(t.Context(), treeURL, branch)
			if tt.want == "" {
				if !errors.Is(err, targets.ErrWaiting) {
					t.Fatalf("got %q, %v, want an error wrapping ErrWaiting", got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %q, %v, want %s", got, err, tt.want)
			}
		})
	}
}

// TestResolveBaseLookBack checks the cost of resolving a branch: a busy
// branch is answered by one small query, a quiet one by widening the
// look-back.
func TestResolveBaseLookBack(t *testing.T) {
	tests := []struct {
		name     string
		old      int // checkouts made 40 days ago
		recent   bool
		want     string
		requests int64
	}{
		{name: "busy branch", old: 250, recent: true, want: c2, requests: 1},
		{name: "quiet branch", old: 1, want: c1, requests: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			for range tt.old {
				e.fake.AddCheckout("net-next", treeURL, branch, c1)
			}
			e.clock.Advance(40 * 24 * time.Hour)
			if tt.recent {
				e.fake.AddCheckout("net-next", treeURL, branch, c2)
			}
			e.clock.Advance(time.Hour)
			got, err := e.target(t).ResolveBase(t.Context(), treeURL, branch)
			if err != nil || got != tt.want {
				t.Fatalf("got %q, %v, want %s", got, err, tt.want)
			}
			if n := e.apiHits.Load(); n != tt.requests {
				t.Errorf("%d API requests, want %d", n, tt.requests)
			}
		})
	}
}

func TestAPIErrorIsNotWaiting(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprint(w, `{"detail":"database unavailable"}`)
	}))
	defer srv.Close()
	tg, err := kernelci.New(kernelci.Opts{Name: "k", APIURL: srv.URL, PipelineURL: srv.URL,
		APIHTTP: srv.Client(), PipelineHTTP: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	calls := []struct {
		name string
		call func(ctx context.Context) error
	}{
		{name: "ResolveBase", call: func(ctx context.Context) error {
			_, err := tg.ResolveBase(ctx, treeURL, branch)
			return err
		}},
		{name: "Trigger", call: func(ctx context.Context) error {
			_, err := tg.Trigger(ctx, targets.Request{Unit: "u",
				Base:    targets.Base{URL: treeURL, Branch: branch, Commit: c1},
				Patches: []change.Patch{{MboxURL: "https://patchwork.kernel.org/p/1/mbox/"}}})
			return err
		}},
	}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			err := c.call(t.Context())
			var se *httpx.StatusError
			if !errors.As(err, &se) || se.Status != http.StatusServiceUnavailable || se.Message != "database unavailable" {
				t.Fatalf("err = %v, want the 503 with its message", err)
			}
			if errors.Is(err, targets.ErrWaiting) || !strings.Contains(err.Error(), srv.URL+"/latest/nodes?") {
				t.Errorf("err = %v: must name the URL and not wrap ErrWaiting", err)
			}
		})
	}
}

func TestConfigHash(t *testing.T) {
	base := kernelci.Opts{
		Name: "k", APIURL: "https://api.example.org", PipelineURL: "https://pipeline.example.org",
		Token:     secret.Source{Env: "KCI_TOKEN"},
		JobFilter: []string{"a", "b"}, PlatformFilter: []string{"x"},
		APIHTTP: &http.Client{}, PipelineHTTP: &http.Client{},
	}
	tests := []struct {
		name string
		edit func(o *kernelci.Opts)
		same bool
	}{
		{name: "another token", edit: func(o *kernelci.Opts) { o.Token = secret.Source{File: "/etc/trawl/kci"} }, same: true},
		{name: "another name", edit: func(o *kernelci.Opts) { o.Name = "other" }, same: true},
		{name: "a dashboard", edit: func(o *kernelci.Opts) { o.DashboardURL = "https://d.example.org/" }, same: true},
		{name: "patch domains", edit: func(o *kernelci.Opts) { o.PatchDomains = []string{"patchwork.kernel.org"} }, same: true},
		{name: "filters reordered", edit: func(o *kernelci.Opts) { o.JobFilter = []string{"b", "a"} }, same: true},
		{name: "trailing slash on a URL", edit: func(o *kernelci.Opts) { o.APIURL += "/" }, same: true},
		{name: "job filter added", edit: func(o *kernelci.Opts) { o.JobFilter = []string{"a", "b", "c"} }},
		{name: "job filter removed", edit: func(o *kernelci.Opts) { o.JobFilter = nil }},
		{name: "platform filter changed", edit: func(o *kernelci.Opts) { o.PlatformFilter = []string{"y"} }},
		{name: "filter moved between lists", edit: func(o *kernelci.Opts) {
			o.JobFilter, o.PlatformFilter = []string{"a"}, []string{"b", "x"}
		}},
		{name: "another API", edit: func(o *kernelci.Opts) { o.APIURL = "https://api2.example.org" }},
		{name: "another pipeline", edit: func(o *kernelci.Opts) { o.PipelineURL = "https://p2.example.org" }},
	}
	ref, err := kernelci.New(base)
	if err != nil {
		t.Fatal(err)
	}
	if len(ref.ConfigHash()) != 64 {
		t.Fatalf("ConfigHash %q is not sha256 hex", ref.ConfigHash())
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := base
			tt.edit(&o)
			tg, err := kernelci.New(o)
			if err != nil {
				t.Fatal(err)
			}
			if same := tg.ConfigHash() == ref.ConfigHash(); same != tt.same {
				t.Errorf("hash unchanged = %v, want %v", same, tt.same)
			}
		})
	}
}

func TestNewRejects(t *testing.T) {
	good := kernelci.Opts{Name: "k", APIURL: "https://api.example.org", PipelineURL: "https://p.example.org",
		APIHTTP: &http.Client{}, PipelineHTTP: &http.Client{}}
	tests := []struct {
		name string
		edit func(o *kernelci.Opts)
	}{
		{name: "no name", edit: func(o *kernelci.Opts) { o.Name = "" }},
		{name: "API URL without scheme", edit: func(o *kernelci.Opts) { o.APIURL = "api.example.org" }},
		{name: "pipeline URL not http", edit: func(o *kernelci.Opts) { o.PipelineURL = "ftp://p.example.org" }},
		{name: "no API client", edit: func(o *kernelci.Opts) { o.APIHTTP = nil }},
		{name: "no pipeline client", edit: func(o *kernelci.Opts) { o.PipelineHTTP = nil }},
		{name: "empty job filter entry", edit: func(o *kernelci.Opts) { o.JobFilter = []string{"a", ""} }},
	}
	if _, err := kernelci.New(good); err != nil {
		t.Fatalf("good options: %v", err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := good
			tt.edit(&o)
			if _, err := kernelci.New(o); err == nil {
				t.Error("New accepted the options")
			}
		})
	}
}

func TestRetryDoesNotAdoptTheFailedJob(t *testing.T) {
	e := newEnv(t)
	e.fake.AddCheckout("net-next", treeURL, branch, c1)
	r := e.request(c1, false, e.patchList(2))
	first, err := e.target(t).Trigger(t.Context(), r)
	if err != nil {
		t.Fatal(err)
	}
	// The first job ended in an infrastructure error: retry it.
	r.Attempt, r.Exclude = 1, []string{first.ID}
	retry, err := e.target(t).Trigger(t.Context(), r)
	if err != nil {
		t.Fatal(err)
	}
	if retry.Adopted || retry.ID == first.ID || e.fake.Submissions() != 2 {
		t.Fatalf("retry = %+v after %d submissions: want a new job", retry, e.fake.Submissions())
	}
	// trawl crashed before recording the retry: the retry is adopted.
	again, err := e.target(t).Trigger(t.Context(), r)
	if err != nil {
		t.Fatal(err)
	}
	if !again.Adopted || again.ID != retry.ID || e.fake.Submissions() != 2 {
		t.Fatalf("after the crash: %+v, %d submissions; want the retry adopted", again, e.fake.Submissions())
	}
}
