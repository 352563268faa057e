package patchwork

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"go.uber.org/zap"

	"github.com/trawl-ci/trawl/pkg/change"
	"github.com/trawl-ci/trawl/pkg/deps"
	"github.com/trawl-ci/trawl/pkg/forgekit"
	"github.com/trawl-ci/trawl/pkg/httpx"
)

// mergedState is the state of a patch that is applied upstream.
const mergedState = "accepted"

// closedStates are the states of a patch that is past review without being
// applied.
var closedStates = []string{"rejected", "not-applicable", "superseded"}

// maxMissEvery bounds the interval between two look-ups of a message-id
// nobody holds (yet): after a miss it is asked again at least once every
// maxMissEvery Fetches (on the Fetch of its slot of the wheel), and
// earlier while it is new when the wheel's budget allows (see wheel);
// each re-check asks one of the two listings (patches, then cover
// letters, in turn). An unresolvable reference therefore costs at most
// one request per tick, and far less once it has missed a few times.
const maxMissEvery = 64

// target is what a dependency reference resolves to.
type target struct {
	id     int64 // series id; 0 when the reference names nothing in the project
	merged bool  // every patch of the series is accepted
	closed bool  // the series will not be applied as it is
	// change is the change of a merged series; applied says that each of
	// its patches names the commit it was applied as.
	change  *change.Change
	applied bool
	// err is a failed look-up: the dependency is unknown this cycle.
	err error
}

// misses remembers the message-ids a Source looked up and did not find,
// across Fetches, so that a reference to a mail nobody holds does not cost
// two uncached requests on every tick: the wheel it shares with the
// Source's depMemo grants their re-checks.
type misses struct {
	mu    sync.Mutex
	fetch int64 // Fetches started
	ids   map[string]*miss
	wheel *wheel
}

// miss is one message-id not found.
type miss struct {
	count int   // misses so far
	named int64 // the last Fetch that named it
}

// newMisses returns a misses whose re-checks w schedules.
func newMisses(w *wheel) *misses {
	return &misses{ids: map[string]*miss{}, wheel: w}
}

// missKey is the wheel's key of msgid.
func missKey(msgid string) turnKey { return turnKey{msgid: msgid} }

// tick counts a Fetch, and forgets the message-ids no Fetch named for
// longer than the longest wait, so that the memory stays bounded by what
// the open series name.
func (m *misses) tick() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.fetch++
	if m.fetch%maxMissEvery != 0 {
		return
	}
	for id, x := range m.ids {
		if x.named < m.fetch-maxMissEvery {
			m.wheel.remove(missKey(id))
			delete(m.ids, id)
		}
	}
}

// due reports whether msgid may be looked up now, and which listings to
// ask: both on a first look-up, then one at a time in turn on the
// re-checks the wheel grants.
func (m *misses) due(msgid string) (ok, patches, covers bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	x := m.ids[msgid]
	if x == nil {
		return true, true, true
	}
	x.named = m.fetch
	if !m.wheel.granted(missKey(msgid)) {
		return false, false, false
	}
	return true, x.count%2 == 1, x.count%2 == 0
}

// missed records a look-up of msgid that found nothing.
func (m *misses) missed(msgid string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	x := m.ids[msgid]
	if x == nil {
		x = &miss{}
		m.ids[msgid] = x
	}
	x.count++
	x.named = m.fetch
	m.wheel.checked(missKey(msgid), maxMissEvery)
}

// found forgets msgid.
func (m *misses) found(msgid string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ids[msgid] != nil {
		m.wheel.remove(missKey(msgid))
		delete(m.ids, msgid)
	}
}

// resolver resolves the dependency references of one Fetch. It remembers
// its look-ups for the rest of the Fetch, and collects the merged
// dependencies the snapshot must carry.
type resolver struct {
	s       *Source
	fetched []*Series                    // every series the Fetch read
	newest  map[revision]*Series         // newest complete series of each revision line
	msgids  forgekit.Once[string, int64] // bare message id -> series id (0: none)
	// local maps the message ids of the fetched series' patches and cover
	// letters to their series: a message id never moves to another
	// series, so these need no request. Built on first use.
	local   map[string]int64
	targets forgekit.Once[int64, target] // series id -> target
	// merged are the changes of merged dependencies, by series id.
	merged map[int64]*change.Change
}

func newResolver(s *Source, fetched []*Series, newest map[revision]*Series) *resolver {
	return &resolver{s: s, fetched: fetched, newest: newest, merged: map[int64]*change.Change{}}
}

