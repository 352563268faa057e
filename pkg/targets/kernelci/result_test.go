package kernelci_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/trawl-ci/trawl/pkg/httpx"
	"github.com/trawl-ci/trawl/pkg/targets"
	"github.com/trawl-ci/trawl/pkg/targets/kernelci"
	"github.com/trawl-ci/trawl/pkg/targets/kernelci/kcifake"
)

// submitted is a job trawl submitted on a fresh fake, with the id of the
// checkout it builds on.
type submitted struct {
	job      targets.Job
	checkout string
}

func (e *env) submit(t *testing.T) submitted {
	t.Helper()
	checkout := e.fake.AddCheckout("net-next", treeURL, branch, c1)
	job, err := e.target(t).Trigger(t.Context(), e.request(c1, true, e.patchList(2)))
	if err != nil {
		t.Fatalf("Trigger: %v", err)
	}
	return submitted{job: job, checkout: checkout}
}

// run processes the patchset and runs the plan on it.
func (e *env) run(t *testing.T, s submitted, builds ...kcifake.BuildPlan) {
	t.Helper()
	e.fake.Process()
	must(t, e.fake.Run(s.job.ID, kcifake.RunPlan{Builds: builds}))
}

func build(name, result string, tests ...kcifake.TestPlan) kcifake.BuildPlan {
	return kcifake.BuildPlan{Name: "kbuild-gcc-12-" + name, Arch: name, Result: result, Tests: tests}
}

func test(name, result string, cases ...kcifake.CasePlan) kcifake.TestPlan {
	return kcifake.TestPlan{Name: name, Platform: "qemu-x86", Result: result, Cases: cases}
}

func testErr(name, result, code string) kcifake.TestPlan {
	tp := test(name, result)
	tp.ErrorCode, tp.ErrorMsg = code, "lab says "+code
	return tp
}

func cases(result string, names ...string) []kcifake.CasePlan {
	var out []kcifake.CasePlan
	for _, n := range names {
		out = append(out, kcifake.CasePlan{Name: n, Result: result})
	}
	return out
}

