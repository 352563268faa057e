package patchwork

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/trawl-ci/trawl/pkg/change"
	"github.com/trawl-ci/trawl/pkg/cycle"
	"github.com/trawl-ci/trawl/pkg/deps"
	"github.com/trawl-ci/trawl/pkg/forgekit"
	"github.com/trawl-ci/trawl/pkg/graph"
)

// defaultLookback is the Lookback of a zero Opts.Lookback.
const defaultLookback = 7 * 24 * time.Hour

// defaultStates are the States of an empty Opts.States: the patch states
// that ask for a build.
var defaultStates = []string{"new", "under-review"}

// workers bounds the requests one Fetch has in flight.
const workers = 4

// errMalformed marks an object that decodes but cannot be used.
var errMalformed = errors.New("malformed")

// unbuildablePull is the reason given for a series with a patch that has
// no diff.
const unbuildablePull = "git pull request without a diff: nothing to apply"

// Opts configures a Source.
type Opts struct {
	Name     string        // configured source name
	URL      string        // instance base URL, e.g. https://patchwork.kernel.org
	Project  string        // link_name
	States   []string      // actionable states, default new, under-review
	Lookback time.Duration // how old an actionable patch may be; default 7 days
	Delegate string        // optional delegate filter (username or id)
	Base     change.Base   // what every change of the source applies on
	Targets  []string      // the targets that build the source's changes
	// MaxDeps is how many dependency references a series may name; one
	// that names more is blocked before any of them is looked up.
	// 0 means graph.DefaultMaxClosure.
	MaxDeps int
	// EventsRelist turns the events hint on when above 0: a Fetch asks
	// the project's event log for what happened since the previous one
	// and, when nothing but checks and comments did, returns the changes
	// of the last full Fetch for that one request; every EventsRelist-th
	// Fetch at least lists in full, which repairs whatever the log
	// missed (an archived patch, a change of lookback window).
	EventsRelist int
	HTTP         *http.Client // the instance's client from pkg/httpx (required)
	Logger       *zap.Logger  // nil: no logs
	Now          func() time.Time
}

// Source yields the changes of one Patchwork project: the latest complete
// revision of each series with an actionable patch. It is safe for
// concurrent use, though a cycle calls Fetch once at a time.
type Source struct {
	o      Opts
	client *Client
	base   *url.URL
	host   string // host[:port] and path prefix, for keys
	log    *zap.Logger
	// misses are the message-ids looked up and not found, across Fetches.
	misses *misses
	// deps are the answers of dependency look-ups, across Fetches.
	deps *depMemo
	// projectFound is set once the project was seen to exist: a listing
	// of a project that does not exist answers an empty 200.
	projectFound atomic.Bool
	// memo keeps, across Fetches, what never changes once read: complete
	// series, what their mails say, and patch hashes.
	memo *memo

	mu sync.Mutex
	// listed holds the patch ids of the latest complete listing of
	// actionable patches: the read the next listing is checked against
	// (ListOptions.Known).
	listed map[int64]bool
	// last are the series the latest Fetch read and the newest complete
	// revision of each line among them, for Follow.
	lastFetched []*Series
	lastNewest  map[revision]*Series
	// hint is the state of the events hint (Opts.EventsRelist).
	hint hint
}

// What the cycle finds on a Patchwork source.
var (
	_ cycle.Source        = (*Source)(nil)
	_ cycle.Owner         = (*Source)(nil)
	_ cycle.MergedLoader  = (*Source)(nil)
	_ cycle.Follower      = (*Source)(nil)
	_ cycle.MsgIDResolver = (*Source)(nil)
)

// remember keeps what a Fetch read, for the look-ups the cycle makes after
// it.
func (s *Source) remember(fetched []*Series, newest map[revision]*Series) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastFetched, s.lastNewest = fetched, newest
}