// parseRefs reads the dependency references of texts (a cover letter, the
// commit messages of a series) with the one parser every source shares, in
// order and without duplicates. The API's dependency URLs are read as
// Depends-on tags.
func parseRefs(texts []string, apiDeps []string) []deps.Ref {
	var out []deps.Ref
	seen := map[deps.Ref]bool{}
	add := func(rs []deps.Ref) {
		for _, r := range rs {
			id := r
			id.Raw = ""
			if !seen[id] {
				seen[id] = true
				out = append(out, r)
			}
		}
	}
	for _, t := range texts {
		add(deps.Parse(t))
	}
	for _, u := range apiDeps {
		add(deps.Parse("Depends-on: " + u))
	}
	return out
}

// refs resolves the references of series self, in order, without
// duplicates and self-references. It returns why the series cannot be
// built when it names more dependencies than the source accepts: none of
// them is then looked up.
func (r *resolver) refs(ctx context.Context, self int64, ds []deps.Ref) ([]change.Ref, string, error) {
	if len(ds) > r.s.o.MaxDeps {
		r.s.log.Info("too many dependencies: none looked up", zap.Int64("series", self), zap.Int("named", len(ds)))
		return nil, fmt.Sprintf("names %d dependencies, more than the %d allowed: none was looked up", len(ds), r.s.o.MaxDeps), nil
	}
	var out forgekit.Refs
	for _, d := range ds {
		ref, keep, err := r.ref(ctx, d)
		if err != nil {
			return nil, "", err
		}
		if !keep || ref.Key == r.s.key(self) {
			continue
		}
		if ref.Key == "" && ref.Unknown == "" {
			r.s.log.Debug("dependency not resolved", zap.Int64("series", self), zap.String("ref", d.Raw))
		}
		out.Add(ref)
	}
	return out.List(), "", nil
}

// ref resolves one reference. A reference to another forge keeps the key
// its form names, for the cycle to route to the source that owns it; one
// that names nothing a source could hold (#N, !N) is dropped (keep=false).
// Only a cancelled Fetch is an error: a failed look-up makes the
// reference Unknown.
func (r *resolver) ref(ctx context.Context, d deps.Ref) (ref change.Ref, keep bool, err error) {
	ref = change.Ref{Raw: d.Raw}
	var id int64
	switch d.Kind {
	case deps.GitHubPR, deps.ShortPR:
		ref.Key, keep = d.GitHubKey("")
		return ref, keep, nil
	case deps.GitLabMR:
		ref.Key, keep = d.GitLabKey("", "")
		return ref, keep, nil
	case deps.ShortMR:
		return ref, false, nil
	case deps.MessageID:
		id, err = r.byMsgID(ctx, d.MsgID)
	case deps.PatchworkSeries, deps.PatchworkPatch:
		if !strings.EqualFold(d.Host+d.URLPath, r.s.host) {
			// Another instance: its own source, if one is configured,
			// resolves the key.
			ref.Key, _ = d.PatchworkSeriesKey()
			return ref, ref.Key != "", nil
		}
		ours := d.Repo == "" || strings.EqualFold(d.Repo, r.s.o.Project)
		switch {
		case !ours && d.Kind == deps.PatchworkSeries:
			ref.Key = change.PatchworkKey(r.s.host, d.Repo, d.Number)
			return ref, true, nil
		case !ours:
			// A patch page of another project on this instance.
			return ref, true, nil
		case d.Kind == deps.PatchworkSeries:
			id = d.Number
		default:
			id, err = r.byMsgID(ctx, d.MsgID)
		}
		// A URL of this project: nobody else resolves it.
		ref.Source = r.s.o.Name
	}
	if err != nil {
		return r.unknown(ctx, ref, err)
	}
	if id == 0 {
		return ref, true, nil
	}
	t := r.target(ctx, id)
	if t.err != nil {
		return r.unknown(ctx, ref, t.err)
	}
	if t.id != 0 {
		ref.Key, ref.Source = r.s.key(t.id), r.s.o.Name
		ref.Merged, ref.Closed, ref.Checked = t.merged, t.closed, true
	}
	return ref, true, nil
}