func TestResult(t *testing.T) {
	tests := []struct {
		name    string
		allowed []string // the patchset service's allowed domains; nil for the test servers
		setup   func(t *testing.T, e *env, s submitted)
		state   targets.State
		builds  targets.Tally
		tests   targets.Tally
		summary string // exact; "%s" stands for the checkout id
	}{
		{name: "all pass", setup: func(t *testing.T, e *env, s submitted) {
			e.run(t, s,
				build("x86", "pass", test("baseline-x86", "pass", cases("pass", "login", "kernelmsg")...)),
				build("arm64", "pass", test("baseline-arm64", "pass", cases("pass", "login", "kernelmsg")...)))
			e.fake.Settle()
		}, state: targets.StateSuccess, builds: targets.Tally{Pass: 2}, tests: targets.Tally{Pass: 6},
			summary: "builds 2/2 passed; tests 6 passed"},
		{name: "one build fails", setup: func(t *testing.T, e *env, s submitted) {
			e.run(t, s, build("x86", "pass", test("baseline-x86", "pass")), build("arm64", "fail"))
			e.fake.Settle()
		}, state: targets.StateFail, builds: targets.Tally{Pass: 1, Fail: 1}, tests: targets.Tally{Pass: 1},
			summary: "builds 1/2 passed, 1 failed; tests 1 passed"},
		{name: "a test case fails", setup: func(t *testing.T, e *env, s submitted) {
			failing := append(cases("pass", "login"), cases("fail", "kernelmsg")...)
			e.run(t, s, build("x86", "pass", test("baseline-x86", "fail", failing...), test("kunit", "pass")))
			e.fake.Settle()
		}, state: targets.StateFail, builds: targets.Tally{Pass: 1}, tests: targets.Tally{Pass: 2, Fail: 2},
			summary: "builds 1/1 passed; tests 2 passed, 2 failed"},
		{name: "a test timed out: infra error, not fail", setup: func(t *testing.T, e *env, s submitted) {
			e.run(t, s, build("x86", "pass", testErr("baseline-x86", "incomplete", "node_timeout"), test("kunit", "pass")))
			e.fake.Settle()
		}, state: targets.StateInfra, builds: targets.Tally{Pass: 1}, tests: targets.Tally{Pass: 1, Error: 1},
			summary: "builds 1/1 passed; tests 1 passed, 1 infra error"},
		{name: "incomplete without a code is an infra error", setup: func(t *testing.T, e *env, s submitted) {
			e.run(t, s, build("x86", "pass", test("baseline-x86", "incomplete"), test("kunit", "incomplete")))
			e.fake.Settle()
		}, state: targets.StateInfra, builds: targets.Tally{Pass: 1}, tests: targets.Tally{Error: 2},
			summary: "builds 1/1 passed; tests 0 passed, 2 infra errors"},
		{name: "a lab error reported as fail is an infra error", setup: func(t *testing.T, e *env, s submitted) {
			e.run(t, s, build("x86", "pass", testErr("baseline-x86", "fail", "Infrastructure"), testErr("kunit", "fail", "submit_error")))
			e.fake.Settle()
		}, state: targets.StateInfra, builds: targets.Tally{Pass: 1}, tests: targets.Tally{Error: 2},
			summary: "builds 1/1 passed; tests 0 passed, 2 infra errors"},
		{name: "a failure with an unknown code is a failure", setup: func(t *testing.T, e *env, s submitted) {
			e.run(t, s, build("x86", "pass", testErr("baseline-x86", "fail", "git_checkout_failure")))
			e.fake.Settle()
		}, state: targets.StateFail, builds: targets.Tally{Pass: 1}, tests: targets.Tally{Fail: 1},
			summary: "builds 1/1 passed; tests 0 passed, 1 failed"},
		{name: "a build's internal error is an infra error", setup: func(t *testing.T, e *env, s submitted) {
			broken := build("arm64", "incomplete")
			broken.ErrorCode, broken.ErrorMsg = "kbuild_internal_error", "Infrastructure failure"
			e.run(t, s, build("x86", "pass"), broken)
			e.fake.Settle()
		}, state: targets.StateInfra, builds: targets.Tally{Pass: 1, Error: 1},
			summary: "builds 1/2 passed, 1 infra error; no tests"},
		{name: "a failure outweighs an infra error", setup: func(t *testing.T, e *env, s submitted) {
			e.run(t, s, build("x86", "pass", test("baseline-x86", "fail"), testErr("kunit", "incomplete", "LAVATimeout")))
			e.fake.Settle()
		}, state: targets.StateFail, builds: targets.Tally{Pass: 1}, tests: targets.Tally{Fail: 1, Error: 1},
			summary: "builds 1/1 passed; tests 0 passed, 1 failed, 1 infra error"},
		{name: "skipped tests alone succeed", setup: func(t *testing.T, e *env, s submitted) {
			e.run(t, s, build("x86", "pass", test("baseline-x86", "skip"), test("kunit", "skip")))
			e.fake.Settle()
		}, state: targets.StateSuccess, builds: targets.Tally{Pass: 1}, tests: targets.Tally{Skip: 2},
			summary: "builds 1/1 passed; tests 0 passed, 2 skipped"},
		{name: "builds without tests succeed", setup: func(t *testing.T, e *env, s submitted) {
			e.run(t, s, build("x86", "pass"), build("arm64", "pass"))
			e.fake.Settle()
		}, state: targets.StateSuccess, builds: targets.Tally{Pass: 2}, summary: "builds 2/2 passed; no tests"},
		{name: "patches do not apply", setup: func(t *testing.T, e *env, s submitted) {
			must(t, e.fake.Finish(s.job.ID, "fail"))
		}, state: targets.StateFail, summary: "patches do not apply (the pipeline gave no reason)"},
		{name: "patches do not apply, with the pipeline's message", setup: func(t *testing.T, e *env, s submitted) {
			must(t, e.fake.FinishWithError(s.job.ID, "fail", "", "Hunk #1 FAILED at 12.\n1 out of 1 hunk FAILED\n"))
		}, state: targets.StateFail, summary: "patches do not apply: Hunk #1 FAILED at 12. 1 out of 1 hunk FAILED"},
		{name: "patch refused by the patchset service", allowed: []string{"patchwork.kernel.org"},
			setup: func(t *testing.T, e *env, s submitted) {
				e.fake.Process()
			}, state: targets.StateFail, summary: "patches do not apply (the pipeline gave no reason)"},
		{name: "base checkout failed: the patches were not tried", setup: func(t *testing.T, e *env, s submitted) {
			must(t, e.fake.Finish(s.checkout, "fail"))
			e.fake.Process()
		}, state: targets.StateInfra, summary: "infra error: base checkout %s failed; the patches were not tried"},
		{name: "patchset timed out before it was processed", setup: func(t *testing.T, e *env, s submitted) {
			must(t, e.fake.Expire(s.job.ID))
		}, state: targets.StateInfra, summary: "infra error: patchset incomplete (node_timeout: Node timed-out)"},
		{name: "waiting for the patchset service", setup: func(*testing.T, *env, submitted) {},
			state: targets.StatePending, summary: "pending: waiting for the pipeline to apply the patches"},
		{name: "applied, nothing scheduled yet", setup: func(t *testing.T, e *env, s submitted) {
			e.fake.Process()
		}, state: targets.StatePending, summary: "pending: patches applied, waiting for builds"},
		{name: "still running", setup: func(t *testing.T, e *env, s submitted) {
			e.run(t, s,
				build("x86", "pass", test("baseline-x86", "pass"), test("kselftest", "")),
				build("arm64", ""),
				build("riscv", "fail"))
			e.fake.Settle()
		}, state: targets.StatePending,
			builds:  targets.Tally{Pass: 1, Fail: 1, Running: 1},
			tests:   targets.Tally{Pass: 1, Running: 1},
			summary: "pending: builds 2/3 done, 1 failed; tests 1/2 done"},
		{name: "everything ran, nodes not closed yet", setup: func(t *testing.T, e *env, s submitted) {
			e.run(t, s, build("x86", "pass", test("baseline-x86", "pass")))
		}, state: targets.StatePending, builds: targets.Tally{Pass: 1}, tests: targets.Tally{Pass: 1},
			summary: "pending: builds 1/1 done; tests 1/1 done"},
		{name: "running nodes time out", setup: func(t *testing.T, e *env, s submitted) {
			e.run(t, s, build("x86", "pass", test("baseline-x86", "")))
			must(t, e.fake.Expire(s.job.ID))
		}, state: targets.StateInfra, builds: targets.Tally{Pass: 1}, tests: targets.Tally{Error: 1},
			summary: "builds 1/1 passed; tests 0 passed, 1 infra error"},
		{name: "nothing was scheduled", setup: func(t *testing.T, e *env, s submitted) {
			e.fake.Process()
			e.fake.Settle()
		}, state: targets.StateInfra, summary: "infra error: patches applied but no builds or tests were scheduled"},
		{name: "more children than a page", setup: func(t *testing.T, e *env, s submitted) {
			var builds []kcifake.BuildPlan
			for i := range 104 {
				builds = append(builds, build(fmt.Sprintf("cfg%d", i), "pass"))
			}
			many := make([]string, 205)
			for i := range many {
				many[i] = fmt.Sprintf("case%d", i)
			}
			builds = append(builds, build("x86", "pass", test("kselftest", "pass", cases("pass", many...)...)))
			e.run(t, s, builds...)
			e.fake.Settle()
		}, state: targets.StateSuccess, builds: targets.Tally{Pass: 105}, tests: targets.Tally{Pass: 206},
			summary: "builds 105/105 passed; tests 206 passed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, tt.allowed...)
			s := e.submit(t)
			tt.setup(t, e, s)

			got, err := e.target(t).Result(t.Context(), s.job)
			if err != nil {
				t.Fatalf("Result: %v", err)
			}
			want := targets.Result{
				State:   tt.state,
				Summary: strings.ReplaceAll(tt.summary, "%s", s.checkout),
				URL:     e.api.URL + "/latest/node/" + s.job.ID,
				Builds:  tt.builds,
				Tests:   tt.tests,
			}
			if got != want {
				t.Errorf("Result =\n  %+v\nwant\n  %+v", got, want)
			}
			if n := utf8.RuneCountInString(got.Summary); n >= 180 || strings.ContainsAny(got.Summary, "\r\n") {
				t.Errorf("summary %q: %d characters or several lines", got.Summary, n)
			}
		})
	}
}

