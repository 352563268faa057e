// Package setup turns a loaded configuration into a running trawl: one
// cached, retrying HTTP client per forge instance and target, the sources,
// the targets, the state store and the cycle runner. Its registry
// (registry.go) is the only place that knows every source, target and
// reporter type by name, so that neither the cycle nor the command line
// has to; each type is built by a constructor in its own package.
package setup

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/trawl-ci/trawl/pkg/config"
	"github.com/trawl-ci/trawl/pkg/cycle"
	"github.com/trawl-ci/trawl/pkg/daemon"
	"github.com/trawl-ci/trawl/pkg/driver"
	"github.com/trawl-ci/trawl/pkg/gitref"
	"github.com/trawl-ci/trawl/pkg/httpx"
	"github.com/trawl-ci/trawl/pkg/metrics"
	"github.com/trawl-ci/trawl/pkg/secret"
	"github.com/trawl-ci/trawl/pkg/state"
)

// Options are what the configuration does not say.
type Options struct {
	Version string
	Logger  *zap.Logger
	// ReadOnly writes nothing: the state is read without its lock and
	// never saved, the HTTP cache is read but not written, the exec
	// targets' record directories are left alone. For `trawl plan`, which
	// may run beside a daemon, and `trawl validate`.
	ReadOnly bool
	// Transport, when set, is the base transport of every HTTP client.
	Transport http.RoundTripper
	// FreshState moves an unreadable state file (corrupt, or written by a
	// newer trawl) aside and starts from an empty state, instead of
	// refusing to start (`--fresh-state`).
	FreshState bool
}

// App is a wired trawl.
type App struct {
	Runner *cycle.Runner
	// Groups are the sources grouped by schedule, in configuration order.
	Groups []daemon.Group
	// Meters count the HTTP responses of each client, by client name.
	Meters map[string]*httpx.Meter
	// Metrics holds the metrics `trawl run` serves on /metrics.
	Metrics *prometheus.Registry
	store   interface{ Close() error }
	sources []cycle.Source
	cfg     *config.Config
	log     *zap.Logger
	// closers are released by Close: targets running commands.
	closers driver.Closers
}

