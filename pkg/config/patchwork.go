package config

import (
	"regexp"
	"strings"

	"github.com/trawl-ci/trawl/pkg/secret"
)

// SourcePatchwork polls a project on a Patchwork instance.
const SourcePatchwork = "patchwork"

// DefaultStates are the Patchwork patch states a source polls unless it
// names its own.
func DefaultStates() []string { return []string{"new", "under-review"} }

// Patchwork configures a Patchwork source.
type Patchwork struct {
	// URL is the root of the Patchwork instance, without a trailing slash.
	URL string `yaml:"url" json:"url"`
	// Project is the project's link name.
	Project string `yaml:"project" json:"project"`
	// States are the patch state slugs polled.
	States []string `yaml:"states" json:"states"`
	// Lookback is how far back series are listed.
	Lookback Duration `yaml:"lookback" json:"lookback"`
	// Delegate, when set, keeps only patches delegated to this user.
	Delegate string `yaml:"delegate,omitempty" json:"delegate,omitempty"`
	// Token, when set, is where the Patchwork API token lives (needed only
	// to post checks).
	Token secret.Source `yaml:"token" json:"token"`
	// EventsRelist, above 0, turns the events hint on: a tick asks the
	// project's event log first and lists only when it names a change,
	// and at least every EventsRelist-th tick. 0 (the default) lists every
	// tick.
	EventsRelist int `yaml:"events_relist,omitempty" json:"events_relist,omitempty"`
}

// Forms of Patchwork names: a project's link name and a state's slug.
var (
	linkNameRE  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)
	stateSlugRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)
	apiPathRE   = regexp.MustCompile(`/api(/[0-9.]+)?$`)
)

// patchwork reads a source's patchwork block.
func (l *loader) patchwork(f field) *Patchwork {
	o := l.object(f, "url", "project", "states", "lookback", "delegate", "token_file", "token_env", "events_relist")
	p := &Patchwork{
		URL:          l.httpURL(o.get("url"), true),
		Lookback:     l.duration(o.get("lookback"), DefaultLookback),
		Delegate:     l.optional(o.get("delegate"), ""),
		Token:        l.secret(o, false),
		EventsRelist: l.integer(o.get("events_relist"), 0, 0, 10000),
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
