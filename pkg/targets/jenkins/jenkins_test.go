package jenkins_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trawl-ci/trawl/pkg/change"
	"github.com/trawl-ci/trawl/pkg/httpx"
	"github.com/trawl-ci/trawl/pkg/secret"
	"github.com/trawl-ci/trawl/pkg/targets"
	"github.com/trawl-ci/trawl/pkg/targets/jenkins"
	"github.com/trawl-ci/trawl/pkg/targets/jenkins/jenkinsfake"
)

// world is a fake Jenkins and a target pointed at it.
type world struct {
	fake   *jenkinsfake.Fake
	srv    *httptest.Server
	target *jenkins.Target
	// hideQueue, when set, makes /queue/api/json answer an empty queue:
	// the instant between another trigger's look and its POST.
	hideQueue atomic.Bool
}

func newWorld(t *testing.T, fo jenkinsfake.Options, edit func(*jenkins.Opts)) *world {
	t.Helper()
	if fo.Parameters == nil {
		fo.Parameters = jenkins.Parameters()
	}
	w := &world{fake: jenkinsfake.New(fo)}
	w.srv = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/queue/api/json" && w.hideQueue.Load() {
			rw.Header().Set("Content-Type", "application/json")
			_, _ = rw.Write([]byte(`{"_class":"hudson.model.Queue","discoverableItems":[],"items":[]}`))
			return
		}
		w.fake.ServeHTTP(rw, r)
	}))
	t.Cleanup(w.srv.Close)
	tokenFile := filepath.Join(t.TempDir(), "jenkins.token")
	if err := os.WriteFile(tokenFile, []byte(jenkinsfake.DefaultToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	hc, err := httpx.New(httpx.Options{Name: "jenkins test", UserAgent: httpx.UserAgent("test"), RetryMax: -1})
	if err != nil {
		t.Fatal(err)
	}
	o := jenkins.Opts{
		Name:  "jenkins",
		URL:   w.srv.URL + "/",
		Job:   jenkinsfake.DefaultJob,
		User:  jenkinsfake.DefaultUser,
		Token: secret.Source{File: tokenFile},
		HTTP:  hc,
	}
	if edit != nil {
		edit(&o)
	}
	if w.target, err = jenkins.New(o); err != nil {
		t.Fatal(err)
	}
	return w
}

func request(unit string, attempt int) targets.Request {
	return targets.Request{
		Unit:        unit,
		Fingerprint: strings.Repeat("f", 64),
		Change:      change.Key("pw:patchwork.example.org/netdev/series/7"),
		Title:       "net: fix it",
		Attempt:     attempt,
		Base:        targets.Base{Tree: "net-next", URL: "https://git.example.org/net-next.git", Branch: "main", Commit: strings.Repeat("a", 40)},
		Patches: []change.Patch{
			{ID: 1, Name: "[1/2] net: one", Hash: "h1", MboxURL: "https://patchwork.example.org/patch/1/mbox/"},
			{ID: 2, Name: "[2/2] net: two", Hash: "h2", MboxURL: "https://patchwork.example.org/patch/2/mbox/"},
		},
		Heads: []targets.Head{{Key: "gh:o/r#4", Repo: "https://github.com/o/r.git", Ref: "refs/pull/4/head", SHA: strings.Repeat("b", 40)}},
	}
}

func result(t *testing.T, w *world, job targets.Job) targets.Result {
	t.Helper()
	res, err := w.target.Result(context.Background(), job)
	if err != nil {
		t.Fatalf("Result(%s): %v", job.ID, err)
	}
	return res
}

// TestTriggerQueueBuildResult follows one trigger through the queue to
// its build and each result Jenkins can give.
func TestTriggerQueueBuildResult(t *testing.T) {
	for _, tc := range []struct {
		result string
		want   targets.State
	}{
		{jenkinsfake.Success, targets.StateSuccess},
		{jenkinsfake.Unstable, targets.StateWarning},
		{jenkinsfake.Failure, targets.StateFail},
		{jenkinsfake.Aborted, targets.StateInfra},
		{jenkinsfake.NotBuilt, targets.StateInfra},
	} {
		t.Run(tc.result, func(t *testing.T) {
			w := newWorld(t, jenkinsfake.Options{}, nil)
			r := request("pw:patchwork.example.org/netdev/series/7@jenkins", 0)
			job, err := w.target.Trigger(context.Background(), r)
			if err != nil {
				t.Fatal(err)
			}
			if job.Adopted || !strings.Contains(job.ID, "/queue/item/1/#") || job.BaseCommit != r.Base.Commit {
				t.Fatalf("job %+v: want a new job on queue item 1", job)
			}
			res := result(t, w, job)
			if res.State != targets.StatePending || !strings.Contains(res.Summary, "quiet period") {
				t.Fatalf("queued: %+v, want pending saying why", res)
			}
			n, err := w.fake.Start(1)
			if err != nil {
				t.Fatal(err)
			}
			if res := result(t, w, job); res.State != targets.StatePending || !strings.Contains(res.Summary, "running") {
				t.Fatalf("building: %+v, want pending, running", res)
			}
			if err := w.fake.Finish(n, tc.result); err != nil {
				t.Fatal(err)
			}
			res = result(t, w, job)
			if res.State != tc.want || !strings.Contains(res.Summary, tc.result) || !strings.HasSuffix(res.URL, "/job/ci/job/check/1/") {
				t.Fatalf("finished %s: %+v, want %s with the build's URL", tc.result, res, tc.want)
			}

			// What the job received: the unit, no secret.
			b := w.fake.Builds()[0]
			if b.Params[jenkins.ParamUnit] != r.Unit || b.Params[jenkins.ParamFingerprint] != r.Fingerprint || b.Params[jenkins.ParamAttempt] != "0" {
				t.Fatalf("parameters %v", b.Params)
			}
			var doc targets.Document
			if err := json.Unmarshal([]byte(b.Params[jenkins.ParamRequest]), &doc); err != nil {
				t.Fatal(err)
			}
			if len(doc.Patches) != 2 || doc.Patches[1].MboxURL != r.Patches[1].MboxURL || len(doc.Heads) != 1 || doc.Base.Commit != r.Base.Commit {
				t.Fatalf("TRAWL_REQUEST %+v", doc)
			}
			for k, v := range b.Params {
				if strings.Contains(v, jenkinsfake.DefaultToken) {
					t.Fatalf("parameter %s carries the API token", k)
				}
			}
		})
	}
}

// TestCrumb: a controller that demands a crumb from API-token requests
// gets one, bound to the session the target keeps; one that does not is
// never asked.
func TestCrumb(t *testing.T) {
	for _, tc := range []struct {
		name       string
		fo         jenkinsfake.Options
		wantCrumbs int
	}{
		{"csrf off", jenkinsfake.Options{}, 0},
		{"csrf on, token exempt (Jenkins >= 2.96)", jenkinsfake.Options{CSRF: true}, 0},
		{"csrf on, crumb for tokens too", jenkinsfake.Options{CSRF: true, CrumbForToken: true}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, tc.fo, nil)
			for i := range 3 {
				if _, err := w.target.Trigger(context.Background(), request("unit-"+string(rune('a'+i)), 0)); err != nil {
					t.Fatalf("trigger %d: %v", i, err)
				}
			}
			if got := w.fake.Items(); got != 3 {
				t.Fatalf("%d queue items, want 3", got)
			}
			if got := w.fake.Crumbs(); got != tc.wantCrumbs {
				t.Fatalf("%d crumbs fetched, want %d (one, kept for later posts)", got, tc.wantCrumbs)
			}
		})
	}
}