// unknown marks ref as not looked up this cycle, unless the Fetch itself
// was cancelled.
func (r *resolver) unknown(ctx context.Context, ref change.Ref, err error) (change.Ref, bool, error) {
	if ctx.Err() != nil {
		return ref, false, context.Cause(ctx)
	}
	r.s.log.Warn("dependency look-up failed: unknown this cycle", zap.String("ref", ref.Raw), zap.Error(err))
	ref.Unknown = fmt.Sprintf("look-up of dependency %q failed: %v", ref.Raw, err)
	return ref, true, nil
}

// byMsgID returns the series of the patch, or else the cover letter, with
// message id msgid (with or without angle brackets) in the project; 0 when
// there is none. A message-id not found is asked again only at the rate
// misses allows.
func (r *resolver) byMsgID(ctx context.Context, msgid string) (int64, error) {
	msgid = bareMsgID(msgid)
	if r.local == nil {
		r.local = localMsgIDs(r.fetched)
	}
	if id, ok := r.local[msgid]; ok {
		return id, nil
	}
	return r.msgids.Do(ctx, msgid, func(ctx context.Context) (int64, error) { return r.askMsgID(ctx, msgid) })
}

// askMsgID looks bare message id msgid up in the listings misses lets the
// source ask now: 0 when none holds it or none may be asked.
func (r *resolver) askMsgID(ctx context.Context, msgid string) (int64, error) {
	ok, askPatches, askCovers := r.s.misses.due(msgid)
	if !ok {
		return 0, nil
	}
	var id int64
	if askPatches {
		patches, err := r.s.client.ListPatches(ctx, ListOptions{Project: r.s.o.Project, MsgID: msgid})
		if err != nil {
			return 0, err
		}
		if len(patches) > 0 && len(patches[0].Series) > 0 {
			id = patches[0].Series[0].ID
		}
	}
	if id == 0 && askCovers {
		covers, err := r.s.client.FindCovers(ctx, r.s.o.Project, msgid)
		if err != nil {
			return 0, err
		}
		if len(covers) > 0 && len(covers[0].Series) > 0 {
			id = covers[0].Series[0].ID
		}
	}
	if id == 0 {
		r.s.misses.missed(msgid)
	} else {
		r.s.misses.found(msgid)
	}
	return id, nil
}

// localMsgIDs indexes the message ids of series by their bare form.
func localMsgIDs(series []*Series) map[string]int64 {
	m := map[string]int64{}
	for _, sr := range series {
		if sr.CoverLetter != nil && sr.CoverLetter.MsgID != "" {
			m[bareMsgID(sr.CoverLetter.MsgID)] = sr.ID
		}
		for _, p := range sr.Patches {
			m[bareMsgID(p.MsgID)] = sr.ID
		}
	}
	return m
}

// target resolves series id, once per Fetch: to the newest revision of its
// line when a newer one exists, to nothing when it is not a series of the
// project, and marked merged or closed by the states of its patches. A
// series outside the snapshot is asked only when the Source's depMemo
// has no answer that holds.
func (r *resolver) target(ctx context.Context, id int64) target {
	t, err := r.targets.Do(ctx, id, func(ctx context.Context) (target, error) { return r.lookup(ctx, id), nil })
	if err != nil {
		return target{err: err}
	}
	if t.merged && t.change != nil {
		r.merged[t.id] = t.change
	}
	return t
}

func (r *resolver) lookup(ctx context.Context, id int64) target {
	for _, sr := range r.fetched {
		if sr.ID == id {
			return target{id: r.latest(sr)} // it has an actionable patch: not merged
		}
	}
	e, known, fresh := r.s.deps.get(id)
	if known && e.sr != nil {
		if latest := r.latest(e.sr); latest != e.sr.ID {
			return target{id: latest}
		}
	}
	if fresh {
		return e.t
	}
	var (
		t    target
		sr   *Series
		keep bool
	)
	if known && e.recheckable() {
		t, sr, keep = r.recheck(ctx, e)
	} else {
		t, sr, keep = r.ask(ctx, id)
	}
	if keep {
		r.s.deps.put(id, sr, t)
	}
	return t
}

// ask looks up series id, which is not in the snapshot, on the server. It
// returns the detail it read (nil when none) and whether the answer rests
// on the server alone (not on the snapshot), for the depMemo to keep.
func (r *resolver) ask(ctx context.Context, id int64) (t target, sr *Series, keep bool) {
	sr, err := r.s.client.GetSeries(ctx, id)
	if errors.Is(err, httpx.ErrNotFound) {
		return target{}, nil, true
	}
	if err != nil {
		return target{err: err}, nil, false
	}
	if !r.s.ownProject(sr.Project) {
		return target{}, sr, true
	}
	if latest := r.latest(sr); latest != id {
		return target{id: latest}, sr, false
	}
	return r.follow(ctx, sr, r.state(ctx, sr))
}

