package state

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/trawl-ci/trawl/pkg/report"
	"github.com/trawl-ci/trawl/pkg/targets"
)

// The schema-1 files in testdata are what trawl wrote before pkg/state had
// record types of its own, when the file held targets.Job, targets.Result,
// targets.State and report.Message directly (commit c625c2e):
//
//   - schema1-full.json: Store.Save of schema1Full() at that commit;
//   - schema1-demo.json: the state file `trawl demo` left at that commit
//     (demo.Run with Options.Dir set; its loopback ports are that run's).
//
// -update never rewrites them: they stand for the files on operators'
// disks, which every later trawl must read.

// schema1Full is the state behind testdata/schema1-full.json: every field
// of schema 1 set, most to a value unlike the others, so that a field read
// into the wrong place shows.
func schema1Full() *State {
	at := func(minute int) time.Time { return time.Date(2025, 3, 1, 10, minute, 0, 123456789, time.UTC) }
	ptr := func(t time.Time) *time.Time { return &t }
	st := New()
	st.Units["pw:patchwork.kernel.org/netdevbpf/series/812345@kernelci"] = &Unit{
		Change:      "pw:patchwork.kernel.org/netdevbpf/series/812345",
		Target:      "kernelci",
		Source:      "netdev",
		Status:      "triggered",
		Reason:      "builds on net-next",
		Fingerprint: "9f2c4b1e6a0d5c3b8e7f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d",
		Inputs:      `{"target":"kernelci","target_config":"c0ffee","base_url":"https://git.kernel.org/pub/scm/linux/kernel/git/netdev/net-next.git","base_branch":"main","items":[{"key":"pw:patchwork.kernel.org/netdevbpf/series/812345","version":2,"content":["a1","b2"]}]}`,
		Job: &targets.Job{
			Target:     "kernelci",
			ID:         "65f0c0ffee",
			URL:        "https://dashboard.kernelci.org/node/65f0c0ffee",
			BaseCommit: "dac25a05d816db6edb722ef6173269e88bc7ef3c",
			Adopted:    true,
		},
		BaseCommit:   "1111111111111111111111111111111111111111",
		FirstSeen:    at(1),
		LastSeen:     at(2),
		TriggeredAt:  ptr(at(3)),
		GoneSince:    ptr(at(4)),
		WaitingSince: ptr(at(5)),
		Attempt:      2,
		PreviousJobs: []string{"65f0aaaa01", "65f0aaaa02"},
		Result: &targets.Result{
			State:   targets.StateWarning,
			Summary: "builds 12/12 passed; tests 140 passed, 2 failed, 1 infra error",
			URL:     "https://dashboard.kernelci.org/node/65f0c0ffee/result",
			Builds:  targets.Tally{Pass: 12, Fail: 1, Error: 2, Skip: 3, Running: 4},
			Tests:   targets.Tally{Pass: 140, Fail: 5, Error: 6, Skip: 7, Running: 8},
		},
		ResultAt: ptr(at(6)),
		Reports: map[string]*Reported{
			"patchwork:netdev": {Fingerprint: "9f2c4b1e6a0d", State: targets.StatePending, Posted: "pending", At: at(7), Found: true},
			"resultsdb": {Fingerprint: "9f2c4b1e6a0e", State: targets.StateFail, Posted: "FAILED", At: at(8),
				Failed: "POST https://resultsdb.example.org/api/v2.0/results: 400 Bad Request: bad outcome"},
		},
		TriggerReason:      "retry",
		Current:            "7e57c0de7e57c0de7e57c0de7e57c0de7e57c0de7e57c0de7e57c0de7e57c0de",
		CurrentSince:       ptr(at(9)),
		RetriggerRequested: ptr(at(10)),
	}
	st.Units["gh:rock-core/base-types#42@buildbot"] = &Unit{
		Change:    "gh:rock-core/base-types#42",
		Target:    "buildbot",
		Source:    "base-types",
		Status:    "gone",
		FirstSeen: at(11),
		LastSeen:  at(12),
		GoneSince: ptr(at(13)),
	}
	st.Outbox = []*Post{{
		Reporter: "patchwork:netdev",
		Message: report.Message{
			Unit:        "pw:patchwork.kernel.org/netdevbpf/series/812345@kernelci",
			Change:      "pw:patchwork.kernel.org/netdevbpf/series/812345",
			ChangeURL:   "https://patchwork.kernel.org/project/netdevbpf/list/?series=812345",
			Title:       "net: fix the thing",
			Submitter:   "Ann Author <ann@example.org>",
			Target:      "kernelci",
			Fingerprint: "9f2c4b1e6a0f",
			State:       targets.StateInfra,
			Summary:     "tests 2 failed",
			URL:         "https://dashboard.kernelci.org/node/65f0c0ffee/message",
			Context:     "relay/kernelci",
		},
		Posted:      "warning",
		Items:       []string{"101", "102", "103"},
		Done:        []string{"101"},
		Started:     []string{"101", "102"},
		Attempts:    3,
		NextAttempt: at(14),
		LastError:   "POST https://patchwork.kernel.org/api/1.3/patches/102/checks/: 502 Bad Gateway",
		Created:     at(15),
	}, {
		Reporter: "github",
		Message: report.Message{
			Unit: "gh:rock-core/base-types#42@buildbot", Change: "gh:rock-core/base-types#42",
			Target: "buildbot", Fingerprint: "0d1e2f3a4b5c", State: targets.StateSuccess, Summary: "build passed",
		},
		Posted:      "success",
		Items:       []string{"c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00"},
		NextAttempt: at(16),
		Created:     at(17),
	}}
	return st
}

