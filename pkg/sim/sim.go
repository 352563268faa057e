// Package sim is an in-process simulator of the forges and the CI trawl
// talks to, at the scale of a busy project: a Patchwork project of N
// series, a GitHub repository and a GitLab project with M pull and merge
// requests between them, a KernelCI instance and a webhook receiver. It is
// for benchmarks (`make bench`) and for scale tests of the whole wiring.
//
// Patchwork is simulated here, faithful to the recorded v3.1.3 server
// (../shared/fixtures/patchwork; the shapes follow pwfake's recorded
// bodies): no ETag, Last-Modified or Cache-Control, numbered pages of at
// most 250 with a Link header carrying next, prev, first and last. GitHub,
// GitLab and KernelCI are the project's own fakes (ghfake: ETags and free
// 304s, 100 per page; glfake: 100 per page; kcifake), filled with
// generated pull and merge requests.
//
// The generated Patchwork project: series of 1 to 12 patches (most of
// them short, as on netdev), a cover letter on every series of more than
// one patch, about 15% of the series a newer revision of an earlier one
// (half of the superseded revisions still listed as new), about 5% naming
// dependencies in a Depends-on tag (some on accepted series, some on
// message ids no series has), about 3% partly accepted; with
// Options.Actionable, all but that many series decided (Issue10x: the
// shape of issue 13's 10x project). Tick applies a churn: new series, new
// revisions, accepted series, pushes to pull and merge requests.
package sim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/trawl-ci/trawl/forges/github/ghfake"
	"github.com/trawl-ci/trawl/forges/gitlab/glfake"
	"github.com/trawl-ci/trawl/pkg/targets/kernelci/kcifake"
)

// Defaults of the zero values of Options.
const (
	DefaultSeries       = 10000
	DefaultPullRequests = 5000
)

// Fixed names of the simulated world.
const (
	GitHubRepo    = "sim-org/kernel"
	GitLabProject = "sim-group/kernel"
	githubToken   = "ghp_sim"
	gitlabToken   = "glpat-sim"
	kciSecret     = "sim-secret"
	baseURL       = "https://git.kernel.org/pub/scm/linux/kernel/git/netdev/net-next.git"
	internal      = "X-Sim-Internal" // marks requests of the fakes themselves
)

// Shares of the generated Patchwork series.
const (
	shareRevised        = 0.15
	shareDepends        = 0.05
	sharePartlyAccepted = 0.03
	shareAccepted       = 0.02
)

// Options sizes a World.
type Options struct {
	// Series is how many Patchwork series to generate; 0 is 10,000.
	Series int
	// PullRequests is how many pull and merge requests to generate, half
	// on GitHub and half on GitLab; 0 is 5,000, negative none.
	PullRequests int
	// Churn is the share of the series and pull requests that change in
	// one Tick.
	Churn float64
	// Seed makes the world reproducible.
	Seed uint64
	// EventsRelist, above 0, turns on the Patchwork source's events hint
	// (events_relist) in the written configuration.
	EventsRelist int
	// Webhook builds the Patchwork series with the webhook target instead
	// of KernelCI: for benchmarks of the tick itself, where the KernelCI
	// fake's work (checking every patch URL of a trigger) would count.
	Webhook bool
	// Actionable, above 0, leaves only that many series actionable (a
	// patch in a state trawl lists) and decides the others as a
	// maintainer would (see decidedStates), as in a project whose history
	// is mostly decided; 0 leaves every generated series as it is.
	Actionable int
	// Latency delays every answer of every simulated server to trawl by
	// this much, as a real server's round trip and work would; 0 (the
	// default, for tests) answers at once. The requests the fakes make
	// themselves (KernelCI fetching patches) are not delayed.
	Latency time.Duration
}

// Issue10x is the shape of the "10x" project of issue 13: a real
// Patchwork 3.1.3 project of 15,000 series of which 3,996 are actionable,
// whose listing is 56 pages of 250 patches. Its series have about 3.5
// patches each (netdev's mean); the generated ones about 3.1, so 4,550
// actionable series make the same 56 pages: the floor an idle tick is
// held to. PullRequests -1 keeps the figures Patchwork's alone.
var Issue10x = Options{Series: 15000, Actionable: 4550, PullRequests: -1, Seed: 1, Webhook: true}

