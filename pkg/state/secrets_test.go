package state

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trawl-ci/trawl/pkg/report"
	"github.com/trawl-ci/trawl/pkg/secret"
	"github.com/trawl-ci/trawl/pkg/targets"
)

// TestSaveRedactsStoredMessages puts a registered token in every message
// the state keeps from a server (a unit's reason, a job's summary, a
// refused report, an outbox error and summary) and checks that the file
// holds none, and that the rest of the message is kept.
func TestSaveRedactsStoredMessages(t *testing.T) {
	const token = "state-canary-a1b2c3d4e5"
	secret.Register(token)
	st := sample()
	echo := "401 Unauthorized: Invalid token " + token
	for _, u := range st.Units {
		u.Reason = echo
		u.Result = &targets.Result{State: targets.StateFail, Summary: echo}
		u.Reports = map[string]*Reported{"patchwork:netdev": {State: targets.StateFail, Posted: "fail", At: time.Unix(0, 0), Failed: echo}}
	}
	st.Outbox = append(st.Outbox, &Post{Reporter: "github:x", Message: report.Message{Summary: echo}, LastError: echo})
	path := filepath.Join(t.TempDir(), "state.json")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Save(st); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), token) {
		t.Fatalf("token in the state file:\n%s", b)
	}
	if n := strings.Count(string(b), "Invalid token "+secret.Mask); n < 5 {
		t.Errorf("%d redacted messages kept, want every one of at least 5:\n%s", n, b)
	}
}
