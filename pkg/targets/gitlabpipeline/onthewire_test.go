package gitlabpipeline_test

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
	"github.com/trawl-ci/trawl/pkg/targets/gitlabpipeline"
	"github.com/trawl-ci/trawl/pkg/targets/inflight/inflighttest"
)

// TestKilledWithCreateOnTheWire: trawl is killed while its creation
// request is on the wire and GitLab has not made the pipeline yet. The
// next trawl finds no pipeline but the record of the request: it waits
// (targets.ErrWaiting) instead of creating a second pipeline, adopts the
// pipeline once GitLab lists it, and creates it again only after the
// grace when the request was lost. One pipeline in every case.
func TestKilledWithCreateOnTheWire(t *testing.T) {
	for _, mode := range []string{gitlabpipeline.ModeTrigger, gitlabpipeline.ModeAPI} {
		for _, deliver := range []bool{true, false} {
			name := mode + "/lost"
			if deliver {
				name = mode + "/delivered"
			}
			t.Run(name, func(t *testing.T) {
				w := newWorld(t, mode)
				h := inflighttest.New(w.fake, "/pipeline", deliver)
				proxy := httptest.NewServer(h)
				defer proxy.Close()
				defer h.Release() // before Close, which waits for the held request

				stateDir := t.TempDir()
				now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
				var mu sync.Mutex
				clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
				process := func() *gitlabpipeline.Target {
					tg, err := gitlabpipeline.New(gitlabpipeline.Opts{Name: "gl-ci", URL: proxy.URL, Project: project, Ref: "main",
						Mode: mode, TriggerToken: triggerSource(t), HTTP: w.httpClient(t), StateDir: stateDir,
						PostGrace: time.Minute, Now: clock})
					if err != nil {
						t.Fatal(err)
					}
					return tg
				}
				r := request("fp1", 0)
				next := inflighttest.Kill(t, h.Received, process, r)
				inflighttest.Settle(t, h, next, r, func() {
					mu.Lock()
					now = now.Add(time.Minute + time.Second)
					mu.Unlock()
				})
				if n := len(w.fake.Pipelines()); n != 1 {
					t.Errorf("%d pipelines, want 1 (%d creation requests)", n, h.Posts())
				}
				if left, _ := os.ReadDir(filepath.Join(stateDir, "gitlab-pipeline", "gl-ci")); len(left) != 0 {
					t.Errorf("records left once the job is known: %v", left)
				}
			})
		}
	}
}

// failCreate answers the next creation request with status, without
// passing it to GitLab, then lets the others through.
type failCreate struct {
	next   http.Handler
	status atomic.Int32
}

func (f *failCreate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/pipeline") {
		if s := f.status.Swap(0); s != 0 {
			http.Error(w, `{"message":"no"}`, int(s))
			return
		}
	}
	f.next.ServeHTTP(w, r)
}

// TestFailedCreateRecord: a creation GitLab refused (4xx) made no
// pipeline, so the next trigger creates at once; one that failed with a
// 5xx (a proxy may answer so while GitLab still works) keeps its record,
// and the next trigger waits.
func TestFailedCreateRecord(t *testing.T) {
	for _, tc := range []struct {
		status   int
		wantWait bool
	}{
		{http.StatusBadRequest, false},
		{http.StatusForbidden, false},
		{http.StatusBadGateway, true},
		{http.StatusServiceUnavailable, true},
	} {
		t.Run(strconv.Itoa(tc.status), func(t *testing.T) {
			w := newWorld(t, gitlabpipeline.ModeAPI)
			f := &failCreate{next: w.fake}
			f.status.Store(int32(tc.status))
			proxy := httptest.NewServer(f)
			defer proxy.Close()
			tg, err := gitlabpipeline.New(gitlabpipeline.Opts{Name: "gl-ci", URL: proxy.URL, Project: project, Ref: "main",
				Mode: gitlabpipeline.ModeAPI, HTTP: w.httpClient(t), StateDir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			r := request("fp1", 0)
			if _, err := tg.Trigger(context.Background(), r); err == nil {
				t.Fatalf("a creation answered %d succeeded", tc.status)
			}
			_, err = tg.Trigger(context.Background(), r)
			if got := errors.Is(err, targets.ErrWaiting); got != tc.wantWait {
				t.Fatalf("next trigger: %v; want a wait: %v", err, tc.wantWait)
			}
			if want := map[bool]int{true: 0, false: 1}[tc.wantWait]; len(w.fake.Pipelines()) != want {
				t.Errorf("%d pipelines, want %d", len(w.fake.Pipelines()), want)
			}
		})
	}
}

// TestFromConfigRecordsInStateDir: the configured target records its
// creations under <state_dir>/gitlab-pipeline/<name>, and plan and
// validate (read-only) write nothing there.
func TestFromConfigRecordsInStateDir(t *testing.T) {
	for _, readOnly := range []bool{false, true} {
		t.Run(strconv.FormatBool(readOnly), func(t *testing.T) {
			w := newWorld(t, gitlabpipeline.ModeAPI)
			f := &failCreate{next: w.fake}
			f.status.Store(http.StatusBadGateway) // the creation may be on its way: the record stays
			proxy := httptest.NewServer(f)
			defer proxy.Close()
			stateDir := t.TempDir()
			env := driver.Env{
				Client:   func(string, *httpx.Credential, bool) (*http.Client, error) { return w.httpClient(t), nil },
				Logger:   zap.NewNop(),
				StateDir: stateDir,
				ReadOnly: readOnly,
			}
			ct, err := gitlabpipeline.FromConfig(env, config.Target{Name: "gl-ci", Type: config.TargetGitLabPipeline,
				GitLabPipeline: &config.GitLabPipeline{URL: proxy.URL, Project: project, Ref: "main", Mode: config.GitLabPipelineAPI,
					MaxPages: 1, PostGrace: config.DefaultForgeCIPostGrace}})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := ct.Trigger(context.Background(), request("fp1", 0)); err == nil {
				t.Fatal("a creation answered 502 succeeded")
			}
			records, _ := os.ReadDir(filepath.Join(stateDir, "gitlab-pipeline", "gl-ci"))
			if want := map[bool]int{false: 1, true: 0}[readOnly]; len(records) != want {
				t.Errorf("%d records, want %d", len(records), want)
			}
		})
	}
}
