package gitlab

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/trawl-ci/trawl/forges/gitlab/glfake"
	"github.com/trawl-ci/trawl/pkg/change"
	"github.com/trawl-ci/trawl/pkg/httpx"
)

func TestClaimAndChangeState(t *testing.T) {
	w := newWorld(t, glfake.Options{})
	w.addMR(1, nil)
	w.addMR(2, nil)
	w.addMR(3, nil)
	w.fake.Merge(mainID, 1)
	w.fake.Close(mainID, 2)
	s := w.source(t, w.opts())
	own := change.GitLabKey(s.host, mainPath, 1)
	for key, want := range map[change.Key]change.Claim{
		own:                                      change.ClaimOwn,
		change.GitLabKey(s.host, "other/lib", 4): change.ClaimHost,
		change.GitLabKey("gitlab.com", mainPath, 1): change.ClaimNone,
		"gh:" + change.Key(mainPath) + "#1":         change.ClaimNone,
	} {
		if got := s.Claim(key); got != want {
			t.Errorf("Claim(%s) = %v, want %v", key, got, want)
		}
	}
	for iid, want := range map[int64]change.State{1: change.StateMerged, 2: change.StateClosed, 3: change.StateOpen} {
		got, err := s.ChangeState(context.Background(), change.GitLabKey(s.host, mainPath, iid))
		if err != nil || got != want {
			t.Errorf("ChangeState(!%d) = %q, %v; want %q", iid, got, err, want)
		}
	}
}

func TestDependencies(t *testing.T) {
	w := newWorld(t, glfake.Options{})
	w.addMR(1, nil)
	w.addMR(2, nil)
	w.addMR(3, func(m *glfake.MR) { m.Draft = true })
	w.addMR(9, nil)
	w.fake.Merge(mainID, 9)
	w.addMR(8, nil)
	w.fake.Close(mainID, 8)
	w.fake.AddMR(glfake.MR{ProjectID: libID, IID: 5, SHA: sha("e", 5), SourceBranch: "x", TargetBranch: "main"})
	w.fake.Merge(libID, 5)
	w.fake.AddMR(glfake.MR{ProjectID: libID, IID: 6, SHA: sha("e", 6), SourceBranch: "y", TargetBranch: "main"})
	desc := strings.Join([]string{
		"Depends-on: !1",
		"Depends-on: " + testBase + "/group/sub/project/-/merge_requests/1",
		"Depends-on: !2 !9 !8 !404",
		"Depends-on: other/lib!5",
		"Depends-on: " + testBase + "/other/lib/-/merge_requests/6",
		"Depends-on: https://gitlab.com/else/where/-/merge_requests/7",
		"Depends-on: https://github.com/o/r/pull/4",
		"Depends-on: #12",
		"Depends-on: !7",
		"Depends-on: !3",
	}, "\n")
	w.addMR(7, func(m *glfake.MR) { m.Description = &desc })
	o := w.opts()
	o.Drafts = false
	s := w.source(t, o)
	for fetch := range 2 {
		w.clock.Advance(time.Minute)
		got, err := s.Fetch(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		own := func(iid string) change.Key { return change.Key("gl:gitlab.test/group/sub/project!" + iid) }
		want := []change.Ref{
			{Raw: "!1", Key: own("1"), Source: "gl-main"},
			{Raw: "!2", Key: own("2"), Source: "gl-main"},
			{Raw: "!9", Key: own("9"), Source: "gl-main", Merged: true},
			{Raw: "!8", Key: own("8"), Source: "gl-main", Closed: true},
			{Raw: "!404", Key: own("404"), Source: "gl-main"},
			{Raw: "other/lib!5", Key: "gl:gitlab.test/other/lib!5", Merged: true},
			{Raw: testBase + "/other/lib/-/merge_requests/6", Key: "gl:gitlab.test/other/lib!6"},
			{Raw: "https://gitlab.com/else/where/-/merge_requests/7", Key: "gl:gitlab.com/else/where!7"},
			{Raw: "https://github.com/o/r/pull/4", Key: "gh:o/r#4"},
			{Raw: "!3", Key: own("3"), Source: "gl-main"},
		}
		if c := byIID(t, got, 7); !reflect.DeepEqual(c.Deps, want) {
			t.Errorf("fetch %d: deps\n got %+v\nwant %+v", fetch, c.Deps, want)
		}
	}
	if n := len(w.requests("/projects/other%2Flib/merge_requests/5")); n != 1 {
		t.Errorf("merged other/lib!5 looked up %d times, want once (merged is final)", n)
	}
	if n := len(w.requests("/merge_requests/8")); n != 2 {
		t.Errorf("closed !8 looked up %d times, want once per fetch", n)
	}
	if n := len(w.requests("/merge_requests/2")); n != 1 {
		t.Errorf("open !2 read %d times, want once (for its base, not as a dependency)", n)
	}
}

func TestLookup(t *testing.T) {
	w := newWorld(t, glfake.Options{})
	w.addMR(1, nil)
	w.addMR(2, nil)
	w.fake.Merge(mainID, 2)
	w.addMR(3, nil)
	w.fake.Close(mainID, 3)
	s := w.source(t, w.opts())
	tests := []struct {
		project string
		iid     int64
		want    State
		wantErr error
	}{
		{mainPath, 1, StateOpened, nil},
		{mainPath, 2, StateMerged, nil},
		{"GROUP/sub/project", 3, StateClosed, nil},
		{"10", 1, StateOpened, nil},
		{mainPath, 4, "", httpx.ErrNotFound},
		{"no/such", 1, "", httpx.ErrNotFound},
	}
	for _, tt := range tests {
		got, err := s.Lookup(t.Context(), tt.project, tt.iid)
		if got != tt.want || !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
			t.Errorf("Lookup(%s, %d) = %q, %v; want %q, %v", tt.project, tt.iid, got, err, tt.want, tt.wantErr)
		}
		if err != nil && !strings.Contains(err.Error(), "404") {
			t.Errorf("Lookup(%s, %d): error %q does not name the status", tt.project, tt.iid, err)
		}
	}
}

