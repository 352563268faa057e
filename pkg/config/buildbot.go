package config

import (
	"regexp"
	"strings"

	"github.com/trawl-ci/trawl/pkg/secret"
)

// TargetBuildbot posts each unit to a Buildbot master's base change hook.
const TargetBuildbot = "buildbot"

// Buildbot configures a Buildbot target (pkg/targets/buildbot).
type Buildbot struct {
	// URL is the master's web root (its buildbotURL).
	URL string `yaml:"url" json:"url"`
	// HookPath is the base change hook under URL.
	HookPath string `yaml:"hook_path" json:"hook_path"`
	// User and Password are the change hook's basic auth (the master's
	// www change_hook_auth); both unset means none.
	User     string        `yaml:"user,omitempty" json:"user,omitempty"`
	Password secret.Source `yaml:"password" json:"password"`
	// Builders are the builders a trawl change starts on the master.
	Builders []string `yaml:"builders" json:"builders"`
	// Project prefixes each change's project: <project>/<job key>.
	Project string `yaml:"project" json:"project"`
	// Category is each change's category, what the master's scheduler
	// filters on.
	Category string `yaml:"category" json:"category"`
	// Codebase is each change's codebase.
	Codebase string `yaml:"codebase,omitempty" json:"codebase,omitempty"`
	// LookupChanges bounds how many of the master's newest changes a
	// lookup for a job reads.
	LookupChanges int `yaml:"lookup_changes" json:"lookup_changes"`
	// StartTimeout bounds how long a builder may have no build for a
	// change before the job is an infrastructure error.
	StartTimeout Duration `yaml:"start_timeout" json:"start_timeout"`
	// PostGrace is how long a trigger waits for the change of a POST an
	// earlier, killed run may have had on the wire before posting again.
	PostGrace Duration `yaml:"post_grace" json:"post_grace"`
}

// Defaults of a buildbot block (the target package's own).
const (
	DefaultBuildbotHookPath      = "change_hook/base"
	DefaultBuildbotProject       = "trawl"
	DefaultBuildbotCategory      = "trawl"
	DefaultBuildbotLookupChanges = 1000
	MaxBuildbotLookupChanges     = 100000
	DefaultBuildbotStartTimeout  = Duration(6 * 60 * 60 * 1e9)
	DefaultBuildbotPostGrace     = Duration(2 * 60 * 1e9)
	// DefaultMaxRunningBuildbot bounds a Buildbot target's builds running
	// at once: the master queues them on its own workers.
	DefaultMaxRunningBuildbot = 20
)

// bbNameRE is the form of a builder name, project, category or codebase
// trawl sends: printable, no slash in a builder name (it is a path
// segment of the REST API).
var (
	bbBuilderRE = regexp.MustCompile(`^[^/\s][^/]*$`)
	bbWordRE    = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)
)

// buildbot reads a target's buildbot block.
func (l *loader) buildbot(f field) *Buildbot {
	o := l.object(f, "url", "hook_path", "user", "password_file", "password_env", "builders", "project",
		"category", "codebase", "lookup_changes", "start_timeout", "post_grace")
	b := &Buildbot{
		URL:           l.httpURL(o.get("url"), true),
		HookPath:      strings.TrimLeft(l.optional(o.get("hook_path"), DefaultBuildbotHookPath), "/"),
		User:          l.optional(o.get("user"), ""),
		Password:      l.secretPair(o, "password_file", "password_env", "change hook password", false),
		Project:       l.optional(o.get("project"), DefaultBuildbotProject),
		Category:      l.optional(o.get("category"), DefaultBuildbotCategory),
		Codebase:      l.optional(o.get("codebase"), ""),
		LookupChanges: l.integer(o.get("lookup_changes"), DefaultBuildbotLookupChanges, 1, MaxBuildbotLookupChanges),
		StartTimeout:  l.duration(o.get("start_timeout"), DefaultBuildbotStartTimeout),
		PostGrace:     l.duration(o.get("post_grace"), DefaultBuildbotPostGrace),
	}
	if b.HookPath == "" || strings.ContainsAny(b.HookPath, "?#") {
		l.errorf(o.get("hook_path"), "must be a path under url, e.g. %s", DefaultBuildbotHookPath)
	}
	bf := o.get("builders")
	builders, set := l.list(bf, bbBuilderRE, "a builder name")
	if !set || len(bf.node.Content) == 0 {
		l.errorf(bf, "required: the builders the master's scheduler starts for trawl's changes, e.g. [unit]")
	}
	b.Builders = builders
	for _, k := range []string{"project", "category", "codebase"} {
		kf := o.get(k)
		if s, ok := l.scalar(kf); ok && s != "" && !bbWordRE.MatchString(s) {
			l.errorf(kf, "%s is not letters, digits, '.', '_' or '-'", quote(s))
		}
	}
	uf := o.get("user")
	switch {
	case b.User != "" && !b.Password.IsSet():
		l.errorf(uf, "needs password_file or password_env: the change hook's basic auth")
	case b.User == "" && b.Password.IsSet():
		l.errorf(o.field, "password_file or password_env needs a user")
	case uf.node != nil && (b.User == "" || strings.Contains(b.User, ":")):
		l.errorf(uf, "must be a user name without ':'")
	}
	return b
}