// TestForbidden: a POST refused for want of permission is an error
// naming the URL, the status and Jenkins' reason, after at most one crumb
// and one second POST.
func TestForbidden(t *testing.T) {
	for _, csrf := range []bool{false, true} {
		w := newWorld(t, jenkinsfake.Options{NoBuild: true, CSRF: csrf}, nil)
		_, err := w.target.Trigger(context.Background(), request("u", 0))
		if err == nil || !strings.Contains(err.Error(), w.srv.URL+"/job/ci/job/check/buildWithParameters: 403") ||
			!strings.Contains(err.Error(), "missing the Job/Build permission") {
			t.Fatalf("csrf %v: error %v, want the POST's URL, 403 and the reason", csrf, err)
		}
		if want := map[bool]int{false: 0, true: 1}[csrf]; w.fake.Crumbs() != want {
			t.Fatalf("csrf %v: %d crumbs fetched, want %d", csrf, w.fake.Crumbs(), want)
		}
	}
}

// TestWrongToken: a refused token gives an error naming the URL and the
// status, and never the token.
func TestWrongToken(t *testing.T) {
	w := newWorld(t, jenkinsfake.Options{Token: "the-right-token-0123456789"}, nil)
	_, err := w.target.Trigger(context.Background(), request("u", 0))
	if err == nil {
		t.Fatal("trigger with a wrong token succeeded")
	}
	msg := err.Error()
	if !strings.Contains(msg, w.srv.URL+"/queue/api/json") || !strings.Contains(msg, "401") {
		t.Fatalf("error %q: want the URL and the status", msg)
	}
	if strings.Contains(msg, jenkinsfake.DefaultToken) || strings.Contains(msg, "the-right-token") {
		t.Fatalf("error %q carries a token", msg)
	}
	if w.fake.Items() != 0 {
		t.Fatal("a job was created")
	}
}

