package patchwork

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/trawl-ci/trawl/pkg/change"
	"github.com/trawl-ci/trawl/pkg/httpx"
)

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
