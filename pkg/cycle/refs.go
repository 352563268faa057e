package cycle

import (
	"context"
	"fmt"

	"go.uber.org/zap"

	"github.com/trawl-ci/trawl/pkg/change"
	"github.com/trawl-ci/trawl/pkg/deps"
	"github.com/trawl-ci/trawl/pkg/graph"
)

// resolver completes the dependency references of a cycle's changes across
// sources, with each lookup made once per cycle.
type resolver struct {
	ctx context.Context
	r   *Runner
	// index maps the changes fetched by key; joined are the merged
	// dependencies that joined the snapshot since.
	index   map[change.Key]*change.Change
	joined  map[change.Key]bool
	unknown map[string]bool
	states  map[change.Key]stateAnswer
	msgids  map[string]msgidAnswer
	follows map[change.Key]followAnswer
	// merged are the merged dependencies whose content an owner gave, to
	// join the snapshot.
	merged []change.Change
}

// followAnswer is one revision look-up of the cycle.
type followAnswer struct {
	key change.Key
	err error
}

// stateAnswer is one dependency look-up of the cycle.
type stateAnswer struct {
	state  change.State
	merged *change.Change // the merged change's content, when its owner gives it
	err    error
}

// msgidAnswer is one message-id look-up of the cycle: the change and the
// source owning it, or why no source could answer.
type msgidAnswer struct {
	key    change.Key
	source string
	err    error
}

// resolveRefs is the second stage: it rewrites the references of every
// change of the snapshot in place:
//   - a reference its own source could not place (another repository,
//     another forge) is given to the source that owns its key; one on a
//     host no source is configured for is dropped, never fetched;
//   - a message-id named outside Patchwork is offered to the sources that
//     resolve message-ids;
//   - a dependency owned by a known source but absent from the snapshot is
//     looked up (once per cycle, and not when its own source looked it up
//     already): merged counts as part of the base, closed blocks, and a
//     failed look-up makes the reference Unknown (never merged);
//   - a change naming more dependencies than a unit may hold is blocked
//     before any of them is looked up.
//
// The merged dependencies whose content their owner gave join the
// snapshot; each distinct failed look-up (the sources' own included) is an
// error of the cycle, like a failed source: its dependents are unknown.
// The stage ends with the dependency graph of the completed snapshot.
func (r *Runner) resolveRefs(ctx context.Context, p *pass) {
	all := p.all
	rs := &resolver{ctx: ctx, r: r, index: changeIndex(all), joined: map[change.Key]bool{}, unknown: p.unknown,
		states: map[change.Key]stateAnswer{}, msgids: map[string]msgidAnswer{}, follows: map[change.Key]followAnswer{}}
	failed := map[string]bool{}
	limit := r.o.Limits.MaxClosure
	if limit <= 0 {
		limit = graph.DefaultMaxClosure
	}
	for i := range all {
		c := &all[i]
		if len(c.Deps) > limit {
			if c.Unbuildable == "" {
				c.Unbuildable = fmt.Sprintf("names %d dependencies, more than the %d allowed: none was looked up", len(c.Deps), limit)
			}
			c.Deps = nil
		}
		// A fresh slice: Deps is shared with the source's snapshot, which
		// later cycles reuse and must see unresolved.
		kept := make([]change.Ref, 0, len(c.Deps))
		for _, ref := range c.Deps {
			if rs.resolve(c, &ref) {
				kept = append(kept, ref)
			}
			if ref.Unknown != "" {
				failed[ref.Unknown] = true
			}
		}
		c.Deps = kept
		relays := make([]change.Ref, 0, len(c.Relays))
		for _, ref := range c.Relays {
			if ref.Source == "" && ref.Key != "" {
				owner, _, hostName := rs.claim(ref.Key)
				ref.Source = owner
				if owner == "" {
					ref.Source = hostName
				}
			}
			if ref.Source != "" {
				relays = append(relays, ref)
			}
		}
		c.Relays = relays
	}
	p.all = append(all, rs.merged...)
	p.rep.Errors += len(failed)
	// The index of the fetched changes serves, unless merged ones joined
	// (the appended snapshot may have moved): indexing 10k changes is a
	// tenth of this stage.
	p.changes = rs.index
	if len(rs.merged) > 0 {
		p.changes = changeIndex(p.all)
	}
	p.graph = graph.Build(p.all, p.unknown, r.o.Limits)
	r.logGraph(p.graph)
}

// resolve completes one reference; false drops it.
func (rs *resolver) resolve(c *change.Change, ref *change.Ref) bool {
	if ref.Unknown != "" {
		return true
	}
	host, keep := rs.place(c, ref)
	if !keep || ref.Unknown != "" {
		return keep
	}
	if ref.Key == "" || ref.Merged || ref.Closed || ref.Checked || rs.present(ref.Key) || rs.unknown[ref.Source] {
		return true
	}
	if host == nil {
		host, _ = rs.r.sources[ref.Source].(Owner)
	}
	if host != nil {
		rs.lookUp(host, ref)
	}
	return true
}