// New wires cfg. The state is locked until Close (unless ReadOnly).
func New(cfg *config.Config, o Options) (app *App, err error) {
	log := o.Logger
	if log == nil {
		log = zap.NewNop()
	}
	a := &App{Meters: map[string]*httpx.Meter{}, Metrics: prometheus.NewRegistry(), cfg: cfg, log: log}
	defer func() {
		if err != nil {
			_ = a.Close() // what was built so far
		}
	}()
	// The state lock comes first: until it is held nothing in the state
	// directory is touched (targets clean their directories when built),
	// so a trawl refused by the lock cannot harm the one holding it.
	store, err := openState(cfg.StatePath(), o, log)
	if err != nil {
		return nil, err
	}
	if s, ok := store.(*state.Store); ok {
		a.store = s
	}
	env := driver.Env{
		Client:     a.client(cfg, o, log),
		Logger:     log,
		Registerer: a.Metrics,
		StateDir:   cfg.StateDir,
		ReadOnly:   o.ReadOnly,
		Closers:    &a.closers,
		Shared:     &driver.Shared{},
	}
	tgts, err := buildTargets(env, cfg.Targets)
	if err != nil {
		return nil, err
	}
	stores, err := buildReporters(env, cfg.Reporters)
	if err != nil {
		return nil, err
	}

	var srcs []cycle.Source
	reporters := map[string][]cycle.Reporter{}
	relays := map[string]cycle.Reporter{} // commit status reporters, which relayed statuses go through
	retry := map[string]int{}
	maxAge := map[string]time.Duration{}
	groups := map[string]int{} // schedule -> index in a.Groups
	for _, s := range cfg.Sources {
		build, ok := sourceTypes[s.Type]
		if !ok {
			return nil, fmt.Errorf("source %s: unsupported type %q", s.Name, s.Type)
		}
		built, err := build(env, s)
		if err != nil {
			return nil, fmt.Errorf("source %s: %w", s.Name, err)
		}
		srcs = append(srcs, built.Source)
		if built.Reporter != nil {
			reporters[s.Name] = append(reporters[s.Name], built.Reporter)
		}
		if built.Relay != nil {
			relays[s.Name] = built.Relay
		}
		i, ok := groups[s.Schedule]
		if !ok {
			i = len(a.Groups)
			groups[s.Schedule] = i
			a.Groups = append(a.Groups, daemon.Group{Schedule: s.Schedule})
		}
		a.Groups[i].Sources = append(a.Groups[i].Sources, s.Name)
		for _, name := range s.Report.Reporters {
			reporters[s.Name] = append(reporters[s.Name], stores[name])
		}
		retry[s.Name] = s.RetryInfra
		maxAge[s.Name] = time.Duration(s.Report.MaxAge)
	}

	a.sources = srcs
	m, err := metrics.New(a.Metrics, metrics.Options{Version: o.Version, Clients: a.requestsByClient})
	if err != nil {
		return nil, err
	}
	a.Runner = cycle.New(cycle.Options{
		Sources:      srcs,
		Targets:      tgts,
		Resolver:     resolverFunc((&gitref.Resolver{Timeout: time.Duration(cfg.HTTP.Timeout), Logger: log}).Resolve),
		Store:        store,
		GoneGrace:    time.Duration(cfg.GoneGrace),
		Concurrency:  cfg.TriggerConcurrency,
		Reporters:    reporters,
		Relays:       relays,
		RetryInfra:   retry,
		ReportMaxAge: maxAge,
		MaxRunning:   maxRunning(cfg.Targets),
		Requests:     a.requests,
		Logger:       log,
	})
	a.Runner.Observe(m)
	err = a.Metrics.Register(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "trawl_reports_expired_total",
		Help: "Reports dropped from the outbox unposted, older than their source's report.max_age.",
	}, func() float64 { return float64(a.Runner.Expired()) }))
	if err != nil {
		return nil, err
	}
	return a, nil
}

// buildTargets builds each configured target through the registry.
func buildTargets(env driver.Env, ts []config.Target) ([]cycle.Target, error) {
	var out []cycle.Target
	for _, t := range ts {
		build, ok := targetTypes[t.Type]
		if !ok {
			return nil, fmt.Errorf("target %s: unsupported type %q", t.Name, t.Type)
		}
		tg, err := build(env, t)
		if err != nil {
			return nil, fmt.Errorf("target %s: %w", t.Name, err)
		}
		out = append(out, tg)
	}
	return out, nil
}

// buildReporters builds each configured results store through the
// registry, by name.
func buildReporters(env driver.Env, rs []config.Reporter) (map[string]cycle.Reporter, error) {
	out := map[string]cycle.Reporter{}
	for _, rc := range rs {
		build, ok := reporterTypes[rc.Type]
		if !ok {
			return nil, fmt.Errorf("reporter %s: unsupported type %q", rc.Name, rc.Type)
		}
		r, err := build(env, rc)
		if err != nil {
			return nil, fmt.Errorf("reporter %s: %w", rc.Name, err)
		}
		out[rc.Name] = r
	}
	return out, nil
}

// openState locks the state file (unless ReadOnly) and checks that it can be
// read: an unreadable file is an error naming it, and is left untouched,
// unless o.FreshState moves it aside.
func openState(path string, o Options, log *zap.Logger) (cycle.Store, error) {
	if o.ReadOnly {
		return state.ReadOnly(path), nil
	}
	s, err := state.Open(path)
	if err != nil {
		return nil, err
	}
	_, lerr := s.Load()
	switch {
	case lerr == nil:
		return s, nil
	case !o.FreshState:
		_ = s.Close()
		return nil, fmt.Errorf("%w (the file is left untouched; --fresh-state moves it aside and starts from an empty state)", lerr)
	}
	aside, err := s.SetAside(time.Now())
	if err != nil {
		_ = s.Close()
		return nil, errors.Join(lerr, err)
	}
	log.Warn("state file unreadable: moved aside, starting from an empty state",
		zap.String("state", path), zap.String("aside", aside), zap.Error(lerr))
	return s, nil
}

