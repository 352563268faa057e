package config

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
	// Buildbot is set when Type is TargetBuildbot.
	Buildbot *Buildbot `yaml:"buildbot,omitempty" json:"buildbot,omitempty"`
	// Jenkins is set when Type is TargetJenkins.
	Jenkins *Jenkins `yaml:"jenkins,omitempty" json:"jenkins,omitempty"`
	// GitLabPipeline is set when Type is TargetGitLabPipeline.
	GitLabPipeline *GitLabPipeline `yaml:"gitlab-pipeline,omitempty" json:"gitlab-pipeline,omitempty"`
	// GitHubWorkflow is set when Type is TargetGitHubWorkflow.
	GitHubWorkflow *GitHubWorkflow `yaml:"github-workflow,omitempty" json:"github-workflow,omitempty"`
}

// targetType is one target type: its name (the value of type, and the
// key of its block), the reader of its block into its field of Target,
// and its default max_running (0: the target's jobs cannot be followed, so
// it has no bound and refuses the key).
type targetType struct {
	name       string
	read       func(l *loader, block field, t *Target)
	maxRunning int
}

// targetTypes are the target types, in the order messages list them. A new
// type adds its row here (and its file, and its field in Target).
var targetTypes = []targetType{
	{TargetKernelCI, func(l *loader, f field, t *Target) { t.KernelCI = l.kernelCI(f) }, DefaultMaxRunningKernelCI},
	{TargetExec, func(l *loader, f field, t *Target) { t.Exec = l.exec(f) }, DefaultMaxRunningExec},
	{TargetWebhook, func(l *loader, f field, t *Target) { t.Webhook = l.webhook(f) }, 0},
	{TargetBuildbot, func(l *loader, f field, t *Target) { t.Buildbot = l.buildbot(f) }, DefaultMaxRunningBuildbot},
	{TargetJenkins, func(l *loader, f field, t *Target) { t.Jenkins = l.jenkins(f) }, DefaultMaxRunningJenkins},
	{TargetGitLabPipeline, func(l *loader, f field, t *Target) { t.GitLabPipeline = l.gitlabPipeline(f) }, DefaultMaxRunningForgeCI},
	{TargetGitHubWorkflow, func(l *loader, f field, t *Target) { t.GitHubWorkflow = l.githubWorkflow(f) }, DefaultMaxRunningForgeCI},
}

// TargetTypes returns the target types a configuration may name.
func TargetTypes() []string {
	names := make([]string, len(targetTypes))
	for i, tt := range targetTypes {
		names[i] = tt.name
	}
	return names
}

// targetTypeOf returns the row of the target type name.
func targetTypeOf(name string) (targetType, bool) {
	for _, tt := range targetTypes {
		if tt.name == name {
			return tt, true
		}
	}
	return targetType{}, false
}

// target reads one target; seen maps the target names read so far to
// their lines.
func (l *loader) target(f field, seen map[string]int) Target {
	types := TargetTypes()
	o := l.object(f, append([]string{"name", "type", "max_running"}, types...)...)
	t := Target{Name: l.name(o.get("name"), seen)}
	var block field
	t.Type, block = l.typeOf(o, "target", types...)
	if tt, ok := targetTypeOf(t.Type); ok && block.node != nil {
		tt.read(l, block, &t)
	}
	t.MaxRunning = l.maxRunning(o.get("max_running"), t.Type)
	return t
}

// Bounds on the builds of one target running at once (max_running). A
// build is running from its trigger until trawl has read a final result
// for it: for exec until the command has ended (it runs on this host, so
// the default is small); for KernelCI until the patchset's whole subtree
// has a final result (the pipeline's own labs bound the load, so the
// default is larger). Units beyond the bound wait in a queue, oldest
// fingerprint first, and start on later cycles as builds end. A webhook's
// deliveries cannot be followed, so trawl cannot tell when they end: a
// webhook target has no bound and refuses the key.
const (
	DefaultMaxRunningExec     = 4
	DefaultMaxRunningKernelCI = 20
	MaxMaxRunning             = 1000
)

// maxRunning reads a target's max_running for a target of type typ.
func (l *loader) maxRunning(f field, typ string) int {
	tt, ok := targetTypeOf(typ)
	switch {
	case !ok:
		return 0
	case tt.maxRunning > 0:
		return l.integer(f, tt.maxRunning, 1, MaxMaxRunning)
	case f.node != nil:
		l.errorf(f, "a %s target's jobs cannot be followed, so trawl cannot tell how many run: leave max_running out", typ)
	}
	return 0
}