// place finds the change and the source a reference names: a message-id
// through the sources that resolve them, a key through the source that
// owns it. A key on a host without a source of its own is placed on a
// source of that host, returned as the owner to ask; a key on a host no
// source is configured for is dropped (false).
func (rs *resolver) place(c *change.Change, ref *change.Ref) (host Owner, keep bool) {
	if ref.Key == "" && ref.Source == "" {
		a := rs.msgid(ref.Raw)
		if a.err != nil {
			ref.Unknown = fmt.Sprintf("look-up of dependency %q failed: %v", ref.Raw, a.err)
			return nil, true
		}
		ref.Key, ref.Source = a.key, a.source
	}
	if ref.Key == "" || ref.Source != "" {
		return nil, true
	}
	owner, hostOnly, hostName := rs.claim(ref.Key)
	switch {
	case owner != "":
		ref.Source = owner
	case hostOnly != nil:
		host = hostOnly
		ref.Source = hostName
	default:
		rs.r.log.Debug("dependency on a host no source is configured for: ignored",
			zap.String("change", string(c.Key)), zap.String("ref", ref.Raw))
		return nil, false
	}
	return host, true
}

// lookUp asks host for the state of a dependency absent from the
// snapshot, following its revision line where the forge does not link
// revisions: merged counts as part of the base, closed blocks, and a
// failed look-up makes the reference unknown (never merged).
func (rs *resolver) lookUp(host Owner, ref *change.Ref) {
	a := rs.state(host, ref.Key)
	if f, ok := host.(Follower); ok && a.err == nil && a.state != change.StateMerged {
		// Closed, or open but not among the open changes: a newer
		// revision may take its place.
		fa := rs.follow(f, ref.Key)
		switch {
		case fa.err != nil:
			a.err = fa.err
		case fa.key != ref.Key:
			rs.r.log.Debug("dependency follows its revision line", zap.String("named", string(ref.Key)), zap.String("newest", string(fa.key)))
			ref.Key = fa.key
			if rs.present(ref.Key) {
				ref.Checked = true
				return
			}
			a = rs.state(host, ref.Key)
		}
	}
	switch {
	case a.err != nil:
		ref.Unknown = fmt.Sprintf("look-up of dependency %s failed: %v", ref.Key, a.err)
	case a.state == change.StateMerged:
		ref.Merged = true
		if a.merged != nil && !rs.present(ref.Key) {
			rs.joined[ref.Key] = true
			rs.merged = append(rs.merged, *a.merged)
		}
	case a.state == change.StateClosed:
		ref.Closed = true
	}
	ref.Checked = true
}

// present reports whether key is a change of the snapshot.
func (rs *resolver) present(key change.Key) bool {
	_, fetched := rs.index[key]
	return fetched || rs.joined[key]
}

// claim finds the source owning key, or else one on the same host.
func (rs *resolver) claim(key change.Key) (owner string, host Owner, hostName string) {
	for _, name := range rs.r.order {
		o, ok := rs.r.sources[name].(Owner)
		if !ok {
			continue
		}
		switch o.Claim(key) {
		case change.ClaimOwn:
			return name, nil, ""
		case change.ClaimHost:
			if host == nil {
				host, hostName = o, name
			}
		}
	}
	return "", host, hostName
}

// state looks key up once per cycle. A failed look-up is an answer too:
// the dependency is unknown this cycle, never merged.
func (rs *resolver) state(o Owner, key change.Key) stateAnswer {
	if a, ok := rs.states[key]; ok {
		return a
	}
	var a stateAnswer
	if l, ok := o.(MergedLoader); ok {
		a.state, a.merged, a.err = l.ChangeStateContent(rs.ctx, key)
	} else {
		a.state, a.err = o.ChangeState(rs.ctx, key)
	}
	if a.err != nil {
		rs.r.log.Warn("dependency look-up failed: unknown this cycle", zap.String("dependency", string(key)), zap.Error(a.err))
	}
	rs.states[key] = a
	return a
}

// follow asks for the newest revision of key once per cycle.
func (rs *resolver) follow(f Follower, key change.Key) followAnswer {
	if a, ok := rs.follows[key]; ok {
		return a
	}
	k, err := f.Follow(rs.ctx, key)
	if err != nil {
		rs.r.log.Warn("revision look-up failed: unknown this cycle", zap.String("dependency", string(key)), zap.Error(err))
	}
	a := followAnswer{key: k, err: err}
	rs.follows[key] = a
	return a
}

// msgid resolves a message-id reference through the sources that can, once
// per cycle. When no source holds it and one of them failed to answer, the
// answer is that failure: the reference may name a change of that source.
func (rs *resolver) msgid(raw string) msgidAnswer {
	var id string
	for _, d := range deps.Parse("Depends-on: " + raw) {
		if d.Kind == deps.MessageID || d.Kind == deps.PatchworkPatch {
			id = d.MsgID
			break
		}
	}
	if id == "" {
		return msgidAnswer{}
	}
	if a, ok := rs.msgids[id]; ok {
		return a
	}
	var a msgidAnswer
	for _, name := range rs.r.order {
		m, ok := rs.r.sources[name].(MsgIDResolver)
		if !ok || rs.unknown[name] {
			continue
		}
		k, err := m.ResolveMsgID(rs.ctx, id)
		if err != nil {
			rs.r.log.Warn("message-id look-up failed", zap.String("source", name), zap.String("msgid", id), zap.Error(err))
			if a.err == nil {
				a.err = fmt.Errorf("source %s: %w", name, err)
			}
			continue
		}
		if k != "" {
			a = msgidAnswer{key: k, source: name}
			break
		}
	}
	rs.msgids[id] = a
	return a
}

// changeIndex maps every change of a cycle by key, the first of a key
// when there are several.
func changeIndex(all []change.Change) map[change.Key]*change.Change {
	m := make(map[change.Key]*change.Change, len(all))
	// Backwards, the first of a key is put last: one hash of the key
	// each, where looking it up first took two.
	for i := len(all) - 1; i >= 0; i-- {
		m[all[i].Key] = &all[i]
	}
	return m
}
