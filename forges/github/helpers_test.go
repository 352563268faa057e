package github

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/trawl-ci/trawl/forges/github/ghfake"
	"github.com/trawl-ci/trawl/pkg/change"
	"github.com/trawl-ci/trawl/pkg/httpx"
	"github.com/trawl-ci/trawl/pkg/secret"
)

// Test constants. The token looks like a real one so that a leak would be
// found by a plain substring search.
const (
	testToken = "ghp_TestToken0123456789abcdefABCDEF0123"
	testRepo  = "rock-core/base-types"
)

// testStart is the fake's and the source's clock at the start of a test.
var testStart = time.Date(2026, 11, 21, 6, 0, 0, 0, time.UTC)

// clock is a settable clock shared by the fake and the code under test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: testStart} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// sleeper records the waits asked of Opts.Sleep without waiting.
type sleeper struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (s *sleeper) Sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.waits = append(s.waits, d)
	return ctx.Err()
}

func (s *sleeper) Waits() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.waits...)
}

// env is a fake GitHub on loopback and a real httpx client for it, with a
// disk cache and a token credential beneath it.
type env struct {
	fake     *ghfake.Fake
	srv      *httptest.Server
	clock    *clock
	cacheDir string
	http     *http.Client
	sleeper  *sleeper
	logs     *observer.ObservedLogs
	logger   *zap.Logger
}

// newEnv starts a fake that accepts testToken, through wrap when it is not
// nil.
func newEnv(t *testing.T, fo ghfake.Options, wrap func(http.Handler) http.Handler) *env {
	t.Helper()
	e := &env{clock: newClock(), sleeper: &sleeper{}}
	fo.Tokens = append(fo.Tokens, testToken)
	fo.Now = e.clock.Now
	e.fake = ghfake.New(fo)
	var h http.Handler = e.fake
	if wrap != nil {
		h = wrap(e.fake)
	}
	e.srv = httptest.NewServer(h)
	t.Cleanup(e.srv.Close)
	core, logs := observer.New(zapcore.DebugLevel)
	e.logs, e.logger = logs, zap.New(core)

	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(testToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e.cacheDir = t.TempDir()
	e.http = e.client(t, &httpx.Credential{Header: "Authorization", Prefix: "Bearer ", Secret: secret.Source{File: tokenFile}})
	return e
}

// client is an httpx client for the fake with cred and the env's cache.
func (e *env) client(t *testing.T, cred *httpx.Credential) *http.Client {
	t.Helper()
	hc, err := httpx.New(httpx.Options{
		Name:       "github test",
		CacheDir:   e.cacheDir,
		Credential: cred,
		UserAgent:  httpx.UserAgent("test"),
		RetryMax:   -1,
		Logger:     e.logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	return hc
}

// opts are source options for testRepo on the fake.
func (e *env) opts() Opts {
	return Opts{
		Name:    "gh-base-types",
		Repo:    testRepo,
		APIURL:  e.srv.URL + "/",
		Base:    change.Base{Policy: change.PolicyFollow},
		Targets: []string{"buildbot"},
		HTTP:    e.http,
		Logger:  e.logger,
		Now:     e.clock.Now,
		Sleep:   e.sleeper.Sleep,
	}
}

func (e *env) source(t *testing.T, mod func(*Opts)) *Source {
	t.Helper()
	o := e.opts()
	if mod != nil {
		mod(&o)
	}
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// fetch runs one Fetch that must succeed.
func fetch(t *testing.T, s *Source) []change.Change {
	t.Helper()
	changes, err := s.Fetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return changes
}

// requestsSince returns the fake's requests after the first n.
func (e *env) requestsSince(n int) []ghfake.Request {
	return e.fake.Requests()[n:]
}

// sha is a fake commit id derived from s.
func sha(s string) string {
	return fmt.Sprintf("%040x", []byte(s))[:40]
}

// addPRs adds n same-repository pull requests to testRepo, numbered 1..n,
// each updated after the one before.
func (e *env) addPRs(n int) {
	for i := 1; i <= n; i++ {
		e.fake.AddPR(testRepo, ghfake.PR{
			Title:   fmt.Sprintf("change %d", i),
			HeadRef: fmt.Sprintf("topic-%d", i),
			HeadSHA: sha(fmt.Sprintf("head-%d", i)),
			BaseSHA: sha("base"),
		})
	}
}

func keys(changes []change.Change) []string {
	out := []string{}
	for _, c := range changes {
		out = append(out, string(c.Key))
	}
	return out
}

func key(n int64) string { return string(change.GitHubKey("", testRepo, n)) }

// noLeak fails when the token appears in the logs or under dir.
func noLeak(t *testing.T, e *env, dir string, tokens ...string) {
	t.Helper()
	for _, entry := range e.logs.All() {
		line := entry.Message + fmt.Sprint(entry.ContextMap())
		for _, tok := range tokens {
			if strings.Contains(line, tok) {
				t.Errorf("log line carries a token: %s", line)
			}
		}
	}
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, tok := range tokens {
			if strings.Contains(string(b), tok) {
				t.Errorf("%s holds a token", path)
			}
		}
		if strings.Contains(string(b), "X-Varied-Authorization") {
			t.Errorf("%s holds the request's Authorization header", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
