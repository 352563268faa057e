// Package config loads trawl's YAML configuration: it decodes strictly
// (an unknown key is an error), fills in defaults, validates, and resolves
// relative paths against the directory of the config file.
//
// Every problem is reported at once, each as an *Error naming the file, the
// line and the dotted key:
//
//	trawl.yaml:12: sources[0].base.policy: "sometimes" is not one of pinned, follow, tag
//
// Secrets never appear in a config file. A block that needs a credential
// takes token_file (a file holding it) or token_env (an environment variable
// holding it), and the Config keeps only that location as a secret.Source.
// Loading never reads a secret, so a config validates on a machine that
// does not hold them, and a Config is safe to print or log.
package config

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/trawl-ci/trawl/pkg/change"
	"github.com/trawl-ci/trawl/pkg/secret"
)

// Defaults of the keys a config file may leave out.
const (
	DefaultStateDir           = "trawl-state" // beside the config file
	DefaultCycleTimeout       = Duration(10 * time.Minute)
	DefaultGoneGrace          = Duration(24 * time.Hour)
	DefaultTriggerConcurrency = 4
	DefaultHTTPTimeout        = Duration(30 * time.Second)
	DefaultHTTPRetries        = 4
	DefaultLogLevel           = "info"
	DefaultLogFormat          = "console"
	DefaultPolicy             = change.PolicyPinned
	DefaultLookback           = Duration(7 * day)
)

// DefaultStates are the Patchwork patch states a source polls unless it
// names its own.
func DefaultStates() []string { return []string{"new", "under-review"} }

// The target types trawl knows.
const (
	// TargetKernelCI submits patches to KernelCI's pipeline API.
	TargetKernelCI = "kernelci"
)

// The source types trawl knows.
const (
	// SourcePatchwork polls a project on a Patchwork instance.
	SourcePatchwork = "patchwork"
)

// Config is a loaded, defaulted and validated configuration. It holds where
// secrets live, never their values.
type Config struct {
	// StateDir holds state.json and the HTTP cache (cache/).
	StateDir string `yaml:"state_dir" json:"state_dir"`
	// CycleTimeout is the deadline of one whole cycle.
	CycleTimeout Duration `yaml:"cycle_timeout" json:"cycle_timeout"`
	// GoneGrace is how long a unit gone from its forge is remembered
	// before it is forgotten.
	GoneGrace Duration `yaml:"gone_grace" json:"gone_grace"`
	// TriggerConcurrency bounds the triggers running at once (1..64).
	TriggerConcurrency int `yaml:"trigger_concurrency" json:"trigger_concurrency"`
	// Listen, when set, is the address `trawl run` serves /metrics
	// (Prometheus) and /healthz on, e.g. 127.0.0.1:9120.
	Listen string `yaml:"listen,omitempty" json:"listen,omitempty"`
	// HTTP tunes every HTTP client.
	HTTP HTTP `yaml:"http" json:"http"`
	// Log sets up logging.
	Log Log `yaml:"log" json:"log"`
	// Retention bounds the HTTP cache and the exec job records.
	Retention Retention `yaml:"retention" json:"retention"`
	// Targets are the CI backends, at least one, with unique names.
	Targets []Target `yaml:"targets" json:"targets"`
	// Reporters are results stores sources may report to (ResultsDB).
	Reporters []Reporter `yaml:"reporters,omitempty" json:"reporters,omitempty"`
	// Sources are the places polled, at least one, with unique names.
	Sources []Source `yaml:"sources" json:"sources"`

	// file and checks serve CheckLocal.
	file   string
	checks []check
}

// HTTP tunes the HTTP clients of every forge and target.
type HTTP struct {
	// Timeout bounds one attempt of a request.
	Timeout Duration `yaml:"timeout" json:"timeout"`
	// Retries is how many times a failed request is retried (0..10).
	Retries int `yaml:"retries" json:"retries"`
}

// Retention bounds what trawl keeps beside the state file, by age (of the
// last write) and by size; pruned after `trawl once` and at most hourly by
// `trawl run`. An exec record the state still refers to is kept.
type Retention struct {
	CacheMaxAge Duration `yaml:"cache_max_age" json:"cache_max_age"`
	CacheMaxMB  int      `yaml:"cache_max_mb" json:"cache_max_mb"`
	ExecMaxAge  Duration `yaml:"exec_max_age" json:"exec_max_age"`
	ExecMaxMB   int      `yaml:"exec_max_mb" json:"exec_max_mb"`
}

// Defaults of the retention keys.
const (
	DefaultCacheMaxAge = Duration(14 * day)
	DefaultCacheMaxMB  = 1024
	DefaultExecMaxAge  = Duration(30 * day)
	DefaultExecMaxMB   = 2048
)

// Log sets up logging.
type Log struct {
	// Level is debug, info, warn or error.
	Level string `yaml:"level" json:"level"`
	// Format is console or json.
	Format string `yaml:"format" json:"format"`
}

// Target is one CI backend. Exactly the block of its Type is set.
type Target struct {
	// Name identifies the target in sources, state and logs.
	Name string `yaml:"name" json:"name"`
	// Type is one of the Target* constants.
	Type string `yaml:"type" json:"type"`
	// MaxRunning bounds the target's builds running at once (see
	// targets.go for what running means per type and the defaults); 0,
	// only for a webhook, means unbounded.
	MaxRunning int `yaml:"max_running,omitempty" json:"max_running,omitempty"`
	// KernelCI is set when Type is TargetKernelCI.
	KernelCI *KernelCI `yaml:"kernelci,omitempty" json:"kernelci,omitempty"`
	// Exec is set when Type is TargetExec.
	Exec *Exec `yaml:"exec,omitempty" json:"exec,omitempty"`
	// Webhook is set when Type is TargetWebhook.
	Webhook *Webhook `yaml:"webhook,omitempty" json:"webhook,omitempty"`
}

