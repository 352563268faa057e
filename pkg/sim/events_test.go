package sim

import (
	"testing"
)

// TestEventsHint: with the events hint on (events_relist: 4), an idle tick
// costs Patchwork one request (the events since the last tick), a new
// series named by the event log is triggered on the next tick, and at
// least every 4th tick lists in full, so a change whose events were lost
// is triggered at the relist: correctness never rests on the hint.
func TestEventsHint(t *testing.T) {
	const relist = 4
	h := newHarness(t, Options{Series: 60, PullRequests: -1, Seed: 1, EventsRelist: relist}, false)
	w := h.w.(local).World
	tick := func() (requests, pages int64, triggered int) {
		t.Helper()
		before, p := w.Stats.Snapshot(), w.ListPages()
		rep := h.tick(t)
		return Sub(w.Stats.Snapshot(), before)["patchwork"].Requests, w.ListPages() - p, rep.Count.Triggered
	}
	if _, pages, _ := tick(); pages == 0 {
		t.Fatal("the first tick did not list")
	}
	// Ticks 2 to 4 answer from the hint; tick 5 lists.
	for n := 2; n <= relist; n++ {
		if req, pages, trig := tick(); req != 1 || pages != 0 || trig != 0 {
			t.Fatalf("idle tick %d: %d requests, %d list pages, %d triggered; want 1 request (the events)", n, req, pages, trig)
		}
	}
	if _, pages, trig := tick(); pages == 0 || trig != 0 {
		t.Fatalf("tick %d: %d list pages, %d triggered; want a full listing", relist+1, pages, trig)
	}

	// A new series: the event log names it, the next tick lists.
	w.Change(w.clock())
	if _, pages, trig := tick(); pages == 0 || trig != 1 {
		t.Fatalf("after a new series: %d list pages, %d triggered; want a listing and 1 trigger", pages, trig)
	}

	// A new series whose events are lost: the hint says nothing, the
	// relist finds it within relist ticks.
	w.DropEvents(1 << 20)
	w.Change(w.clock())
	found := 0
	for n := 1; n <= relist; n++ {
		req, pages, trig := tick()
		if trig == 1 {
			found = n
			if pages == 0 {
				t.Errorf("tick %d triggered the series without listing", n)
			}
			break
		}
		if req != 1 {
			t.Errorf("tick %d after lost events: %d requests, want the events only", n, req)
		}
	}
	if found == 0 {
		t.Fatalf("the series whose events were lost was not triggered within %d ticks", relist)
	}
}
