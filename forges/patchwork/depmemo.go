package patchwork

import (
	"math"
	"sync"
)

// maxDepSkip bounds the wait between two look-ups of a dependency that
// is still open outside the listing: it is asked again after 1, 2, 4 …
// Fetches, at most maxDepSkip.
const maxDepSkip = 16

// depMemo keeps, across Fetches, what the look-ups of dependencies outside
// the listing found, so that an idle tick does not ask them again:
//
//   - a merged series whose patches all name the commit they were applied
//     as, and a closed series, are final: never asked again while a
//     series names them (a closed series' newer revision, once posted, is
//     in the listing, which the resolver reads first);
//   - any other answer (open outside the actionable states, not a series
//     of the project) is asked again after 1, 2, 4 … Fetches, at most
//     maxDepSkip, and on the first Fetch after the listing changed.
//
// A failed look-up is not kept. Entries no Fetch named for longer than
// maxDepSkip Fetches are forgotten, so that the memory stays bounded by
// what the open series name. It is safe for concurrent use.
type depMemo struct {
	mu    sync.Mutex
	fetch int64 // Fetches started
	ids   map[int64]*depEntry
}

// depEntry is what the look-up of one named series found.
type depEntry struct {
	sr    *Series // the detail read, for its revision line; nil when none
	t     target
	wait  int64 // Fetches skipped before the next look-up
	next  int64 // the Fetch from which it is asked again
	named int64 // the last Fetch that named it
}

func newDepMemo() *depMemo { return &depMemo{ids: map[int64]*depEntry{}} }

// tick counts a Fetch. changed says the listing differs from the previous
// Fetch's: every answer that is not final is then due again. Entries not
// named for longer than the longest wait are forgotten.
func (m *depMemo) tick(changed bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.fetch++
	for id, e := range m.ids {
		switch {
		case e.named < m.fetch-maxDepSkip-1:
			delete(m.ids, id)
		case changed && e.next != math.MaxInt64:
			e.next = m.fetch
		}
	}
}

// get returns what the last look-up of series id found, unless it is due
// to be asked again.
func (m *depMemo) get(id int64) (*depEntry, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.ids[id]
	if e == nil {
		return nil, false
	}
	e.named = m.fetch
	if m.fetch >= e.next {
		return nil, false
	}
	return e, true
}

// put records what a look-up of series id found now: sr is the detail it
// read (nil when none).
func (m *depMemo) put(id int64, sr *Series, t target) {
	if t.err != nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.ids[id]
	if e == nil {
		e = &depEntry{}
		m.ids[id] = e
	}
	e.sr, e.t, e.named = sr, t, m.fetch
	if final(t) {
		e.next = math.MaxInt64
		return
	}
	e.wait = min(max(1, 2*e.wait), maxDepSkip)
	e.next = m.fetch + e.wait + 1
}

// final reports an answer that no longer changes: a closed series, or a
// merged one whose every patch names the commit it was applied as (a
// patch accepted without one may be given it later).
func final(t target) bool {
	return t.closed || (t.merged && t.applied)
}