// TestAdoptAfterLostState: a trigger whose job was lost (a crash before
// the state write, a deleted state file) adopts the job, whatever stage
// it is at: one job on Jenkins.
func TestAdoptAfterLostState(t *testing.T) {
	for _, stage := range []string{"queued", "building", "finished"} {
		t.Run(stage, func(t *testing.T) {
			w := newWorld(t, jenkinsfake.Options{}, nil)
			r := request("u", 0)
			first, err := w.target.Trigger(context.Background(), r)
			if err != nil {
				t.Fatal(err)
			}
			if stage != "queued" {
				n, err := w.fake.Start(1)
				if err != nil {
					t.Fatal(err)
				}
				if stage == "finished" {
					if err := w.fake.Finish(n, jenkinsfake.Success); err != nil {
						t.Fatal(err)
					}
				}
			}
			// The crash: first is dropped.
			again, err := w.target.Trigger(context.Background(), r)
			if err != nil {
				t.Fatal(err)
			}
			if !again.Adopted {
				t.Fatalf("second trigger %+v not adopted", again)
			}
			if stage == "queued" && again.ID != first.ID {
				t.Fatalf("adopted %s, want %s", again.ID, first.ID)
			}
			if stage != "queued" && !strings.HasSuffix(again.ID, "/job/ci/job/check/1/") {
				t.Fatalf("adopted %s, want the build", again.ID)
			}
			if w.fake.Items() != 1 || w.fake.Posts() != 1 {
				t.Fatalf("%d queue items from %d posts, want 1 from 1", w.fake.Items(), w.fake.Posts())
			}
			if stage == "finished" {
				if res := result(t, w, again); res.State != targets.StateSuccess {
					t.Fatalf("adopted job's result %+v", res)
				}
			}
		})
	}
}

// TestMergedIntoQueuedItem: when another trigger's item is queued between
// the look and the POST, Jenkins merges the two; the job is the same item,
// marked adopted where Jenkins says so (303).
func TestMergedIntoQueuedItem(t *testing.T) {
	for _, legacy := range []bool{false, true} {
		w := newWorld(t, jenkinsfake.Options{Legacy201: legacy}, nil)
		r := request("u", 0)
		first, err := w.target.Trigger(context.Background(), r)
		if err != nil {
			t.Fatal(err)
		}
		w.hideQueue.Store(true)
		again, err := w.target.Trigger(context.Background(), r)
		if err != nil {
			t.Fatal(err)
		}
		if again.ID != first.ID || again.Adopted == legacy {
			t.Fatalf("legacy %v: merged trigger gave %+v, want %s adopted=%v", legacy, again, first.ID, !legacy)
		}
		if w.fake.Items() != 1 || w.fake.Posts() != 2 {
			t.Fatalf("%d queue items from %d posts, want 1 from 2", w.fake.Items(), w.fake.Posts())
		}
	}
}

