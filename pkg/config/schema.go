package config

import (
	"net"
	neturl "net/url"
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

// target reads one target; seen maps the target names read so far to
// their lines.
func (l *loader) target(f field, seen map[string]int) Target {
	o := l.object(f, "name", "type", "max_running", TargetKernelCI, TargetExec, TargetWebhook)
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
	t.MaxRunning = l.maxRunning(o.get("max_running"), t.Type)
	return t
}

// domainRE is the form of a patch domain: a host name or an IPv4 address.
var domainRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$`)

// submitterRE is the form of a submitters entry: service:<name> or
// user:<email>, or a prefix of one ending in "*".
var submitterRE = regexp.MustCompile(`^(service|user):[^*\s]*\*?$`)

// kernelCI reads a target's kernelci block.
func (l *loader) kernelCI(f field) *KernelCI {
	o := l.object(f, "api_url", "pipeline_url", "dashboard_url", "token_file", "token_env", "jobfilter", "platformfilter",
		"patch_domains", "submitters", "checkout_wait")
	k := &KernelCI{
		APIURL:       l.httpURL(o.get("api_url"), true),
		PipelineURL:  l.httpURL(o.get("pipeline_url"), true),
		DashboardURL: l.httpURL(o.get("dashboard_url"), false),
		Token:        l.secret(o, true),
		CheckoutWait: l.duration(o.get("checkout_wait"), DefaultCheckoutWait),
	}
	k.JobFilter, _ = l.list(o.get("jobfilter"), nil, "")
	k.PlatformFilter, _ = l.list(o.get("platformfilter"), nil, "")
	var set bool
	df := o.get("patch_domains")
	if k.PatchDomains, set = l.list(df, domainRE, "a host name such as patchwork.kernel.org"); !set {
		k.PatchDomains = DefaultPatchDomains()
	} else if len(k.PatchDomains) == 0 && df.node != nil && len(df.node.Content) == 0 {
		l.errorf(df, "lists no host; leave patch_domains out for %s", strings.Join(DefaultPatchDomains(), ", "))
	}
	for i, d := range k.PatchDomains {
		k.PatchDomains[i] = strings.ToLower(d)
	}
	sf := o.get("submitters")
	if k.Submitters, set = l.list(sf, submitterRE, "a submitter such as service:pipeline or user:ci@example.org"); !set {
		k.Submitters = DefaultSubmitters()
	} else if len(k.Submitters) == 0 && sf.node != nil && len(sf.node.Content) == 0 {
		l.errorf(sf, "lists no submitter; leave submitters out for %s", strings.Join(DefaultSubmitters(), ", "))
	}
	return k
}

// checkPatchDomains reports a Patchwork source whose host is off the patch
// domains of a KernelCI target it feeds: the pipeline would accept its
// patches and fail every patchset later. block is the source's patchwork
// block.
func (l *loader) checkPatchDomains(s Source, block field) {
	if s.Patchwork == nil || s.Patchwork.URL == "" || block.node == nil {
		return
	}
	url := field{key: child(block.key, "url"), line: block.line}
	for i := 0; i+1 < len(block.node.Content); i += 2 {
		if k := block.node.Content[i]; k.Value == "url" {
			url.line = k.Line
		}
	}
	u, err := neturl.Parse(s.Patchwork.URL)
	if err != nil {
		return
	}
	host := strings.ToLower(u.Hostname())
	for _, name := range s.Targets {
		domains, ok := l.patchDomains[name]
		if ok && !slices.Contains(domains, host) {
			l.errorf(url, "host %s is not among the patch domains of target %s (%s): its pipeline would not fetch these patches; add it to that target's patch_domains (and to the pipeline's [patchset] allowed_domains)",
				host, name, strings.Join(domains, ", "))
		}
	}
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
			l.checkPatchDomains(s, block)
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