// recheck asks again about a series of the project outside the snapshot
// (the one named, or the newest revision of its line that took its
// place), with one request: the states of its patches, and for one that
// was open its revision line in turn; a re-check that finds it closed
// follows its line at once. An open series' newer
// revision is in the listing, which the resolver reads first; the search
// finds one that was posted and decided between two Fetches.
func (r *resolver) recheck(ctx context.Context, e depEntry) (target, *Series, bool) {
	if !e.t.merged && e.checks%2 == 0 {
		return r.follow(ctx, e.sr, e.t)
	}
	t := r.state(ctx, e.sr)
	if t.err != nil || t.merged || t.closed {
		return r.follow(ctx, e.sr, t)
	}
	return t, e.sr, true
}

// follow completes what series sr (not in the snapshot) resolves to,
// given t, the states of its patches: a merged one is itself; a closed or
// open one is taken by a newer revision of the same line when there is
// one. It returns the series the answer is about (sr, or the newer
// revision outside the snapshot, which later re-checks then follow in
// its place), and whether the answer rests on the server alone, for the
// depMemo to keep.
func (r *resolver) follow(ctx context.Context, sr *Series, t target) (target, *Series, bool) {
	if t.err != nil || t.merged {
		return t, sr, t.err == nil
	}
	// Closed (a revision marked superseded, say) or open but not in the
	// snapshot: a newer revision of the same line takes its place.
	newer, err := r.newerRevision(ctx, sr)
	switch {
	case err != nil:
		return target{err: err}, sr, false
	case newer == nil:
		return t, sr, true
	}
	r.s.log.Debug("dependency follows its revision line", zap.Int64("named", sr.ID), zap.Int64("newest", newer.ID))
	for _, f := range r.fetched {
		if f.ID == newer.ID {
			return target{id: newer.ID}, sr, false
		}
	}
	t = r.state(ctx, newer)
	return t, newer, t.err == nil
}

// state looks up the states of the patches of series sr (not in the
// snapshot). A merged series is built into a change, for its dependents
// to carry until their base holds it.
func (r *resolver) state(ctx context.Context, sr *Series) target {
	patches, err := r.s.client.ListPatches(ctx, ListOptions{Project: r.s.o.Project, Series: sr.ID})
	if err != nil {
		return target{err: err}
	}
	merged, closed := seriesState(patches)
	if merged {
		full := sr
		if len(sr.Patches) == 0 || sr.Mbox == "" {
			// A summary from a search: read the detail.
			if full, err = r.s.client.GetSeries(ctx, sr.ID); err != nil {
				return target{err: err}
			}
		}
		applied := true
		for _, p := range patches {
			applied = applied && p.CommitRef != ""
		}
		return target{id: sr.ID, merged: true, change: r.s.mergedChange(full, patches), applied: applied}
	}
	return target{id: sr.ID, merged: merged, closed: closed}
}

// newerRevision finds the newest revision of sr's line in the project with
// a higher version (Patchwork links no revisions: they share only their
// submitter and normalised name, so the name is searched; recorded:
// p2-03-series-list-q-sample finds v1, v2 and v3). It returns nil when
// there is none.
func (r *resolver) newerRevision(ctx context.Context, sr *Series) (*Series, error) {
	line := revisionOf(sr)
	found, err := r.s.client.SearchSeries(ctx, r.s.o.Project, sr.Submitter.ID, line.name)
	if err != nil {
		return nil, err
	}
	var best *Series
	for i := range found {
		c := &found[i]
		if revisionOf(c) != line || c.Version <= sr.Version {
			continue
		}
		if best == nil || c.Version > best.Version || (c.Version == best.Version && c.ID > best.ID) {
			best = c
		}
	}
	return best, nil
}

// latest returns the newest complete revision of sr in this snapshot: sr
// itself unless a higher version supersedes it.
func (r *resolver) latest(sr *Series) int64 {
	if n := r.newest[revisionOf(sr)]; n != nil && n.Version > sr.Version {
		return n.ID
	}
	return sr.ID
}

