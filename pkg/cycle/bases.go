package cycle

import (
	"context"
	"fmt"

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
	// Changes are named by their position in the graph's order and
	// targets by their index in the unit table, which decide reads too.
	p.units = newUnitTable(len(p.graph.Order), r.targets, p.st.Units)
	resolvers := make([]string, len(p.units.names))
	for j, name := range p.units.names {
		resolvers[j] = r.resolverID(r.targets[name])
	}
	walked := make([]bool, len(p.units.keys))
	var walk func(i, j int)
	walk = func(i, j int) {
		c, _ := p.graph.At(i)
		if c.Waiting != "" || walked[i*len(resolvers)+j] {
			return
		}
		walked[i*len(resolvers)+j] = true
		_, stored := p.units.unit(c, i, j)
		if b, resolve := basePlan(c, stored); resolve {
			k := baseKey{resolver: resolvers[j], url: b.URL, branch: b.Branch}
			if _, done := p.bases[k]; !done {
				p.bases[k] = r.resolveBase(ctx, r.targets[p.units.names[j]], b.URL, b.Branch)
			}
		}
		for _, d := range p.graph.DepsAt(i) {
			walk(d, j)
		}
	}
	for i := range p.graph.Order {
		c, n := p.graph.At(i)
		if _, ok := p.scope[c.Source]; !ok || c.Merged || n.Status != graph.Ready {
			continue
		}
		for _, name := range c.Targets {
			if j, ok := p.units.target[name]; ok {
				walk(i, j)
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
