package pwfake

import (
	"bytes"
	"fmt"
	"slices"
)

// decision is a maintainer's decision on a patch: its state slug and the
// commit it was applied as ("" leaves commit_ref null).
type decision struct {
	state     string
	commitRef string
}

// edit replaces old with new in the text of the mails the fake serves.
type edit struct{ old, new string }

// Decide sets the state of patch id (a state slug) and its commit_ref, as
// a maintainer does with PATCH /api/patches/<id>/ (recorded:
// patch-update-state-as-bot-200 changes the state; patches-detail-9-accepted
// is an accepted patch with its commit_ref set). An empty commitRef leaves
// commit_ref null. The patch lists, filters and mboxes follow the decision.
func (f *Fake) Decide(id int64, state, commitRef string) error {
	if !slices.Contains(states, state) {
		return fmt.Errorf("pwfake: unknown state %q", state)
	}
	if !slices.ContainsFunc(f.data.patches, func(o object) bool { return o.m.ID == id }) {
		return fmt.Errorf("pwfake: no patch %d", id)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.decisions[id] = decision{state: state, commitRef: commitRef}
	return nil
}

// EditText makes the fake serve mails whose text differs from the
// recording: old is replaced with new in cover letter and patch contents
// (JSON-escaped there) and in mboxes. It stands for a mail the recording
// does not hold, such as a cover letter with other Depends-on tags; edit
// only the prose of a mail, never a diff (patch hashes are not recomputed).
func (f *Fake) EditText(old, new string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.edits = append(f.edits, edit{old: old, new: new})
}

// applyDecisions returns the patch list forms with the decisions made on
// them. f.mu must not be held.
func (f *Fake) applyDecisions(objs []object) []object {
	f.mu.Lock()
	decided := make(map[int64]decision, len(f.decisions))
	for id, d := range f.decisions {
		decided[id] = d
	}
	f.mu.Unlock()
	if len(decided) == 0 {
		return objs
	}
	out := slices.Clone(objs)
	for i, o := range out {
		d, ok := decided[o.m.ID]
		if !ok {
			continue
		}
		body := bytes.Replace(o.body, []byte(`"state":`+string(marshal(o.m.State))), []byte(`"state":`+string(marshal(d.state))), 1)
		ref := raw("null")
		if d.commitRef != "" {
			ref = marshal(d.commitRef)
		}
		body = commitRefRe.ReplaceAll(body, append([]byte(`"commit_ref":`), ref...))
		out[i].body = body
		out[i].m.State = d.state
	}
	return out
}

// applyEdits applies the text edits to a body; jsonBody escapes them as
// JSON strings.
func (f *Fake) applyEdits(body []byte, jsonBody bool) []byte {
	f.mu.Lock()
	edits := slices.Clone(f.edits)
	f.mu.Unlock()
	for _, e := range edits {
		old, new := []byte(e.old), []byte(e.new)
		if jsonBody {
			old, new = jsonText(e.old), jsonText(e.new)
		}
		body = bytes.ReplaceAll(body, old, new)
	}
	return body
}

// jsonText is s as it appears inside a JSON string the server wrote.
func jsonText(s string) []byte {
	b := marshal(s)
	return b[1 : len(b)-1]
}