// Close stops what the targets run and releases the state lock.
func (a *App) Close() error {
	var errs []error
	for _, c := range a.closers.List() {
		errs = append(errs, c.Close())
	}
	if a.store != nil {
		errs = append(errs, a.store.Close())
	}
	return errors.Join(errs...)
}

// requestsByClient returns the request counts of each client.
func (a *App) requestsByClient() map[string]httpx.Counts {
	out := make(map[string]httpx.Counts, len(a.Meters))
	for name, m := range a.Meters {
		out[name] = m.Snapshot()
	}
	return out
}

// Requests returns the running request counts of every HTTP client
// together, for a progress line.
func (a *App) Requests() httpx.Counts { return a.requests() }

// requests returns the request counts of every client together.
func (a *App) requests() httpx.Counts {
	var sum httpx.Counts
	for _, m := range a.Meters {
		c := m.Snapshot()
		sum.Network += c.Network
		sum.Revalidated += c.Revalidated
		sum.Cache += c.Cache
		sum.Failed += c.Failed
		sum.Bytes += c.Bytes
	}
	return sum
}

// client returns the HTTP client factory of the drivers: one metered
// client per name, with the configured timeout and retries.
func (a *App) client(cfg *config.Config, o Options, log *zap.Logger) driver.ClientFunc {
	return func(name string, cred *httpx.Credential, cache bool) (*http.Client, error) {
		meter := a.Meters[name]
		if meter == nil {
			meter = &httpx.Meter{}
			a.Meters[name] = meter
		}
		opts := httpx.Options{
			Name:       name,
			Credential: cred,
			UserAgent:  httpx.UserAgent(o.Version),
			Timeout:    time.Duration(cfg.HTTP.Timeout),
			RetryMax:   cfg.HTTP.Retries,
			Logger:     log, // httpx names the client on its lines
			Meter:      meter,
			Transport:  o.Transport,
		}
		if cfg.HTTP.Retries == 0 {
			opts.RetryMax = -1
		}
		if cache {
			opts.CacheDir = filepath.Join(cfg.CacheDir(), dirName(name))
			opts.CacheReadOnly = o.ReadOnly
		}
		return httpx.New(opts)
	}
}

// resolverFunc adapts a function to cycle.BaseResolver.
type resolverFunc func(ctx context.Context, url, branch string) (string, error)

// ResolveBase calls f.
func (f resolverFunc) ResolveBase(ctx context.Context, url, branch string) (string, error) {
	return f(ctx, url, branch)
}

// maxRunning maps each bounded target to its max_running.
func maxRunning(ts []config.Target) map[string]int {
	m := map[string]int{}
	for _, t := range ts {
		if t.MaxRunning > 0 {
			m[t.Name] = t.MaxRunning
		}
	}
	return m
}

// dirName makes a client name safe and stable as a directory name.
func dirName(name string) string {
	sum := sha256.Sum256([]byte(name))
	return hex.EncodeToString(sum[:8])
}

// NewLogger builds the zap logger the configuration asks for, writing to w.
// No line it writes carries a registered secret (see secret.LogEncoder).
func NewLogger(c config.Log, w io.Writer) (*zap.Logger, error) {
	level, err := zapcore.ParseLevel(c.Level)
	if err != nil {
		return nil, fmt.Errorf("log level %q: %w", c.Level, err)
	}
	enc := zap.NewProductionEncoderConfig()
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	var encoder zapcore.Encoder
	switch c.Format {
	case "json":
		encoder = zapcore.NewJSONEncoder(enc)
	case "console", "":
		enc.EncodeLevel = zapcore.CapitalLevelEncoder
		encoder = zapcore.NewConsoleEncoder(enc)
	default:
		return nil, errors.New("log format must be console or json")
	}
	// Every line is redacted and its message escaped: servers and patch
	// authors write much of what is logged.
	return zap.New(zapcore.NewCore(secret.LogEncoder(encoder), zapcore.Lock(zapcore.AddSync(w)), level)), nil
}
