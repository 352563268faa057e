package config

import (
	"net"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// load is Load with the directory relative paths are resolved against.
func load(data []byte, filename, dir string) (*Config, error) {
	l := &loader{file: filename, dir: dir}
	top := l.parse(data)
	if len(l.errs) > 0 {
		return nil, joinErrors(l.errs)
	}
	c := l.config(top)
	if len(l.errs) > 0 {
		return nil, joinErrors(l.errs)
	}
	c.file, c.checks = filename, l.checks
	return c, nil
}

// config reads the top level.
func (l *loader) config(f field) *Config {
	o := l.object(f, "state_dir", "cycle_timeout", "gone_grace", "trigger_concurrency", "listen", "http", "log", "retention", "targets", "reporters", "sources")
	c := &Config{
		CycleTimeout:       l.duration(o.get("cycle_timeout"), DefaultCycleTimeout),
		GoneGrace:          l.duration(o.get("gone_grace"), DefaultGoneGrace),
		TriggerConcurrency: l.integer(o.get("trigger_concurrency"), DefaultTriggerConcurrency, 1, 64),
	}
	sd := o.get("state_dir")
	if s := l.optional(sd, DefaultStateDir); s != "" {
		c.StateDir = l.pathAt(sd, s)
		l.stateDir = c.StateDir
		l.recordCheck(sd, stateDirCheck(c.StateDir))
	} else {
		l.errorf(sd, "must name a directory; leave state_dir out for %s beside the config file", DefaultStateDir)
	}

	lf := o.get("listen")
	if c.Listen = l.optional(lf, ""); c.Listen != "" {
		if _, port, err := net.SplitHostPort(c.Listen); err != nil || port == "" {
			l.errorf(lf, "%s is not an address host:port (e.g. 127.0.0.1:9120)", quote(c.Listen))
		}
	}
	h := l.object(o.get("http"), "timeout", "retries")
	c.HTTP = HTTP{
		Timeout: l.duration(h.get("timeout"), DefaultHTTPTimeout),
		Retries: l.integer(h.get("retries"), DefaultHTTPRetries, 0, 10),
	}
	g := l.object(o.get("log"), "level", "format")
	c.Log = Log{
		Level:  l.enum(g.get("level"), DefaultLogLevel, "debug", "info", "warn", "error"),
		Format: l.enum(g.get("format"), DefaultLogFormat, "console", "json"),
	}

	r := l.object(o.get("retention"), "cache_max_age", "cache_max_mb", "exec_max_age", "exec_max_mb")
	c.Retention = Retention{
		CacheMaxAge: l.duration(r.get("cache_max_age"), DefaultCacheMaxAge),
		CacheMaxMB:  l.integer(r.get("cache_max_mb"), DefaultCacheMaxMB, 1, 1<<20),
		ExecMaxAge:  l.duration(r.get("exec_max_age"), DefaultExecMaxAge),
		ExecMaxMB:   l.integer(r.get("exec_max_mb"), DefaultExecMaxMB, 1, 1<<20),
	}

	targets := map[string]int{}
	l.patchDomains = map[string][]string{}
	for _, it := range l.nonEmpty(o.get("targets"), "target") {
		t := l.target(it, targets)
		if t.KernelCI != nil {
			l.patchDomains[t.Name] = t.KernelCI.PatchDomains
		}
		c.Targets = append(c.Targets, t)
	}
	reporters := map[string]int{}
	for _, it := range l.items(o.get("reporters")) {
		c.Reporters = append(c.Reporters, l.reporter(it, reporters))
	}
	sources := map[string]int{}
	for _, it := range l.nonEmpty(o.get("sources"), "source") {
		c.Sources = append(c.Sources, l.source(it, sources, targets, reporters))
	}
	return c
}

// nonEmpty returns the items of the list f, which must have at least one.
func (l *loader) nonEmpty(f field, what string) []field {
	items := l.items(f)
	if f.node == nil || f.node.Kind == yaml.SequenceNode && len(items) == 0 {
		l.errorf(f, "at least one %s is required", what)
	}
	return items
}

// typeOf reads the required type of o, one of types, and checks that o
// holds the block of that type and no block of another. It returns the type
// and its block; the block is absent when either is missing or the type is
// unknown.
func (l *loader) typeOf(o object, what string, types ...string) (string, field) {
	tf := o.get("type")
	t := l.required(tf)
	known := slices.Contains(types, t)
	if t != "" && !known {
		l.errorf(tf, "unknown %s type %s; known types: %s", what, quote(t), strings.Join(types, ", "))
	}
	for _, b := range types {
		bf := o.get(b)
		switch {
		case b == t && bf.node == nil:
			l.errorf(bf, "required for a %s of type %s", what, t)
		case b != t && t != "" && bf.node != nil:
			l.errorf(bf, "this block configures type %s, but the %s's type is %s", b, what, quote(t))
		}
	}
	if !known {
		return t, field{}
	}
	return t, o.get(t)
}

// knownNames lists the names in seen, sorted, for a message.
func knownNames(seen map[string]int) string {
	if len(seen) == 0 {
		return "none"
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}
