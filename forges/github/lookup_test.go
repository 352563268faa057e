package github

import (
	"context"
	"testing"

	"github.com/trawl-ci/trawl/forges/github/ghfake"
	"github.com/trawl-ci/trawl/pkg/report"
	"github.com/trawl-ci/trawl/pkg/targets"
)

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
