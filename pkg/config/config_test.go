package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/trawl-ci/trawl/pkg/change"
	"github.com/trawl-ci/trawl/pkg/secret"
	"github.com/trawl-ci/trawl/pkg/targets"
)

// configErrors returns the *Error values joined in err.
func configErrors(t *testing.T, err error) []*Error {
	t.Helper()
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else {
		errs = []error{err}
	}
	out := make([]*Error, 0, len(errs))
	for _, e := range errs {
		var ce *Error
		if !errors.As(e, &ce) {
			t.Fatalf("error %q is a %T, not a *config.Error", e, e)
		}
		out = append(out, ce)
	}
	return out
}

// dump renders v as indented JSON, for failure messages.
func dump(v any) string {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Sprintf("%+v", v)
	}
	return string(b)
}

func TestLoadFileGood(t *testing.T) {
	dir, err := filepath.Abs("testdata")
	if err != nil {
		t.Fatal(err)
	}
	// Neither secrets/kernelci.jwt nor /etc/trawl/patchwork.token exists,
	// and the variables are unset: loading must not read secrets.
	got, err := LoadFile("testdata/conf.good.yaml")
	if err != nil {
		t.Fatalf("LoadFile: %v", err)
	}
	want := &Config{
		StateDir:           filepath.Join(dir, "state"),
		CycleTimeout:       Duration(15 * time.Minute),
		GoneGrace:          Duration(36 * time.Hour),
		TriggerConcurrency: 8,
		HTTP:               HTTP{Timeout: Duration(45 * time.Second), Retries: 2},
		Log:                Log{Level: "debug", Format: "json"},
		Retention:          Retention{CacheMaxAge: DefaultCacheMaxAge, CacheMaxMB: DefaultCacheMaxMB, ExecMaxAge: DefaultExecMaxAge, ExecMaxMB: DefaultExecMaxMB},
		Targets: []Target{
			{Name: "kernelci-staging", Type: TargetKernelCI, MaxRunning: 5, KernelCI: &KernelCI{
				APIURL:         "https://staging.kernelci.org:9000",
				PipelineURL:    "https://staging.kernelci.org:9100",
				DashboardURL:   "https://staging.dashboard.kernelci.org",
				Token:          secret.Source{File: filepath.Join(dir, "secrets", "kernelci.jwt")},
				JobFilter:      []string{"kbuild-gcc-12-x86", "baseline-x86"},
				PlatformFilter: []string{"qemu-x86"},
				PatchDomains:   []string{"patchwork.kernel.org", "patchwork.example.org"},
				Submitters:     []string{"service:pipeline", "user:ci@selfhosted.example.org", "user:bot-*"},
				CheckoutWait:   Duration(2 * time.Hour),
			}},
			{Name: "kernelci-prod", Type: TargetKernelCI, MaxRunning: DefaultMaxRunningKernelCI, KernelCI: &KernelCI{
				APIURL:       "https://kernelci-api.westus3.cloudapp.azure.com",
				PipelineURL:  "https://kernelci-pipeline.westus3.cloudapp.azure.com",
				Token:        secret.Source{Env: "KCI_PROD_TOKEN"},
				PatchDomains: DefaultPatchDomains(),
				Submitters:   DefaultSubmitters(),
				CheckoutWait: DefaultCheckoutWait,
			}},
		},
		Reporters: []Reporter{{Name: "fedora-rdb", Type: ReporterResultsDB, ResultsDB: &ResultsDB{
			URL:      "https://resultsdb.example.org",
			Testcase: "trawl.kernelci.build",
			ItemType: "patchwork-series",
			Outcomes: map[targets.State]string{targets.StateInfra: "ERROR"},
			Token:    secret.Source{File: filepath.Join(dir, "secrets", "resultsdb.password")},
			Auth:     "basic",
			Username: "trawl-bot",
		}}},
		Sources: []Source{
			{
				Name: "netdev", Type: SourcePatchwork, Schedule: "*/10 * * * *",
				Targets:    []string{"kernelci-staging", "kernelci-prod"},
				RetryInfra: 2,
				Base: change.Base{
					Tree:   "net-next",
					URL:    "https://git.kernel.org/pub/scm/linux/kernel/git/netdev/net-next.git",
					Branch: "main",
					Policy: change.PolicyFollow,
				},
				Patchwork: &Patchwork{
					URL:      "https://patchwork.kernel.org",
					Project:  "netdevbpf",
					States:   []string{"new", "under-review", "changes-requested"},
					Lookback: Duration(3 * 24 * time.Hour),
					Delegate: "bpf",
					Token:    secret.Source{File: "/etc/trawl/patchwork.token"},
				},
				Report: Report{
					Checks:    false,
					Context:   "netdev-ci",
					States:    map[targets.State]string{targets.StateInfra: "fail", targets.StatePending: "none"},
					Reporters: []string{"fedora-rdb"},
					MaxAge:    Duration(2 * 24 * time.Hour),
				},
			},
			{
				Name: "wireless_2", Type: SourcePatchwork, Schedule: "@every 1d",
				Targets: []string{"kernelci-prod"},
				Base: change.Base{
					Tree:   "wireless-next",
					URL:    "git@gitolite.kernel.org:pub/scm/linux/kernel/git/wireless/wireless-next",
					Branch: "main",
					Policy: change.PolicyTag,
				},
				Patchwork: &Patchwork{
					URL:      "http://patchwork.kernel.org:8000",
					Project:  "linux-wireless",
					States:   []string{"new"},
					Lookback: Duration(12 * time.Hour),
					Token:    secret.Source{Env: "PW_TOKEN"},
				},
				Report: Report{Checks: true, Context: "wireless_ci", MaxAge: DefaultReportMaxAge},
			},
		},
	}
	got.file, got.checks = "", nil // what CheckLocal looks at; see check_test.go
	if !reflect.DeepEqual(got, want) {
		t.Errorf("LoadFile(conf.good.yaml):\n got %s\nwant %s", dump(got), dump(want))
	}
}