// TestSchema1FilesLoadAndSaveUnchanged loads each schema-1 file and saves
// it again: the new file is byte for byte the old one, so no field is lost,
// renamed or reformatted on the way through.
func TestSchema1FilesLoadAndSaveUnchanged(t *testing.T) {
	for _, name := range []string{"schema1-full.json", "schema1-demo.json"} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join("testdata", name)
			old, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			st, err := ReadOnly(path).Load()
			if err != nil {
				t.Fatal(err)
			}
			s := openTemp(t)
			if err := s.Save(st); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(s.Path())
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, old) {
				g, w := strings.Split(string(got), "\n"), strings.Split(string(old), "\n")
				for i := range min(len(g), len(w)) {
					if g[i] != w[i] {
						t.Fatalf("saved file differs from %s at line %d:\n got %s\nwant %s", path, i+1, g[i], w[i])
					}
				}
				t.Fatalf("saved file has %d lines, %s has %d", len(g), path, len(w))
			}
		})
	}
}

// TestSchema1FullFieldByField checks every field read from
// schema1-full.json against the state it was written from.
func TestSchema1FullFieldByField(t *testing.T) {
	got, err := ReadOnly(filepath.Join("testdata", "schema1-full.json")).Load()
	if err != nil {
		t.Fatal(err)
	}
	compactInputs(t, got)
	var diffs []string
	diffFields("state", reflect.ValueOf(got).Elem(), reflect.ValueOf(schema1Full()).Elem(), &diffs)
	for _, d := range diffs {
		t.Error(d)
	}
}

