package state

import (
	"encoding/json"
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
	c.Inputs = cloneBytes(u.Inputs)
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

func cloneBytes(b json.RawMessage) json.RawMessage {
	if b == nil {
		return nil
	}
	return append(json.RawMessage{}, b...)
}
