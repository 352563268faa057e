package patchwork

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// budgetOf is the most re-checks the wheel lets a Fetch cost with deps
// dependencies and msgids message-ids unresolved.
func budgetOf(deps, msgids int) int {
	return (deps*maxMissEvery/maxDepEvery + msgids + maxMissEvery - 1) / maxMissEvery
}

// TestWheelPlace: whatever the order dependencies and message-ids arrive
// in, the wheel's fullest Fetch holds no more items than their share,
// ceil((4·deps + msgids)/64), and a dependency's slot is a class mod
// maxDepEvery (its 4 Fetches of the wheel), a message-id's one Fetch.
func TestWheelPlace(t *testing.T) {
	tests := []struct {
		name  string
		order string // d: a dependency, m: a message-id, in the order they arrive
	}{
		{"dependencies only", repeat("d", 49)},
		{"message-ids only", repeat("m", 130)},
		{"dependencies first", repeat("d", 49) + repeat("m", 24)},
		{"message-ids first", repeat("m", 24) + repeat("d", 49)},
		{"message-ids fill 3 of 4", repeat("m", 48) + repeat("d", 3)},
		{"interleaved", repeat("ddm", 40)},
		{"one of each in turn", repeat("md", 70)},
		{"more than the wheel", repeat("m", 100) + repeat("d", 40) + repeat("m", 90)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWheel()
			deps, msgids := 0, 0
			for i, kind := range tt.order {
				if kind == 'd' {
					deps++
					w.checked(depKey(int64(1000+7*i)), maxDepEvery)
				} else {
					msgids++
					w.checked(missKey(fmt.Sprintf("nowhere-%d@example.org", i)), maxMissEvery)
				}
				full := 0
				for _, l := range w.load {
					full = max(full, l)
				}
				if most := budgetOf(deps, msgids); full > most {
					t.Fatalf("after %d dependencies and %d message-ids: a Fetch holds %d, want at most %d (loads %v)",
						deps, msgids, full, most, w.load)
				}
			}
			held := 0
			for k, tr := range w.turns {
				want := int64(maxMissEvery)
				if k.msgid == "" {
					want = maxDepEvery
				}
				if tr.every != want || tr.slot < 0 || int64(tr.slot) >= want {
					t.Errorf("%+v: slot %d of %d, want a slot of %d", k, tr.slot, tr.every, want)
				}
				held += int(maxMissEvery / tr.every)
			}
			sum := 0
			for _, l := range w.load {
				sum += l
			}
			if sum != held {
				t.Errorf("the wheel counts %d item-Fetches, its items hold %d", sum, held)
			}
		})
	}
}

func repeat(s string, n int) string {
	out := ""
	for range n {
		out += s
	}
	return out
}

// rechecker drives a depMemo and a misses that share a wheel, as a
// Source's Fetches do, over items that arrive and leave on given Fetches.
type rechecker struct {
	deps   *depMemo
	misses *misses
	asked  map[string]int64 // item -> the Fetch of its last look-up
	// answer is what a look-up of dependency id finds on Fetch f; nil:
	// still open.
	answer func(id, f int64) target
	// lookups are the Fetches each dependency was looked up on.
	lookups map[int64][]int64
}

func newRechecker() *rechecker {
	w := newWheel()
	return &rechecker{deps: newDepMemo(w), misses: newMisses(w), asked: map[string]int64{}, lookups: map[int64][]int64{}}
}

// fetch runs Fetch f over the dependencies and message-ids named on it,
// each still unresolved, and returns the re-checks (look-ups of items
// already known) it made. It fails when an item waited longer than its
// interval.
func (r *rechecker) fetch(t *testing.T, f int64, changed bool, deps []int64, msgids []string) int {
	t.Helper()
	r.misses.tick()
	r.deps.tick(changed)
	rechecks := 0
	for _, id := range deps {
		key := fmt.Sprint("series ", id)
		e, known, fresh := r.deps.get(id)
		if fresh {
			if !final(e.t) && f-r.asked[key] > maxDepEvery {
				t.Fatalf("Fetch %d: %s last asked on Fetch %d, more than %d ago", f, key, r.asked[key], maxDepEvery)
			}
			continue
		}
		if known {
			rechecks++
		}
		r.asked[key] = f
		r.lookups[id] = append(r.lookups[id], f)
		t := target{id: id}
		if r.answer != nil {
			t = r.answer(id, f)
		}
		r.deps.put(id, &Series{ID: id}, t)
	}
	for _, msgid := range msgids {
		ok, patches, covers := r.misses.due(msgid)
		if !ok {
			if f-r.asked[msgid] > maxMissEvery {
				t.Fatalf("Fetch %d: %s last asked on Fetch %d, more than %d ago", f, msgid, r.asked[msgid], maxMissEvery)
			}
			continue
		}
		if _, known := r.asked[msgid]; known {
			rechecks++
			if patches == covers {
				t.Fatalf("Fetch %d: a re-check of %s asks both listings or neither", f, msgid)
			}
		}
		r.asked[msgid] = f
		r.misses.missed(msgid)
	}
	return rechecks
}