func TestResultBounds(t *testing.T) {
	e := newEnv(t)
	s := e.submit(t)
	e.run(t, s,
		build("x86", "pass", test("baseline-x86", "pass", cases("pass", "login")...)),
		build("arm64", "pass", test("baseline-arm64", "pass", cases("pass", "login")...)),
		build("riscv", "pass", test("baseline-riscv", "fail", cases("fail", "login")...)))
	e.fake.Settle()
	tg := e.target(t, func(o *kernelci.Opts) { o.MaxNodes = 5 })

	got, err := tg.Result(t.Context(), s.job)
	if err != nil {
		t.Fatal(err)
	}
	// The API answers in creation order: two builds with their test jobs
	// and cases; the failing build and job are beyond the bound.
	want := targets.Result{
		State:   targets.StateSuccess,
		Summary: "builds 2/2 passed; tests 3 passed; only the first 5 nodes read",
		URL:     e.api.URL + "/latest/node/" + s.job.ID,
		Builds:  targets.Tally{Pass: 2},
		Tests:   targets.Tally{Pass: 3},
	}
	if got != want {
		t.Errorf("Result =\n  %+v\nwant\n  %+v", got, want)
	}
}

func TestResultLongMessage(t *testing.T) {
	e := newEnv(t)
	s := e.submit(t)
	must(t, e.fake.FinishWithError(s.job.ID, "fail", "", strings.Repeat("patch: **** malformed patch ", 20)))
	got, err := e.target(t).Result(t.Context(), s.job)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != targets.StateFail || !strings.HasPrefix(got.Summary, "patches do not apply: patch: ****") ||
		utf8.RuneCountInString(got.Summary) >= 180 || !strings.HasSuffix(got.Summary, "…") {
		t.Errorf("Result = %+v, want a fail clipped under 180 characters", got)
	}
}

