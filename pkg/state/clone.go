package state

import (
	"slices"
	"time"
)

// clone returns a deep copy of st: nothing in the copy is shared with st,
// so a caller may change either without touching the other. The Store
// keeps one to hand out instead of decoding the file again (see Load).
// A field added to Unit, Reported, Post or a type they hold is copied
// here too; TestCloneSharesNothing fills every field and fails otherwise.
func clone(st *State) *State {
	c := &State{Schema: st.Schema}
	if st.Units != nil {
		c.Units = make(map[string]*Unit, len(st.Units))
		// One allocation for every unit, as decoding does.
		units := make([]Unit, 0, len(st.Units))
		for k, u := range st.Units {
			units = append(units, cloneUnit(u))
			c.Units[k] = &units[len(units)-1]
		}
	}
	if st.Outbox != nil {
		c.Outbox = make([]*Post, len(st.Outbox))
		for i, p := range st.Outbox {
			c.Outbox[i] = clonePost(p)
		}
	}
	return c
}

func cloneUnit(u *Unit) Unit {
	c := *u
	if u.Job != nil {
		j := *u.Job
		c.Job = &j
	}
	c.TriggeredAt = cloneTime(u.TriggeredAt)
	c.GoneSince = cloneTime(u.GoneSince)
	c.WaitingSince = cloneTime(u.WaitingSince)
	c.PreviousJobs = slices.Clone(u.PreviousJobs)
	if u.Result != nil {
		r := *u.Result
		c.Result = &r
	}
	c.ResultAt = cloneTime(u.ResultAt)
	if u.Reports != nil {
		c.Reports = make(map[string]*Reported, len(u.Reports))
		for name, r := range u.Reports {
			rc := *r
			c.Reports[name] = &rc
		}
	}
	c.CurrentSince = cloneTime(u.CurrentSince)
	c.RetriggerRequested = cloneTime(u.RetriggerRequested)
	return c
}

func clonePost(p *Post) *Post {
	c := *p
	c.Items = slices.Clone(p.Items)
	c.Done = slices.Clone(p.Done)
	c.Started = slices.Clone(p.Started)
	return &c
}

func cloneTime(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	c := *t
	return &c
}

// equal reports whether a and b are equal in every field of their units
// and outbox entries, nil told from empty: equal states encode to the same
// bytes. It is reflect.DeepEqual for these types, written out because Save
// compares 10k units with it, except for what the file does not record:
// the Schema a state was read with (Save writes the current one), and
// nil against empty for Units and Outbox themselves (both are written
// the same; a cycle that queued and posted reports leaves an empty
// outbox where the last Save had none). A field added to Unit, Reported
// or Post is compared here too; TestEqualSeesEveryField changes every
// field and fails otherwise.
func equal(a, b *State) bool {
	if len(a.Units) != len(b.Units) || len(a.Outbox) != len(b.Outbox) {
		return false
	}
	for k, u := range a.Units {
		v, ok := b.Units[k]
		if !ok || !equalUnit(u, v) {
			return false
		}
	}
	for i, p := range a.Outbox {
		if !equalPost(p, b.Outbox[i]) {
			return false
		}
	}
	return true
}

func equalUnit(a, b *Unit) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Change == b.Change && a.Target == b.Target && a.Source == b.Source &&
		a.Status == b.Status && a.Reason == b.Reason && a.Fingerprint == b.Fingerprint &&
		a.Inputs == b.Inputs && equalPtr(a.Job, b.Job) && a.BaseCommit == b.BaseCommit &&
		a.FirstSeen == b.FirstSeen && a.LastSeen == b.LastSeen &&
		equalPtr(a.TriggeredAt, b.TriggeredAt) && equalPtr(a.GoneSince, b.GoneSince) &&
		equalPtr(a.WaitingSince, b.WaitingSince) && a.Attempt == b.Attempt &&
		equalStrings(a.PreviousJobs, b.PreviousJobs) && equalPtr(a.Result, b.Result) &&
		equalPtr(a.ResultAt, b.ResultAt) && equalReports(a.Reports, b.Reports) &&
		a.TriggerReason == b.TriggerReason && a.Current == b.Current &&
		equalPtr(a.CurrentSince, b.CurrentSince) && equalPtr(a.RetriggerRequested, b.RetriggerRequested)
}

func equalPost(a, b *Post) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Reporter == b.Reporter && a.Message == b.Message && a.Posted == b.Posted &&
		equalStrings(a.Items, b.Items) && equalStrings(a.Done, b.Done) && equalStrings(a.Started, b.Started) &&
		a.Attempts == b.Attempts && a.NextAttempt == b.NextAttempt && a.LastError == b.LastError &&
		a.Created == b.Created
}

func equalReports(a, b map[string]*Reported) bool {
	if (a == nil) != (b == nil) || len(a) != len(b) {
		return false
	}
	for name, r := range a {
		if !equalPtr(r, b[name]) {
			return false
		}
	}
	return true
}

// equalPtr compares what a and b point to with ==, which for a time.Time
// compares its location and monotonic reading too: stricter than equal
// encodings.
func equalPtr[T comparable](a, b *T) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

func equalStrings(a, b []string) bool {
	return (a == nil) == (b == nil) && slices.Equal(a, b)
}
