package gitlab

import (
	"errors"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trawl-ci/trawl/forges/gitlab/glfake"
	"github.com/trawl-ci/trawl/pkg/httpx"
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
			case tt.wantErr == errAny && err == nil, tt.wantErr != nil && tt.wantErr != errAny && !errors.Is(err, tt.wantErr):
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

// TestNoOwnRetries checks that client-go adds no retries of its own: a
// failing GET is tried 1+retryMax times (httpx's retries), a failing POST
// once (httpx retries no POST on a 5xx).
func TestNoOwnRetries(t *testing.T) {
	tests := []struct {
		name     string
		call     func(s *Source) error
		suffix   string
		wantHits int
	}{
		{
			name:     "list",
			call:     func(s *Source) error { _, err := s.Fetch(t.Context()); return err },
			suffix:   "/merge_requests",
			wantHits: 1 + retryMax,
		},
		{
			name:     "lookup",
			call:     func(s *Source) error { _, err := s.Lookup(t.Context(), mainPath, 1); return err },
			suffix:   "/merge_requests/1",
			wantHits: 1 + retryMax,
		},
		{
			name: "status",
			call: func(s *Source) error {
				return s.PostStatus(t.Context(), mainPath, sha("a", 1), Status{State: StatusSuccess, Name: "ci"})
			},
			suffix:   "/statuses/" + sha("a", 1),
			wantHits: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t, glfake.Options{})
			w.addMR(1, nil)
			w.fake.SetFault(func(r *http.Request) int {
				if strings.HasSuffix(r.URL.Path, tt.suffix) {
					return http.StatusBadGateway
				}
				return 0
			})
			err := tt.call(w.source(t, w.opts()))
			if !errors.Is(err, httpx.ErrServer) || !strings.Contains(err.Error(), "502") {
				t.Errorf("error %v, want a 502 server error", err)
			}
			if n := len(w.requests(tt.suffix)); n != tt.wantHits {
				t.Errorf("%d requests, want %d", n, tt.wantHits)
			}
		})
	}
}

// TestTokenStaysBeneathTheCache checks that the token reaches the server
// once per request, set by httpx, and never the cache files or an error;
// and that client-go sends no auth header of its own.
func TestTokenStaysBeneathTheCache(t *testing.T) {
	w := newWorld(t, glfake.Options{})
	w.addMR(1, nil)
	w.addMR(2, func(m *glfake.MR) { m.SourceProjectID = forkID })
	s := w.source(t, w.opts())
	for range 2 {
		w.clock.Advance(2 * time.Minute)
		if _, err := s.Fetch(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.PostStatus(t.Context(), mainPath, sha("a", 1), Status{State: StatusRunning, Name: "ci"}); err != nil {
		t.Fatal(err)
	}
	// Failures whose errors must not carry the token.
	var errs []error
	errs = append(errs, s.PostStatus(t.Context(), mainPath, sha("a", 1), Status{State: StatusPending, Name: "ci"}))
	_, err := s.Lookup(t.Context(), "no/such", 1)
	errs = append(errs, err)
	w.fake.SetFault(func(*http.Request) int { return http.StatusUnauthorized })
	_, err = w.source(t, w.opts()).Fetch(t.Context())
	errs = append(errs, err)
	w.fake.SetFault(nil)
	for _, err := range errs {
		if err == nil {
			t.Error("expected an error")
		} else if strings.Contains(err.Error(), testToken) {
			t.Errorf("error carries the token: %v", err)
		}
	}
	for _, r := range w.fake.Requests() {
		if got := r.Header.Values("PRIVATE-TOKEN"); len(got) != 1 || got[0] != testToken {
			t.Errorf("%s %s: PRIVATE-TOKEN %q, want the token once", r.Method, r.Path, got)
		}
	}
	files := 0
	err = filepath.WalkDir(w.cacheDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		files++
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if strings.Contains(string(b), testToken) {
			t.Errorf("cache file %s holds the token", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files == 0 {
		t.Error("nothing was cached: the check above proves nothing")
	}

	anon := w.opts()
	anon.HTTP = w.anon
	before := len(w.fake.Requests())
	if _, err := w.source(t, anon).Lookup(t.Context(), "other/lib", 1); !errors.Is(err, httpx.ErrNotFound) {
		t.Fatalf("anonymous lookup: %v", err)
	}
	for _, r := range w.fake.Requests()[before:] {
		if _, ok := r.Header["Private-Token"]; ok {
			t.Errorf("anonymous %s %s sent a PRIVATE-TOKEN header", r.Method, r.Path)
		}
	}
}
