package patchwork

import (
	"cmp"
	"hash/fnv"
	"math"
	"slices"
	"strconv"
	"sync"
)

// maxDepEvery bounds the interval between two look-ups of a dependency
// that is still open outside the listing: it is re-checked at least once
// every maxDepEvery Fetches (on the Fetches of its slot of the wheel), and
// earlier while it is new when the wheel's budget allows (see wheel).
const maxDepEvery = 16

// depMemo keeps, across Fetches, what the look-ups of dependencies outside
// the listing found, so that an idle tick does not ask them again:
//
//   - a merged series whose patches all name the commit they were applied
//     as, and a closed series, are final: never asked again while a
//     series names them (a closed series' newer revision, once posted, is
//     in the listing, which the resolver reads first);
//   - any other answer (open outside the actionable states, not a series
//     of the project) is asked again when the wheel grants it a re-check:
//     at least once every maxDepEvery Fetches, and, within the budget of
//     re-checks a Fetch is given, after 2, 4, 8 Fetches while it is new
//     and soon after the listing changed.
//
// A failed look-up is not kept. Entries no Fetch named for longer than
// maxDepEvery Fetches are forgotten, so that the memory stays bounded by
// what the open series name. It is safe for concurrent use.
type depMemo struct {
	mu    sync.Mutex
	fetch int64 // Fetches started
	ids   map[int64]*depEntry
	wheel *wheel // shared with the Source's misses
}

// depEntry is what the look-up of one named series found.
type depEntry struct {
	sr    *Series // the series the answer is about, for its revision line; nil when none
	t     target
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

// newDepMemo returns a depMemo whose re-checks w schedules.
func newDepMemo(w *wheel) *depMemo {
	return &depMemo{ids: map[int64]*depEntry{}, wheel: w}
}

// depKey is the wheel's key of series id.
func depKey(id int64) turnKey { return turnKey{series: id} }

// tick counts a Fetch, forgets the entries not named for longer than
// maxDepEvery Fetches, and starts the Fetch on the wheel. changed says
// the listing differs from the previous Fetch's: every answer that is not
// final then wants a re-check, which the wheel grants within its budget.
func (m *depMemo) tick(changed bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.fetch++
	for id, e := range m.ids {
		if e.named < m.fetch-maxDepEvery-1 {
			m.wheel.remove(depKey(id))
			delete(m.ids, id)
		}
	}
	m.wheel.tick(changed)
}

// get returns what the last look-up of series id found (a copy), whether
// there was one, and whether it holds (fresh: it is final, or the wheel
// grants it no re-check on this Fetch).
func (m *depMemo) get(id int64) (e depEntry, known, fresh bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := m.ids[id]
	if p == nil {
		return depEntry{}, false, false
	}
	p.named = m.fetch
	return *p, true, final(p.t) || !m.wheel.granted(depKey(id))
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
		e = &depEntry{}
		m.ids[id] = e
	}
	e.sr, e.t, e.named = sr, t, m.fetch
	e.checks++
	if final(t) {
		m.wheel.remove(depKey(id))
		return
	}
	m.wheel.checked(depKey(id), maxDepEvery)
}

// final reports an answer that no longer changes: a closed series, or a
// merged one whose every patch names the commit it was applied as (a
// patch accepted without one may be given it later).
func final(t target) bool {
	return t.closed || (t.merged && t.applied)
}

// wheel schedules the re-checks of what a Source remembers unresolved
// across Fetches: the dependencies outside the listing that are not final
// (every maxDepEvery Fetches) and the message-ids nobody holds (every
// maxMissEvery). Each such item holds a slot of a wheel of maxMissEvery
// Fetches: a dependency the 4 Fetches f ≡ slot (mod maxDepEvery), a
// message-id the one f ≡ slot (mod maxMissEvery). An item is re-checked
// on every Fetch of its slot, so at least once per its interval, and the
// slots are placed so that no Fetch holds more than
//
//	ceil((4·dependencies + message-ids) / 64)
//
// while items only arrive (a dependency takes the least full class of
// Fetches mod 16; a message-id fills a Fetch below its class's fullest
// before it makes a class fuller). Items that leave free their Fetches
// for the next, and may leave a Fetch fuller than that share: an item on
// one takes a slot anew when it is re-checked (its next Fetch is then
// within its interval whichever slot it takes), and the wheel evens out
// again (TestWheelEvensOutAfterItemsLeave: within 2*maxMissEvery
// Fetches).
//
// The fullest Fetch is each Fetch's budget: what it does not spend on its
// slot's items goes to early re-checks, oldest due first: an item new to
// the wheel wants one 2, 4, 8 … Fetches after its last look-up (until
// that reaches its interval), a dependency one on the Fetch the listing
// changed (depMemo.tick); a want not granted within its step lapses
// (turn.lapse). So no Fetch costs more than the budget in re-checks,
// whenever the items came, and none falls due all at once. A first
// look-up is not a re-check: it happens on the Fetch that first names the
// item. The zero value is not usable; see newWheel. It is safe for
// concurrent use.
type wheel struct {
	mu    sync.Mutex
	fetch int64             // Fetches started
	load  [maxMissEvery]int // the items re-checked on each Fetch of the wheel
	turns map[turnKey]*turn // the items re-checked
	early []turnKey         // scratch of tick
}

// turnKey names an item of the wheel: a dependency by its series id, or
// a message-id.
type turnKey struct {
	series int64
	msgid  string
}

// turn is the schedule of one item of the wheel.
type turn struct {
	every int64 // its interval: maxDepEvery or maxMissEvery
	slot  int   // it is re-checked on the Fetches f ≡ slot (mod every)
	step  int64 // the interval of its early re-checks: 2, 4, 8 … until every
	due   int64 // the Fetch from which it wants an early re-check
	last  int64 // the Fetch of its last look-up
	now   bool  // granted a re-check on this Fetch
}

