package patchwork

import (
	"context"
	"errors"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.uber.org/zap"

	"github.com/trawl-ci/trawl/pkg/change"
	"github.com/trawl-ci/trawl/pkg/httpx"
)

// mergedState is the state of a patch that is applied upstream.
const mergedState = "accepted"

// closedStates are the states of a patch that is past review without being
// applied.
var closedStates = []string{"rejected", "not-applicable", "superseded"}

// Paths of the Patchwork URLs a Depends-on may name, below the instance's
// path prefix.
var (
	listPathRe       = regexp.MustCompile(`^/project/([^/]+)/list/?$`)
	submissionPathRe = regexp.MustCompile(`^/project/([^/]+)/(?:patch|cover)/([^/]+)/?$`)
	seriesPathRe     = regexp.MustCompile(`^/series/(\d+)(?:/.*)?$`)
	apiSeriesPathRe  = regexp.MustCompile(`^/api/(?:\d+\.\d+/)?series/(\d+)/?$`)
)

// target is what a dependency reference resolves to.
type target struct {
	id     int64 // series id; 0 when the reference names nothing in the project
	merged bool  // every patch of the series is accepted
	closed bool  // the series will not be applied as it is
}

// resolver resolves the dependency references of one Fetch. It remembers
// its lookups for the rest of the Fetch.
type resolver struct {
	s       *Source
	fetched []*Series            // every series the Fetch read
	newest  map[revision]*Series // newest complete series of each revision line
	msgids  map[string]int64     // message id -> series id (0: none)
	targets map[int64]target     // series id -> target
}

// refs resolves the raw references of series self, in order, without
// duplicates and self-references. A URL on another host is not this
// source's business and is left out.
func (r *resolver) refs(ctx context.Context, self int64, raws []string) ([]change.Ref, error) {
	var out []change.Ref
	seen := map[string]bool{}
	for _, raw := range raws {
		id, ours, err := r.seriesOf(ctx, raw)
		if err != nil {
			return nil, err
		}
		if !ours {
			r.s.log.Debug("dependency on another host ignored", zap.Int64("series", self), zap.String("ref", raw))
			continue
		}
		ref := change.Ref{Raw: raw, Source: r.s.o.Name}
		if id != 0 {
			t, err := r.target(ctx, id)
			if err != nil {
				return nil, err
			}
			if t.id == self {
				continue
			}
			if t.id != 0 {
				ref.Key, ref.Merged, ref.Closed = r.s.key(t.id), t.merged, t.closed
			}
		}
		if ref.Key == "" {
			r.s.log.Debug("dependency not resolved", zap.Int64("series", self), zap.String("ref", raw))
		}
		dedup := "raw:" + raw
		if ref.Key != "" {
			dedup = "key:" + string(ref.Key)
		}
		if seen[dedup] {
			continue
		}
		seen[dedup] = true
		out = append(out, ref)
	}
	return out, nil
}

// seriesOf returns the series id raw names (0 when it names none in the
// project), and ours=false for a URL on another host.
func (r *resolver) seriesOf(ctx context.Context, raw string) (id int64, ours bool, err error) {
	if strings.HasPrefix(raw, "<") {
		id, err := r.byMsgID(ctx, raw)
		return id, true, err
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return 0, true, nil
	}
	if !strings.EqualFold(u.Host, r.s.base.Host) {
		return 0, false, nil
	}
	path, ok := strings.CutPrefix(u.Path, r.s.base.Path)
	if !ok {
		return 0, true, nil
	}
	sameProject := func(p string) bool { return strings.EqualFold(p, r.s.o.Project) }
	if m := listPathRe.FindStringSubmatch(path); m != nil {
		n, err := strconv.ParseInt(u.Query().Get("series"), 10, 64)
		if err != nil || !sameProject(m[1]) {
			return 0, true, nil
		}
		return n, true, nil
	}
	if m := submissionPathRe.FindStringSubmatch(path); m != nil {
		if !sameProject(m[1]) {
			return 0, true, nil
		}
		id, err := r.byMsgID(ctx, "<"+m[2]+">")
		return id, true, err
	}
	for _, re := range []*regexp.Regexp{seriesPathRe, apiSeriesPathRe} {
		if m := re.FindStringSubmatch(path); m != nil {
			n, _ := strconv.ParseInt(m[1], 10, 64)
			return n, true, nil
		}
	}
	return 0, true, nil
}

// byMsgID returns the series of the patch, or else the cover letter, with
// message id msgid in the project; 0 when there is none.
func (r *resolver) byMsgID(ctx context.Context, msgid string) (int64, error) {
	if id, ok := r.msgids[msgid]; ok {
		return id, nil
	}
	var id int64
	patches, err := r.s.client.ListPatches(ctx, ListOptions{Project: r.s.o.Project, MsgID: msgid})
	if err != nil {
		return 0, err
	}
	if len(patches) > 0 && len(patches[0].Series) > 0 {
		id = patches[0].Series[0].ID
	} else {
		covers, err := r.s.client.FindCovers(ctx, r.s.o.Project, msgid)
		if err != nil {
			return 0, err
		}
		if len(covers) > 0 && len(covers[0].Series) > 0 {
			id = covers[0].Series[0].ID
		}
	}
	r.msgids[msgid] = id
	return id, nil
}

// target resolves series id: to the newest complete revision that
// supersedes it in this snapshot, to nothing when it is not a series of the
// project, and marked merged or closed by the states of its patches.
func (r *resolver) target(ctx context.Context, id int64) (target, error) {
	if t, ok := r.targets[id]; ok {
		return t, nil
	}
	t, err := r.lookup(ctx, id)
	if err != nil {
		return target{}, err
	}
	r.targets[id] = t
	return t, nil
}

func (r *resolver) lookup(ctx context.Context, id int64) (target, error) {
	for _, sr := range r.fetched {
		if sr.ID == id {
			return target{id: r.latest(sr)}, nil // it has an actionable patch: not merged
		}
	}
	sr, err := r.s.client.GetSeries(ctx, id)
	if errors.Is(err, httpx.ErrNotFound) {
		return target{}, nil
	}
	if err != nil {
		return target{}, err
	}
	if !strings.EqualFold(sr.Project.LinkName, r.s.o.Project) && strconv.FormatInt(sr.Project.ID, 10) != r.s.o.Project {
		return target{}, nil
	}
	if latest := r.latest(sr); latest != id {
		return target{id: latest}, nil
	}
	patches, err := r.s.client.ListPatches(ctx, ListOptions{Project: r.s.o.Project, Series: id})
	if err != nil {
		return target{}, err
	}
	merged, closed := seriesState(patches)
	return target{id: id, merged: merged, closed: closed}, nil
}

// latest returns the newest complete revision of sr in this snapshot: sr
// itself unless a higher version supersedes it.
func (r *resolver) latest(sr *Series) int64 {
	if n := r.newest[revisionOf(sr)]; n != nil && n.Version > sr.Version {
		return n.ID
	}
	return sr.ID
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