// TestRechecksSpreadOverFetches: dependencies that stay open outside the
// listing and message-ids nobody holds share one budget of re-checks:
// on every Fetch, from the first after they came (the cold tick's idle
// successors included), at most ceil((4·deps + msgids)/64) of them are
// re-checked, whether they came together (a cold tick) or over time, and
// when the listing changes on every Fetch or now and then; and each is
// still re-checked at least once per its interval (maxDepEvery,
// maxMissEvery Fetches), at most once a Fetch. Once their early
// re-checks are over (within 2*maxMissEvery Fetches of their first
// look-up), a Fetch with the listing unchanged for maxDepEvery Fetches
// re-checks only the items of its slot.
func TestRechecksSpreadOverFetches(t *testing.T) {
	const fetches = 300
	tests := []struct {
		name    string
		deps    int
		msgids  int
		arrive  func(i int) int64 // the Fetch item i is first named on
		changed func(f int64) bool
	}{
		{"a few, together", 7, 3, func(int) int64 { return 1 }, never},
		{"the issue's 10x, together", 49, 24, func(int) int64 { return 1 }, never},
		{"the issue's 10x, listing changes every Fetch", 49, 24, func(int) int64 { return 1 }, func(int64) bool { return true }},
		{"the issue's 10x, listing changes now and then", 49, 24, func(int) int64 { return 1 }, func(f int64) bool { return f%7 == 3 }},
		{"many, together", 160, 100, func(int) int64 { return 1 }, never},
		{"many, over time", 150, 60, func(i int) int64 { return 1 + int64(i/5) }, never},
		{"more than slots, one a Fetch", 100, 100, func(i int) int64 { return 1 + int64(i) }, func(f int64) bool { return f%2 == 0 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRechecker()
			most := 0
			for f := int64(1); f <= fetches; f++ {
				var deps []int64
				var msgids []string
				for i := range tt.deps + tt.msgids {
					if tt.arrive(i) > f {
						continue
					}
					if i < tt.deps {
						deps = append(deps, int64(1000+7*i))
					} else {
						msgids = append(msgids, fmt.Sprintf("nowhere-%d@example.org", i))
					}
				}
				slot := r.deps.wheel.load[(f)%maxMissEvery]
				got := r.fetch(t, f, tt.changed(f), deps, msgids)
				if budget := budgetOf(len(deps), len(msgids)); got > budget {
					t.Fatalf("Fetch %d: %d re-checks, want at most %d (%d dependencies, %d message-ids)", f, got, budget, len(deps), len(msgids))
				}
				// Long after the last came, with the listing unchanged
				// for maxDepEvery Fetches, the early re-checks are over:
				// a Fetch re-checks the items of its slot alone.
				settled := f > tt.arrive(tt.deps+tt.msgids-1)+2*maxMissEvery
				for g := f - maxDepEvery; g <= f; g++ {
					settled = settled && !tt.changed(g)
				}
				if settled && got != slot {
					t.Fatalf("Fetch %d: %d re-checks, want the %d of its slot", f, got, slot)
				}
				most = max(most, got)
			}
			t.Logf("most re-checks on a Fetch: %d", most)
		})
	}
}

func never(int64) bool { return false }

// TestDependencyLeavesTheWheel: a dependency no Fetch names any more is
// forgotten after maxDepEvery Fetches, and its slot freed; one found
// final gives its slot back at once.
func TestDependencyLeavesTheWheel(t *testing.T) {
	r := newRechecker()
	r.fetch(t, 1, false, []int64{1, 2, 3}, nil)
	r.deps.put(3, &Series{ID: 3}, target{id: 3, closed: true})
	if len(r.deps.wheel.turns) != 2 {
		t.Fatalf("the wheel holds %d items, want 2 (series 3 is final)", len(r.deps.wheel.turns))
	}
	for f := int64(2); f <= 2+maxDepEvery+1; f++ {
		r.fetch(t, f, false, []int64{1}, nil)
	}
	if _, ok := r.deps.ids[2]; ok || len(r.deps.wheel.turns) != 1 {
		t.Errorf("series 2, no longer named, is still remembered (%d items on the wheel)", len(r.deps.wheel.turns))
	}
	sum := 0
	for _, l := range r.deps.wheel.load {
		sum += l
	}
	if sum != maxMissEvery/maxDepEvery {
		t.Errorf("the wheel counts %d item-Fetches, want %d (series 1 alone)", sum, maxMissEvery/maxDepEvery)
	}
}

