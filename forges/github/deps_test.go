package github

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"testing"

	"github.com/trawl-ci/trawl/forges/github/ghfake"
	"github.com/trawl-ci/trawl/pkg/change"
	"github.com/trawl-ci/trawl/pkg/httpx"
)

func TestClaim(t *testing.T) {
	e := newEnv(t, ghfake.Options{}, nil)
	gh := e.source(t, nil)
	ghe := e.source(t, func(o *Opts) { o.Host = "ghe.example.org" })
	for _, tc := range []struct {
		s    *Source
		key  change.Key
		want change.Claim
	}{
		{gh, "gh:rock-core/base-types#4", change.ClaimOwn},
		{gh, "gh:Rock-Core/Base-Types#4", change.ClaimOwn},
		{gh, "gh:rock-core/other#4", change.ClaimHost},
		{gh, "gh:ghe.example.org/rock-core/base-types#4", change.ClaimNone},
		{gh, "gl:gitlab.com/rock-core/base-types!4", change.ClaimNone},
		{gh, "gh:rock-core/base-types#x", change.ClaimNone},
		{ghe, "gh:ghe.example.org/rock-core/base-types#4", change.ClaimOwn},
		{ghe, "gh:rock-core/base-types#4", change.ClaimNone},
	} {
		if got := tc.s.Claim(tc.key); got != tc.want {
			t.Errorf("%s Claim(%s) = %v, want %v", tc.s.host, tc.key, got, tc.want)
		}
	}
}

func TestChangeState(t *testing.T) {
	e := newEnv(t, ghfake.Options{}, nil)
	e.addPRs(3)
	if err := e.fake.Merge(testRepo, 1); err != nil {
		t.Fatal(err)
	}
	if err := e.fake.Close(testRepo, 2); err != nil {
		t.Fatal(err)
	}
	s := e.source(t, nil)
	for n, want := range map[int64]change.State{1: change.StateMerged, 2: change.StateClosed, 3: change.StateOpen} {
		got, err := s.ChangeState(context.Background(), change.Key(key(n)))
		if err != nil || got != want {
			t.Errorf("ChangeState(#%d) = %q, %v; want %q", n, got, err, want)
		}
	}
}

func TestLookup(t *testing.T) {
	e := newEnv(t, ghfake.Options{}, nil)
	e.addPRs(3)
	if err := e.fake.Merge(testRepo, 2); err != nil {
		t.Fatal(err)
	}
	if err := e.fake.Close(testRepo, 3); err != nil {
		t.Fatal(err)
	}
	s := e.source(t, nil)
	tests := []struct {
		repo string
		n    int64
		want State
		err  error
	}{
		{testRepo, 1, StateOpen, nil},
		{testRepo, 2, StateMerged, nil},
		{testRepo, 3, StateClosed, nil},
		{testRepo, 4, "", httpx.ErrNotFound},
		{"rock-core/other", 1, "", httpx.ErrNotFound},
	}
	for _, tc := range tests {
		got, err := s.Lookup(context.Background(), tc.repo, tc.n)
		if got != tc.want || !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) {
			t.Errorf("Lookup(%s, %d) = %q, %v; want %q, %v", tc.repo, tc.n, got, err, tc.want, tc.err)
		}
	}
	for _, n := range []int64{0, -1} {
		if _, err := s.Lookup(context.Background(), testRepo, n); err == nil {
			t.Errorf("Lookup(%d) gave no error", n)
		}
	}
}

