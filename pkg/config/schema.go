package config

import (
	"net"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/trawl-ci/trawl/pkg/change"
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
	return c, nil
}

// config reads the top level.
func (l *loader) config(f field) *Config {
	o := l.object(f, "state_dir", "cycle_timeout", "gone_grace", "trigger_concurrency", "listen", "http", "log", "targets", "reporters", "sources")
	c := &Config{
		CycleTimeout:       l.duration(o.get("cycle_timeout"), DefaultCycleTimeout),
		GoneGrace:          l.duration(o.get("gone_grace"), DefaultGoneGrace),
		TriggerConcurrency: l.integer(o.get("trigger_concurrency"), DefaultTriggerConcurrency, 1, 64),
	}
	sd := o.get("state_dir")
	if s := l.optional(sd, DefaultStateDir); s != "" {
		c.StateDir = l.path(s)
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

	targets := map[string]int{}
	for _, it := range l.nonEmpty(o.get("targets"), "target") {
		c.Targets = append(c.Targets, l.target(it, targets))
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

// target reads one target; seen maps the target names read so far to
// their lines.
func (l *loader) target(f field, seen map[string]int) Target {
	o := l.object(f, "name", "type", TargetKernelCI, TargetExec, TargetWebhook)
	t := Target{Name: l.name(o.get("name"), seen)}
	var block field
	t.Type, block = l.typeOf(o, "target", TargetKernelCI, TargetExec, TargetWebhook)
	if block.node != nil {
		switch t.Type {
		case TargetKernelCI:
			t.KernelCI = l.kernelCI(block)
		case TargetExec:
			t.Exec = l.exec(block)
		case TargetWebhook:
			t.Webhook = l.webhook(block)
		}
	}
	return t
}

// kernelCI reads a target's kernelci block.
func (l *loader) kernelCI(f field) *KernelCI {
	o := l.object(f, "api_url", "pipeline_url", "dashboard_url", "token_file", "token_env", "jobfilter", "platformfilter")
	k := &KernelCI{
		APIURL:       l.httpURL(o.get("api_url"), true),
		PipelineURL:  l.httpURL(o.get("pipeline_url"), true),
		DashboardURL: l.httpURL(o.get("dashboard_url"), false),
		Token:        l.secret(o, true),
	}
	k.JobFilter, _ = l.list(o.get("jobfilter"), nil, "")
	k.PlatformFilter, _ = l.list(o.get("platformfilter"), nil, "")
	return k
}

// source reads one source; seen maps the source names read so far to their
// lines, and targets the target names.
func (l *loader) source(f field, seen, targets, reporters map[string]int) Source {
	o := l.object(f, "name", "type", "schedule", "targets", "base", "report", "retry_infra", SourcePatchwork, SourceGitHub, SourceGitLab)
	s := Source{Name: l.name(o.get("name"), seen), RetryInfra: l.integer(o.get("retry_infra"), 0, 0, 5)}
	var block field
	s.Type, block = l.typeOf(o, "source", SourcePatchwork, SourceGitHub, SourceGitLab)
	sf := o.get("schedule")
	s.Schedule = l.optional(sf, DefaultSchedule)
	if _, err := ParseSchedule(s.Schedule); err != nil {
		l.errorf(sf, "%v", err)
	}
	first := map[string]int{}
	for _, it := range l.nonEmpty(o.get("targets"), "target") {
		name := l.required(it)
		switch {
		case name == "":
		case targets[name] == 0:
			l.errorf(it, "no target is named %s; targets are: %s", quote(name), knownNames(targets))
		case first[name] != 0:
			l.errorf(it, "%s is listed twice; first on line %d", quote(name), first[name])
		default:
			first[name] = it.line
			s.Targets = append(s.Targets, name)
		}
	}
	if s.Type == SourceGitHub || s.Type == SourceGitLab {
		s.Base = l.prBase(o.get("base"))
	} else {
		s.Base = l.base(o.get("base"))
	}
	if block.node != nil {
		switch s.Type {
		case SourcePatchwork:
			s.Patchwork = l.patchwork(block)
		case SourceGitHub:
			s.GitHub = l.github(block)
		case SourceGitLab:
			s.GitLab = l.gitlab(block)
		}
	}
	s.Report = l.report(o.get("report"), s, reporters)
	return s
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

// base reads a source's base block.
func (l *loader) base(f field) change.Base {
	if f.node == nil {
		l.errorf(f, "required: the tree, url and branch the changes apply on")
		return change.Base{}
	}
	o := l.object(f, "tree", "url", "branch", "policy")
	return change.Base{
		Tree:   l.required(o.get("tree")),
		URL:    l.gitURL(o.get("url")),
		Branch: l.required(o.get("branch")),
		Policy: change.Policy(l.enum(o.get("policy"), string(DefaultPolicy),
			string(change.PolicyPinned), string(change.PolicyFollow), string(change.PolicyTag))),
	}
}

// Forms of Patchwork names: a project's link name and a state's slug.
var (
	linkNameRE  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)
	stateSlugRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)
	apiPathRE   = regexp.MustCompile(`/api(/[0-9.]+)?$`)
)

// patchwork reads a source's patchwork block.
func (l *loader) patchwork(f field) *Patchwork {
	o := l.object(f, "url", "project", "states", "lookback", "delegate", "token_file", "token_env")
	p := &Patchwork{
		URL:      l.httpURL(o.get("url"), true),
		Lookback: l.duration(o.get("lookback"), DefaultLookback),
		Delegate: l.optional(o.get("delegate"), ""),
		Token:    l.secret(o, false),
	}
	if apiPathRE.MatchString(p.URL) {
		l.errorf(o.get("url"), "%s is an API URL; give the instance's root URL (trawl adds /api/1.3)", quote(p.URL))
	}
	pf := o.get("project")
	if p.Project = l.required(pf); p.Project != "" && !linkNameRE.MatchString(p.Project) {
		l.errorf(pf, "%s is not a project link name (as in https://host/project/<link name>/list/)", quote(p.Project))
	}
	sf := o.get("states")
	states, ok := l.list(sf, stateSlugRE, "a state slug such as new or under-review")
	switch {
	case !ok:
		p.States = DefaultStates()
	case len(sf.node.Content) == 0:
		l.errorf(sf, "lists no state; leave states out for %s", strings.Join(DefaultStates(), ", "))
	default:
		p.States = states
	}
	return p
}
