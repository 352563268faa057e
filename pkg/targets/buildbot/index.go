package buildbot

import (
	"context"
	"net/url"
	"slices"
	"strconv"
)

// indexEntry is what a lookup needs of a change: its job key and project.
// A change never changes once made (Buildbot has no update of a change),
// so an entry read once stays true.
type indexEntry struct {
	key, project string
}

// changeIndex holds the job key and project of the newest changes the
// target read from the master, so that each lookup asks the master only
// for the changes made since the last one. The target's mutex guards it.
type changeIndex struct {
	entries map[int]indexEntry
	top     int // the highest change id read; 0 before the first read
}

// refresh reads into the index the changes made since the last read: the
// LookupChanges newest on the first read, newest first; afterwards those
// with a higher id than any read (changeid__gt, a filter the master
// applies in its database, data/changes.py fieldMapping), oldest first.
// When more than LookupChanges were made since, the index starts over
// from the newest. t.mu must be held.
func (t *Target) refresh(ctx context.Context) error {
	if t.index.top > 0 {
		fresh, complete, err := t.readChanges(ctx, url.Values{"order": {"changeid"}, "changeid__gt": {strconv.Itoa(t.index.top)}})
		if err != nil {
			return err
		}
		if complete {
			t.add(fresh)
			return nil
		}
	}
	window, _, err := t.readChanges(ctx, url.Values{"order": {"-changeid"}})
	if err != nil {
		return err
	}
	t.index = changeIndex{entries: map[int]indexEntry{}}
	t.add(window)
	return nil
}

// add records changes in the index and keeps it to the LookupChanges
// newest.
func (t *Target) add(changes []masterChange) {
	for _, c := range changes {
		t.index.entries[c.ChangeID] = indexEntry{key: c.property("trawl_job"), project: c.Project}
		t.index.top = max(t.index.top, c.ChangeID)
	}
	if len(t.index.entries) > t.lookup {
		ids := make([]int, 0, len(t.index.entries))
		for id := range t.index.entries {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		for _, id := range ids[:len(ids)-t.lookup] {
			delete(t.index.entries, id)
		}
	}
}

// readChanges reads the changes q selects, in pages of changesPage, up to
// LookupChanges of them; complete reports that the answer ended before
// that bound.
func (t *Target) readChanges(ctx context.Context, q url.Values) (changes []masterChange, complete bool, err error) {
	for len(changes) < t.lookup {
		limit := min(changesPage, t.lookup-len(changes))
		q.Set("limit", strconv.Itoa(limit))
		q.Set("offset", strconv.Itoa(len(changes)))
		var page struct {
			Changes []masterChange `json:"changes"`
		}
		if err := t.getJSON(ctx, t.api+"/changes?"+q.Encode(), &page); err != nil {
			return nil, false, err
		}
		changes = append(changes, page.Changes...)
		if len(page.Changes) < limit {
			return changes, true, nil
		}
	}
	return changes, false, nil
}

// findChange returns the id of the newest change among the LookupChanges
// newest whose job key and project are key's and whose job is not in
// exclude, or 0.
func (t *Target) findChange(ctx context.Context, key string, exclude []string) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.refresh(ctx); err != nil {
		return 0, err
	}
	found := 0
	for id, e := range t.index.entries {
		if e.key == key && e.project == t.changeProject(key) && id > found && !slices.Contains(exclude, jobID(id, key)) {
			found = id
		}
	}
	return found, nil
}

// forget drops a change that no longer is what the index says (deleted by
// the master's change horizon, or its id reused after a database reset)
// from the index; 0 drops the whole index, which the next lookup reads
// again.
func (t *Target) forget(id int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if id == 0 {
		t.index = changeIndex{}
		return
	}
	delete(t.index.entries, id)
}
