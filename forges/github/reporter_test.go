package github

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/trawl-ci/trawl/forges/github/ghfake"
	"github.com/trawl-ci/trawl/pkg/change"
	"github.com/trawl-ci/trawl/pkg/httpx"
	"github.com/trawl-ci/trawl/pkg/report"
	"github.com/trawl-ci/trawl/pkg/targets"
)

func TestPostStatus(t *testing.T) {
	e := newEnv(t, ghfake.Options{}, nil)
	e.addPRs(1)
	s := e.source(t, nil)
	long := strings.Repeat("é", 100) + strings.Repeat("x", 100) // 200 characters, 300 bytes
	head := sha("head-1")
	err := s.PostStatus(context.Background(), testRepo, head, Status{
		State: StatusFailure, Context: "trawl/buildbot", Description: long, TargetURL: "https://ci.example.org/42",
	})
	if err != nil {
		t.Fatal(err)
	}
	got := e.fake.Statuses()
	if len(got) != 1 {
		t.Fatalf("recorded %d statuses, want 1", len(got))
	}
	st := got[0]
	wantDesc := strings.Repeat("é", 100) + strings.Repeat("x", 39) + "…"
	if st.Repo != testRepo || st.SHA != head || st.State != "failure" || st.Context != "trawl/buildbot" ||
		st.TargetURL != "https://ci.example.org/42" || st.Description != wantDesc || st.Creator != "trawl-bot" {
		t.Errorf("recorded %+v", st)
	}
	noLeak(t, e, e.cacheDir, testToken)
}

func TestPostStatusRejected(t *testing.T) {
	tests := []struct {
		name     string
		repo     string
		sha      string
		st       Status
		sentinel error // nil: refused before any request
		message  string
	}{
		{"unknown state", testRepo, sha("x"), Status{State: "done", Context: "c"}, nil, `unknown status state "done"`},
		{"no context", testRepo, sha("x"), Status{State: StatusSuccess}, nil, "no context"},
		{"no commit", testRepo, "", Status{State: StatusSuccess, Context: "c"}, nil, "no commit"},
		{"bad repository", "base-types", sha("x"), Status{State: StatusSuccess, Context: "c"}, nil, "not owner/name"},
		{"unknown commit", testRepo, "abc", Status{State: StatusSuccess, Context: "c"}, httpx.ErrBadRequest, "422 Unprocessable Entity: No commit found for SHA: abc"},
		{"unknown repository", "rock-core/nothing", sha("x"), Status{State: StatusSuccess, Context: "c"}, httpx.ErrNotFound, "404 Not Found: Not Found"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, ghfake.Options{}, nil)
			e.addPRs(1)
			err := e.source(t, nil).PostStatus(context.Background(), tc.repo, tc.sha, tc.st)
			if err == nil || !strings.Contains(err.Error(), tc.message) {
				t.Fatalf("error %v, want one saying %q", err, tc.message)
			}
			if tc.sentinel == nil && len(e.fake.Requests()) != 0 {
				t.Errorf("a request was sent for an invalid status")
			}
			if tc.sentinel != nil && !errors.Is(err, tc.sentinel) {
				t.Errorf("error %v does not match %v", err, tc.sentinel)
			}
		})
	}
}

func TestPostStatusNeedsCredential(t *testing.T) {
	e := newEnv(t, ghfake.Options{}, nil)
	e.addPRs(1)
	s := e.source(t, func(o *Opts) { o.HTTP = e.client(t, nil) })
	err := s.PostStatus(context.Background(), testRepo, sha("head-1"), Status{State: StatusPending, Context: "c"})
	if !errors.Is(err, httpx.ErrForbidden) || !strings.Contains(err.Error(), "401") {
		t.Errorf("anonymous post: %v, want a 401", err)
	}
}