func newWheel() *wheel { return &wheel{turns: map[turnKey]*turn{}} }

// tick starts a Fetch: it grants a re-check to every item of the Fetch's
// slot, and with what is left of the budget to the items that want an
// early one, oldest due first, then longest unasked. changed says the
// listing changed: every dependency then wants one.
func (w *wheel) tick(changed bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.fetch++
	budget := slices.Max(w.load[:])
	w.early = w.early[:0]
	for k, t := range w.turns {
		if changed && k.msgid == "" {
			t.due = min(t.due, w.fetch)
		}
		for t.due != math.MaxInt64 && t.due+t.step <= w.fetch {
			t.lapse()
		}
		t.now = w.fetch%t.every == int64(t.slot)
		switch {
		case t.now:
			budget--
		case t.due <= w.fetch:
			w.early = append(w.early, k)
		}
	}
	slices.SortFunc(w.early, func(a, b turnKey) int {
		ta, tb := w.turns[a], w.turns[b]
		return cmp.Or(cmp.Compare(ta.due, tb.due), cmp.Compare(ta.last, tb.last),
			cmp.Compare(a.series, b.series), cmp.Compare(a.msgid, b.msgid))
	})
	for _, k := range w.early[:min(max(budget, 0), len(w.early))] {
		w.turns[k].now = true
	}
}

// lapse gives up the early re-check the turn wanted and got no budget
// for within its step: the next one is wanted a step (doubled) later, as
// if it had been granted on time, so that a Fetch's budget does not go
// to early re-checks long overdue (an item new 64 Fetches ago wants none
// any more; its slot's Fetches re-check it).
func (t *turn) lapse() {
	t.step = min(2*t.step, t.every)
	t.due += t.step
	if t.step == t.every {
		t.due = math.MaxInt64
	}
}

// granted reports whether the item k may be looked up again on this
// Fetch: it was granted a re-check, and has not been looked up since.
func (w *wheel) granted(k turnKey) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	t := w.turns[k]
	return t != nil && t.now && t.last < w.fetch
}

// checked records a look-up of item k, re-checked every `every` Fetches,
// that left it unresolved: a new item takes a slot and wants its first
// early re-check 2 Fetches on; a known one doubles the interval of its
// early re-checks, up to every (then its slot's Fetches suffice).
func (w *wheel) checked(k turnKey, every int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	t := w.turns[k]
	switch {
	case t == nil:
		t = &turn{every: every, slot: w.place(k, every), step: 1}
		w.turns[k] = t
	case w.over(t):
		// Items that left made the wheel uneven: take a slot anew. Its
		// next Fetch is within every of this look-up, whichever it is.
		w.unload(t)
		t.slot = w.place(k, every)
	}
	t.last, t.now = w.fetch, false
	t.step = min(2*t.step, t.every)
	t.due = w.fetch + t.step
	if t.step == t.every {
		t.due = math.MaxInt64
	}
}

// remove forgets item k (resolved, final or no longer named), freeing its
// slot.
func (w *wheel) remove(k turnKey) {
	w.mu.Lock()
	defer w.mu.Unlock()
	t := w.turns[k]
	if t == nil {
		return
	}
	w.unload(t)
	delete(w.turns, k)
}

// unload takes turn t off the Fetches of its slot.
func (w *wheel) unload(t *turn) {
	for f := t.slot; f < len(w.load); f += int(t.every) {
		w.load[f]--
	}
}

// over reports whether turn t holds a Fetch fuller than the share of the
// items on the wheel, ceil(item-Fetches/64): one that only items leaving
// can have made.
func (w *wheel) over(t *turn) bool {
	held := 0
	for _, l := range w.load {
		held += l
	}
	share := (held + len(w.load) - 1) / len(w.load)
	for f := t.slot; f < len(w.load); f += int(t.every) {
		if w.load[f] > share {
			return true
		}
	}
	return false
}

// place gives item k, re-checked every `every` Fetches (maxDepEvery or
// maxMissEvery), a slot, and counts it on the slot's Fetches. The Fetches
// of the wheel fall into maxDepEvery classes (f mod maxDepEvery) of 4; a
// class is as full as its fullest Fetch. A dependency takes the least full
// class (then the least loaded); a message-id a Fetch below its class's
// fullest (of the least full class, then the least loaded), or else a
// Fetch of the least full class. Ties go to the first from the one the
// hash of the key names, so that keys spread alike whatever their order.
func (w *wheel) place(k turnKey, every int64) int {
	h := fnv.New32a()
	if k.msgid != "" {
		_, _ = h.Write([]byte(k.msgid))
	} else {
		_, _ = h.Write([]byte(strconv.FormatInt(k.series, 10)))
	}
	start := int(h.Sum32() % uint32(every))
	class := func(c int) (full, sum int) {
		for f := c; f < len(w.load); f += maxDepEvery {
			full, sum = max(full, w.load[f]), sum+w.load[f]
		}
		return full, sum
	}
	// score orders the candidate slots: the least wins.
	score := func(s int) []int {
		full, sum := class(s % maxDepEvery)
		switch {
		case every == maxDepEvery:
			return []int{full, sum}
		case w.load[s] < full:
			return []int{0, full, w.load[s]} // below its class's fullest Fetch
		}
		return []int{1, full, w.load[s]}
	}
	best := start
	for i := range int(every) {
		if c := (start + i) % int(every); slices.Compare(score(c), score(best)) < 0 {
			best = c
		}
	}
	for f := best; f < len(w.load); f += int(every) {
		w.load[f]++
	}
	return best
}