// TestSchema1DemoFile checks what the cycle recorded in a real run: each
// unit's decision, its job, its result and what was reported.
func TestSchema1DemoFile(t *testing.T) {
	st, err := ReadOnly(filepath.Join("testdata", "schema1-demo.json")).Load()
	if err != nil {
		t.Fatal(err)
	}
	const series = "pw:127.0.0.1:38043/netdev/series/"
	tests := []struct {
		series        string
		status        string
		job           string
		result        targets.State
		posted        string // the Patchwork check state
		found         bool
		reason        string
		triggerReason string
	}{
		{series: "1", status: "adopted", job: "6b1171160000000000000004", result: targets.StateSuccess, posted: "success", found: true, triggerReason: "new"},
		{series: "4", status: "adopted", job: "6b1171160000000000000005", result: targets.StateFail, posted: "fail", found: true, triggerReason: "new"},
		{series: "5", status: "adopted", job: "6b1171160000000000000007", result: targets.StateInfra, posted: "warning", found: true, triggerReason: "new"},
		{series: "6", status: "adopted", job: "6b1171160000000000000006", result: targets.StateInfra, posted: "warning", found: true, triggerReason: "new"},
		{series: "7", status: "blocked", reason: "git pull request without a diff: nothing to apply"},
		{series: "8", status: "adopted", job: "6b1171160000000000000002", result: targets.StateSuccess, posted: "success", found: true, triggerReason: "new"},
		{series: "15", status: "adopted", job: "6b1171160000000000000014", result: targets.StateSuccess, posted: "success", found: true, triggerReason: "new"},
		{series: "16", status: "adopted", job: "6b1171160000000000000017", result: targets.StateSuccess, posted: "success", triggerReason: "new"},
	}
	if len(st.Units) != len(tests) || len(st.Outbox) != 0 {
		t.Fatalf("%d units and %d posts, want %d and 0", len(st.Units), len(st.Outbox), len(tests))
	}
	for _, tt := range tests {
		key := series + tt.series + "@kernelci"
		u := st.Units[key]
		if u == nil {
			t.Errorf("%s: missing", key)
			continue
		}
		if u.Change != series+tt.series || u.Target != "kernelci" || u.Source != "netdev" || u.Status != tt.status || u.Reason != tt.reason || u.TriggerReason != tt.triggerReason {
			t.Errorf("%s: change %q target %q source %q status %q reason %q trigger reason %q", key, u.Change, u.Target, u.Source, u.Status, u.Reason, u.TriggerReason)
		}
		if u.FirstSeen.IsZero() || u.LastSeen.Before(u.FirstSeen) {
			t.Errorf("%s: first seen %v, last seen %v", key, u.FirstSeen, u.LastSeen)
		}
		if tt.job == "" {
			if u.Job != nil || u.Result != nil || u.Fingerprint != "" || len(u.Reports) != 0 {
				t.Errorf("%s: a blocked unit has job %+v, result %+v, fingerprint %q, reports %v", key, u.Job, u.Result, u.Fingerprint, u.Reports)
			}
			continue
		}
		const base = "8bcf2a45e1a4e4d5c9a3e9dd6a4f0b2c7d1e3f50"
		if u.Job == nil || u.Job.Target != "kernelci" || u.Job.ID != tt.job || !strings.HasSuffix(u.Job.URL, "/latest/node/"+tt.job) || u.Job.BaseCommit != base || !u.Job.Adopted {
			t.Errorf("%s: job %+v", key, u.Job)
		}
		if u.BaseCommit != base || len(u.Fingerprint) != 64 || u.Current != u.Fingerprint || u.CurrentSince == nil || u.TriggeredAt == nil || u.ResultAt == nil {
			t.Errorf("%s: base %q fingerprint %q current %q since %v triggered %v result at %v", key, u.BaseCommit, u.Fingerprint, u.Current, u.CurrentSince, u.TriggeredAt, u.ResultAt)
		}
		var in struct {
			Target string `json:"target"`
			Items  []struct {
				Key string `json:"key"`
			} `json:"items"`
		}
		if err := json.Unmarshal([]byte(u.Inputs), &in); err != nil || in.Target != "kernelci" || len(in.Items) == 0 || in.Items[len(in.Items)-1].Key != u.Change {
			t.Errorf("%s: inputs %s (%v)", key, u.Inputs, err)
		}
		if u.Result == nil || u.Result.State != tt.result || u.Result.Summary == "" || u.Result.URL != u.Job.URL || u.Result.Builds.Total() == 0 {
			t.Errorf("%s: result %+v", key, u.Result)
		}
		r := u.Reports["patchwork:netdev"]
		if len(u.Reports) != 1 || r == nil || r.State != tt.result || r.Posted != tt.posted || r.Fingerprint != u.Fingerprint || r.Found != tt.found || r.At.IsZero() {
			t.Errorf("%s: reports %v, patchwork:netdev %+v", key, u.Reports, r)
		}
	}
}