// ownProject reports whether p is the source's project.
func (s *Source) ownProject(p Project) bool {
	return strings.EqualFold(p.LinkName, s.o.Project) || strconv.FormatInt(p.ID, 10) == s.o.Project
}

// seriesState reports a series whose patches are all applied upstream
// (merged), or all past review with at least one not applied (closed:
// rejected, not applicable or superseded).
func seriesState(patches []Patch) (merged, closed bool) {
	accepted := 0
	for _, p := range patches {
		switch {
		case p.State == mergedState:
			accepted++
		case !slices.Contains(closedStates, p.State):
			return false, false
		}
	}
	if len(patches) == 0 {
		return false, false
	}
	return accepted == len(patches), accepted < len(patches)
}

// Claim tells the cycle whether key is a series of this source's project
// (ClaimOwn), of another project on the same instance (ClaimHost), or
// elsewhere.
func (s *Source) Claim(key change.Key) change.Claim {
	k := string(key)
	own := string(change.PatchworkKey(s.host, s.o.Project, 0))
	own = strings.TrimSuffix(own, "0")
	switch {
	case strings.HasPrefix(k, own):
		return change.ClaimOwn
	case strings.HasPrefix(k, "pw:"+s.host+"/"):
		return change.ClaimHost
	}
	return change.ClaimNone
}

// ChangeState says whether a series of this instance that is not among the open
// changes was applied (every patch accepted: merged), will not be
// (closed), or is still open (incomplete, or outside the lookback window).
func (s *Source) ChangeState(ctx context.Context, key change.Key) (change.State, error) {
	st, _, err := s.ChangeStateContent(ctx, key)
	return st, err
}

// ChangeStateContent is ChangeState, plus, for a merged series of this
// project, its change (Change.Merged, with the commits its patches were
// applied as), read with the same listing: a unit built with it keeps it
// until its base holds it.
func (s *Source) ChangeStateContent(ctx context.Context, key change.Key) (change.State, *change.Change, error) {
	_, num, found := strings.Cut(string(key), "/series/")
	id, err := strconv.ParseInt(num, 10, 64)
	if s.Claim(key) == change.ClaimNone || !found || err != nil {
		return "", nil, s.client.errorf("look up "+string(key), fmt.Errorf("%w: not a series key of this instance", errMalformed))
	}
	patches, err := s.client.ListPatches(ctx, ListOptions{Series: id})
	if err != nil {
		return "", nil, err
	}
	switch merged, closed := seriesState(patches); {
	case merged && s.Claim(key) == change.ClaimOwn:
		sr, err := s.client.GetSeries(ctx, id)
		if err != nil {
			return "", nil, err
		}
		return change.StateMerged, s.mergedChange(sr, patches), nil
	case merged:
		return change.StateMerged, nil, nil
	case closed:
		return change.StateClosed, nil, nil
	}
	return change.StateOpen, nil, nil
}

// ResolveMsgID returns the series of this project holding the patch or the
// cover letter with that message-id (without angle brackets), or "". A
// message-id not found is asked again only at the bounded rate Fetch's own
// look-ups follow.
func (s *Source) ResolveMsgID(ctx context.Context, msgid string) (change.Key, error) {
	id, err := newResolver(s, nil, nil).byMsgID(ctx, msgid)
	if err != nil || id == 0 {
		return "", err
	}
	return s.key(id), nil
}

// Follow returns the newest revision of series key of this project: a
// newer complete revision the latest Fetch read, or else the newest one a
// search of the revision line finds (same submitter, same normalised
// name). It returns key itself when there is none, and for a series of
// another project. The cycle asks it for a dependency named from another
// source that is closed or not among the open changes.
func (s *Source) Follow(ctx context.Context, key change.Key) (change.Key, error) {
	_, num, found := strings.Cut(string(key), "/series/")
	id, err := strconv.ParseInt(num, 10, 64)
	if s.Claim(key) != change.ClaimOwn || !found || err != nil {
		return key, nil
	}
	s.mu.Lock()
	r := newResolver(s, s.lastFetched, s.lastNewest)
	s.mu.Unlock()
	sr, err := s.client.GetSeries(ctx, id)
	if errors.Is(err, httpx.ErrNotFound) {
		return key, nil
	}
	if err != nil {
		return "", err
	}
	if latest := r.latest(sr); latest != id {
		return s.key(latest), nil
	}
	newer, err := r.newerRevision(ctx, sr)
	if err != nil || newer == nil {
		return key, err
	}
	return s.key(newer.ID), nil
}
