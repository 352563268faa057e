package github

import (
	"context"
	"testing"

	"github.com/trawl-ci/trawl/forges/github/ghfake"
	"github.com/trawl-ci/trawl/pkg/change"
	"github.com/trawl-ci/trawl/pkg/report"
	"github.com/trawl-ci/trawl/pkg/targets"
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

func TestReporterPostsEachStateOnce(t *testing.T) {
	e := newEnv(t, ghfake.Options{}, nil)
	e.addPRs(1)
	s := e.source(t, nil)
	r, err := s.Reporter(ReporterOpts{Name: "github:base-types", Context: "trawl", PerTarget: true})
	if err != nil {
		t.Fatal(err)
	}
	c := fetch(t, s)[0]
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

func TestRelayLinksAndStatuses(t *testing.T) {
	e := newEnv(t, ghfake.Options{}, nil)
	body := "Packaging for #1.\r\nRelay-CI-from: https://gitlab.com/redhat/rpms/kernel/-/merge_requests/42\r\n"
	e.addPRs(1)
	e.fake.AddPR(testRepo, ghfake.PR{Title: "relay", Body: &body, HeadRef: "r", HeadSHA: sha("h2"), BaseSHA: sha("b")})
	s := e.source(t, nil)
	changes := fetch(t, s)
	if got := changes[1].Relays; len(got) != 1 || got[0].Key != "gl:gitlab.com/redhat/rpms/kernel!42" {
		t.Fatalf("relays = %+v", got)
	}
	r, err := s.Reporter(ReporterOpts{Name: "gh", Context: "trawl"})
	if err != nil {
		t.Fatal(err)
	}
	c := changes[0]
	for _, st := range []targets.State{targets.StateInfra, targets.StateSuccess} {
		posted, _ := r.Map(st)
		m := report.Message{Fingerprint: "f", State: st, Summary: string(st), Context: "relay/ci/" + string(st)}
		if _, err := r.Report(context.Background(), c.HeadSHA, m, posted); err != nil {
			t.Fatal(err)
		}
	}
	head, statuses, err := s.Statuses(context.Background(), c.Key)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]targets.State{}
	for _, st := range statuses {
		got[st.Context] = st.State
	}
	if head != c.HeadSHA || got["relay/ci/infra-error"] != targets.StateInfra || got["relay/ci/success"] != targets.StateSuccess || len(got) != 2 {
		t.Fatalf("Statuses = %s %+v: want the head and both statuses under the message's own contexts", head, statuses)
	}
}