// decidedStates are the states a maintainer leaves the series of a
// project in (Options.Actionable), with their shares: an estimate of a
// netdev-like project, not a measurement (no recording holds a project's
// states). The superseded revisions are generated as such already. Accepted series
// name their commits; changes-requested, deferred and rfc series are open
// outside the listed states, which is what a dependency on them is
// re-checked for.
var decidedStates = []struct {
	state string
	share float64
}{
	{"accepted", 0.50},
	{"changes-requested", 0.30},
	{"rejected", 0.06},
	{"not-applicable", 0.06},
	{"deferred", 0.04},
	{"rfc", 0.04},
}

// World is one simulated set of servers. Its methods are safe for
// concurrent use.
type World struct {
	o     Options
	Stats *Stats

	mu   sync.Mutex
	rng  *rand.Rand
	now  time.Time
	pw   *patchwork
	gh   *ghfake.Fake
	gl   *glfake.Fake
	kci  *kcifake.Fake
	prs  int
	hook *hook

	servers []*httptest.Server
	urls    URLs
}

// URLs are where a started World serves.
type URLs struct {
	Patchwork, GitHub, GitLab, KernelCIAPI, KernelCIPipeline, Webhook string
}

// New generates a world.
func New(o Options) *World {
	if o.Series == 0 {
		o.Series = DefaultSeries
	}
	if o.PullRequests == 0 {
		o.PullRequests = DefaultPullRequests
	}
	w := &World{o: o, Stats: newStats(), rng: rand.New(rand.NewPCG(o.Seed, 1)),
		now: time.Now().UTC().Truncate(time.Second)}
	w.pw = newPatchwork(w.clock, w.Stats)
	w.gh = ghfake.New(ghfake.Options{Tokens: []string{githubToken}, Limit: math.MaxInt32})
	w.gl = glfake.New(glfake.Options{Token: gitlabToken, RateLimit: math.MaxInt32})
	w.gl.AddProject(glfake.Project{ID: 1, Path: GitLabProject})
	w.kci = kcifake.New(kcifake.Options{Secret: []byte(kciSecret), HTTPClient: &http.Client{
		Timeout: 10 * time.Second, Transport: marked{http.DefaultTransport}}})
	w.kci.AddCheckout("net-next", baseURL, "main", strings.Repeat("ab", 20))
	w.hook = &hook{stats: w.Stats}
	start := w.now.Add(-time.Duration(o.Series) * time.Minute)
	for i := 1; i <= o.Series; i++ {
		w.addSeries(int64(i), start.Add(time.Duration(i)*time.Minute))
	}
	if o.Actionable > 0 {
		w.decide(o.Actionable)
	}
	for i := 0; i < max(o.PullRequests, 0); i++ {
		w.addPR(i)
	}
	return w
}

func (w *World) clock() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.now
}

// patchCount draws the length of a series: 1 to 12, most often short
// (netdev: about 3.5 patches a series).
func (w *World) patchCount() int {
	n := 1
	for n < 12 && w.rng.Float64() < 0.68 {
		n++
	}
	return n
}

// addSeries generates series id. w.mu or exclusive use is required.
func (w *World) addSeries(id int64, at time.Time) {
	pw := w.pw
	name := fmt.Sprintf("net: change %d", id)
	version, submitter := 1, int64(w.rng.IntN(500)+1)
	if len(pw.series) > 0 && w.rng.Float64() < shareRevised {
		old := pw.series[w.rng.IntN(len(pw.series))]
		for _, s := range pw.series {
			if s.name == old.name && s.version > old.version {
				old = s
			}
		}
		name, version, submitter = old.name, old.version+1, old.submitter
		if w.rng.IntN(2) == 0 {
			for _, p := range old.patches {
				pw.setState(p, "superseded", at)
			}
		}
	}
	var deps []string
	if len(pw.series) > 0 && w.rng.Float64() < shareDepends {
		switch on := pw.series[w.rng.IntN(len(pw.series))]; {
		case w.rng.Float64() < 0.1:
			deps = append(deps, fmt.Sprintf("<nowhere-%d@example.org>", id))
		default:
			deps = append(deps, on.patches[0].msgid)
		}
	}
	s := pw.addSeries(id, name, version, submitter, w.patchCount(), deps, at)
	switch r := w.rng.Float64(); {
	case r < shareAccepted:
		for _, p := range s.patches {
			pw.setState(p, "accepted", at)
		}
	case r < shareAccepted+sharePartlyAccepted && len(s.patches) > 1:
		pw.setState(s.patches[0], "accepted", at)
	}
}

