package driver

import (
	"sync"
	"testing"

	"github.com/trawl-ci/trawl/pkg/targets"
)

// TestShareBuildsOncePerKey: drivers asking for the same key get the same
// object (GitHub sources posting with one credential share one pace of
// writes), drivers asking for another key get their own, also when they
// ask at once.
func TestShareBuildsOncePerKey(t *testing.T) {
	type pace struct{ id int }
	var s Shared
	builds := 0
	build := func() *pace { builds++; return &pace{id: builds} }
	var wg sync.WaitGroup
	got := make([]*pace, 8)
	var mu sync.Mutex
	for i := range got {
		wg.Go(func() {
			p := Share(&s, "github writes\x00account-a", func() *pace {
				mu.Lock()
				defer mu.Unlock()
				return build()
			})
			got[i] = p
		})
	}
	wg.Wait()
	for i, p := range got {
		if p != got[0] {
			t.Fatalf("call %d got another object than call 0", i)
		}
	}
	other := Share(&s, "github writes\x00account-b", build)
	if other == got[0] || other.id == got[0].id {
		t.Error("another key got the same object")
	}
	if builds != 2 {
		t.Errorf("built %d objects for 2 keys", builds)
	}
}

// TestCheckStates: "none" in report.states means the state is not posted,
// which reporters read as an empty value; other values pass unchanged.
func TestCheckStates(t *testing.T) {
	got := CheckStates(map[targets.State]string{targets.StatePending: "none", targets.StateFail: "failure"})
	want := map[targets.State]string{targets.StatePending: "", targets.StateFail: "failure"}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s: got %q (present %v), want %q", k, g, ok, v)
		}
	}
}