// TestResolvedDependencyFoundWithinBound: a dependency that is merged on
// the server (with its commits: final) at any Fetch after it was first
// found open is looked up again within maxDepEvery Fetches (a merged
// series' state is read by every other re-check of an open one, so
// within 2*maxDepEvery; see resolver.recheck), and is not asked again
// once found, even when the budget is spent on many others; a message-id
// that a mail takes is found within 2*maxMissEvery Fetches (its listings
// are asked in turn).
func TestResolvedDependencyFoundWithinBound(t *testing.T) {
	for _, others := range []int{0, 60} {
		for _, id := range []int64{1, 17, 4242} {
			for resolved := int64(2); resolved <= 80; resolved += 3 {
				r := newRechecker()
				r.answer = func(dep, f int64) target {
					if dep == id && f >= resolved {
						return target{id: dep, merged: true, applied: true}
					}
					return target{id: dep}
				}
				deps := []int64{id}
				var msgids []string
				for i := range others {
					deps = append(deps, int64(100000+i))
					msgids = append(msgids, fmt.Sprintf("other-%d@example.org", i))
				}
				for f := int64(1); f <= resolved+2*maxDepEvery; f++ {
					r.fetch(t, f, f%5 == 0, deps, msgids)
				}
				asked := r.lookups[id]
				found := asked[len(asked)-1]
				if found < resolved || found-resolved >= maxDepEvery {
					t.Errorf("%d others: series %d merged on Fetch %d: looked up on Fetches %v, want one within %d Fetches and none after",
						others, id, resolved, asked, maxDepEvery)
				}
				if len(asked) > 1 && asked[len(asked)-2] >= resolved {
					t.Errorf("%d others: series %d merged on Fetch %d: looked up on Fetches %v, want once after", others, id, resolved, asked)
				}
			}
		}
	}
	for _, msgid := range []string{"a@x", "b@x", "late-patch@example.org"} {
		for _, cover := range []bool{false, true} {
			for posted := int64(2); posted <= 300; posted += 3 {
				w := newWheel()
				m, d := newMisses(w), newDepMemo(w)
				found := int64(0)
				for f := int64(1); f <= 500 && found == 0; f++ {
					m.tick()
					d.tick(false)
					ok, patches, covers := m.due(msgid)
					switch {
					case !ok:
					case f >= posted && ((patches && !cover) || (covers && cover)):
						m.found(msgid)
						found = f
					default:
						m.missed(msgid)
					}
				}
				if found == 0 || found-posted >= 2*maxMissEvery {
					t.Errorf("%s posted on Fetch %d (a cover letter: %t): found on Fetch %d, want within %d Fetches",
						msgid, posted, cover, found, 2*maxMissEvery)
				}
			}
		}
	}
}

// TestWheelEvensOutAfterItemsLeave: items that leave (resolved, final,
// no longer named) leave holes that can make a Fetch fuller than the
// share of those left; an item on such a Fetch takes a slot anew when it
// is re-checked, so that, once the churn stops, within 2*maxMissEvery
// Fetches no Fetch holds more than the share, ceil((4·deps + msgids)/64),
// and no item ever waits longer than its interval for a re-check.
func TestWheelEvensOutAfterItemsLeave(t *testing.T) {
	for _, tt := range []struct {
		name       string
		seed       uint64
		start      int // items before the churn
		leaveShare int // of 4 changes, how many are departures
	}{
		{"the issue's 10x, half leave", 1, 73, 2},
		{"the issue's 10x, most leave", 2, 73, 3},
		{"many, half leave", 3, 300, 2},
		{"a few, half leave", 4, 9, 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rnd := rand.New(rand.NewPCG(tt.seed, 1))
			w := newWheel()
			last := map[turnKey]int64{}
			var keys []turnKey
			n := 0
			add := func() {
				n++
				k, every := depKey(int64(n)), int64(maxDepEvery)
				if rnd.IntN(3) == 0 {
					k, every = missKey(fmt.Sprintf("nowhere-%d@example.org", n)), maxMissEvery
				}
				keys = append(keys, k)
				w.checked(k, every)
				last[k] = w.fetch
			}
			fetch := func() {
				w.tick(false)
				for _, k := range keys {
					if w.granted(k) {
						w.checked(k, w.turns[k].every)
						last[k] = w.fetch
					}
					if w.fetch-last[k] > w.turns[k].every {
						t.Fatalf("Fetch %d: %+v last re-checked on Fetch %d, more than %d ago", w.fetch, k, last[k], w.turns[k].every)
					}
				}
			}
			w.tick(false)
			for range tt.start {
				add()
			}
			for range 500 {
				fetch()
				for range rnd.IntN(3) {
					if len(keys) > 0 && rnd.IntN(4) < tt.leaveShare {
						i := rnd.IntN(len(keys))
						w.remove(keys[i])
						keys = slices.Delete(keys, i, i+1)
					} else {
						add()
					}
				}
			}
			for range 2 * maxMissEvery {
				fetch()
			}
			deps := 0
			for _, k := range keys {
				if k.msgid == "" {
					deps++
				}
			}
			if full, most := slices.Max(w.load[:]), budgetOf(deps, len(keys)-deps); full > most {
				t.Errorf("%d dependencies and %d message-ids: a Fetch holds %d, want at most %d (loads %v)", deps, len(keys)-deps, full, most, w.load)
			}
		})
	}
}
