package jenkins

import (
	"strings"
	"testing"

	"github.com/trawl-ci/trawl/pkg/targets"
)

func TestBuildResult(t *testing.T) {
	for _, tc := range []struct {
		body  string
		want  targets.State
		error bool
	}{
		{`{"number":3,"building":true,"result":null}`, targets.StatePending, false},
		{`{"number":3,"building":false,"result":null}`, targets.StatePending, false},
		{`{"number":3,"building":false,"result":"SUCCESS"}`, targets.StateSuccess, false},
		{`{"number":3,"building":false,"result":"UNSTABLE"}`, targets.StateWarning, false},
		{`{"number":3,"building":false,"result":"FAILURE"}`, targets.StateFail, false},
		{`{"number":3,"building":false,"result":"ABORTED"}`, targets.StateInfra, false},
		{`{"number":3,"building":false,"result":"NOT_BUILT"}`, targets.StateInfra, false},
		{`{"number":3,"building":false,"result":"MAYBE"}`, "", true},
		{`<html>`, "", true},
	} {
		res, err := buildResult([]byte(tc.body), "https://ci/job/j/3/")
		if (err != nil) != tc.error || res.State != tc.want {
			t.Errorf("%s: %+v, %v; want %q (error %v)", tc.body, res, err, tc.want, tc.error)
		}
	}
}

func TestQueueResultWhy(t *testing.T) {
	why := "Waiting for next available executor on \x1b[2J‘linux’"
	res := queueResult(queueItem{ID: 9, Why: &why}, "")
	if res.State != targets.StatePending || strings.Contains(res.Summary, "\x1b") || !strings.Contains(res.Summary, "next available executor") {
		t.Fatalf("%+v", res)
	}
}

// FuzzBuildResult: any answer gives a known state or an error, never a
// panic, and a verdict only from a known result word.
func FuzzBuildResult(f *testing.F) {
	f.Add([]byte(`{"_class":"hudson.model.FreeStyleBuild","number":7,"url":"http://j/job/x/7/","building":false,"result":"SUCCESS"}`))
	f.Add([]byte(`{"number":7,"building":true,"result":null}`))
	f.Add([]byte(`{"number":-1,"result":"FAILURE"}`))
	f.Add([]byte(`{"result":7}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		res, err := buildResult(body, "u")
		if err != nil {
			return
		}
		switch res.State {
		case targets.StatePending, targets.StateSuccess, targets.StateWarning, targets.StateFail, targets.StateInfra:
		default:
			t.Fatalf("state %q", res.State)
		}
		if res.Builds.Total() != 1 {
			t.Fatalf("tally %+v", res.Builds)
		}
	})
}

func TestQueueItemOf(t *testing.T) {
	var tg Target
	for _, tc := range []struct {
		loc  string
		want int64
	}{
		{"https://ci.example.org/queue/item/42/", 42},
		{"/jenkins/queue/item/7/", 7},
		{"http://localhost:8080/queue/item/9", 9},
		{"", 0},
		{"https://ci.example.org/job/x/", 0},
		{"https://ci.example.org/queue/item/0/", 0},
		{"https://ci.example.org/queue/item/x/", 0},
	} {
		got, err := tg.queueItemOf(tc.loc)
		if got != tc.want || (err != nil) != (tc.want == 0) {
			t.Errorf("queueItemOf(%q) = %d, %v; want %d", tc.loc, got, err, tc.want)
		}
	}
}
