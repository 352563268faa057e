package config

import (
	"regexp"

	"github.com/trawl-ci/trawl/pkg/change"
)

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

// sourceType is one source type: its name (the value of type, and the key
// of its block), the reader of its block into its field of Source, and
// whether it polls pull or merge requests (whose base is each request's
// own target branch).
type sourceType struct {
	name     string
	read     func(l *loader, block field, s *Source)
	requests bool
}

// sourceTypes are the source types, in the order messages list them. A new
// type adds its row here (and its file, its field in Source, and its words
// in report).
var sourceTypes = []sourceType{
	{SourcePatchwork, func(l *loader, f field, s *Source) {
		s.Patchwork = l.patchwork(f)
		l.checkPatchDomains(*s, f)
	}, false},
	{SourceGitHub, func(l *loader, f field, s *Source) { s.GitHub = l.github(f) }, true},
	{SourceGitLab, func(l *loader, f field, s *Source) { s.GitLab = l.gitlab(f) }, true},
}

// SourceTypes returns the source types a configuration may name.
func SourceTypes() []string {
	names := make([]string, len(sourceTypes))
	for i, st := range sourceTypes {
		names[i] = st.name
	}
	return names
}

// sourceTypeOf returns the row of the source type name.
func sourceTypeOf(name string) (sourceType, bool) {
	for _, st := range sourceTypes {
		if st.name == name {
			return st, true
		}
	}
	return sourceType{}, false
}

// source reads one source; seen maps the source names read so far to their
// lines, and targets the target names.
func (l *loader) source(f field, seen, targets, reporters map[string]int) Source {
	types := SourceTypes()
	o := l.object(f, append([]string{"name", "type", "schedule", "targets", "base", "report", "retry_infra"}, types...)...)
	s := Source{Name: l.name(o.get("name"), seen), RetryInfra: l.integer(o.get("retry_infra"), 0, 0, 5)}
	var block field
	s.Type, block = l.typeOf(o, "source", types...)
	st, known := sourceTypeOf(s.Type)
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
	if st.requests {
		s.Base = l.prBase(o.get("base"))
	} else {
		s.Base = l.base(o.get("base"))
	}
	if known && block.node != nil {
		st.read(l, block, &s)
	}
	s.Report = l.report(o.get("report"), s, reporters)
	return s
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

// branchRE is the form of a branch name a github or gitlab block filters on.
var branchRE = regexp.MustCompile(`^[^\s~^:?*\[\\]+$`)

// prBase reads the base block of a pull or merge request source: every
// key is optional, and the branch is each request's own target branch.
func (l *loader) prBase(f field) change.Base {
	if f.node == nil {
		return change.Base{Policy: DefaultPolicy}
	}
	o := l.object(f, "tree", "url", "branch", "policy")
	if bf := o.get("branch"); bf.node != nil {
		l.errorf(bf, "each pull or merge request's own target branch is its base; filter with branches in the github or gitlab block")
	}
	b := change.Base{
		Tree: l.optional(o.get("tree"), ""),
		Policy: change.Policy(l.enum(o.get("policy"), string(DefaultPolicy),
			string(change.PolicyPinned), string(change.PolicyFollow), string(change.PolicyTag))),
	}
	if o.get("url").node != nil {
		b.URL = l.gitURL(o.get("url"))
	}
	return b
}