func TestLoadFileErrors(t *testing.T) {
	tests := []struct {
		file string
		// want lists the "file:line: key:" prefix of every error, in
		// order; the file name is prepended.
		want []string
		// hidden must not appear in any message.
		hidden string
	}{
		{"unknown-key-top", []string{`:2: state_dri: unknown key; known keys here: state_dir,`}, ""},
		{"unknown-key-nested", []string{`:20: sources[0].patchwork.projetc: unknown key; known keys here: url, project,`}, ""},
		{"literal-token", []string{
			`:5: targets[0].kernelci: needs token_file or token_env`,
			`:8: targets[0].kernelci.token: secrets may not be written in the config file; put it in a file and set token_file, or in an environment variable and set token_env`,
		}, "s3cr3t-literal-value"},
		{"token-file-and-env", []string{`:9: targets[0].kernelci.token_file: set only one of token_file and token_env`}, ""},
		{"token-missing", []string{`:5: targets[0].kernelci: needs token_file or token_env`}, ""},
		{"token-env-pasted", []string{`:8: targets[0].kernelci.token_env: is not an environment variable name`}, "pasted-token"},
		{"bad-duration", []string{
			`:2: cycle_timeout: "10 minutes" is not a duration`,
			`:4: http.timeout: must be longer than zero`,
			`:23: sources[0].patchwork.lookback: "-7d" is not a duration`,
		}, ""},
		{"bad-policy", []string{`:17: sources[0].base.policy: "sometimes" is not one of pinned, follow, tag`}, ""},
		{"unknown-target", []string{`:12: sources[0].targets[1]: no target is named "jenkins"; targets are: kci`}, ""},
		{"bad-targets", []string{
			`:6: targets[0].exec.command: names no program`,
			`:8: targets[0].exec.env.TRAWL_UNIT: TRAWL_ variables are set by trawl`,
			`:9: targets[0].exec.env.GITHUB_TOKEN: secrets may not be written in the config file`,
			`:10: targets[0].exec.env.bad name: "bad name" is not an environment variable name`,
			`:13: targets[1].webhook: needs secret_file or secret_env`,
			`:14: targets[1].webhook.url: "ftp://ci.example.org/hook" is not an http or https URL`,
			`:15: targets[1].webhook.header: "X Bad" is not an HTTP header name`,
		}, "ghp_secret"},
		{"bad-forgeci", []string{
			`:5: targets[0].gitlab-pipeline: needs trigger_token_file or trigger_token_env`,
			`:6: targets[0].gitlab-pipeline.url: "gitlab.com" is not a URL`,
			`:7: targets[0].gitlab-pipeline.project: "kernel ci" is not a project id or path`,
			`:8: targets[0].gitlab-pipeline.ref: "main branch" is not a branch or tag name`,
			`:13: targets[1].gitlab-pipeline: needs token_file or token_env`,
			`:18: targets[1].gitlab-pipeline.trigger_token_file: mode api creates pipelines with the access token`,
			`:19: targets[1].gitlab-pipeline.max_pages: 0 is out of range 1..100`,
			`:26: targets[2].gitlab-pipeline.mode: "webhook" is neither trigger nor api`,
			`:28: targets[2].gitlab-pipeline.post_grace: must be longer than zero`,
			`:31: targets[3].max_running: 0 is out of range 1..1000`,
			`:32: targets[3].github-workflow: needs token_file or token_env`,
			`:32: targets[3].github-workflow.ref: required`,
			`:33: targets[3].github-workflow.repo: "kernel-ci" is not a repository`,
			`:34: targets[3].github-workflow.workflow: ".github/workflows/trawl.yml" is a path; give the file name only`,
			`:35: targets[3].github-workflow.post_grace: "2 minutes" is not a duration`,
		}, ""},
		{"bad-forges", []string{
			`:14: sources[0].base.branch: each pull or merge request's own target branch is its base`,
			`:16: sources[0].github.repo: "rock-core" is not a repository`,
			`:17: sources[0].github.api_url: a GitHub Enterprise API needs host`,
			`:19: sources[0].github.app.installation_id: required`,
			`:19: sources[0].github.app: set either a token or an app, not both`,
			`:24: sources[0].report.states.fail: "fail" is not a commit status state: pending, success, failure, error, or none`,
			`:28: sources[1].gitlab: needs token_file or token_env`,
			`:30: sources[1].gitlab.project: "12345" is not a project path`,
		}, ""},
		{"bad-report", []string{
			`:14: reporters[0].resultsdb.testcase: "trawl build" must not contain white space or commas`,
			`:15: reporters[0].resultsdb.outcomes: pending cannot be posted to ResultsDB: its results are final`,
			`:17: reporters[0].resultsdb.outcomes.fail: "FAILED!" is not a ResultsDB outcome`,
			`:30: sources[0].report.checks: posting checks needs the Patchwork token`,
			`:31: sources[0].report.context: "kernelci.build" is not a check context`,
			`:33: sources[0].report.states.infra-error: "error" is not a check state`,
			`:34: sources[0].report.states.flaky: unknown key`,
			`:35: sources[0].report.reporters[1]: no reporter is named "waiverdb"; reporters are: rdb`,
		}, ""},
		{"bad-resultsdb-auth", []string{
			`:15: reporters[0].resultsdb.auth: needs token_file or token_env`,
			`:22: reporters[1].resultsdb.auth: basic auth needs username`,
			`:29: reporters[2].resultsdb.username: a user name is sent only with auth: basic`,
			`:36: reporters[3].resultsdb.auth: "negotiate" is not one of bearer, basic`,
		}, ""},
		{"duplicate-names", []string{
			`:9: targets[1].name: "kci" is used twice; first on line 3`,
			`:26: sources[1].name: "netdev" is used twice; first on line 16`,
			`:28: sources[1].targets[1]: "kci" is listed twice`,
		}, ""},
		{"bad-max-running", []string{
			`:5: targets[0].max_running: 0 is out of range 1..1000`,
			`:10: targets[1].max_running: 1001 is out of range 1..1000`,
			`:17: targets[2].max_running: a webhook target's jobs cannot be followed`,
		}, ""},
		{"bad-jenkins", []string{
			`:6: targets[0].jenkins.url: "https://ci.example.org/jenkins?x=1" has a query or fragment`,
			`:7: targets[0].jenkins.job: "kernel//check" is not a job's full name such as folder/job`,
			`:8: targets[0].jenkins.user: a user name cannot hold ':'`,
			`:10: targets[0].jenkins.token_env: set only one of token_file and token_env`,
			`:11: targets[0].jenkins.quiet_period: must not be negative`,
			`:12: targets[0].jenkins.queue_wait: "1h" is longer than 5m0s`,
			`:13: targets[0].jenkins.queue_poll: must be longer than zero`,
			`:16: targets[1].max_running: 0 is out of range 1..1000`,
			`:17: targets[1].jenkins.job: required`,
			`:17: targets[1].jenkins.user: required`,
			`:17: targets[1].jenkins: needs token_file or token_env (where the API token is read from)`,
		}, ""},
		{"bad-schedule", []string{`:12: sources[0].schedule: "every 5 minutes" is not a cron schedule`}, ""},
		{"missing-required", []string{
			`:5: targets[0].kernelci.pipeline_url: required`,
			`:12: sources[0].base.tree: required`,
			`:15: sources[0].patchwork.project: required`,
		}, ""},
		{"kernelci-on-wrong-type", []string{
			`:4: targets[0].type: unknown target type "travis"; known types: kernelci`,
			`:5: targets[0].kernelci: this block configures type kernelci, but the target's type is "travis"`,
		}, ""},
		{"block-missing", []string{`:10: sources[0].patchwork: required for a source of type patchwork`}, ""},
		{"bad-url", []string{
			`:6: targets[0].kernelci.api_url: "ftp://kernelci.example.org" is not an http or https URL`,
			`:15: sources[0].base.url: "net-next" is not a git URL`,
			`:18: sources[0].patchwork.url: "patchwork.kernel.org" is not a URL`,
		}, ""},
		{"url-credentials", []string{`:7: targets[0].kernelci.pipeline_url: credentials may not be written in a URL`}, "hunter2"},
		{"api-url", []string{`:18: sources[0].patchwork.url: "https://patchwork.kernel.org/api/1.3" is an API URL`}, ""},
		{"out-of-range", []string{
			`:2: trigger_concurrency: 0 is out of range 1..64`,
			`:4: http.retries: must be an integer, not a string`,
		}, ""},
		{"bad-enum", []string{
			`:3: log.level: "verbose" is not one of debug, info, warn, error`,
			`:4: log.format: "text" is not one of console, json`,
		}, ""},
		{"bad-name", []string{`:10: sources[0].name: "Net Dev" is not a valid name`}, ""},
		{"bad-states", []string{`:20: sources[0].patchwork.states: lists no state; leave states out for new, under-review`}, ""},
		{"bad-state-slug", []string{
			`:20: sources[0].patchwork.states[0]: "New" is not a state slug`,
			`:20: sources[0].patchwork.states[2]: "new" is listed twice; first on line 20`,
		}, ""},
		{"no-sources", []string{`:9: sources: at least one source is required`}, ""},
		{"wrong-kind", []string{
			`:2: http: must be a mapping of keys to values, not a list`,
			`:13: sources[0].targets: must be a list, not a string`,
		}, ""},
		{"repeated-key", []string{`:17: sources[0].base.branch: key repeated; first set on line 16`}, ""},
		{"merge-key", []string{`:14: sources[0].base.<<: merge keys (<<) are not supported`}, ""},
		{"syntax", []string{`:11: invalid YAML: did not find expected ',' or ']'`}, ""},
		{"two-documents", []string{`:20: only one YAML document is allowed`}, ""},
		{"empty", []string{`:1: the file is empty`}, ""},
		{"patch-domains", []string{
			`:10: targets[0].kernelci.submitters[0]: "pipeline" is not a submitter such as service:pipeline or user:ci@example.org`,
			`:17: targets[1].kernelci.patch_domains[0]: "https://patchwork.example.org" is not a host name such as patchwork.kernel.org`,
			`:18: targets[1].kernelci.submitters: lists no submitter; leave submitters out for service:pipeline, user:*`,
			`:28: sources[0].patchwork.url: host patchwork.kernel.org is not among the patch domains of target kci (patchwork.example.org)`,
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			name := "testdata/conf." + tt.file + ".yaml"
			cfg, err := LoadFile(name)
			if err == nil {
				t.Fatalf("LoadFile(%s) = %s, want errors", name, dump(cfg))
			}
			if cfg != nil {
				t.Errorf("LoadFile(%s) returned a config with its errors", name)
			}
			got := configErrors(t, err)
			if len(got) != len(tt.want) {
				t.Fatalf("LoadFile(%s): got %d errors, want %d:\n%v", name, len(got), len(tt.want), err)
			}
			for i, e := range got {
				if want := name + tt.want[i]; !strings.HasPrefix(e.Error(), want) {
					t.Errorf("error %d:\n got %s\nwant prefix %s", i, e, want)
				}
				if e.File != name {
					t.Errorf("error %d: File = %q, want %q", i, e.File, name)
				}
			}
			if tt.hidden != "" && strings.Contains(err.Error(), tt.hidden) {
				t.Errorf("errors reveal %q:\n%v", tt.hidden, err)
			}
		})
	}
}

