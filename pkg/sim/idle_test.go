package sim

import (
	"math"
	"math/bits"
	"slices"
	"strings"
	"testing"
)

// TestIdleTickAtTheFloor: an idle tick asks Patchwork for each page of its
// listing once, and for nothing else but the references nobody resolves
// (Depends-on a message id no mail has), each at most once a tick and on
// a slower schedule than every tick; dependencies outside the listing
// (accepted or superseded series) are not asked again.
func TestIdleTickAtTheFloor(t *testing.T) {
	const ticks = 8
	h := newHarness(t, Options{Series: 120, PullRequests: -1, Seed: 23}, false)
	w := h.w.(local).World

	// What the listing holds, how many listed series name a message id
	// nobody has, and how many name an accepted series (outside the
	// listing: it must be looked up, once).
	w.pw.mu.Lock()
	listed, nowhere, merged := 0, 0, 0
	listedSeries := map[int64]bool{}
	for _, p := range w.pw.patches {
		if p.state == "new" || p.state == "under-review" {
			listed++
			listedSeries[p.series.id] = true
		}
	}
	for _, s := range w.pw.series {
		_, ref, ok := strings.Cut(s.coverText+"\n"+s.patches[0].text, "Depends-on: ")
		if !listedSeries[s.id] || !ok {
			continue
		}
		ref, _, _ = strings.Cut(ref, "\n")
		if p := w.pw.byMsgID[bareID(ref)]; p == nil {
			nowhere++
		} else if p.state == "accepted" {
			merged++
		}
	}
	w.pw.mu.Unlock()
	pages := int64(math.Ceil(float64(listed) / 250))
	if pages < 2 || nowhere == 0 || merged == 0 {
		t.Fatalf("the world lists %d pages, %d unresolvable references and %d on accepted series: too small to test",
			pages, nowhere, merged)
	}

	h.tick(t)
	extra := int64(0)
	for tick := 2; tick <= ticks; tick++ {
		before, pagesBefore := w.Stats.Snapshot(), w.ListPages()
		if rep := h.tick(t); rep.Count.Triggered != 0 {
			t.Fatalf("idle tick %d triggered %d", tick, rep.Count.Triggered)
		}
		pw := Sub(w.Stats.Snapshot(), before)["patchwork"].Requests
		got := w.ListPages() - pagesBefore
		if got != pages {
			t.Errorf("idle tick %d: %d list page requests, want %d (each page once)", tick, got, pages)
		}
		if pw-got > int64(nowhere) {
			t.Errorf("idle tick %d: %d requests besides the list pages, want at most %d (one per unresolvable reference)", tick, pw-got, nowhere)
		}
		extra += pw - got
	}
	// Each unresolvable reference is asked after 2, 4, 8 … ticks.
	if most := int64(nowhere * bits.Len(ticks)); extra > most {
		t.Errorf("%d requests besides the list pages over %d idle ticks, want at most %d", extra, ticks-1, most)
	}
	t.Logf("%d idle ticks: %d list pages each, %d other requests (%d unresolvable references, %d on accepted series)",
		ticks-1, pages, extra, nowhere, merged)
}

// TestIdleTickAtTheIssueShape: at the proportions of issue 13's 10x
// project (Issue10x: about 30% of the series actionable, the rest decided)
// scaled down, every idle tick asks Patchwork for each list page once and
// for nothing else but re-checks of the references still unresolved: a
// dependency open outside the listed states (changes requested, deferred,
// rfc) or a message id no mail has. They share one budget: from the first
// idle tick on (not only once their intervals have grown), no tick
// re-checks more than their share of the wheel, ceil((4·dependencies +
// message ids)/64), each dependency being re-checked at least every 16
// ticks and each message id every 64.
func TestIdleTickAtTheIssueShape(t *testing.T) {
	const ticks = 40
	o := Issue10x
	o.Series, o.Actionable = 1200, 1200*Issue10x.Actionable/Issue10x.Series
	h := newHarness(t, o, false)
	w := h.w.(local).World

	w.pw.mu.Lock()
	listed := 0
	listedSeries := map[int64]bool{}
	for _, p := range w.pw.patches {
		if p.state == "new" {
			listed++
			listedSeries[p.series.id] = true
		}
	}
	openOutside := map[int64]bool{}
	nowhere := map[string]bool{}
	for _, s := range w.pw.series {
		_, ref, ok := strings.Cut(s.coverText+"\n"+s.patches[0].text, "Depends-on: ")
		if !listedSeries[s.id] || !ok {
			continue
		}
		ref, _, _ = strings.Cut(ref, "\n")
		p := w.pw.byMsgID[bareID(ref)]
		switch {
		case p == nil:
			nowhere[bareID(ref)] = true
		case !listedSeries[p.series.id] && slices.Contains([]string{"changes-requested", "deferred", "rfc"}, p.state):
			openOutside[p.series.id] = true
		}
	}
	w.pw.mu.Unlock()
	pages := int64(math.Ceil(float64(listed) / 250))
	deps, msgids := len(openOutside), len(nowhere)
	if pages < 2 || deps < 2 || msgids == 0 {
		t.Fatalf("the world lists %d pages, %d dependencies open outside the listing, %d unresolvable message ids: too small to test",
			pages, deps, msgids)
	}
	budget := int64((4*deps + msgids + 63) / 64)

	h.tick(t)
	var others []int64
	for tick := 2; tick <= ticks; tick++ {
		before, pagesBefore := w.Stats.Snapshot(), w.ListPages()
		if rep := h.tick(t); rep.Count.Triggered != 0 {
			t.Fatalf("idle tick %d triggered %d", tick, rep.Count.Triggered)
		}
		got := w.ListPages() - pagesBefore
		other := Sub(w.Stats.Snapshot(), before)["patchwork"].Requests - got
		others = append(others, other)
		if got != pages {
			t.Errorf("idle tick %d: %d list page requests, want %d (each page once)", tick, got, pages)
		}
		if other > budget {
			t.Errorf("idle tick %d: %d requests besides the list pages, want at most %d (%d dependencies every 16 ticks, %d message ids every 64)",
				tick, other, budget, deps, msgids)
		}
	}
	t.Logf("%d idle ticks: %d list pages each, other requests per tick %v (%d dependencies open outside the listing, %d unresolvable message ids)",
		ticks-1, pages, others, deps, msgids)
}
