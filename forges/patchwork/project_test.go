package patchwork

import (
	"errors"
	"strings"
	"testing"

	"github.com/trawl-ci/trawl/forges/patchwork/pwfake"
)

// TestUnknownProjectFailsTheSource: Patchwork lists a project that does not
// exist as empty (series-list-unknown-project), so a misspelled project
// must make Fetch fail, naming the project, rather than read as a project
// with no changes. An existing project is checked once.
func TestUnknownProjectFailsTheSource(t *testing.T) {
	srv := newServer(t, pwfake.Phase1, nil)
	bad := srv.newSource(t, srv.opts("netdve"))
	changes, err := bad.Fetch(t.Context())
	if err == nil || !errors.Is(err, ErrNoProject) || !strings.Contains(err.Error(), `"netdve"`) || !strings.Contains(err.Error(), "404") {
		t.Fatalf("Fetch of a misspelled project = %d changes, %v; want an error naming it", len(changes), err)
	}
	if err := bad.CheckProject(t.Context()); !errors.Is(err, ErrNoProject) {
		t.Fatalf("CheckProject = %v", err)
	}

	good := srv.newSource(t, srv.opts("bpf"))
	for range 2 {
		if _, err := good.Fetch(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if n := srv.fake.Requests()["/api/1.3/projects/bpf/"]; n != 1 {
		t.Fatalf("project looked up %d times in two Fetches, want once", n)
	}
}
