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
//
// Each source, target and reporter type has its own file (kernelci.go,
// exec.go, webhook.go, patchwork.go, github.go, gitlab.go, resultsdb.go):
// its type constant, the struct of its block and the reader of that block.
// The type is known to the loader by one row in targetTypes (targets.go),
// sourceTypes (sources.go) or reporterTypes (report.go), and its block is
// one field of Target, Source or Reporter. pkg/setup's registry.go maps
// each type to the constructor that builds it.
package config

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/trawl-ci/trawl/pkg/change"
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
