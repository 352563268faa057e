package gitlab

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/trawl-ci/trawl/forges/gitlab/glfake"
	"github.com/trawl-ci/trawl/pkg/change"
	"github.com/trawl-ci/trawl/pkg/httpx"
	"github.com/trawl-ci/trawl/pkg/report"
	"github.com/trawl-ci/trawl/pkg/targets"
)

func TestPostStatus(t *testing.T) {
	longURL := "https://ci.example.com/" + strings.Repeat("x", 250)
	type post struct {
		project string
		sha     string
		st      Status
	}
	type stored struct {
		project int64
		state   string
		url     string
	}
	tests := []struct {
		name    string
		posts   []post
		wantErr error // of the last post; nil for success
		want    []stored
	}{
		{
			name:  "own merge request",
			posts: []post{{mainPath, sha("a", 1), Status{State: StatusRunning, Name: "ci", TargetURL: "https://ci/1"}}},
			want:  []stored{{mainID, "running", "https://ci/1"}},
		},
		{
			name:  "fork merge request goes to the source project",
			posts: []post{{"alice/project", sha("a", 2), Status{State: StatusSuccess, Name: "ci", Ref: "alice-fix"}}},
			want:  []stored{{forkID, "success", ""}},
		},
		{
			// The target project holds the fork's head under the merge
			// request's ref only: GitLab picks no branch for it.
			name:    "fork commit in the target project needs the merge request ref",
			posts:   []post{{mainPath, sha("a", 2), Status{State: StatusSuccess, Name: "ci"}}},
			wantErr: httpx.ErrNotFound,
		},
		{
			name:  "fork commit in the target project under the merge request ref",
			posts: []post{{mainPath, sha("a", 2), Status{State: StatusSuccess, Name: "ci", Ref: "refs/merge-requests/2/head"}}},
			want:  []stored{{mainID, "success", ""}},
		},
		{
			name: "running twice is benign",
			posts: []post{
				{mainPath, sha("a", 1), Status{State: StatusRunning, Name: "ci"}},
				{mainPath, sha("a", 1), Status{State: StatusRunning, Name: "ci"}},
			},
			want: []stored{{mainID, "running", ""}},
		},
		{
			name: "pending twice is benign",
			posts: []post{
				{mainPath, sha("a", 1), Status{State: StatusPending, Name: "ci"}},
				{mainPath, sha("a", 1), Status{State: StatusPending, Name: "ci"}},
			},
			want: []stored{{mainID, "pending", ""}},
		},
		{
			name: "pending after running is refused",
			posts: []post{
				{mainPath, sha("a", 1), Status{State: StatusRunning, Name: "ci"}},
				{mainPath, sha("a", 1), Status{State: StatusPending, Name: "ci"}},
			},
			wantErr: httpx.ErrBadRequest,
			want:    []stored{{mainID, "running", ""}},
		},
		{
			name: "pending, running, success",
			posts: []post{
				{mainPath, sha("a", 1), Status{State: StatusPending, Name: "ci"}},
				{mainPath, sha("a", 1), Status{State: StatusRunning, Name: "ci"}},
				{mainPath, sha("a", 1), Status{State: StatusSuccess, Name: "ci", Description: "passed"}},
			},
			want: []stored{{mainID, "success", ""}},
		},
		{
			name:  "target URL over 255 characters is left out",
			posts: []post{{mainPath, sha("a", 1), Status{State: StatusFailed, Name: "ci", TargetURL: longURL}}},
			want:  []stored{{mainID, "failed", ""}},
		},
		{
			name:    "unknown state is not sent",
			posts:   []post{{mainPath, sha("a", 1), Status{State: "skipped", Name: "ci"}}},
			wantErr: errAny,
		},
		{
			name:    "malformed sha is not sent",
			posts:   []post{{mainPath, "../../x", Status{State: StatusSuccess, Name: "ci"}}},
			wantErr: errAny,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t, glfake.Options{})
			w.addMR(1, nil)
			w.addMR(2, func(m *glfake.MR) { m.SourceProjectID = forkID; m.SourceBranch = "alice-fix" })
			s := w.source(t, w.opts())
			var err error
			for i, p := range tt.posts {
				if err = s.PostStatus(t.Context(), p.project, p.sha, p.st); err != nil && i < len(tt.posts)-1 {
					t.Fatalf("post %d %+v: %v", i, p, err)
				}
			}
			switch {
			case tt.wantErr == nil && err != nil:
				t.Errorf("last post: %v", err)
			case errors.Is(tt.wantErr, errAny) && err == nil, tt.wantErr != nil && !errors.Is(tt.wantErr, errAny) && !errors.Is(err, tt.wantErr):
				t.Errorf("last post: error %v, want %v", err, tt.wantErr)
			}
			var got []stored
			for _, st := range w.fake.Statuses() {
				got = append(got, stored{st.ProjectID, st.State, st.TargetURL})
			}
			if len(got) != len(tt.want) {
				t.Fatalf("stored statuses %+v, want %+v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("status %d: %+v, want %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

// errAny stands for "some error" in test tables.
var errAny = errors.New("any error")

func TestRepeatedState(t *testing.T) {
	tests := []struct {
		msg  string
		want bool
	}{
		{"Cannot transition status via :run from :running", true},
		{"Cannot transition status via :enqueue from :pending", true},
		{`Cannot transition status via :run from :running (Reason(s): Status cannot transition via "run")`, true},
		{"400 Bad request - Cannot transition status via :success from :success", true},
		{"Cannot transition status via :enqueue from :running", false},
		{"Cannot transition status via :run from :success", false},
		{"Cannot transition status via :bogus from :bogus", false},
		{"map[target_url:[is too long (maximum is 255 characters)]]", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := repeatedState(tt.msg); got != tt.want {
			t.Errorf("repeatedState(%q) = %v, want %v", tt.msg, got, tt.want)
		}
	}
}

func FuzzRepeatedState(f *testing.F) {
	f.Add("Cannot transition status via :run from :running")
	f.Add("Cannot transition status via :enqueue from :running")
	f.Add("Cannot transition status via : from :")
	f.Add("")
	f.Fuzz(func(t *testing.T, msg string) {
		if repeatedState(msg) && !strings.Contains(msg, "Cannot transition status via :") {
			t.Errorf("repeatedState(%q) without a transition message", msg)
		}
	})
}

func TestReporterPostsOnTheSourceProjectOnce(t *testing.T) {
	w := newWorld(t, glfake.Options{})
	w.addMR(7, func(m *glfake.MR) { m.SourceProjectID = forkID })
	s := w.source(t, w.opts())
	changes, err := s.Fetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	c := changes[0]
	r, err := s.Reporter(ReporterOpts{Name: "gitlab:main", Context: "trawl"})
	if err != nil {
		t.Fatal(err)
	}
	items := r.Items(&c)
	if len(items) != 1 || items[0] != "alice/project@"+c.HeadSHA {
		t.Fatalf("Items = %v, want the fork's project and the head", items)
	}
	for i, st := range []targets.State{targets.StatePending, targets.StateFail, targets.StateFail} {
		posted, _ := r.Map(st)
		m := report.Message{Change: string(c.Key), Target: "ci", Fingerprint: "0123456789abcdef", State: st, Summary: string(st)}
		done, err := r.Report(context.Background(), items[0], m, posted)
		if err != nil {
			t.Fatalf("%s: %v", st, err)
		}
		if want := []report.Done{report.Posted, report.Posted, report.Found}[i]; done != want {
			t.Errorf("report %d (%s) ended %v, want %v", i, st, done, want)
		}
	}
	// GitLab moves a pending status to its next state; a repeated failed
	// post would add a second status, which the look-before-post prevents.
	got := w.fake.Statuses()
	if len(got) != 1 || got[0].ProjectID != forkID || got[0].State != "failed" || got[0].Name != "trawl" {
		t.Fatalf("statuses = %+v, want one on the fork, pending moved to failed, the repeat skipped", got)
	}
}

// A merge request from a fork gets its status where trawl can write it:
// in the fork when it can, else in the target project under
// refs/merge-requests/<iid>/head.
func TestForkStatusGoesWhereTheBotCanWrite(t *testing.T) {
	tests := []struct {
		name      string
		fork      func(*glfake.Project)
		item      string
		project   int64
		ref       string
		forkPosts int // status posts sent to the fork
	}{
		{"fork writable", func(*glfake.Project) {}, "alice/project", forkID, "alice-fix", 1},
		{"fork read-only", func(p *glfake.Project) { p.ReadOnly = true }, "alice/project", mainID, "refs/merge-requests/7/head", 1},
		{"fork not visible", func(p *glfake.Project) { p.NoAccess = true }, fmt.Sprint(forkID), mainID, "refs/merge-requests/7/head", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newForkWorld(t, tt.fork)
			w.addMR(7, func(m *glfake.MR) { m.SourceProjectID = forkID; m.SourceBranch = "alice-fix" })
			s := w.source(t, w.opts())
			c := fetchOne(t, s, 7)
			r, err := s.Reporter(ReporterOpts{Name: "gl", Context: "trawl"})
			if err != nil {
				t.Fatal(err)
			}
			if items := r.Items(&c); items[0] != tt.item+"@"+c.HeadSHA {
				t.Fatalf("Items = %v, want %s@head", items, tt.item)
			}
			if done, err := reportState(r, c, targets.StateFail, "tests failed"); err != nil || done != report.Posted {
				t.Fatalf("first report: %v, %v; want posted", done, err)
			}
			// Repeats find it, and a fork that refused once is not
			// asked again.
			for range 2 {
				if done, err := reportState(r, c, targets.StateFail, "tests failed"); err != nil || done != report.Found {
					t.Fatalf("repeat: %v, want found", err)
				}
			}
			got := w.fake.Statuses()
			if len(got) != 1 || got[0].ProjectID != tt.project || got[0].Ref != tt.ref || got[0].State != "failed" {
				t.Fatalf("statuses %+v, want one failed in project %d on %s", got, tt.project, tt.ref)
			}
			forkPosts := 0
			for _, rq := range w.fake.Requests() {
				if rq.Method == http.MethodPost && strings.Contains(rq.Path, fmt.Sprintf("/projects/%d/", forkID)) ||
					rq.Method == http.MethodPost && strings.Contains(rq.Path, "alice%2Fproject") {
					forkPosts++
				}
			}
			if forkPosts != tt.forkPosts {
				t.Errorf("%d posts to the fork, want %d", forkPosts, tt.forkPosts)
			}
			// The relay read sees the status wherever it went.
			_, statuses, err := s.Statuses(context.Background(), c.Key)
			if err != nil {
				t.Fatal(err)
			}
			if len(statuses) != 1 || statuses[0].Context != "trawl" || statuses[0].State != targets.StateFail {
				t.Errorf("Statuses = %+v", statuses)
			}
		})
	}
}

// A 409 from an update in progress is retried, never dropped; a 409 that
// says the status is already in that state is found.
func TestStatusConflict(t *testing.T) {
	w := newWorld(t, glfake.Options{})
	w.addMR(1, nil)
	s := w.source(t, w.opts())
	c := fetchOne(t, s, 1)
	r, err := s.Reporter(ReporterOpts{Name: "gl", Context: "trawl", States: map[targets.State]string{targets.StatePending: "running"}})
	if err != nil {
		t.Fatal(err)
	}
	w.fake.Conflict(1, "")
	_, err = reportState(r, c, targets.StatePending, "building")
	if err == nil || report.Permanent(err) || !strings.Contains(err.Error(), "409") {
		t.Fatalf("409 in progress: %v, want a retryable error naming it", err)
	}
	if _, ok := errors.AsType[*report.WaitError](err); !ok {
		t.Errorf("409 in progress: %T, want a *report.WaitError", err)
	}
	if _, err := reportState(r, c, targets.StatePending, "building"); err != nil {
		t.Fatalf("retry: %v", err)
	}
	// A concurrent update posted the same running status, with another
	// description: GitLab refuses the repeat with 409.
	w.fake.Conflict(1, "Cannot transition status via :run from :running")
	if done, err := reportState(r, c, targets.StatePending, "building, 2 of 3"); err != nil || done != report.Found {
		t.Fatalf("409 repeat: %v, want found", err)
	}
	if got := w.fake.Statuses(); len(got) != 1 || got[0].State != "running" {
		t.Errorf("statuses %+v", got)
	}
}

// TestReporterPostsOnceAndLooksAfterAKill: a status no earlier run began
// costs one request (Post); a pending status posted again (GitLab's 400
// "Cannot transition status via :enqueue from :pending") is done, not
// refused; a conclusive status whose post may have reached GitLab before
// trawl was killed (the cycle then calls Report) is looked up first and
// not posted again, since GitLab stores a repeated conclusive status as a
// second one.
func TestReporterPostsOnceAndLooksAfterAKill(t *testing.T) {
	w, _, r, c := oneMRReporter(t)
	item := r.Items(&c)[0]
	message := func(st targets.State) (report.Message, string) {
		posted, _ := r.Map(st)
		return report.Message{Change: string(c.Key), Target: "ci", Fingerprint: "0123456789abcdef", State: st, Summary: string(st)}, posted
	}
	post := func(st targets.State) []glfake.Request {
		t.Helper()
		n := len(w.fake.Requests())
		m, posted := message(st)
		if err := r.Post(context.Background(), item, m, posted); err != nil {
			t.Fatalf("post %s: %v", st, err)
		}
		return w.fake.Requests()[n:]
	}
	if got := post(targets.StatePending); len(got) != 1 || got[0].Method != http.MethodPost {
		t.Fatalf("post pending sent %+v, want one POST", got)
	}
	// Posted again (an earlier run's post reached GitLab): GitLab refuses
	// the transition to the state the status is in, which is done.
	if got := post(targets.StatePending); len(got) != 1 {
		t.Fatalf("post pending again sent %d requests, want one", len(got))
	}
	if got := post(targets.StateFail); len(got) != 1 || got[0].Method != http.MethodPost {
		t.Fatalf("post failed sent %+v, want one POST", got)
	}
	// Killed before the post was recorded: the next run looks first.
	n := len(w.fake.Requests())
	m, posted := message(targets.StateFail)
	done, err := r.Report(context.Background(), item, m, posted)
	if err != nil || done != report.Found {
		t.Fatalf("report after a kill: %v, %v; want found", done, err)
	}
	for _, rq := range w.fake.Requests()[n:] {
		if rq.Method != http.MethodGet {
			t.Errorf("report after a kill sent %s %s: only a look-up was due", rq.Method, rq.Path)
		}
	}
	if got := w.fake.Statuses(); len(got) != 1 || got[0].State != "failed" {
		t.Fatalf("statuses %+v, want one, pending moved to failed", got)
	}
}

// oneMRReporter is a fake GitLab with merge request 1, its source, a
// status reporter on it and the merge request's change.
func oneMRReporter(t *testing.T) (*world, *Source, *Reporter, change.Change) {
	t.Helper()
	w := newWorld(t, glfake.Options{})
	w.addMR(1, nil)
	s := w.source(t, w.opts())
	c := fetchOne(t, s, 1)
	r, err := s.Reporter(ReporterOpts{Name: "gl", Context: "trawl"})
	if err != nil {
		t.Fatal(err)
	}
	return w, s, r, c
}