// New checks o, fills in its defaults and returns the source.
func New(o Opts) (*Source, error) {
	if o.Name == "" {
		return nil, errors.New("patchwork source: no name")
	}
	if o.Project == "" || strings.Contains(o.Project, "/") {
		return nil, fmt.Errorf("patchwork source %s: project %q is not a link_name", o.Name, o.Project)
	}
	if o.Lookback < 0 {
		return nil, fmt.Errorf("patchwork source %s: negative lookback %s", o.Name, o.Lookback)
	}
	client, err := NewClient(o.URL, o.HTTP)
	if err != nil {
		return nil, fmt.Errorf("patchwork source %s: %w", o.Name, err)
	}
	if len(o.States) == 0 {
		o.States = slices.Clone(defaultStates)
	}
	if o.Lookback == 0 {
		o.Lookback = defaultLookback
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxDeps <= 0 {
		o.MaxDeps = graph.DefaultMaxClosure
	}
	base := client.base
	rechecks := newWheel() // the re-checks of dependencies and message-ids share one budget
	return &Source{
		o:      o,
		client: client,
		base:   base,
		host:   strings.ToLower(base.Host) + base.Path,
		log:    o.Logger.With(zap.String("source", o.Name)),
		misses: newMisses(rechecks),
		deps:   newDepMemo(rechecks),
		memo:   newMemo(),
	}, nil
}

// Name returns the configured source name.
func (s *Source) Name() string { return s.o.Name }

// key is the change key of series id.
func (s *Source) key(id int64) change.Key {
	return change.PatchworkKey(s.host, s.o.Project, id)
}

// Fetch lists the project's actionable patches (the configured states, not
// archived, dated within the lookback), reads their series, and returns one
// change per complete series that no newer complete revision supersedes,
// one waiting change per incomplete series, and the merged series an open
// one depends on (Change.Merged). Any failed listing fails the whole Fetch:
// a partial snapshot must never look complete. A failed dependency look-up
// makes only that reference Unknown.
func (s *Source) Fetch(ctx context.Context) ([]change.Change, error) {
	fetch := s.fetch
	if s.o.EventsRelist > 0 {
		fetch = s.fetchWithHint
	}
	changes, err := fetch(ctx)
	if err != nil {
		return nil, fmt.Errorf("source %s: %w", s.o.Name, err)
	}
	return changes, nil
}

func (s *Source) fetch(ctx context.Context) ([]change.Change, error) {
	if !s.projectFound.Load() {
		if err := s.CheckProject(ctx); err != nil {
			return nil, err
		}
	}
	s.misses.tick()
	archived := false
	s.mu.Lock()
	known := s.listed
	s.mu.Unlock()
	listed, err := s.client.listActionable(ctx, ListOptions{
		Project:  s.o.Project,
		States:   s.o.States,
		Archived: &archived,
		Since:    s.o.Now().Add(-s.o.Lookback),
		Delegate: s.o.Delegate,
		Known:    known,
	})
	if err != nil {
		return nil, err
	}
	actionable := make(map[int64]listedPatch, len(listed))
	var ids []int64
	listedIDs := make(map[int64]bool, len(listed))
	inIDs := map[int64]bool{}
	for _, p := range listed {
		actionable[p.ID] = p
		listedIDs[p.ID] = true
		if len(p.Series) == 0 {
			s.log.Debug("patch in no series", zap.Int64("patch", p.ID))
			continue
		}
		if id := p.Series[0].ID; !inIDs[id] {
			inIDs[id] = true
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	s.mu.Lock()
	s.deps.tick(!maps.Equal(s.listed, listedIDs))
	s.listed = listedIDs
	s.mu.Unlock()

	fetched := make([]*Series, len(ids))
	err = forgekit.ForEach(ctx, workers, len(ids), func(ctx context.Context, i int) error {
		if sr, ok := s.memo.series(ids[i]); ok {
			fetched[i] = sr
			return nil
		}
		sr, err := s.client.GetSeries(ctx, ids[i])
		if err != nil {
			return err
		}
		if err := checkSeries(ids[i], sr); err != nil {
			return err
		}
		fetched[i] = sr
		if sr.ReceivedAll {
			s.memo.putSeries(sr)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var complete, incomplete []*Series
	for _, sr := range fetched {
		if !sr.ReceivedAll {
			s.log.Debug("series incomplete: not buildable yet", zap.Int64("series", sr.ID),
				zap.Int("received", sr.ReceivedTotal), zap.Int("total", sr.Total))
			incomplete = append(incomplete, sr)
			continue
		}
		complete = append(complete, sr)
	}
	lines := lineUp(complete)
	kept, keptLines, newest := lines.supersede()
	if ce := s.log.Check(zap.DebugLevel, "series superseded by a newer revision"); ce != nil {
		for i, sr := range complete {
			if n := newest[lines.of[i]]; sr.Version < n.Version {
				s.log.Debug("series superseded by a newer revision", zap.Int64("series", sr.ID), zap.Int64("by", n.ID))
			}
		}
	}

	changes := make([]change.Change, len(kept))
	raws := make([][]deps.Ref, len(kept))
	err = forgekit.ForEach(ctx, workers, len(kept), func(ctx context.Context, i int) error {
		var err error
		changes[i], raws[i], err = s.build(ctx, kept[i], actionable)
		return err
	})
	if err != nil {
		return nil, err
	}
	for i, sr := range kept {
		changes[i].Supersedes = s.supersededBy(sr, keptLines[i], lines, newest)
	}
	s.memo.keep(fetched)
	s.remember(fetched, newest)
	r := newResolver(s, fetched, newest)
	for i := range changes {
		var tooMany string
		if changes[i].Deps, tooMany, err = r.refs(ctx, kept[i].ID, raws[i]); err != nil {
			return nil, fmt.Errorf("series %d: dependencies: %w", kept[i].ID, err)
		}
		if tooMany != "" && changes[i].Unbuildable == "" {
			changes[i].Unbuildable = tooMany
		}
	}
	for _, sr := range waitingSeries(incomplete, newest) {
		changes = append(changes, s.waiting(sr, actionable))
	}
	for _, id := range slices.Sorted(maps.Keys(r.merged)) {
		changes = append(changes, *r.merged[id])
	}
	return changes, nil
}

// waitingSeries returns the incomplete series that no complete revision
// of a higher version supersedes: those are gone, not waiting.
func waitingSeries(incomplete []*Series, newest map[revision]*Series) []*Series {
	var out []*Series
	for _, sr := range incomplete {
		if n := newest[revisionOf(sr)]; n == nil || n.Version <= sr.Version {
			out = append(out, sr)
		}
	}
	return out
}

// checkSeries rejects a series detail trawl cannot use.
func checkSeries(id int64, sr *Series) error {
	bad := func(why string) error { return fmt.Errorf("series %d: %w: %s", id, errMalformed, why) }
	switch {
	case sr.ID != id:
		return bad(fmt.Sprintf("detail has id %d", sr.ID))
	case sr.ReceivedAll && len(sr.Patches) == 0:
		return bad("complete but lists no patch")
	case sr.ReceivedAll && sr.Mbox == "":
		return bad("no mbox URL")
	}
	for _, p := range sr.Patches {
		if p.ID == 0 || p.Mbox == "" {
			return bad("a patch without id or mbox URL")
		}
	}
	return nil
}

// revision identifies the revisions of one series: same submitter, same
// normalised name.
type revision struct{ email, name string }

func revisionOf(sr *Series) revision {
	return revision{strings.ToLower(sr.Submitter.Email), normalName(sr.Name)}
}

// lines are the revision lines of a list of series, worked out once
// (normalising a name is the costly part): of[i] is the line of series[i],
// and each line lists its series in the order given.
type revLines struct {
	series []*Series
	of     []revision
	line   map[revision][]*Series
}

func lineUp(series []*Series) revLines {
	l := revLines{series: series, of: make([]revision, len(series)), line: map[revision][]*Series{}}
	for i, sr := range series {
		l.of[i] = revisionOf(sr)
		l.line[l.of[i]] = append(l.line[l.of[i]], sr)
	}
	return l
}

// supersede drops every series a higher version of the same revision line
// supersedes. Series of equal versions are all kept. newest maps each
// revision line to its newest series (the highest id among equal versions).
func supersede(series []*Series) (kept []*Series, newest map[revision]*Series) {
	kept, _, newest = lineUp(series).supersede()
	return kept, newest
}

// supersede is supersede of l's series; keptLines[i] is the line of
// kept[i].
func (l revLines) supersede() (kept []*Series, keptLines []revision, newest map[revision]*Series) {
	newest = make(map[revision]*Series, len(l.line))
	for i, sr := range l.series {
		k := l.of[i]
		if cur, ok := newest[k]; !ok || sr.Version > cur.Version || (sr.Version == cur.Version && sr.ID > cur.ID) {
			newest[k] = sr
		}
	}
	for i, sr := range l.series {
		if sr.Version >= newest[l.of[i]].Version {
			kept = append(kept, sr)
			keptLines = append(keptLines, l.of[i])
		}
	}
	return kept, keptLines, newest
}

// supersededBy lists, in the order of l, the series of the snapshot that
// the newest series sr of its revision line k supersedes (lower versions).
func (s *Source) supersededBy(sr *Series, k revision, l revLines, newest map[revision]*Series) []change.Key {
	if newest[k] != sr {
		return nil
	}
	var out []change.Key
	for _, o := range l.line[k] {
		if o.Version < sr.Version {
			out = append(out, s.key(o.ID))
		}
	}
	return out
}

// build turns complete series sr into a change, and returns the
// dependency references of its cover letter, commit messages and API
// dependencies.
func (s *Source) build(ctx context.Context, sr *Series, actionable map[int64]listedPatch) (change.Change, []deps.Ref, error) {
	hashes := map[int64]string{}
	var missing bool
	for _, p := range sr.Patches {
		lp, ok := actionable[p.ID]
		if !ok {
			lp.Hash, ok = s.memo.hash(p.ID)
		}
		hashes[p.ID] = lp.Hash
		missing = missing || !ok
	}
	if missing {
		// Some patches are in another state (accepted already, say).
		all, err := s.client.ListPatches(ctx, ListOptions{Project: s.o.Project, Series: sr.ID})
		if err != nil {
			return change.Change{}, nil, err
		}
		found := map[int64]bool{}
		for _, p := range all {
			hashes[p.ID], found[p.ID] = p.Hash, true
			s.memo.putHash(p.ID, p.Hash)
		}
		for _, p := range sr.Patches {
			if _, ok := actionable[p.ID]; !ok && !found[p.ID] {
				return change.Change{}, nil, fmt.Errorf("series %d: %w: patch %d is in no listing", sr.ID, errMalformed, p.ID)
			}
		}
	}

	mail, err := s.mail(ctx, sr)
	if err != nil {
		return change.Change{}, nil, err
	}
	baseCommit := mail.baseCommit

	c := s.seriesChange(sr, hashes)
	c.BaseCommit = baseCommit
	if slices.Contains(c.Content, "") {
		c.Unbuildable = unbuildablePull
	}
	if sr.Total > len(sr.Patches) {
		// Patchwork says it received them all, yet lists fewer: building
		// what is listed would test a series nobody sent.
		c.Unbuildable = fmt.Sprintf("series claims %d patches but lists %d", sr.Total, len(sr.Patches))
	}
	return c, mail.refs, nil
}

// mailOf is what the mails of a complete series say: its base commit and
// the dependency references of its cover letter, commit messages and API
// dependencies.
type mailOf struct {
	baseCommit string
	refs       []deps.Ref
}

// mail reads the mails of complete series sr. A complete series' mails
// never change (its detail, cover letter and mbox are cached for good), so
// what they say is kept in memory and read once, not on every tick.
func (s *Source) mail(ctx context.Context, sr *Series) (mailOf, error) {
	if m, ok := s.memo.mail(sr.ID); ok {
		return m, nil
	}
	var texts []string
	var m mailOf
	if sr.CoverLetter != nil {
		cv, err := s.client.GetCover(ctx, sr.CoverLetter.ID)
		if err != nil {
			return mailOf{}, err
		}
		texts = append(texts, cv.Content)
		m.baseCommit = ParseBaseCommit(cv.Content)
	}
	ids := make([]int64, len(sr.Patches))
	for i, p := range sr.Patches {
		ids[i] = p.ID
	}
	mbox, err := s.client.SeriesMbox(ctx, sr.Mbox, ids)
	if err != nil {
		return mailOf{}, err
	}
	for _, msg := range SplitMbox(mbox) {
		texts = append(texts, CommitMessage(msg))
		if m.baseCommit == "" {
			m.baseCommit = ParseBaseCommit(string(msg))
		}
	}
	m.refs = parseRefs(texts, sr.Dependencies)
	s.memo.putMail(sr.ID, m)
	return m, nil
}