func TestClip(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"", 5, ""},
		{"short", 5, "short"},
		{"longer", 5, "long…"},
		{"ééééé", 5, "ééééé"},
		{"éééééé", 5, "éééé…"},
		{"日本語のテキスト", 4, "日本語…"},
	}
	for _, tc := range tests {
		if got := clip(tc.in, tc.n); got != tc.want {
			t.Errorf("clip(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}

func FuzzClip(f *testing.F) {
	for _, s := range []string{"", "ok", strings.Repeat("é", 141), strings.Repeat("x", 140), "\xff\xfe broken"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := clip(s, maxDescription)
		if n := utf8.RuneCountInString(got); n > maxDescription {
			t.Fatalf("clip gave %d characters", n)
		}
		if utf8.ValidString(s) && !utf8.ValidString(got) {
			t.Fatalf("clip split a character: %q", got)
		}
		if utf8.RuneCountInString(s) <= maxDescription && got != s {
			t.Fatalf("clip changed a short description %q to %q", s, got)
		}
		if utf8.ValidString(s) && got != s && !strings.HasPrefix(s, strings.TrimSuffix(got, "…")) {
			t.Fatalf("clip(%q) = %q is not a prefix and an ellipsis", s, got)
		}
	})
}

func TestReporterPostsEachStateOnce(t *testing.T) {
	e, s, r, c := onePRReporter(t)
	items := r.Items(&c)
	if len(items) != 1 || items[0] != c.HeadSHA {
		t.Fatalf("Items = %v, want the head commit", items)
	}
	if got, _ := r.Map(targets.StateInfra); got != "error" {
		t.Fatalf("infra-error maps to %q, want error (the CI broke, not the change)", got)
	}
	m := report.Message{Target: "buildbot", Fingerprint: "0123456789abcdef", State: targets.StateFail, Summary: "tests 3 failed", URL: "https://ci.example.org/b/1"}
	posted, _ := r.Map(m.State)
	for i, want := range []report.Done{report.Posted, report.Found} {
		done, err := r.Report(context.Background(), items[0], m, posted)
		if err != nil {
			t.Fatal(err)
		}
		if done != want {
			t.Errorf("report %d ended %v, want %v", i, done, want)
		}
	}
	st := e.fake.Statuses()
	if len(st) != 1 {
		t.Fatalf("%d statuses posted, want 1 (the repeat finds it already there)", len(st))
	}
	if st[0].Context != "trawl/buildbot" || st[0].State != "failure" || st[0].Description != "tests 3 failed [trawl 0123456789ab]" || st[0].SHA != c.HeadSHA {
		t.Fatalf("status = %+v", st[0])
	}
	if _, err := s.Reporter(ReporterOpts{Name: "x", Context: "trawl", States: map[targets.State]string{targets.StateFail: "broken"}}); err == nil {
		t.Fatal("an unknown status state was accepted")
	}
}

// TestReporterPostsOnceAndLooksAfterAKill: a status no earlier run began
// costs one request (Post), for each state of a result; a status whose
// post may have reached GitHub before trawl was killed (the cycle then
// calls Report) is looked up first and not posted again, since GitHub
// stores a repeated status as a second one.
func TestReporterPostsOnceAndLooksAfterAKill(t *testing.T) {
	e, _, r, c := onePRReporter(t)
	item := r.Items(&c)[0]
	for i, st := range []targets.State{targets.StatePending, targets.StateFail} {
		m := report.Message{Target: "buildbot", Fingerprint: "0123456789abcdef", State: st, Summary: string(st)}
		posted, _ := r.Map(st)
		n := len(e.fake.Requests())
		if err := r.Post(context.Background(), item, m, posted); err != nil {
			t.Fatalf("post %s: %v", st, err)
		}
		if got := e.requestsSince(n); len(got) != 1 || got[0].Method != http.MethodPost {
			t.Fatalf("post %s sent %+v, want one POST", st, got)
		}
		// Killed before the post was recorded: the next run looks first.
		n = len(e.fake.Requests())
		done, err := r.Report(context.Background(), item, m, posted)
		if err != nil || done != report.Found {
			t.Fatalf("report %s after a kill: %v, %v; want found", st, done, err)
		}
		for _, req := range e.requestsSince(n) {
			if req.Method != http.MethodGet {
				t.Errorf("report %s after a kill sent %s %s: only a look-up was due", st, req.Method, req.URI)
			}
		}
		if got := len(e.fake.Statuses()); got != i+1 {
			t.Fatalf("%d statuses after %s, want %d: one per state", got, st, i+1)
		}
	}
}

// onePRReporter is a fake GitHub with one pull request, its source, a
// per-target status reporter on it and the pull request's change.
func onePRReporter(t *testing.T) (*env, *Source, *Reporter, change.Change) {
	t.Helper()
	e := newEnv(t, ghfake.Options{}, nil)
	e.addPRs(1)
	s := e.source(t, nil)
	r, err := s.Reporter(ReporterOpts{Name: "github:base-types", Context: "trawl", PerTarget: true})
	if err != nil {
		t.Fatal(err)
	}
	return e, s, r, fetch(t, s)[0]
}
