package patchwork

import (
	"hash/fnv"
	"math"
	"strconv"
	"sync"
)

// maxDepEvery bounds the interval between two look-ups of a dependency
// that is still open outside the listing: it is asked again within 2, 4,
// 8 … Fetches, at most maxDepEvery (a power of two).
const maxDepEvery = 16

// depMemo keeps, across Fetches, what the look-ups of dependencies outside
// the listing found, so that an idle tick does not ask them again:
//
//   - a merged series whose patches all name the commit they were applied
//     as, and a closed series, are final: never asked again while a
//     series names them (a closed series' newer revision, once posted, is
//     in the listing, which the resolver reads first);
//   - any other answer (open outside the actionable states, not a series
//     of the project) is asked again within 2, 4, 8 … Fetches, at most
//     maxDepEvery, on the Fetches of its slot (see slots: the re-checks
//     of many dependencies are spread over the Fetches instead of falling
//     due together), and on the first Fetch after the listing changed.
//
// A failed look-up is not kept. Entries no Fetch named for longer than
// maxDepEvery Fetches are forgotten, so that the memory stays bounded by
// what the open series name. It is safe for concurrent use.
type depMemo struct {
	mu    sync.Mutex
	fetch int64 // Fetches started
	ids   map[int64]*depEntry
	slots slots
}

// depEntry is what the look-up of one named series found.
type depEntry struct {
	sr    *Series // the series the answer is about, for its revision line; nil when none
	t     target
	every int64 // the interval of its re-checks; 0 while final
	slot  int   // its slot while it is re-checked; -1 when none
	next  int64 // the Fetch from which it is asked again
	named int64 // the last Fetch that named it
	// checks counts the look-ups kept: the first and the re-checks; a
	// re-check of an open series asks its states when it is odd, its
	// revision line when even (resolver.recheck).
	checks int
}

// recheckable reports an entry about a series of the project outside the
// snapshot (the one named, or the newer revision that took its place)
// that a re-check asks about with one request (resolver.recheck): one
// that was open, or merged without the commits of its patches; not one
// that named nothing or a series of another project.
func (e *depEntry) recheckable() bool {
	return e.sr != nil && e.t.id == e.sr.ID
}

func newDepMemo() *depMemo {
	return &depMemo{ids: map[int64]*depEntry{}, slots: newSlots(maxDepEvery)}
}

// tick counts a Fetch. changed says the listing differs from the previous
// Fetch's: every answer that is not final is then due again. Entries not
// named for longer than the longest interval are forgotten.
func (m *depMemo) tick(changed bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.fetch++
	for id, e := range m.ids {
		switch {
		case e.named < m.fetch-maxDepEvery-1:
			m.slots.free(e.slot)
			delete(m.ids, id)
		case changed && e.next != math.MaxInt64:
			e.next = m.fetch
		}
	}
}

// get returns what the last look-up of series id found (a copy), whether
// there was one, and whether it holds (fresh: it is not due to be asked
// again).
func (m *depMemo) get(id int64) (e depEntry, known, fresh bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := m.ids[id]
	if p == nil {
		return depEntry{}, false, false
	}
	p.named = m.fetch
	return *p, true, m.fetch < p.next
}

// put records what a look-up of series id found now: sr is the series
// the answer is about (the one named, or the newer revision that took its
// place; nil when none).
func (m *depMemo) put(id int64, sr *Series, t target) {
	if t.err != nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.ids[id]
	if e == nil {
		e = &depEntry{slot: -1}
		m.ids[id] = e
	}
	e.sr, e.t, e.named = sr, t, m.fetch
	e.checks++
	if final(t) {
		m.slots.free(e.slot)
		e.slot, e.every, e.next = -1, 0, math.MaxInt64
		return
	}
	if e.slot < 0 {
		e.slot = m.slots.take(strconv.FormatInt(id, 10))
	}
	e.every = min(max(2, 2*e.every), maxDepEvery)
	e.next = nextDue(m.fetch, e.every, e.slot)
}

// final reports an answer that no longer changes: a closed series, or a
// merged one whose every patch names the commit it was applied as (a
// patch accepted without one may be given it later).
func final(t target) bool {
	return t.closed || (t.merged && t.applied)
}

// slots spreads the re-checks of remembered items over the Fetches. Each
// item re-checked on a schedule holds one of len(load) slots, and is due
// on the Fetches f with f ≡ slot (mod every), every a power of two that
// divides len(load): items of different slots fall due on different
// Fetches once their interval has grown to len(load), and at most every
// other Fetch apart before. An item takes the least loaded slot, looking
// from the one the hash of its key names on, so that whatever the keys
// and whenever the items come, the slots hold as many items each, give or
// take one, and so do the Fetches of a window of len(load). The zero
// value is not usable; see newSlots.
type slots struct {
	load []int // items holding each slot
}

func newSlots(n int) slots { return slots{load: make([]int, n)} }

// take gives an item with key a slot.
func (s *slots) take(key string) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(key))
	best := int(h.Sum32() % uint32(len(s.load)))
	for i := range s.load {
		if c := (best + i) % len(s.load); s.load[c] < s.load[best] {
			best = c
		}
	}
	s.load[best]++
	return best
}

// free gives back slot (nothing when it is -1, no slot).
func (s *slots) free(slot int) {
	if slot >= 0 {
		s.load[slot]--
	}
}

// nextDue returns the first Fetch after fetch on which an item of slot,
// re-checked every `every` Fetches, is due: the first f > fetch with
// f ≡ slot (mod every). It is at most every Fetches after fetch.
func nextDue(fetch, every int64, slot int) int64 {
	return fetch + 1 + ((int64(slot)-fetch-1)%every+every)%every
}
