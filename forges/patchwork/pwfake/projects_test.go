package pwfake

import (
	"bytes"
	"net/http"
	"testing"

	recording "github.com/trawl-ci/trawl/pkg/capture"
)

// TestProjectDetailReplaysRecordings replays the recorded project look-ups
// (by id, by link name, and of a project that does not exist) against the
// fake: status and body byte for byte.
func TestProjectDetailReplaysRecordings(t *testing.T) {
	dir, err := recording.Shared("patchwork")
	if err != nil {
		t.Fatal(err)
	}
	f := newFake(t, Phase1)
	for _, name := range []string{"projects-detail-1", "projects-detail-by-linkname", "projects-detail-404"} {
		t.Run(name, func(t *testing.T) {
			x, err := recording.Load(dir, name)
			if err != nil {
				t.Fatal(err)
			}
			resp, body := do(t, f, x.Method, recordedHostPort, x.Target)
			if resp.StatusCode != x.Status || !bytes.Equal(body, x.Body) {
				t.Fatalf("%s %s: got %d %s\nrecorded %d %s", x.Method, x.Target, resp.StatusCode, body, x.Status, x.Body)
			}
			if got, want := resp.Header.Get("Content-Type"), x.Header.Get("Content-Type"); got != want {
				t.Fatalf("Content-Type %q, recorded %q", got, want)
			}
		})
	}
	if resp, _ := do(t, f, http.MethodGet, recordedHostPort, "/api/1.3/projects/bpf/"); resp.StatusCode != http.StatusOK {
		t.Fatalf("projects/bpf/: status %d", resp.StatusCode)
	}
}
