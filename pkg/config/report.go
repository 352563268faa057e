package config

import (
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/trawl-ci/trawl/pkg/targets"
)

// Report says where a source's results are written back.
type Report struct {
	// Checks posts the result where the change lives: a Patchwork check on
	// every patch of a series (key "checks"), a commit status on a pull or
	// merge request's head (key "statuses"). It defaults to true when the
	// source has a token.
	Checks bool `yaml:"checks" json:"checks"`
	// Context is the check context, a slug; when the source has several
	// targets, "-<target>" is appended so each target has its own.
	Context string `yaml:"context" json:"context"`
	// States maps a result state (pending, success, warning, fail,
	// infra-error) to the check or status state posted, in the forge's
	// words; "none" means not posted.
	// Missing states keep the reporter's default.
	States map[targets.State]string `yaml:"states,omitempty" json:"states,omitempty"`
	// Reporters names further reporters (ResultsDB) the source's results go to.
	Reporters []string `yaml:"reporters,omitempty" json:"reporters,omitempty"`
	// MaxAge bounds how long a report that keeps failing is retried: an
	// older one is dropped from the outbox, logged and counted.
	MaxAge Duration `yaml:"max_age" json:"max_age"`
}

// DefaultReportMaxAge is how long a failing report is retried by default.
const DefaultReportMaxAge = Duration(7 * 24 * time.Hour)

// DefaultCheckContext is the check context of a source that names none.
const DefaultCheckContext = "trawl"

// Reporter is one results store. Exactly the block of its Type is set.
type Reporter struct {
	Name      string     `yaml:"name" json:"name"`
	Type      string     `yaml:"type" json:"type"`
	ResultsDB *ResultsDB `yaml:"resultsdb,omitempty" json:"resultsdb,omitempty"`
}

var (
	resultStates = []string{string(targets.StatePending), string(targets.StateSuccess), string(targets.StateWarning), string(targets.StateFail), string(targets.StateInfra)}
	checkSlugRE  = regexp.MustCompile(`^[-a-zA-Z0-9_]{1,255}$`)
)

// reporterType is one reporter type: its name (the value of type, and the
// key of its block) and the reader of its block into its field of
// Reporter.
type reporterType struct {
	name string
	read func(l *loader, block field, r *Reporter)
}

// reporterTypes are the reporter types, in the order messages list them. A
// new type adds its row here (and its file, and its field in Reporter).
var reporterTypes = []reporterType{
	{ReporterResultsDB, func(l *loader, f field, r *Reporter) { r.ResultsDB = l.resultsDB(f) }},
}

// ReporterTypes returns the reporter types a configuration may name.
func ReporterTypes() []string {
	names := make([]string, len(reporterTypes))
	for i, rt := range reporterTypes {
		names[i] = rt.name
	}
	return names
}

// reporter reads one entry of the top-level reporters list.
func (l *loader) reporter(f field, seen map[string]int) Reporter {
	types := ReporterTypes()
	o := l.object(f, append([]string{"name", "type"}, types...)...)
	r := Reporter{Name: l.name(o.get("name"), seen)}
	var block field
	r.Type, block = l.typeOf(o, "reporter", types...)
	for _, rt := range reporterTypes {
		if rt.name == r.Type && block.node != nil {
			rt.read(l, block, &r)
		}
	}
	return r
}

// report reads a source's report block; reporters maps the reporter
// names to their lines.
func (l *loader) report(f field, s Source, reporters map[string]int) Report {
	key, what, words := "checks", "check", []string{"pending", "success", "warning", "fail"}
	hasToken := s.Patchwork != nil && s.Patchwork.Token.IsSet()
	switch s.Type {
	case SourceGitHub:
		key, what, words = "statuses", "commit status", []string{"pending", "success", "failure", "error"}
		hasToken = s.GitHub != nil
	case SourceGitLab:
		key, what, words = "statuses", "commit status", []string{"pending", "running", "success", "failed", "canceled"}
		hasToken = s.GitLab != nil
	}
	o := l.object(f, key, "context", "states", "reporters", "max_age")
	r := Report{Checks: hasToken, Context: DefaultCheckContext, MaxAge: l.duration(o.get("max_age"), DefaultReportMaxAge)}
	cf := o.get(key)
	if v := l.enum(cf, "", "true", "false"); v != "" {
		r.Checks = v == "true"
		if r.Checks && !hasToken {
			l.errorf(cf, "posting checks needs the Patchwork token: set patchwork.token_file or patchwork.token_env")
		}
	}
	xf := o.get("context")
	r.Context = l.optional(xf, DefaultCheckContext)
	switch {
	case s.Type == SourcePatchwork && !checkSlugRE.MatchString(r.Context):
		l.errorf(xf, "%s is not a check context: letters, digits, '-' and '_' only (no dots, slashes or spaces)", quote(r.Context))
	case r.Context == "" || len(r.Context) > 190:
		l.errorf(xf, "must be 1 to 190 characters")
	}
	r.States = l.stateMap(o.get("states"), func(f field, v string) bool {
		if v == "none" || slices.Contains(words, v) {
			return true
		}
		l.errorf(f, "%s is not a %s state: %s, or none", quote(v), what, strings.Join(words, ", "))
		return false
	})
	for _, it := range l.items(o.get("reporters")) {
		name := l.required(it)
		if name != "" && reporters[name] == 0 {
			l.errorf(it, "no reporter is named %s; reporters are: %s", quote(name), knownNames(reporters))
			continue
		}
		r.Reporters = append(r.Reporters, name)
	}
	return r
}

// stateMap reads a mapping of result states to values checked by valid.
func (l *loader) stateMap(f field, valid func(field, string) bool) map[targets.State]string {
	if f.node == nil {
		return nil
	}
	o := l.object(f, resultStates...)
	m := map[targets.State]string{}
	for _, s := range resultStates {
		vf := o.get(s)
		if v, ok := l.scalar(vf); ok && valid(vf, v) {
			m[targets.State(s)] = v
		}
	}
	return m
}
