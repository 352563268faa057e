package gitlab

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trawl-ci/trawl/forges/gitlab/glfake"
	"github.com/trawl-ci/trawl/pkg/change"
	"github.com/trawl-ci/trawl/pkg/httpx"
	"github.com/trawl-ci/trawl/pkg/secret"
)

// testBase is the instance URL the tests use. Every connection goes to the
// test's loopback server, so keys and URLs are stable across runs.
const testBase = "http://gitlab.test"

// testToken is the fake's only accepted PRIVATE-TOKEN.
const testToken = "glpat-Zq9sEcReT-t0ken-4-tests"

// retryMax is the retries the tests' httpx clients make after a first
// attempt.
const retryMax = 2

// Projects of every test world.
const (
	mainID = 10 // group/sub/project, the source's project
	forkID = 20 // alice/project, a fork
	libID  = 30 // other/lib, another project of the instance
)

const mainPath = "group/sub/project"

// clock is a settable clock shared by the fake and the source.
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

// world is a fake GitLab on loopback, reached as testBase through a real
// httpx stack with the PRIVATE-TOKEN credential and a disk cache.
type world struct {
	fake     *glfake.Fake
	clock    *clock
	cacheDir string
	client   *http.Client
	// anon is a client without a credential.
	anon *http.Client
}

// newWorld builds a world with the three projects and no merge requests.
func newWorld(t *testing.T, fo glfake.Options) *world {
	t.Helper()
	return newWrappedWorld(t, fo, nil)
}

// newWrappedWorld is newWorld with the fake served through wrap, when not
// nil.
func newWrappedWorld(t *testing.T, fo glfake.Options, wrap func(*glfake.Fake, http.Handler) http.Handler) *world {
	t.Helper()
	clk := &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	fo.Token, fo.Now = testToken, clk.Now
	fake := glfake.New(fo)
	fake.AddProject(glfake.Project{ID: mainID, Path: mainPath})
	fake.AddProject(glfake.Project{ID: forkID, Path: "alice/project", Private: true})
	fake.AddProject(glfake.Project{ID: libID, Path: "other/lib"})
	var h http.Handler = fake
	if wrap != nil {
		h = wrap(fake, fake)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	addr := srv.Listener.Addr().String()
	transport := func() *http.Transport {
		tr := &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		}}
		t.Cleanup(tr.CloseIdleConnections)
		return tr
	}
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(testToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	w := &world{fake: fake, clock: clk, cacheDir: t.TempDir()}
	var err error
	w.client, err = httpx.New(httpx.Options{
		Name:         "gitlab test",
		CacheDir:     w.cacheDir,
		Credential:   &httpx.Credential{Header: "PRIVATE-TOKEN", Secret: secret.Source{File: tokenFile}},
		UserAgent:    httpx.UserAgent("test"),
		RetryMax:     retryMax,
		RetryWaitMin: time.Millisecond,
		RetryWaitMax: 2 * time.Millisecond,
		Transport:    transport(),
	})
	if err != nil {
		t.Fatal(err)
	}
	w.anon, err = httpx.New(httpx.Options{
		Name:         "gitlab anonymous test",
		UserAgent:    httpx.UserAgent("test"),
		RetryMax:     retryMax,
		RetryWaitMin: time.Millisecond,
		RetryWaitMax: 2 * time.Millisecond,
		Transport:    transport(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// opts are source options for the main project, forks and drafts included.
func (w *world) opts() Opts {
	return Opts{
		Name:    "gl-main",
		URL:     testBase,
		Project: mainPath,
		Drafts:  true,
		Forks:   true,
		Base:    change.Base{Policy: change.PolicyFollow},
		Targets: []string{"ci"},
		HTTP:    w.client,
		Now:     w.clock.Now,
	}
}

func (w *world) source(t *testing.T, o Opts) *Source {
	t.Helper()
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// addMR adds an open merge request into the main project from the main
// project, head sha "h<iid>" and base "b<iid>" (padded to hex).
func (w *world) addMR(iid int64, mod func(*glfake.MR)) {
	m := glfake.MR{
		ProjectID:    mainID,
		IID:          iid,
		Title:        fmt.Sprintf("change %d", iid),
		SourceBranch: fmt.Sprintf("topic-%d", iid),
		TargetBranch: "main",
		SHA:          sha("a", iid),
		BaseSHA:      sha("b", iid),
		Author:       "bob",
	}
	if mod != nil {
		mod(&m)
	}
	w.fake.AddMR(m)
}

// sha is a 40-hex commit id made of prefix (hex digits) and n.
func sha(prefix string, n int64) string {
	s := fmt.Sprintf("%s%d", prefix, n)
	return s + strings.Repeat("0", 40-len(s))
}

// requests returns the requests whose path ends with suffix.
func (w *world) requests(suffix string) []glfake.Request {
	var out []glfake.Request
	for _, r := range w.fake.Requests() {
		if strings.HasSuffix(r.Path, suffix) {
			out = append(out, r)
		}
	}
	return out
}

// lastList returns the last merge request list request.
func (w *world) lastList(t *testing.T) glfake.Request {
	t.Helper()
	rs := w.requests("/merge_requests")
	if len(rs) == 0 {
		t.Fatal("no merge request list was requested")
	}
	return rs[len(rs)-1]
}

// iids returns the iids of changes' keys.
func iids(changes []change.Change) []int64 {
	var out []int64
	for _, c := range changes {
		k := string(c.Key)
		var n int64
		fmt.Sscanf(k[strings.LastIndexByte(k, '!')+1:], "%d", &n)
		out = append(out, n)
	}
	return out
}

// byIID returns the change of merge request iid, or fails the test.
func byIID(t *testing.T, changes []change.Change, iid int64) change.Change {
	t.Helper()
	for i, n := range iids(changes) {
		if n == iid {
			return changes[i]
		}
	}
	t.Fatalf("no change for !%d in %v", iid, iids(changes))
	return change.Change{}
}
