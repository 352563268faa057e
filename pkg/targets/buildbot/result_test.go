package buildbot

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/trawl-ci/trawl/pkg/secret"
	"github.com/trawl-ci/trawl/pkg/targets"
)

// TestMapResult covers every results code of buildbot/process/results.py.
func TestMapResult(t *testing.T) {
	for _, tc := range []struct {
		code int
		name string
		want targets.State
	}{
		{Success, "success", targets.StateSuccess},
		{Warnings, "warnings", targets.StateWarning},
		{Failure, "failure", targets.StateFail},
		{Skipped, "skipped", targets.StateInfra},
		{Exception, "exception", targets.StateInfra},
		{Retry, "retry", targets.StatePending},
		{Cancelled, "cancelled", targets.StateInfra},
		{7, "results 7", targets.StateInfra},
		{-1, "results -1", targets.StateInfra},
	} {
		if got := MapResult(tc.code); got != tc.want {
			t.Errorf("MapResult(%d) = %s, want %s", tc.code, got, tc.want)
		}
		if got := ResultName(tc.code); got != tc.name {
			t.Errorf("ResultName(%d) = %q, want %q", tc.code, got, tc.name)
		}
	}
}

func TestSummarise(t *testing.T) {
	since := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	code := func(c int) *int { return &c }
	at := func(d time.Duration) *int64 { v := since.Add(d).Unix(); return &v }
	done := func(n, c int) *build {
		return &build{BuildID: n, Number: n, Complete: true, Results: code(c), CompleteAt: at(time.Minute)}
	}
	running := &build{BuildID: 9, Number: 9}
	for _, tc := range []struct {
		name    string
		newest  []*build
		after   time.Duration
		want    targets.State
		summary string
		tally   targets.Tally
	}{
		{"one success", []*build{done(1, Success)}, time.Minute, targets.StateSuccess, "a: build 1 success", targets.Tally{Pass: 1}},
		{"no build yet", []*build{nil}, time.Minute, targets.StatePending, "a: no build yet", targets.Tally{Running: 1}},
		{"no build within the start timeout", []*build{nil}, 2 * time.Hour, targets.StateInfra,
			"a: no build yet after 1h0m0s (no scheduler took the change, or its request was cancelled)", targets.Tally{Error: 1}},
		{"running", []*build{running}, 2 * time.Hour, targets.StatePending, "a: build 9 running", targets.Tally{Running: 1}},
		{"retry: Buildbot starts it again", []*build{done(3, Retry)}, 30 * time.Minute, targets.StatePending, "a: build 3 ended in retry", targets.Tally{Running: 1}},
		{"retry never started again", []*build{done(3, Retry)}, 2 * time.Hour, targets.StateInfra,
			"a: build 3 ended in retry after 1h0m0s (no scheduler took the change, or its request was cancelled)", targets.Tally{Error: 1}},
		{"skipped", []*build{done(1, Skipped)}, time.Minute, targets.StateInfra, "a: build 1 skipped", targets.Tally{Skip: 1}},
		{"cancelled", []*build{done(1, Cancelled)}, time.Minute, targets.StateInfra, "a: build 1 cancelled", targets.Tally{Error: 1}},
		{"pending wins", []*build{done(1, Failure), running}, time.Minute, targets.StatePending, "a: build 1 failure; b: build 9 running", targets.Tally{Fail: 1, Running: 1}},
		{"fail over infra", []*build{done(1, Exception), done(2, Failure)}, time.Minute, targets.StateFail, "a: build 1 exception; b: build 2 failure", targets.Tally{Fail: 1, Error: 1}},
		{"infra over warning", []*build{done(1, Warnings), done(2, Exception)}, time.Minute, targets.StateInfra, "a: build 1 warnings; b: build 2 exception", targets.Tally{Pass: 1, Error: 1}},
		{"warning over success", []*build{done(1, Success), done(2, Warnings)}, time.Minute, targets.StateWarning, "a: build 1 success; b: build 2 warnings", targets.Tally{Pass: 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var per []builderResult
			for i, b := range tc.newest {
				per = append(per, builderResult{name: string(rune('a' + i)), id: i + 1, newest: b})
			}
			r := summarise(per, since, since.Add(tc.after), time.Hour)
			if r.State != tc.want || r.Summary != tc.summary || r.Builds != tc.tally {
				t.Errorf("got %s %q %+v, want %s %q %+v", r.State, r.Summary, r.Builds, tc.want, tc.summary, tc.tally)
			}
		})
	}
}

func TestNewestBuild(t *testing.T) {
	builds := []build{{BuildID: 4, BuilderID: 1}, {BuildID: 7, BuilderID: 1}, {BuildID: 9, BuilderID: 2}, {BuildID: 5, BuilderID: 1}}
	if b := newestBuild(builds, 1); b == nil || b.BuildID != 7 {
		t.Errorf("newest of builder 1: %+v", b)
	}
	if b := newestBuild(builds, 3); b != nil {
		t.Errorf("newest of builder 3: %+v", b)
	}
}

func TestParseJobID(t *testing.T) {
	key := strings.Repeat("a", 64)
	if id, k, err := parseJobID(jobID(12, key)); err != nil || id != 12 || k != key {
		t.Errorf("parseJobID(jobID(12, key)) = %d %q %v", id, k, err)
	}
	for _, bad := range []string{"", "12", "12:", ":" + key, "x:" + key, "0:" + key, "-3:" + key} {
		if _, _, err := parseJobID(bad); err == nil {
			t.Errorf("parseJobID(%q) accepted", bad)
		}
	}
}

func TestNew(t *testing.T) {
	ok := Opts{Name: "bb", URL: "https://bb.example.org", Builders: []string{"b"}, HTTP: http.DefaultClient}
	for _, tc := range []struct {
		name string
		edit func(*Opts)
		want string
	}{
		{"no name", func(o *Opts) { o.Name = "" }, "target name is empty"},
		{"not http", func(o *Opts) { o.URL = "ftp://bb" }, "not an http(s) URL"},
		{"credentials in the url", func(o *Opts) { o.URL = "https://u:p@bb.example.org/" }, "carries credentials"},
		{"no builders", func(o *Opts) { o.Builders = nil }, "name the builders"},
		{"empty builder", func(o *Opts) { o.Builders = []string{""} }, "name the builders"},
		{"user without password", func(o *Opts) { o.User = "u" }, "go together"},
		{"password without user", func(o *Opts) { o.Password = secret.Source{File: "/x"} }, "go together"},
		{"no client", func(o *Opts) { o.HTTP = nil }, "no HTTP client"},
	} {
		o := ok
		tc.edit(&o)
		if _, err := New(o); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
	tg, err := New(ok)
	if err != nil {
		t.Fatal(err)
	}
	if tg.hook != "https://bb.example.org/change_hook/base" || tg.api != "https://bb.example.org/api/v2" {
		t.Errorf("hook %s, api %s", tg.hook, tg.api)
	}
	other := ok
	other.Builders = []string{"c"}
	tg2, _ := New(other)
	pw := ok
	pw.User, pw.Password = "u", secret.Source{File: "/x"}
	tg3, _ := New(pw)
	if tg.ConfigHash() == tg2.ConfigHash() || tg.ConfigHash() != tg3.ConfigHash() {
		t.Error("the config hash covers the builders and not the credentials")
	}
}
