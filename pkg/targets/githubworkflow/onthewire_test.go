package githubworkflow_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/trawl-ci/trawl/pkg/config"
	"github.com/trawl-ci/trawl/pkg/driver"
	"github.com/trawl-ci/trawl/pkg/httpx"
	"github.com/trawl-ci/trawl/pkg/targets"
	"github.com/trawl-ci/trawl/pkg/targets/githubworkflow"
	"github.com/trawl-ci/trawl/pkg/targets/inflight/inflighttest"
)

// TestKilledWithDispatchOnTheWire: trawl is killed while its dispatch is
// on the wire and GitHub has not made the run yet, on a server that
// answers 204 and on one that answers the run's id (whose answer is lost
// all the same). The next trawl finds no run but the record of the
// dispatch: it waits (targets.ErrWaiting) instead of dispatching again,
// adopts the run once GitHub lists it, and dispatches again only after
// the grace when the dispatch was lost. One run in every case.
func TestKilledWithDispatchOnTheWire(t *testing.T) {
	for _, tc := range []struct {
		name             string
		details, deliver bool
	}{
		{"204/delivered", false, true},
		{"204/lost", false, false},
		{"run details/delivered", true, true},
		{"run details/lost", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, workflowYAML)
			w.fake.SetDispatchDetails(tc.details)
			h := inflighttest.New(w.fake, "/dispatches", tc.deliver)
			proxy := httptest.NewServer(h)
			defer proxy.Close()
			defer h.Release() // before Close, which waits for the held request

			stateDir := t.TempDir()
			now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
			var mu sync.Mutex
			clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
			process := func() *githubworkflow.Target {
				return w.target(t, func(o *githubworkflow.Opts) {
					o.APIURL, o.StateDir, o.PostGrace, o.Now, o.FindAttempts = proxy.URL+"/", stateDir, time.Minute, clock, 2
				})
			}
			r := request("fp1", 0)
			next := inflighttest.Kill(t, h.Received, process, r)
			inflighttest.Settle(t, h, next, r, func() {
				mu.Lock()
				now = now.Add(time.Minute + time.Second)
				mu.Unlock()
			})
			if n := len(w.fake.Runs()); n != 1 {
				t.Errorf("%d runs, want 1 (%d dispatches)", n, h.Posts())
			}
			if left, _ := os.ReadDir(filepath.Join(stateDir, "github-workflow", "gh-ci")); len(left) != 0 {
				t.Errorf("records left once the job is known: %v", left)
			}
		})
	}
}

// failDispatch answers the next dispatch with status, without passing it
// to GitHub, then lets the others through.
type failDispatch struct {
	next   http.Handler
	status atomic.Int32
}

func (f *failDispatch) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/dispatches") {
		if s := f.status.Swap(0); s != 0 {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(int(s))
			w.Write([]byte(`{"message":"no"}`))
			return
		}
	}
	f.next.ServeHTTP(w, r)
}

// TestFailedDispatchRecord: a dispatch GitHub refused (4xx) started no
// run, so the next trigger dispatches at once; one that failed with a 5xx
// (GitHub may still make the run) keeps its record, and the next trigger
// waits.
func TestFailedDispatchRecord(t *testing.T) {
	for _, tc := range []struct {
		status   int
		wantWait bool
	}{
		{http.StatusUnprocessableEntity, false},
		{http.StatusForbidden, false},
		{http.StatusInternalServerError, true},
		{http.StatusBadGateway, true},
	} {
		t.Run(strconv.Itoa(tc.status), func(t *testing.T) {
			w := newWorld(t, workflowYAML)
			f := &failDispatch{next: w.fake}
			f.status.Store(int32(tc.status))
			proxy := httptest.NewServer(f)
			defer proxy.Close()
			tg := w.target(t, func(o *githubworkflow.Opts) { o.APIURL, o.StateDir = proxy.URL+"/", t.TempDir() })
			r := request("fp1", 0)
			if _, err := tg.Trigger(context.Background(), r); err == nil {
				t.Fatalf("a dispatch answered %d succeeded", tc.status)
			}
			_, err := tg.Trigger(context.Background(), r)
			if got := errors.Is(err, targets.ErrWaiting); got != tc.wantWait {
				t.Fatalf("next trigger: %v; want a wait: %v", err, tc.wantWait)
			}
			if want := map[bool]int{true: 0, false: 1}[tc.wantWait]; len(w.fake.Runs()) != want {
				t.Errorf("%d runs, want %d", len(w.fake.Runs()), want)
			}
		})
	}
}

// TestFromConfigRecordsInStateDir: the configured target records its
// dispatches under <state_dir>/github-workflow/<name>, and plan and
// validate (read-only) write nothing there.
func TestFromConfigRecordsInStateDir(t *testing.T) {
	for _, readOnly := range []bool{false, true} {
		t.Run(strconv.FormatBool(readOnly), func(t *testing.T) {
			w := newWorld(t, workflowYAML)
			f := &failDispatch{next: w.fake}
			f.status.Store(http.StatusBadGateway) // the dispatch may be on its way: the record stays
			proxy := httptest.NewServer(f)
			defer proxy.Close()
			stateDir := t.TempDir()
			env := driver.Env{
				Client:   func(string, *httpx.Credential, bool) (*http.Client, error) { return w.hc, nil },
				Logger:   zap.NewNop(),
				StateDir: stateDir,
				ReadOnly: readOnly,
			}
			ct, err := githubworkflow.FromConfig(env, config.Target{Name: "gh-ci", Type: config.TargetGitHubWorkflow,
				GitHubWorkflow: &config.GitHubWorkflow{APIURL: proxy.URL, Repo: repo, Workflow: "trawl.yml", Ref: "main",
					MaxPages: 1, PostGrace: config.DefaultForgeCIPostGrace}})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := ct.Trigger(context.Background(), request("fp1", 0)); err == nil {
				t.Fatal("a dispatch answered 502 succeeded")
			}
			records, _ := os.ReadDir(filepath.Join(stateDir, "github-workflow", "gh-ci"))
			if want := map[bool]int{false: 1, true: 0}[readOnly]; len(records) != want {
				t.Errorf("%d records, want %d", len(records), want)
			}
		})
	}
}
