package patchwork

import (
	"fmt"
	"slices"

	"github.com/trawl-ci/trawl/pkg/change"
)

// changePatches converts the patches of series s to the neutral model, in
// series order, taking each hash from hashes (by patch id).
func changePatches(s *Series, hashes map[int64]string) []change.Patch {
	out := make([]change.Patch, 0, len(s.Patches))
	for _, p := range s.Patches {
		out = append(out, change.Patch{
			ID:      p.ID,
			MsgID:   p.MsgID,
			Name:    p.Name,
			Hash:    hashes[p.ID],
			MboxURL: p.Mbox,
			WebURL:  p.WebURL,
		})
	}
	return out
}

// waiting is the change of incomplete series sr: not buildable until its
// last patch arrives. Its mails are not read yet (an incomplete series'
// mbox must not be cached), so it names no dependency.
func (s *Source) waiting(sr *Series, actionable map[int64]listedPatch) change.Change {
	hashes := map[int64]string{}
	for _, p := range sr.Patches {
		hashes[p.ID] = actionable[p.ID].Hash
	}
	c := s.seriesChange(sr, hashes)
	c.Waiting = fmt.Sprintf("%d of %d patches received", sr.ReceivedTotal, sr.Total)
	return c
}

// seriesChange is what every change of series sr shares, buildable,
// waiting or merged: its identity, its patches with hashes (by patch id)
// in series order, their content, its base and targets.
func (s *Source) seriesChange(sr *Series, hashes map[int64]string) change.Change {
	c := change.Change{
		Key:       s.key(sr.ID),
		Source:    s.o.Name,
		Title:     sr.Name,
		WebURL:    sr.WebURL,
		Submitter: sr.Submitter.Email,
		Version:   sr.Version,
		Patches:   changePatches(sr, hashes),
		Base:      s.o.Base,
		Targets:   slices.Clone(s.o.Targets),
	}
	for _, p := range c.Patches {
		c.Content = append(c.Content, p.Hash)
	}
	return c
}

// mergedChange is the change of merged series sr, whose patches (list
// form) are all accepted: what its dependents carry until their base holds
// it.
func (s *Source) mergedChange(sr *Series, patches []Patch) *change.Change {
	hashes := map[int64]string{}
	var commits []string
	for _, p := range patches {
		hashes[p.ID] = p.Hash
		if p.CommitRef != "" && !slices.Contains(commits, p.CommitRef) {
			commits = append(commits, p.CommitRef)
		}
	}
	c := s.seriesChange(sr, hashes)
	c.Merged = true
	c.Commits = commits
	return &c
}