// TestEveryFailureFixtureIsTested keeps the table above and testdata/ in
// step: a fixture nobody checks is a test that cannot fail.
func TestEveryFailureFixtureIsTested(t *testing.T) {
	files, err := filepath.Glob("testdata/conf.*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		switch f {
		case "testdata/conf.good.yaml", "testdata/conf.minimal.yaml":
			if _, err := LoadFile(f); err != nil {
				t.Errorf("LoadFile(%s): %v", f, err)
			}
		default:
			if _, err := LoadFile(f); err == nil {
				t.Errorf("LoadFile(%s) succeeded; every other fixture is a failure case", f)
			}
		}
	}
}

func TestDefaults(t *testing.T) {
	data, err := os.ReadFile("testdata/conf.minimal.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c, err := Load(data, "/etc/trawl/trawl.yaml")
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	k, p := c.Targets[0].KernelCI, c.Sources[0].Patchwork
	tests := []struct {
		name      string
		got, want any
	}{
		{"state_dir", c.StateDir, "/etc/trawl/trawl-state"},
		{"cycle_timeout", c.CycleTimeout, Duration(10 * time.Minute)},
		{"gone_grace", c.GoneGrace, Duration(24 * time.Hour)},
		{"trigger_concurrency", c.TriggerConcurrency, 4},
		{"http", c.HTTP, HTTP{Timeout: Duration(30 * time.Second), Retries: 4}},
		{"log", c.Log, Log{Level: "info", Format: "console"}},
		{"kernelci.max_running", c.Targets[0].MaxRunning, DefaultMaxRunningKernelCI},
		{"kernelci.dashboard_url", k.DashboardURL, ""},
		{"kernelci.jobfilter", k.JobFilter, []string(nil)},
		{"kernelci.platformfilter", k.PlatformFilter, []string(nil)},
		{"kernelci.patch_domains", k.PatchDomains, []string{"patchwork.kernel.org"}},
		{"kernelci.submitters", k.Submitters, []string{"service:pipeline", "user:*"}},
		{"kernelci.checkout_wait", k.CheckoutWait, Duration(6 * time.Hour)},
		{"schedule", c.Sources[0].Schedule, "@every 5m"},
		{"base.policy", c.Sources[0].Base.Policy, change.PolicyPinned},
		{"patchwork.states", p.States, []string{"new", "under-review"}},
		{"patchwork.lookback", p.Lookback, Duration(7 * 24 * time.Hour)},
		{"patchwork.delegate", p.Delegate, ""},
		{"patchwork.token", p.Token, secret.Source{}},
	}
	for _, tt := range tests {
		if !reflect.DeepEqual(tt.got, tt.want) {
			t.Errorf("%s = %#v, want %#v", tt.name, tt.got, tt.want)
		}
	}
}

func TestRelativePaths(t *testing.T) {
	const conf = `state_dir: %s
targets:
  - name: kci
    type: kernelci
    kernelci:
      api_url: https://kernelci.example.org
      pipeline_url: https://kernelci.example.org:9100
      token_file: %s
sources:
  - name: netdev
    type: patchwork
    targets: [kci]
    base: {tree: net-next, url: "https://git.example.org/net-next.git", branch: main}
    patchwork:
      url: https://patchwork.kernel.org
      project: netdevbpf
      token_file: pw.token
`
	tests := []struct {
		name               string
		stateDir, kciToken string
		filename           string
		wantState, wantKCI string
		wantPW             string
	}{
		{"relative", "./state", "secrets/kci.jwt", "/etc/trawl/trawl.yaml",
			"/etc/trawl/state", "/etc/trawl/secrets/kci.jwt", "/etc/trawl/pw.token"},
		{"parent", "../lib/trawl", "../kci.jwt", "/etc/trawl/trawl.yaml",
			"/etc/lib/trawl", "/etc/kci.jwt", "/etc/trawl/pw.token"},
		{"absolute", "/var/lib/trawl", "/run/secrets/kci.jwt", "/etc/trawl/trawl.yaml",
			"/var/lib/trawl", "/run/secrets/kci.jwt", "/etc/trawl/pw.token"},
		{"relative config name", "state", "kci.jwt", "conf/trawl.yaml",
			"conf/state", "conf/kci.jwt", "conf/pw.token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(fmt.Appendf(nil, conf, tt.stateDir, tt.kciToken), tt.filename)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if c.StateDir != tt.wantState {
				t.Errorf("StateDir = %q, want %q", c.StateDir, tt.wantState)
			}
			if got := c.Targets[0].KernelCI.Token.File; got != tt.wantKCI {
				t.Errorf("kernelci token file = %q, want %q", got, tt.wantKCI)
			}
			if got := c.Sources[0].Patchwork.Token.File; got != tt.wantPW {
				t.Errorf("patchwork token file = %q, want %q", got, tt.wantPW)
			}
		})
	}

	// LoadFile resolves against the file's directory, made absolute, not
	// against the working directory.
	t.Run("LoadFile", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.Mkdir(filepath.Join(dir, "conf"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "conf", "trawl.yaml"), fmt.Appendf(nil, conf, "state", "kci.jwt"), 0o600); err != nil {
			t.Fatal(err)
		}
		t.Chdir(dir)
		c, err := LoadFile("conf/trawl.yaml")
		if err != nil {
			t.Fatalf("LoadFile: %v", err)
		}
		if want := filepath.Join(dir, "conf", "state"); c.StateDir != want {
			t.Errorf("StateDir = %q, want %q", c.StateDir, want)
		}
		if want := filepath.Join(dir, "conf", "kci.jwt"); c.Targets[0].KernelCI.Token.File != want {
			t.Errorf("token file = %q, want %q", c.Targets[0].KernelCI.Token.File, want)
		}
	})
}

