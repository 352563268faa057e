package patchwork

import (
	"fmt"
	"testing"
)

// TestNextDue: the next Fetch of a slot is the first after the current
// one that is the slot modulo the interval, never the current one and
// never more than the interval away.
func TestNextDue(t *testing.T) {
	tests := []struct {
		fetch, every int64
		slot         int
		want         int64
	}{
		{1, 2, 0, 2},
		{1, 2, 1, 3},
		{2, 4, 0, 4},
		{4, 4, 0, 8},
		{4, 8, 12, 12},
		{12, 16, 12, 28},
		{5, 16, 5, 21},
		{5, 16, 6, 6},
		{0, 64, 63, 63},
	}
	for _, tt := range tests {
		if got := nextDue(tt.fetch, tt.every, tt.slot); got != tt.want {
			t.Errorf("nextDue(%d, %d, %d) = %d, want %d", tt.fetch, tt.every, tt.slot, got, tt.want)
		}
	}
}

// TestRechecksSpreadOverFetches: dependencies that stay open outside the
// listing are re-checked at most once per Fetch each, at least once per
// maxDepEvery Fetches, and, once their interval has grown to
// maxDepEvery, as evenly over the Fetches as their number allows (at most
// ceil(n/maxDepEvery) on any Fetch), whether they were first seen
// together (a cold tick) or over time. Message-ids nobody holds are
// spread over maxMissEvery Fetches alike.
func TestRechecksSpreadOverFetches(t *testing.T) {
	const fetches = 300
	tests := []struct {
		name   string
		n      int
		arrive func(i int) int64 // the Fetch item i is first named on
	}{
		{"a few, together", 7, func(int) int64 { return 1 }},
		{"many, together", 160, func(int) int64 { return 1 }},
		{"many, over time", 150, func(i int) int64 { return 1 + int64(i/5) }},
		{"more than slots, one a Fetch", 100, func(i int) int64 { return 1 + int64(i) }},
	}
	for _, tt := range tests {
		t.Run("dependencies/"+tt.name, func(t *testing.T) {
			m := newDepMemo()
			asked := map[int64]int64{}
			for f := int64(1); f <= fetches; f++ {
				m.tick(false)
				due := 0
				for i := range tt.n {
					id := int64(1000 + 7*i)
					if tt.arrive(i) > f {
						continue
					}
					if _, _, fresh := m.get(id); fresh {
						if f-asked[id] > maxDepEvery {
							t.Fatalf("Fetch %d: series %d last asked on Fetch %d, more than %d ago", f, id, asked[id], maxDepEvery)
						}
						continue
					}
					due++
					asked[id] = f
					m.put(id, &Series{ID: id}, target{id: id})
				}
				checkSpread(t, f, due, tt.n, tt.arrive(tt.n-1), maxDepEvery)
			}
		})
		t.Run("message-ids/"+tt.name, func(t *testing.T) {
			m := &misses{ids: map[string]*miss{}}
			asked := map[string]int64{}
			for f := int64(1); f <= fetches; f++ {
				m.tick()
				due := 0
				for i := range tt.n {
					msgid := fmt.Sprintf("nowhere-%d@example.org", i)
					if tt.arrive(i) > f {
						continue
					}
					if ok, _, _ := m.due(msgid); !ok {
						if f-asked[msgid] > maxMissEvery {
							t.Fatalf("Fetch %d: %s last asked on Fetch %d, more than %d ago", f, msgid, asked[msgid], maxMissEvery)
						}
						continue
					}
					if asked[msgid] != 0 {
						due++ // a first look-up is not a re-check
					}
					asked[msgid] = f
					m.missed(msgid)
				}
				checkSpread(t, f, due, tt.n, tt.arrive(tt.n-1), maxMissEvery)
			}
		})
	}
}

// checkSpread fails when more than ceil(n/every) of n items re-checked
// on a schedule of at most every Fetches fall due on Fetch f, once the
// last of them (first named on Fetch last) has grown its interval to
// every.
func checkSpread(t *testing.T, f int64, due, n int, last, every int64) {
	t.Helper()
	if f <= last+2*every {
		return
	}
	if most := (int64(n) + every - 1) / every; int64(due) > most {
		t.Fatalf("Fetch %d: %d re-checks due, want at most %d (%d items, each every %d Fetches)", f, due, most, n, every)
	}
}

// TestResolvedDependencyFoundWithinBound: a dependency that is merged on
// the server (with its commits: final) at any Fetch after it was first
// found open is looked up again within maxDepEvery Fetches (a merged
// series' state is read by every other re-check of an open one, so
// within 2*maxDepEvery; see resolver.recheck), and is not asked again
// once found; a message-id that a mail takes is found within
// maxMissEvery Fetches.
func TestResolvedDependencyFoundWithinBound(t *testing.T) {
	for _, id := range []int64{1, 2, 17, 4242} {
		for resolved := int64(2); resolved <= 80; resolved++ {
			m := newDepMemo()
			found, asks := int64(0), 0
			for f := int64(1); f <= 120; f++ {
				m.tick(false)
				if _, _, fresh := m.get(id); fresh {
					continue
				}
				asks++
				if found != 0 {
					t.Fatalf("series %d merged on Fetch %d: asked again on Fetch %d after it was found", id, resolved, f)
				}
				if f < resolved {
					m.put(id, &Series{ID: id}, target{id: id})
					continue
				}
				found = f
				m.put(id, &Series{ID: id}, target{id: id, merged: true, applied: true})
			}
			if found == 0 || found-resolved >= maxDepEvery {
				t.Errorf("series %d merged on Fetch %d: found on Fetch %d, want within %d Fetches", id, resolved, found, maxDepEvery)
			}
		}
	}
	for _, msgid := range []string{"a@x", "b@x", "late-patch@example.org"} {
		for _, cover := range []bool{false, true} {
			for posted := int64(2); posted <= 300; posted += 3 {
				m := &misses{ids: map[string]*miss{}}
				found := int64(0)
				for f := int64(1); f <= 500 && found == 0; f++ {
					m.tick()
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
