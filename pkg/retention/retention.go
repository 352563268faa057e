// Package retention bounds the files trawl keeps beside its state: the
// HTTP cache and the exec targets' job records and logs. A directory is
// pruned by age (a group of files whose newest file is older than MaxAge
// goes) and then by size (while the directory holds more than MaxBytes, the
// oldest groups go first). Nothing younger than MinAge is ever removed, so
// a file being written or just written by a running cycle stays.
package retention

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// MinAge is the age below which nothing is removed, whatever the policy.
const MinAge = time.Hour

// Policy bounds one directory. A zero field sets no bound.
type Policy struct {
	MaxAge   time.Duration
	MaxBytes int64
}

// Stats is what one Prune did.
type Stats struct {
	Removed int   // files removed
	Freed   int64 // bytes they held
	Kept    int   // files left
	Bytes   int64 // bytes left
}

// Options says how Prune sees a directory's files.
type Options struct {
	// Group names the group a file (a path relative to the directory)
	// belongs to: its files are kept or removed together (a job record and
	// its log). Nil makes each file its own group.
	Group func(rel string) string
	// Keep reports a group that must stay whatever its age (a job the state
	// still refers to). Nil keeps none.
	Keep func(group string) bool
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

type group struct {
	files  []string
	bytes  int64
	newest time.Time
}

// Prune applies p to the files below dir. Files whose name starts with
// ".tmp" (writes in progress) are left alone. A missing dir is empty.
func Prune(dir string, p Policy, o Options) (Stats, error) {
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	t := now()
	groups := map[string]*group{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && path == dir {
				return filepath.SkipDir
			}
			return err
		}
		if d.IsDir() || strings.HasPrefix(d.Name(), ".tmp") {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		key := rel
		if o.Group != nil {
			key = o.Group(rel)
		}
		g := groups[key]
		if g == nil {
			g = &group{}
			groups[key] = g
		}
		g.files = append(g.files, path)
		g.bytes += info.Size()
		if info.ModTime().After(g.newest) {
			g.newest = info.ModTime()
		}
		return nil
	})
	if err != nil {
		return Stats{}, fmt.Errorf("retention %s: %w", dir, err)
	}
	keys := make([]string, 0, len(groups))
	var st Stats
	for k, g := range groups {
		keys = append(keys, k)
		st.Kept += len(g.files)
		st.Bytes += g.bytes
	}
	// Oldest first; ties by name, so that a prune is reproducible.
	sort.Slice(keys, func(i, j int) bool {
		a, b := groups[keys[i]], groups[keys[j]]
		if !a.newest.Equal(b.newest) {
			return a.newest.Before(b.newest)
		}
		return keys[i] < keys[j]
	})
	var errs []error
	for _, k := range keys {
		g := groups[k]
		age := t.Sub(g.newest)
		tooOld := p.MaxAge > 0 && age > p.MaxAge
		tooBig := p.MaxBytes > 0 && st.Bytes > p.MaxBytes
		if age < MinAge || !(tooOld || tooBig) || (o.Keep != nil && o.Keep(k)) {
			continue
		}
		for _, f := range g.files {
			if err := os.Remove(f); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
				continue
			}
			st.Removed++
			st.Kept--
		}
		st.Freed += g.bytes
		st.Bytes -= g.bytes
	}
	if err := errors.Join(errs...); err != nil {
		return st, fmt.Errorf("retention %s: %w", dir, err)
	}
	return st, nil
}