func TestExamples(t *testing.T) {
	files, err := filepath.Glob("../../examples/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 2 {
		t.Fatalf("found %d example configs in ../../examples, want at least 2", len(files))
	}
	readme, err := os.ReadFile("../../examples/README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			if _, err := LoadFile(f); err != nil {
				t.Errorf("LoadFile(%s):\n%v", f, err)
			}
			if !strings.Contains(string(readme), "`"+filepath.Base(f)+"`") {
				t.Errorf("examples/README.md does not list %s", filepath.Base(f))
			}
		})
	}
}

func TestNoSecretInConfig(t *testing.T) {
	const (
		fileSecret = "file-secret-8d1f0c"
		envSecret  = "env-secret-51ab3e"
		pwSecret   = "pw-secret-77c2d9"
	)
	dir := t.TempDir()
	data, err := os.ReadFile("testdata/conf.good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "trawl.yaml"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "secrets"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "secrets", "kernelci.jwt"), []byte(fileSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KCI_PROD_TOKEN", envSecret)
	t.Setenv("PW_TOKEN", pwSecret)

	c, err := LoadFile(filepath.Join(dir, "trawl.yaml"))
	if err != nil {
		t.Fatalf("LoadFile: %v", err)
	}
	// The secrets are reachable through the config, so finding none of
	// them below means the dumps hide them, not that the setup is wrong.
	for i, src := range []secret.Source{c.Targets[0].KernelCI.Token, c.Targets[1].KernelCI.Token, c.Sources[1].Patchwork.Token} {
		v, err := src.Value()
		if want := []string{fileSecret, envSecret, pwSecret}[i]; err != nil || v != want {
			t.Fatalf("secret %d: Value() = %q, %v; want %q", i, v, err, want)
		}
	}

	jsonDump, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	yamlDump, err := yaml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	dumps := []struct{ name, text string }{
		{"%v", fmt.Sprintf("%v", c)},
		{"%+v", fmt.Sprintf("%+v", c)},
		{"%+v of the value", fmt.Sprintf("%+v", *c)},
		{"%#v of the value", fmt.Sprintf("%#v", *c)},
		{"%+v of a target", fmt.Sprintf("%+v", *c.Targets[0].KernelCI)},
		{"%+v of a source", fmt.Sprintf("%+v", *c.Sources[1].Patchwork)},
		{"json", string(jsonDump)},
		{"yaml", string(yamlDump)},
	}
	for _, d := range dumps {
		for _, s := range []string{fileSecret, envSecret, pwSecret} {
			if strings.Contains(d.text, s) {
				t.Errorf("%s dump of the config contains secret %q:\n%s", d.name, s, d.text)
			}
		}
	}
	// The dumps still say where each secret lives.
	if !strings.Contains(string(yamlDump), "KCI_PROD_TOKEN") || !strings.Contains(string(jsonDump), "kernelci.jwt") {
		t.Errorf("dumps lost the secrets' locations:\n%s\n%s", yamlDump, jsonDump)
	}
}