func TestFetchDependencies(t *testing.T) {
	e := newEnv(t, ghfake.Options{}, nil)
	body := "Needs the frame rework.\r\n\r\n" +
		"Depends-On: #2\r\n" +
		"Depends-On: https://github.com/rock-core/base-types/pull/3\r\n" +
		"Depends-On: rock-core/base-types#4, #1\r\n" +
		"Depends-On: https://github.com/rock-core/tools-logger/pull/9\r\n" +
		"depends-on: other/private#5\r\n" +
		"Depends-On: #77\r\n" +
		"Depends-On: https://gitlab.com/g/p/-/merge_requests/7 !8\r\n" +
		"Depends-On: <20261121.1234@example.org>\r\n" +
		"Depends-On: #2\r\n" +
		"```\r\nDepends-On: #6\r\n```\r\n"
	e.fake.AddPR(testRepo, ghfake.PR{Body: &body, HeadSHA: sha("1")})
	e.fake.AddPR(testRepo, ghfake.PR{HeadSHA: sha("2"), Draft: true})
	e.fake.AddPR(testRepo, ghfake.PR{HeadSHA: sha("3")})
	e.fake.AddPR(testRepo, ghfake.PR{HeadSHA: sha("4")})
	e.fake.AddPR(testRepo, ghfake.PR{HeadSHA: sha("6")})
	e.fake.AddPR("rock-core/tools-logger", ghfake.PR{Number: 9, HeadSHA: sha("9")})
	for _, err := range []error{e.fake.Merge(testRepo, 3), e.fake.Close(testRepo, 4), e.fake.Merge("rock-core/tools-logger", 9)} {
		if err != nil {
			t.Fatal(err)
		}
	}
	got := fetch(t, e.source(t, nil))
	if got[0].Key != change.Key(key(1)) {
		t.Fatalf("first change %s", got[0].Key)
	}
	const src = "gh-base-types"
	want := []change.Ref{
		{Raw: "#2", Key: change.Key(key(2)), Source: src}, // open, a draft: not built here, but open
		{Raw: "https://github.com/rock-core/base-types/pull/3", Key: change.Key(key(3)), Source: src, Merged: true},
		{Raw: "rock-core/base-types#4", Key: change.Key(key(4)), Source: src, Closed: true},
		{Raw: "https://github.com/rock-core/tools-logger/pull/9", Key: "gh:rock-core/tools-logger#9", Merged: true},
		{Raw: "other/private#5", Key: "gh:other/private#5"},
		{Raw: "#77", Key: change.Key(key(77)), Source: src},
		{Raw: "https://gitlab.com/g/p/-/merge_requests/7", Key: "gl:gitlab.com/g/p!7"},
		{Raw: "<20261121.1234@example.org>"},
	}
	if !reflect.DeepEqual(got[0].Deps, want) {
		t.Errorf("deps:\n got %+v\nwant %+v", got[0].Deps, want)
	}
	for _, c := range got[1:] {
		if c.Deps != nil {
			t.Errorf("%s (no body) has deps %+v", c.Key, c.Deps)
		}
	}

	// The merged and closed states come from conditional requests too: a
	// second Fetch costs only the two lookups that found nothing (GitHub
	// counts a 404, and an error is never cached).
	n := len(e.fake.Requests())
	used := e.fake.RateLimitUsed()
	fetch(t, e.source(t, nil))
	var charged []string
	for _, r := range e.requestsSince(n) {
		if r.Status != http.StatusNotModified {
			charged = append(charged, fmt.Sprintf("%d %s", r.Status, r.URI))
		}
	}
	wantCharged := []string{"404 /repos/other/private/pulls/5", "404 /repos/" + testRepo + "/pulls/77"}
	if !slices.Equal(charged, wantCharged) || e.fake.RateLimitUsed()-used != 2 {
		t.Errorf("second fetch paid for %v, want %v", charged, wantCharged)
	}
}

// TestDependencyLookedUpOncePerFetch: a pull request that several pull
// requests name, in any form, is looked up once per Fetch, and every one
// of them carries its state.
func TestDependencyLookedUpOncePerFetch(t *testing.T) {
	e := newEnv(t, ghfake.Options{}, nil)
	both := "Depends-On: rock-core/tools-logger#9\r\nDepends-On: https://github.com/rock-core/tools-logger/pull/9\r\n"
	one := "Depends-On: https://github.com/rock-core/tools-logger/pull/9\r\n"
	e.fake.AddPR(testRepo, ghfake.PR{Body: &both, HeadSHA: sha("1")})
	e.fake.AddPR(testRepo, ghfake.PR{Body: &one, HeadSHA: sha("2")})
	e.fake.AddPR("rock-core/tools-logger", ghfake.PR{Number: 9, HeadSHA: sha("9")})
	if err := e.fake.Merge("rock-core/tools-logger", 9); err != nil {
		t.Fatal(err)
	}
	s := e.source(t, nil)
	for tick := 1; tick <= 2; tick++ {
		n := len(e.fake.Requests())
		got := fetch(t, s)
		asked := 0
		for _, r := range e.requestsSince(n) {
			if r.URI == "/repos/rock-core/tools-logger/pulls/9" {
				asked++
			}
		}
		if asked != 1 {
			t.Errorf("tick %d: rock-core/tools-logger#9 looked up %d times, want once", tick, asked)
		}
		for _, c := range got {
			if len(c.Deps) != 1 || c.Deps[0].Key != "gh:rock-core/tools-logger#9" || !c.Deps[0].Merged {
				t.Errorf("tick %d: %s deps %+v, want the merged rock-core/tools-logger#9 once", tick, c.Key, c.Deps)
			}
		}
	}
}