// KernelCI configures a KernelCI target.
type KernelCI struct {
	// APIURL is the KernelCI API, where checkout nodes are looked up.
	APIURL string `yaml:"api_url" json:"api_url"`
	// PipelineURL is the KernelCI pipeline service that takes patchsets.
	PipelineURL string `yaml:"pipeline_url" json:"pipeline_url"`
	// DashboardURL, when set, is where people look at results.
	DashboardURL string `yaml:"dashboard_url,omitempty" json:"dashboard_url,omitempty"`
	// Token is where the pipeline JWT lives.
	Token secret.Source `yaml:"token" json:"token"`
	// JobFilter restricts the jobs the pipeline runs for a patchset.
	JobFilter []string `yaml:"jobfilter,omitempty" json:"jobfilter,omitempty"`
	// PlatformFilter restricts the platforms the pipeline runs on.
	PlatformFilter []string `yaml:"platformfilter,omitempty" json:"platformfilter,omitempty"`
	// PatchDomains are the hosts the pipeline fetches patches from: its
	// [patchset] allowed_domains. A Patchwork source that feeds the target
	// must be on one of them.
	PatchDomains []string `yaml:"patch_domains" json:"patch_domains"`
	// Submitters are the data submitters of the checkouts the pipeline makes
	// of branch heads; an entry ending in "*" matches by prefix.
	Submitters []string `yaml:"submitters" json:"submitters"`
	// CheckoutWait is how long a unit may wait for a checkout before the
	// wait is an error of the cycle.
	CheckoutWait Duration `yaml:"checkout_wait" json:"checkout_wait"`
}

// DefaultPatchDomains is the pipeline's default [patchset] allowed_domains
// (kernelci-pipeline config/kernelci.toml).
func DefaultPatchDomains() []string { return []string{"patchwork.kernel.org"} }

// DefaultSubmitters accepts the checkouts of the hosted instances
// (service:pipeline) and of a self-hosted pipeline, whose trigger service
// writes user:<email of its API user>.
func DefaultSubmitters() []string { return []string{"service:pipeline", "user:*"} }

// DefaultCheckoutWait is how long a unit may wait for a checkout before the
// wait is an error.
const DefaultCheckoutWait = Duration(6 * 60 * 60 * 1e9)

// Source is one place to poll. Exactly the block of its Type is set.
type Source struct {
	// Name identifies the source in change keys, state and logs.
	Name string `yaml:"name" json:"name"`
	// Type is one of the Source* constants.
	Type string `yaml:"type" json:"type"`
	// Schedule says when the source is polled; ParseSchedule reads it.
	Schedule string `yaml:"schedule" json:"schedule"`
	// Targets names the targets that build the source's changes.
	Targets []string `yaml:"targets" json:"targets"`
	// Base is the tree the source's changes apply on.
	Base change.Base `yaml:"base" json:"base"`
	// Patchwork is set when Type is SourcePatchwork.
	Patchwork *Patchwork `yaml:"patchwork,omitempty" json:"patchwork,omitempty"`
	// GitHub is set when Type is SourceGitHub.
	GitHub *GitHub `yaml:"github,omitempty" json:"github,omitempty"`
	// GitLab is set when Type is SourceGitLab.
	GitLab *GitLab `yaml:"gitlab,omitempty" json:"gitlab,omitempty"`
	// Report says where the source's results are written back.
	Report Report `yaml:"report" json:"report"`
	// RetryInfra is how many times a unit whose job ended in an
	// infrastructure error (a lab timeout, an incomplete node) is built
	// again for the same fingerprint, 0..5. A failure is never retried.
	RetryInfra int `yaml:"retry_infra" json:"retry_infra"`
}

// Patchwork configures a Patchwork source.
type Patchwork struct {
	// URL is the root of the Patchwork instance, without a trailing slash.
	URL string `yaml:"url" json:"url"`
	// Project is the project's link name.
	Project string `yaml:"project" json:"project"`
	// States are the patch state slugs polled.
	States []string `yaml:"states" json:"states"`
	// Lookback is how far back series are listed.
	Lookback Duration `yaml:"lookback" json:"lookback"`
	// Delegate, when set, keeps only patches delegated to this user.
	Delegate string `yaml:"delegate,omitempty" json:"delegate,omitempty"`
	// Token, when set, is where the Patchwork API token lives (needed only
	// to post checks).
	Token secret.Source `yaml:"token" json:"token"`
}

// Target returns the target with the given name.
func (c *Config) Target(name string) (*Target, bool) {
	for i := range c.Targets {
		if c.Targets[i].Name == name {
			return &c.Targets[i], true
		}
	}
	return nil, false
}

// Load decodes, defaults and validates a configuration. filename names the
// file in error messages, and relative paths in the config are resolved
// against filepath.Dir(filename). Every problem found is returned, joined,
// each an *Error.
func Load(data []byte, filename string) (*Config, error) {
	return load(data, filename, filepath.Dir(filename))
}

// LoadFile reads and loads the config file at path. Relative paths in it are
// resolved against the file's directory, made absolute.
func LoadFile(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	dir, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return load(data, path, dir)
}

// StatePath is the state file in StateDir.
func (c *Config) StatePath() string { return filepath.Join(c.StateDir, "state.json") }

// CacheDir is the HTTP cache in StateDir.
func (c *Config) CacheDir() string { return filepath.Join(c.StateDir, "cache") }
