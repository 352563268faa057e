package cycle

import (
	"context"
	"fmt"

	"github.com/trawl-ci/trawl/pkg/change"
	"github.com/trawl-ci/trawl/pkg/graph"
)

// baseKey names one base look-up of a cycle: a branch of a tree, as one
// resolver sees it (a target's own view, or the default git resolver).
type baseKey struct {
	resolver string
	url      string
	branch   string
}

// baseAnswer is one base look-up's answer: the commit, or why there is
// none (an error wrapping targets.ErrWaiting when the unit must wait).
type baseAnswer struct {
	commit string
	err    error
}

// resolverID names what resolves t's bases: t itself when it is a
// BaseResolver, else the default resolver shared by every other target.
func (r *Runner) resolverID(t Target) string {
	if _, ok := t.(BaseResolver); ok {
		return "target:" + t.Name()
	}
	return "default"
}

// resolveBases is the stage before decide: it resolves every base branch
// decide may need (basePlan says which), once per resolver, tree and
// branch, shared by every unit on it. It walks the units decide will
// fingerprint, and their dependencies, in dependency order. The look-ups
// are all the network I/O of deciding; decide only reads their answers.
func (r *Runner) resolveBases(ctx context.Context, p *pass) {
	p.bases = map[baseKey]baseAnswer{}
	type unit struct {
		change change.Key
		target string
	}
	walked := make(map[unit]bool, len(p.graph.Order))
	// walk takes c and n, key's change and node (either may be nil),
	// from the caller that looked them up already: a map look-up by a
	// long string key is what this stage costs at 10k units.
	var walk func(key change.Key, c *change.Change, n *graph.Node, t Target)
	walk = func(key change.Key, c *change.Change, n *graph.Node, t Target) {
		if c == nil || c.Waiting != "" {
			return
		}
		u := unit{key, t.Name()}
		if walked[u] {
			return
		}
		walked[u] = true
		if b, resolve := basePlan(c, p.st.Units[change.UnitKey(key, t.Name())]); resolve {
			k := baseKey{resolver: r.resolverID(t), url: b.URL, branch: b.Branch}
			if _, done := p.bases[k]; !done {
				p.bases[k] = r.resolveBase(ctx, t, b.URL, b.Branch)
			}
		}
		if n != nil {
			for _, d := range n.Deps {
				walk(d, p.changes[d], p.graph.Nodes[d], t)
			}
		}
	}
	for _, key := range p.graph.Order {
		c, n := p.changes[key], p.graph.Nodes[key]
		if _, ok := p.scope[c.Source]; !ok || c.Merged || n.Status != graph.Ready {
			continue
		}
		for _, name := range c.Targets {
			if t, ok := r.targets[name]; ok {
				walk(key, c, n, t)
			}
		}
	}
}

// resolveBase asks t (when it is a BaseResolver) or the default resolver
// for the commit a branch is at.
func (r *Runner) resolveBase(ctx context.Context, t Target, url, branch string) baseAnswer {
	var res BaseResolver
	if br, ok := t.(BaseResolver); ok {
		res = br
	} else if r.o.Resolver != nil {
		res = r.o.Resolver
	}
	if res == nil {
		return baseAnswer{err: fmt.Errorf("no base resolver for target %s", t.Name())}
	}
	commit, err := res.ResolveBase(ctx, url, branch)
	return baseAnswer{commit: commit, err: err}
}
