package cycle

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/trawl-ci/trawl/pkg/secret"
	"github.com/trawl-ci/trawl/pkg/state"
	"github.com/trawl-ci/trawl/pkg/targets"
)

// hostile is text a patch author or a server controls: an ANSI sequence
// that clears the screen, a newline and tab that forge a line of output,
// a bidirectional override, HTML, and a token a server echoed.
const (
	hostileToken = "cycle-canary-9a8b7c6d"
	hostile      = "\x1b[2J\x1b[31mred\x1b[0m\ntriggered\tforged-line \u202eevil <b>html</b> " + hostileToken
)

// checkTerminal fails when out could drive a terminal, forge a line, or
// shows the token; it expects exactly lines lines.
func checkTerminal(t *testing.T, out string, lines int) {
	t.Helper()
	if strings.Contains(out, hostileToken) {
		t.Errorf("token in the output:\n%s", out)
	}
	if strings.ContainsAny(out, "\x1b\t\r\u202e") {
		t.Errorf("raw control or bidi character in the output:\n%q", out)
	}
	if n := strings.Count(out, "\n"); n != lines {
		t.Errorf("%d lines, want %d:\n%s", n, lines, out)
	}
	if !strings.Contains(out, `\x1b[2J`) || !strings.Contains(out, secret.Mask) {
		t.Errorf("the hostile text is not shown escaped and redacted:\n%s", out)
	}
}

func TestTableEscapesAndRedacts(t *testing.T) {
	secret.Register(hostileToken)
	r := &Report{
		Units: []UnitReport{
			{Unit: "pw:h/p/series/1@k", Outcome: OutcomeBlocked, Detail: "dependency " + hostile},
			{Unit: "gh:o/r#" + hostile + "@k", Outcome: OutcomeFailed, Detail: "trigger: " + hostile},
		},
		UnknownSources: []SourceError{{Source: "netdev", Err: "GET https://pw/api: 401 Unauthorized: " + hostile}},
	}
	var b bytes.Buffer
	if err := r.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	checkTerminal(t, b.String(), 5) // header, 2 units, 1 unknown source, summary
}

func TestStatusEscapesAndRedacts(t *testing.T) {
	secret.Register(hostileToken)
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	st := state.New()
	st.Units["pw:h/p/series/1@"+hostile] = &state.Unit{
		Status: "blocked", Reason: hostile, Target: hostile, Fingerprint: "ab", TriggeredAt: &at,
		Job:     &targets.Job{ID: hostile, URL: hostile},
		Result:  &targets.Result{State: targets.StateFail, Summary: hostile},
		Reports: map[string]*state.Reported{"pw": {Fingerprint: "ab", Posted: "fail", At: at, Failed: hostile}},
	}
	st.Outbox = []*state.Post{{Reporter: "pw", Posted: "fail", Attempts: 1, LastError: hostile}}
	st.Outbox[0].Message.Unit = "pw:h/p/series/1@" + hostile
	var b bytes.Buffer
	if err := WriteStatus(&b, st); err != nil {
		t.Fatal(err)
	}
	checkTerminal(t, b.String(), 9) // key, status, fingerprint, triggered, result, reported, queued, seen, total
}