func TestDumpRoundTripsDurations(t *testing.T) {
	c, err := LoadFile("testdata/conf.good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"cycle_timeout":"15m"`, `"gone_grace":"1d12h"`, `"lookback":"3d"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("json dump lacks %s:\n%s", want, b)
		}
	}
	var back Config
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("json.Unmarshal of the dump: %v", err)
	}
	if back.GoneGrace != c.GoneGrace || back.Sources[0].Patchwork.Lookback != c.Sources[0].Patchwork.Lookback {
		t.Errorf("durations changed in a JSON round trip: %s, %s", back.GoneGrace, back.Sources[0].Patchwork.Lookback)
	}
}

func TestConfigTarget(t *testing.T) {
	c, err := LoadFile("testdata/conf.good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		wantOK bool
	}{
		{"kernelci-staging", true},
		{"kernelci-prod", true},
		{"kernelci", false},
		{"", false},
	}
	for _, tt := range tests {
		got, ok := c.Target(tt.name)
		if ok != tt.wantOK || ok && got.Name != tt.name {
			t.Errorf("Target(%q) = %v, %v; want ok=%v", tt.name, got, ok, tt.wantOK)
		}
	}
	// Every reference of every source resolves.
	for _, s := range c.Sources {
		for _, name := range s.Targets {
			if _, ok := c.Target(name); !ok {
				t.Errorf("source %s: target %s not found", s.Name, name)
			}
		}
	}
	// The target is the config's own, not a copy.
	got, _ := c.Target("kernelci-prod")
	if got != &c.Targets[1] {
		t.Errorf("Target returned a copy")
	}
}

