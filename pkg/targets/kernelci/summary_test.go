package kernelci

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/trawl-ci/trawl/pkg/targets"
)

// FuzzSummarise checks what every caller of Result relies on, whatever the
// API answers: one line of valid text under 180 characters, a known state,
// and a state that agrees with the tallies.
func FuzzSummarise(f *testing.F) {
	f.Add("done", "pass", "", "", []byte{0x10, 0x11, 0x12, 0x1e}, false, false)
	f.Add("done", "fail", "", "Hunk #1 FAILED at 12.\n1 out of 1 hunk FAILED", []byte{}, false, false)
	f.Add("done", "fail", "", "", []byte{}, true, false)
	f.Add("done", "incomplete", "node_timeout", "Node timed-out", []byte{}, false, false)
	f.Add("available", "pass", "Infrastructure", strings.Repeat("é\x00", 200), []byte{0x04, 0xac, 0x2d, 0x5e, 0x9f}, false, true)
	f.Add("closing", "pass", "", "", []byte{0x1c, 0x4d}, false, false)
	f.Add("running", "", "", "", []byte{0x01}, false, false)
	f.Add("done", "weird", "\xff\xfe", "\xff", []byte{0xff, 0x7f}, false, true)
	f.Fuzz(func(t *testing.T, state, result, code, msg string, shape []byte, baseFault, cut bool) {
		kinds := []string{"kbuild", "job", "test", "regression"}
		states := []string{"running", "available", "closing", "done"}
		results := []string{"", "pass", "fail", "skip", "incomplete", "fail", "unknown", "pass"}
		ps := &node{ID: "0123456789abcdef01234567", State: state, Result: result}
		ps.Data.ErrorCode, ps.Data.ErrorMsg = code, msg
		tr := tree{patchset: ps, cut: cut, maxNodes: defaultMaxNodes}
		if baseFault {
			tr.base = "base checkout " + msg + " failed"
		}
		builds, tests := 0, 0
		for _, b := range shape {
			n := node{Kind: kinds[b&3], State: states[b>>2&3], Result: results[b>>4&7]}
			if b&0x80 != 0 {
				n.Data.ErrorCode, n.Data.ErrorMsg = code, msg
			}
			switch n.Kind {
			case "kbuild":
				builds++
			case "job", "test":
				tests++
			}
			tr.nodes = append(tr.nodes, n)
		}

		r := summarise(&tr)

		if r.Summary == "" || utf8.RuneCountInString(r.Summary) >= maxSummary || !utf8.ValidString(r.Summary) ||
			strings.ContainsFunc(r.Summary, unicode.IsControl) {
			t.Fatalf("summary %q is not one line of text under %d characters", r.Summary, maxSummary)
		}
		b, ts := r.Builds, r.Tests
		switch r.State {
		case targets.StatePending:
		case targets.StateSuccess:
			if b.Fail+b.Error+b.Running+ts.Fail+ts.Error+ts.Running > 0 || b.Total()+ts.Total() == 0 {
				t.Fatalf("success with tallies %+v %+v", b, ts)
			}
		case targets.StateFail:
			if !patchsetFailed(ps) && b.Fail+ts.Fail == 0 {
				t.Fatalf("fail without a failure: %+v %+v", b, ts)
			}
		case targets.StateInfra:
			if b.Fail+ts.Fail > 0 {
				t.Fatalf("infra-error over a failure: %+v %+v", b, ts)
			}
		default:
			t.Fatalf("state %q", r.State)
		}
		if b.Total()+ts.Total() > 0 && (b.Total() != builds || ts.Total() != tests) {
			t.Fatalf("tallies %+v %+v for %d builds and %d tests", b, ts, builds, tests)
		}
	})
}
