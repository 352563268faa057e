// Package driver holds what every source, target and reporter constructor
// receives from pkg/setup: the environment of one wired trawl (Env), and
// the result of building a source (Source). Each driver package builds its
// type from its own configuration section with a function
//
//	func FromConfig(env driver.Env, c config.Target) (cycle.Target, error)   // targets
//	func FromConfig(env driver.Env, c config.Source) (driver.Source, error)  // sources
//	func FromConfig(env driver.Env, c config.Reporter) (cycle.Reporter, error) // reporters
//
// in its config.go, and pkg/setup finds it through its registry. This
// package is a leaf: it must not import pkg/setup or any driver.
package driver

import (
	"io"
	"net/http"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/trawl-ci/trawl/pkg/cycle"
	"github.com/trawl-ci/trawl/pkg/httpx"
	"github.com/trawl-ci/trawl/pkg/targets"
)

// ClientFunc builds the HTTP client of one forge instance or target: named
// name on log lines and metrics (e.g. "github netdev"), sending cred when
// set, with the configured timeout and retries, and with the on-disk HTTP
// cache when cache is true (read but not written in read-only mode).
type ClientFunc func(name string, cred *httpx.Credential, cache bool) (*http.Client, error)

// Env is the environment a driver constructor builds in. pkg/setup fills
// every field; a constructor uses what it needs.
type Env struct {
	// Client builds the driver's HTTP clients; each name once per app.
	Client ClientFunc
	// Logger is the app's logger; never nil.
	Logger *zap.Logger
	// Registerer takes the driver's own metrics.
	Registerer prometheus.Registerer
	// StateDir is the configured state directory (state.json, cache/).
	StateDir string
	// ReadOnly is set for `trawl plan` and `trawl validate`: the driver
	// must write nothing on disk.
	ReadOnly bool
	// Closers takes what must be released when the app closes (a target
	// running commands).
	Closers *Closers
	// Shared holds the objects drivers of one app share.
	Shared *Shared
}

// Source is what a source constructor builds: the source, and the
// reporters that write its results back where its changes live.
type Source struct {
	// Source polls the forge.
	Source cycle.Source
	// Reporter, when set, posts the source's results on the forge (a
	// Patchwork check, a commit status).
	Reporter cycle.Reporter
	// Relay, when set, is the reporter relayed statuses of other forges'
	// dependencies go through: a commit status reporter.
	Relay cycle.Reporter
}

// Closers collects what an app releases when it closes. Its zero value is
// ready to use.
type Closers struct {
	mu sync.Mutex
	cs []io.Closer
}

// Add registers c to be closed by Close.
func (c *Closers) Add(cl io.Closer) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cs = append(c.cs, cl)
}

// List returns what was registered, in order.
func (c *Closers) List() []io.Closer {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]io.Closer(nil), c.cs...)
}

// Shared holds one object per key for one app, for what drivers of the
// same app must share (GitHub's pace of writes, per credential). Its zero
// value is ready to use.
type Shared struct {
	mu sync.Mutex
	m  map[string]any
}

// Share returns the object s holds under key, built by build on the first
// call. Keys are prefixed by the driver's package name, so that drivers
// never collide. A key used with two types panics: a programming error.
func Share[T any](s *Shared, key string, build func() T) T {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := s.m[key]; ok {
		return v.(T)
	}
	if s.m == nil {
		s.m = map[string]any{}
	}
	v := build()
	s.m[key] = v
	return v
}

// CheckStates turns a source's configured report.states into its
// reporter's: "none" means the state is not posted (an empty value).
func CheckStates(m map[targets.State]string) map[targets.State]string {
	out := make(map[targets.State]string, len(m))
	for k, v := range m {
		if v == "none" {
			v = ""
		}
		out[k] = v
	}
	return out
}