// TestDependencyLookedUpOncePerFetch: a merge request that several merge
// requests name, in any form, is looked up once per Fetch (an open or
// closed one on every Fetch, a merged one never again), and every one of
// them carries its state.
func TestDependencyLookedUpOncePerFetch(t *testing.T) {
	w := newWorld(t, glfake.Options{})
	w.fake.AddMR(glfake.MR{ProjectID: libID, IID: 6, SHA: sha("e", 6), SourceBranch: "y", TargetBranch: "main"})
	w.fake.Close(libID, 6)
	both := "Depends-on: other/lib!6\nDepends-on: " + testBase + "/other/lib/-/merge_requests/6\n"
	one := "Depends-on: " + testBase + "/other/lib/-/merge_requests/6\n"
	w.addMR(1, func(m *glfake.MR) { m.Description = &both })
	w.addMR(2, func(m *glfake.MR) { m.Description = &one })
	s := w.source(t, w.opts())
	for fetch := 1; fetch <= 2; fetch++ {
		before := len(w.requests("/merge_requests/6"))
		w.clock.Advance(time.Minute)
		got, err := s.Fetch(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if asked := len(w.requests("/merge_requests/6")) - before; asked != 1 {
			t.Errorf("fetch %d: other/lib!6 looked up %d times, want once", fetch, asked)
		}
		for _, c := range got {
			if len(c.Deps) != 1 || c.Deps[0].Key != "gl:gitlab.test/other/lib!6" || !c.Deps[0].Closed {
				t.Errorf("fetch %d: %s deps %+v, want the closed other/lib!6 once", fetch, c.Key, c.Deps)
			}
		}
	}
}