// decide leaves n of the actionable series actionable, chosen at random,
// and decides the others: every patch still new takes one state drawn
// from decidedStates. w.mu or exclusive use is required.
func (w *World) decide(n int) {
	var open []*pwSeries
	for _, s := range w.pw.series {
		if slices.ContainsFunc(s.patches, func(p *pwPatch) bool { return p.state == "new" }) {
			open = append(open, s)
		}
	}
	w.rng.Shuffle(len(open), func(i, j int) { open[i], open[j] = open[j], open[i] })
	for _, s := range open[:max(len(open)-n, 0)] {
		state, r := decidedStates[0].state, w.rng.Float64()
		for _, d := range decidedStates {
			if state = d.state; r < d.share {
				break
			}
			r -= d.share
		}
		for _, p := range s.patches {
			if p.state == "new" {
				w.pw.setState(p, state, w.now)
			}
		}
	}
}

func (w *World) addPR(i int) {
	body := fmt.Sprintf("Simulated change %d.", i)
	if i%2 == 0 {
		w.gh.AddPR(GitHubRepo, ghfake.PR{Title: fmt.Sprintf("change %d", i), Body: &body,
			HeadRef: fmt.Sprintf("topic-%d", i), HeadSHA: sha(i, 0), BaseSHA: strings.Repeat("d", 40)})
	} else {
		w.gl.AddMR(glfake.MR{ProjectID: 1, IID: int64(i/2 + 1), Title: fmt.Sprintf("change %d", i), Description: &body,
			SourceBranch: fmt.Sprintf("topic-%d", i), TargetBranch: "main", SHA: sha(i, 0),
			BaseSHA: strings.Repeat("b", 40), Author: "dev"})
	}
	w.prs++
}

func sha(i, rev int) string { return fmt.Sprintf("%020x%020x", i+1, rev) }

// Tick advances the clock by a minute and applies one tick of churn.
func (w *World) Tick() {
	w.mu.Lock()
	w.now = w.now.Add(time.Minute)
	now := w.now
	w.mu.Unlock()
	n := int(math.Round(w.o.Churn * float64(w.o.Series)))
	for range n {
		w.Change(now)
	}
	for range int(math.Round(w.o.Churn * float64(w.prs))) {
		w.mu.Lock()
		i := w.rng.IntN(w.prs)
		rev := w.rng.IntN(1 << 30)
		w.mu.Unlock()
		if i%2 == 0 {
			_ = w.gh.SetHead(GitHubRepo, int64(i/2+1), sha(i, rev))
		} else {
			w.gl.Push(1, int64(i/2+1), sha(i, rev))
		}
	}
}

// Change makes one Patchwork change appear: a new series or a new
// revision of one, dated at.
func (w *World) Change(at time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.pw.mu.Lock()
	defer w.pw.mu.Unlock()
	w.addSeries(w.pw.series[len(w.pw.series)-1].id+1, at)
}

// Start serves the world on loopback ports until Close.
func (w *World) Start() URLs {
	serve := func(h http.Handler) string {
		srv := httptest.NewServer(h)
		w.servers = append(w.servers, srv)
		return srv.URL
	}
	w.urls = URLs{
		Patchwork:        serve(delay(w.o.Latency, w.pw)),
		GitHub:           serve(delay(w.o.Latency, w.Stats.wrap("github", w.gh))),
		GitLab:           serve(delay(w.o.Latency, w.Stats.wrap("gitlab", w.gl))),
		KernelCIAPI:      serve(delay(w.o.Latency, w.Stats.wrap("kernelci", w.kci.APIHandler()))),
		KernelCIPipeline: serve(delay(w.o.Latency, w.Stats.wrap("kernelci", w.kci.PipelineHandler()))),
		Webhook:          serve(delay(w.o.Latency, w.hook)),
	}
	return w.urls
}

// Close stops the servers.
func (w *World) Close() {
	for _, s := range w.servers {
		s.Close()
	}
}

// Units is how many changes trawl should build: the newest revision of
// each series with a patch in the listed states, and the pull and merge
// requests.
func (w *World) Units() int {
	w.pw.mu.Lock()
	defer w.pw.mu.Unlock()
	newest := map[string]*pwSeries{}
	for _, s := range w.pw.series {
		if cur := newest[s.name]; cur == nil || s.version >= cur.version {
			newest[s.name] = s
		}
	}
	n := 0
	for _, s := range newest {
		for _, p := range s.patches {
			if p.state == "new" {
				n++
				break
			}
		}
	}
	return n + w.prs
}