func TestResultDashboardURL(t *testing.T) {
	e := newEnv(t)
	s := e.submit(t)
	tg := e.target(t, func(o *kernelci.Opts) { o.DashboardURL = "https://dashboard.example.org/node/" })
	got, err := tg.Result(t.Context(), s.job)
	if err != nil {
		t.Fatal(err)
	}
	if want := "https://dashboard.example.org/node/" + s.job.ID; got.URL != want {
		t.Errorf("URL = %s, want %s", got.URL, want)
	}
}

// failing serves the fake's API but answers fail(r) instead when it is
// not nil.
func failing(h http.Handler, fail func(r *http.Request) (int, string)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if status, body := fail(r); status != 0 {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			fmt.Fprint(w, body)
			return
		}
		h.ServeHTTP(w, r)
	})
}

func TestResultErrors(t *testing.T) {
	none := func(*http.Request) (int, string) { return 0, "" }
	tests := []struct {
		name   string
		job    func(s submitted) string
		fail   func(r *http.Request) (int, string)
		gone   bool
		status int
		url    string // substring of the error naming the failing URL
	}{
		{name: "no node id", job: func(submitted) string { return "" }, fail: none},
		{name: "node vanished", job: func(submitted) string { return "0123456789abcdef01234567" }, fail: none, gone: true},
		{name: "node answers 404", job: func(s submitted) string { return s.job.ID }, gone: true,
			fail: func(r *http.Request) (int, string) {
				if strings.HasPrefix(r.URL.Path, "/latest/node/") {
					return http.StatusNotFound, `{"detail":"Not Found"}`
				}
				return 0, ""
			}, status: http.StatusNotFound, url: "/latest/node/"},
		{name: "node read fails", job: func(s submitted) string { return s.job.ID },
			fail: func(*http.Request) (int, string) {
				return http.StatusServiceUnavailable, `{"detail":"database unavailable"}`
			}, status: http.StatusServiceUnavailable, url: "/latest/node/"},
		{name: "subtree read fails", job: func(s submitted) string { return s.job.ID },
			fail: func(r *http.Request) (int, string) {
				if r.URL.Path == "/latest/nodes" && r.URL.Query().Has("treeid") {
					return http.StatusGatewayTimeout, `{"detail":"timeout"}`
				}
				return 0, ""
			}, status: http.StatusGatewayTimeout, url: "/latest/nodes?limit=5001&offset=0&treeid="},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			s := e.submit(t)
			e.run(t, s, build("x86", "pass"))
			srv := httptest.NewServer(failing(e.fake.APIHandler(), tt.fail))
			defer srv.Close()
			tg := e.target(t, func(o *kernelci.Opts) { o.APIURL = srv.URL })
			id := tt.job(s)

			_, err := tg.Result(t.Context(), targets.Job{Target: "kernelci-staging", ID: id})
			if err == nil {
				t.Fatal("Result succeeded")
			}
			if errors.Is(err, kernelci.ErrNodeGone) != tt.gone {
				t.Errorf("err = %v: wraps ErrNodeGone = %v, want %v", err, !tt.gone, tt.gone)
			}
			if !strings.Contains(err.Error(), id) {
				t.Errorf("err = %v does not name the job", err)
			}
			if tt.status != 0 {
				var se *httpx.StatusError
				if !errors.As(err, &se) || se.Status != tt.status || !strings.Contains(err.Error(), srv.URL+tt.url) {
					t.Errorf("err = %v, want a %d StatusError naming %s", err, tt.status, srv.URL+tt.url)
				}
			}
		})
	}
}
