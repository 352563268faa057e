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
	// Changes are named by their position in the graph's order and
	// targets by an index: a map look-up by a long key per unit was what
	// this stage cost at 10k units.
	type target struct {
		t        Target
		resolver string
	}
	var ts []target
	index := make(map[string]int, len(r.targets))
	for name, t := range r.targets {
		index[name] = len(ts)
		ts = append(ts, target{t, r.resolverID(t)})
	}
	walked := make([]bool, len(p.graph.Order)*len(ts))
	var unitKey []byte
	var walk func(i, j int)
	walk = func(i, j int) {
		c, _ := p.graph.At(i)
		if c.Waiting != "" || walked[i*len(ts)+j] {
			return
		}
		walked[i*len(ts)+j] = true
		t := ts[j]
		unitKey = change.AppendUnitKey(unitKey[:0], c.Key, t.t.Name())
		if b, resolve := basePlan(c, p.st.Units[string(unitKey)]); resolve {
			k := baseKey{resolver: t.resolver, url: b.URL, branch: b.Branch}
			if _, done := p.bases[k]; !done {
				p.bases[k] = r.resolveBase(ctx, t.t, b.URL, b.Branch)
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
			if j, ok := index[name]; ok {
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