// Triggers returns when each trigger reached KernelCI or the webhook, in
// order.
func (w *World) Triggers() []time.Time { return w.Stats.triggers() }

// WriteConfig writes a trawl configuration for the started world, with
// its credentials, into dir and returns its path. checks makes trawl
// post Patchwork checks.
func (w *World) WriteConfig(dir string, checks bool) (string, error) {
	files := map[string]string{
		"kci.jwt":     w.kci.Token("ci@example.org", "patchset"),
		"gh.token":    githubToken,
		"gl.token":    gitlabToken,
		"pw.token":    "sim-pw-token",
		"hook.secret": "sim-hook-secret",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			return "", fmt.Errorf("sim: %w", err)
		}
	}
	report := ""
	if w.o.EventsRelist > 0 {
		report = fmt.Sprintf("      events_relist: %d\n", w.o.EventsRelist)
	}
	if checks {
		report += "      token_file: pw.token\n    report:\n      context: kernelci\n"
	}
	u := w.urls
	pwTarget, base := "kernelci", baseURL
	if w.o.Webhook {
		// The webhook target resolves the base with git ls-remote: a
		// local repository keeps it on this machine.
		pwTarget = "hook"
		var err error
		if base, err = bareRepo(dir); err != nil {
			return "", err
		}
	}
	cfg := fmt.Sprintf(`state_dir: state
log: {level: error}
targets:
  - name: kernelci
    type: kernelci
    max_running: 1000
    kernelci:
      api_url: %s
      pipeline_url: %s
      token_file: kci.jwt
      patch_domains: [127.0.0.1]
  - name: hook
    type: webhook
    webhook: {url: %s, secret_file: hook.secret}
sources:
  - name: netdev
    type: patchwork
    targets: [%s]
    base: {tree: net-next, url: %s, branch: main}
    patchwork:
      url: %s
      project: netdev
      lookback: 10000d
%s`, u.KernelCIAPI, u.KernelCIPipeline, u.Webhook, pwTarget, base, u.Patchwork, report)
	if w.prs > 0 {
		cfg += fmt.Sprintf(`  - name: gitlab
    type: gitlab
    targets: [hook]
    gitlab: {url: %s, project: %s, token_file: gl.token}
  - name: github
    type: github
    targets: [hook]
    github: {repo: %s, api_url: %s, host: github.sim, token_file: gh.token}
    # GitHub's secondary limit (80 content-creating requests a minute,
    # 500 an hour; ghfake enforces it) refuses a status on each of
    # thousands of pull requests at once: the ticks measured here poll.
    report: {statuses: false}
`, u.GitLab, GitLabProject, GitHubRepo, u.GitHub)
	}
	path := filepath.Join(dir, "trawl.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		return "", fmt.Errorf("sim: %w", err)
	}
	return path, nil
}

// bareRepo makes a bare git repository with one commit on main in dir.
func bareRepo(dir string) (string, error) {
	work, bare := filepath.Join(dir, "work"), filepath.Join(dir, "base.git")
	for _, args := range [][]string{
		{"init", "-q", "-b", "main", work},
		{"-C", work, "-c", "user.name=sim", "-c", "user.email=sim@example.org", "commit", "-q", "--allow-empty", "-m", "base"},
		{"clone", "-q", "--bare", work, bare},
	} {
		cmd := exec.Command("git", args...)
		cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("sim: git %v: %w\n%s", args, err, out)
		}
	}
	return "file://" + bare, nil
}

// hook is the webhook receiver: it accepts every delivery.
type hook struct{ stats *Stats }

func (h *hook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.WriteHeader(http.StatusOK)
	h.stats.count("webhook", r, http.StatusOK, 0)
	if r.Method == http.MethodPost {
		h.stats.trigger()
	}
}

// delay answers trawl's requests to h after d (Options.Latency), or when
// the request is cancelled first.
func delay(d time.Duration, h http.Handler) http.Handler {
	if d <= 0 {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(internal) == "" {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
			}
		}
		h.ServeHTTP(w, r)
	})
}

// marked marks the requests the fakes make themselves (KernelCI checking
// patch URLs), so that they are not counted as trawl's.
type marked struct{ rt http.RoundTripper }

func (m marked) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set(internal, "1")
	return m.rt.RoundTrip(r)
}

// ListPages returns how many pages of the Patchwork project's listing of
// patches trawl asked for so far.
func (w *World) ListPages() int64 {
	w.pw.mu.Lock()
	defer w.pw.mu.Unlock()
	return w.pw.listPages
}