func TestErrorString(t *testing.T) {
	tests := []struct {
		err  Error
		want string
	}{
		{Error{File: "trawl.yaml", Line: 12, Key: "sources[0].base.policy", Msg: `"sometimes" is not one of pinned, follow, tag`},
			`trawl.yaml:12: sources[0].base.policy: "sometimes" is not one of pinned, follow, tag`},
		{Error{File: "trawl.yaml", Line: 3, Msg: "invalid YAML: x"}, "trawl.yaml:3: invalid YAML: x"},
		{Error{File: "trawl.yaml", Msg: "invalid YAML: x"}, "trawl.yaml: invalid YAML: x"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
}

func TestLoadErrorsSortedByLine(t *testing.T) {
	// Targets are read before sources whatever their order in the file;
	// the errors still come out in file order.
	const conf = `sources:
  - name: Bad
    type: patchwork
targets:
  - name: kci
    type: nope
`
	_, err := Load([]byte(conf), "trawl.yaml")
	if err == nil {
		t.Fatal("Load succeeded")
	}
	var lines []int
	for _, e := range configErrors(t, err) {
		lines = append(lines, e.Line)
	}
	if !slices.IsSorted(lines) || len(lines) < 3 {
		t.Errorf("error lines %v, want at least 3, sorted:\n%v", lines, err)
	}
}

func TestLoadFileMissing(t *testing.T) {
	_, err := LoadFile(filepath.Join(t.TempDir(), "nope.yaml"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("LoadFile of a missing file: %v, want os.ErrNotExist", err)
	}
}

func TestAliases(t *testing.T) {
	// An anchored block may be reused whole.
	const shared = `targets:
  - name: kci
    type: kernelci
    kernelci: {api_url: "https://k.example.org", pipeline_url: "https://k.example.org:9100", token_env: KCI_TOKEN}
sources:
  - name: one
    type: patchwork
    targets: [kci]
    base: &base {tree: net-next, url: "https://git.example.org/net-next.git", branch: main}
    patchwork: &pw {url: "https://patchwork.kernel.org", project: netdevbpf}
  - name: two
    type: patchwork
    targets: [kci]
    base: *base
    patchwork: *pw
`
	c, err := Load([]byte(shared), "trawl.yaml")
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if !reflect.DeepEqual(c.Sources[0].Base, c.Sources[1].Base) || c.Sources[1].Patchwork.Project != "netdevbpf" {
		t.Errorf("aliased blocks differ: %s", dump(c.Sources))
	}

	// A long list named by an alias many times stops the walk with one
	// clear error instead of taking quadratic time and memory.
	var b strings.Builder
	b.WriteString("targets:\n  - &t {name: a, type: kernelci, kernelci: {jobfilter: &j [" + strings.Repeat("x,", 5000) + "x]}}\n")
	b.WriteString("  " + strings.Repeat("- *t\n  ", 5000) + "\n")
	_, err = Load([]byte(b.String()), "trawl.yaml")
	if err == nil || !strings.Contains(err.Error(), "alias (*name) repeated too often") {
		t.Errorf("Load of an alias bomb: %.300v", err)
	}
}