// TestRetryNotMerged: a retry after an infrastructure error is a new job,
// neither merged into nor adopting the one it retries.
func TestRetryNotMerged(t *testing.T) {
	w := newWorld(t, jenkinsfake.Options{}, nil)
	r := request("u", 0)
	first, err := w.target.Trigger(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.fake.Cancel(1); err != nil {
		t.Fatal(err)
	}
	if res := result(t, w, first); res.State != targets.StateInfra {
		t.Fatalf("cancelled queue item: %+v, want infra-error", res)
	}
	r.Attempt, r.Exclude = 1, []string{first.ID}
	retry, err := w.target.Trigger(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	if retry.Adopted || retry.ID == first.ID || w.fake.Items() != 2 {
		t.Fatalf("retry %+v (first %s), %d items: want a second job", retry, first.ID, w.fake.Items())
	}
	// The retry's job, lost and asked again, is adopted.
	if again, err := w.target.Trigger(context.Background(), r); err != nil || !again.Adopted || again.ID != retry.ID {
		t.Fatalf("retry triggered again: %+v, %v; want %s adopted", again, err, retry.ID)
	}
	// While the retry is queued, the first attempt's request again (a
	// stale state) would not merge into it either.
	w.hideQueue.Store(true)
	r.Attempt, r.Exclude = 0, nil
	if _, err := w.target.Trigger(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	if w.fake.Items() != 3 {
		t.Fatalf("%d items: attempts 0 and 1 were merged", w.fake.Items())
	}
	for _, id := range w.fake.Queued() {
		if _, err := w.fake.Start(id); err != nil {
			t.Fatal(err)
		}
	}
	if got := w.fake.Builds(); got[0].Params[jenkins.ParamAttempt] != "1" || got[1].Params[jenkins.ParamAttempt] != "0" {
		t.Fatalf("builds %+v: want attempts 1 and 0", got)
	}
}

// TestExcludedBuildNotAdopted: a job that Request.Exclude names is never
// adopted, even of the same attempt.
func TestExcludedBuildNotAdopted(t *testing.T) {
	w := newWorld(t, jenkinsfake.Options{}, nil)
	r := request("u", 0)
	first, err := w.target.Trigger(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := w.fake.Start(1)
	_ = w.fake.Finish(n, jenkinsfake.Aborted)
	r.Exclude = []string{first.ID, w.srv.URL + "/job/ci/job/check/1/"}
	again, err := w.target.Trigger(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	if again.Adopted || w.fake.Items() != 2 {
		t.Fatalf("excluded build adopted: %+v", again)
	}
}

// TestQueueItemExpired: the queue item was forgotten (5 minutes after it
// left the queue) before trawl saw its build: the build is found by its
// parameters.
func TestQueueItemExpired(t *testing.T) {
	w := newWorld(t, jenkinsfake.Options{}, nil)
	job, err := w.target.Trigger(context.Background(), request("u", 0))
	if err != nil {
		t.Fatal(err)
	}
	// Another unit's build, so that the match is by parameters.
	if _, err := w.target.Trigger(context.Background(), request("other", 0)); err != nil {
		t.Fatal(err)
	}
	_, _ = w.fake.Start(2)
	n, _ := w.fake.Start(1)
	if err := w.fake.Finish(n, jenkinsfake.Failure); err != nil {
		t.Fatal(err)
	}
	w.fake.Advance(jenkinsfake.LeftItemTTL + time.Minute)
	res := result(t, w, job)
	if res.State != targets.StateFail || !strings.HasSuffix(res.URL, "/job/ci/job/check/2/") {
		t.Fatalf("expired queue item: %+v, want build 2's failure", res)
	}
}

// TestJobGone: a deleted build, or an expired queue item whose build is
// gone too, wraps targets.ErrJobGone; a job that cannot be read is an
// error, never gone.
func TestJobGone(t *testing.T) {
	w := newWorld(t, jenkinsfake.Options{}, func(o *jenkins.Opts) { o.QueueWait, o.QueuePoll = 5*time.Second, 5*time.Millisecond })
	go func() {
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			if q := w.fake.Queued(); len(q) == 1 {
				_, _ = w.fake.Start(q[0])
				return
			}
		}
	}()
	job, err := w.target.Trigger(context.Background(), request("u", 0))
	if err != nil {
		t.Fatal(err)
	}
	if job.ID != w.srv.URL+"/job/ci/job/check/1/" || job.URL != job.ID {
		t.Fatalf("job %+v: the trigger waited for the build, want its URL", job)
	}
	if err := w.fake.Delete(1); err != nil {
		t.Fatal(err)
	}
	if _, err := w.target.Result(context.Background(), job); !errors.Is(err, targets.ErrJobGone) {
		t.Fatalf("deleted build: %v, want ErrJobGone", err)
	}

	w2 := newWorld(t, jenkinsfake.Options{}, nil)
	job, err = w2.target.Trigger(context.Background(), request("u", 0))
	if err != nil {
		t.Fatal(err)
	}
	_, _ = w2.fake.Start(1)
	_ = w2.fake.Delete(1)
	w2.fake.Advance(jenkinsfake.LeftItemTTL + time.Second)
	if _, err := w2.target.Result(context.Background(), job); !errors.Is(err, targets.ErrJobGone) {
		t.Fatalf("expired item, deleted build: %v, want ErrJobGone", err)
	}

	w2.srv.Close()
	if _, err := w2.target.Result(context.Background(), job); err == nil || errors.Is(err, targets.ErrJobGone) {
		t.Fatalf("unreachable Jenkins: %v, want an error that is not ErrJobGone", err)
	}
}

// TestMissingParameter: a job that does not define a trawl parameter
// (Jenkins would drop it, and adoption could never match) is not started.
func TestMissingParameter(t *testing.T) {
	w := newWorld(t, jenkinsfake.Options{Parameters: []string{jenkins.ParamUnit, jenkins.ParamFingerprint, jenkins.ParamAttempt}}, nil)
	_, err := w.target.Trigger(context.Background(), request("u", 0))
	if err == nil || !strings.Contains(err.Error(), jenkins.ParamRequest) || !strings.Contains(err.Error(), "/job/ci/job/check/") {
		t.Fatalf("error %v: want the missing parameter and the job", err)
	}
	if w.fake.Posts() != 0 {
		t.Fatal("the job was started")
	}
}

// TestNoSuchJob: a job that does not exist (or that the user may not see)
// is an error naming it, never a trigger.
func TestNoSuchJob(t *testing.T) {
	w := newWorld(t, jenkinsfake.Options{}, func(o *jenkins.Opts) { o.Job = "ci/nosuch" })
	_, err := w.target.Trigger(context.Background(), request("u", 0))
	if err == nil || !strings.Contains(err.Error(), w.srv.URL+"/job/ci/job/nosuch/ does not exist") {
		t.Fatalf("error %v: want the job named", err)
	}
	if w.fake.Posts() != 0 {
		t.Fatal("a build was asked for")
	}
}

func TestJobPath(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"check", "job/check/"},
		{"kernel/net/check", "job/kernel/job/net/job/check/"},
		{"a b", "job/a%20b/"},
		{"", ""},
		{"a//b", ""},
		{"../x", ""},
	} {
		got, err := jenkins.JobPath(tc.in)
		if (err != nil) != (tc.want == "") || got != tc.want {
			t.Errorf("JobPath(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestNewRefuses(t *testing.T) {
	hc := &http.Client{}
	tok := secret.Source{Env: "JENKINS_TOKEN"}
	for _, o := range []jenkins.Opts{
		{URL: "https://ci.example.org/", Job: "j", User: "u", Token: tok, HTTP: hc},
		{Name: "j", URL: "ftp://ci.example.org/", Job: "j", User: "u", Token: tok, HTTP: hc},
		{Name: "j", URL: "https://u:p@ci.example.org/", Job: "j", User: "u", Token: tok, HTTP: hc},
		{Name: "j", URL: "https://ci.example.org/", User: "u", Token: tok, HTTP: hc},
		{Name: "j", URL: "https://ci.example.org/", Job: "j", Token: tok, HTTP: hc},
		{Name: "j", URL: "https://ci.example.org/", Job: "j", User: "u", HTTP: hc},
		{Name: "j", URL: "https://ci.example.org/", Job: "j", User: "u", Token: tok},
	} {
		if _, err := jenkins.New(o); err == nil {
			t.Errorf("New(%+v) accepted", o)
		}
	}
}