// diffFields appends to diffs a line for each field of got that differs
// from want, named by its path from the state ("state.Units[k].Job.ID").
func diffFields(path string, got, want reflect.Value, diffs *[]string) {
	if got.Type() == reflect.TypeFor[time.Time]() || got.Type() == reflect.TypeFor[json.RawMessage]() {
		if !reflect.DeepEqual(got.Interface(), want.Interface()) {
			*diffs = append(*diffs, fmt.Sprintf("%s = %v, want %v", path, got.Interface(), want.Interface()))
		}
		return
	}
	switch got.Kind() {
	case reflect.Pointer:
		if got.IsNil() || want.IsNil() {
			if got.IsNil() != want.IsNil() {
				*diffs = append(*diffs, fmt.Sprintf("%s = %v, want %v", path, got.Interface(), want.Interface()))
			}
			return
		}
		diffFields(path, got.Elem(), want.Elem(), diffs)
	case reflect.Struct:
		for i := range got.NumField() {
			diffFields(path+"."+got.Type().Field(i).Name, got.Field(i), want.Field(i), diffs)
		}
	case reflect.Map:
		for _, k := range want.MapKeys() {
			if !got.MapIndex(k).IsValid() {
				*diffs = append(*diffs, fmt.Sprintf("%s[%v] missing", path, k))
			}
		}
		for _, k := range got.MapKeys() {
			w := want.MapIndex(k)
			if !w.IsValid() {
				*diffs = append(*diffs, fmt.Sprintf("%s[%v] unexpected", path, k))
				continue
			}
			diffFields(fmt.Sprintf("%s[%v]", path, k), got.MapIndex(k), w, diffs)
		}
	case reflect.Slice:
		if got.Len() != want.Len() {
			*diffs = append(*diffs, fmt.Sprintf("%s has %d elements, want %d", path, got.Len(), want.Len()))
			return
		}
		for i := range got.Len() {
			diffFields(fmt.Sprintf("%s[%d]", path, i), got.Index(i), want.Index(i), diffs)
		}
	default:
		if !reflect.DeepEqual(got.Interface(), want.Interface()) {
			*diffs = append(*diffs, fmt.Sprintf("%s = %v, want %v", path, got.Interface(), want.Interface()))
		}
	}
}

// TestMarshalIsTheFileFormat checks that json.Marshal of a State, which
// tests elsewhere use to write state files, gives what Save writes, and
// that json.Unmarshal reads it back as Load does.
func TestMarshalIsTheFileFormat(t *testing.T) {
	path := filepath.Join("testdata", "schema1-full.json")
	file, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	if err := json.Compact(&want, file); err != nil {
		t.Fatal(err)
	}
	st := schema1Full()
	st.Schema = 0 // written as the current schema whatever it says
	got, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("json.Marshal =\n%s\nwant (%s, compacted)\n%s", got, path, want.Bytes())
	}
	back := New()
	if err := json.Unmarshal(file, back); err != nil {
		t.Fatal(err)
	}
	compactInputs(t, back)
	var diffs []string
	diffFields("state", reflect.ValueOf(back).Elem(), reflect.ValueOf(schema1Full()).Elem(), &diffs)
	for _, d := range diffs {
		t.Error(d)
	}
	if err := json.Unmarshal([]byte(`{"schema":2}`), back); err == nil || !strings.Contains(err.Error(), "newer trawl") {
		t.Errorf("json.Unmarshal of a newer schema: %v", err)
	}
}
