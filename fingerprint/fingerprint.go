// Package fingerprint computes the fingerprint of a unit: a hash over
// everything that decides the unit's build result, and nothing else
// (DESIGN.md "Fingerprint"). The cycle triggers a unit only when its
// fingerprint differs from the stored one, and Explain says why it differs.
//
// The package is pure: no I/O, no clock.
//
// # Encoding
//
// Sum is the lowercase hex SHA-256 of Encode. Encode writes the fields of an
// Input in this fixed order, with no padding and no separator:
//
//	uvarint  format version (Version, currently 1)
//	string   Target
//	string   TargetConfig
//	string   BaseURL
//	string   BaseBranch
//	string   BaseCommit
//	uvarint  number of Items, then for each Item:
//	    string   Key
//	    varint   Version
//	    uvarint  number of Content entries, then each entry as a string
//	uvarint  number of Deps, then for each Dep:
//	    string   Key
//	    string   Fingerprint
//
// where uvarint is an unsigned LEB128 integer (encoding/binary's
// AppendUvarint), varint is a zig-zag signed one (AppendVarint: 0 -> 00,
// 1 -> 02, -1 -> 01, 2 -> 04), and string is the uvarint byte length
// followed by the bytes as given (no normalisation). Every variable-length
// field carries its length and every list its count, so a decoder reads the
// encoding back without ambiguity: two different Inputs never share an
// encoding. A nil and an empty list encode the same (count 0), as do an
// omitted and an empty BaseCommit.
//
// Any change to this layout must bump Version. The golden vectors in
// testdata/vectors.json and testdata/vectors.golden pin it; testdata/README.md
// repeats this description.
package fingerprint

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/trawl-ci/trawl/pkg/change"
)

// Version is the format version, the first field of every encoding.
const Version = 1

// shortLen is the length of a short fingerprint or commit in messages.
const shortLen = 12

// Item is one change of a unit as far as the build sees it.
type Item struct {
	// Key is the change key.
	Key string `json:"key"`
	// Version is the revision number (a Patchwork series version), 0 when
	// the forge has none.
	Version int `json:"version,omitempty"`
	// Content is the content identity in order: each patch's hash, or the
	// head commit SHA.
	Content []string `json:"content"`
}

// Dep is the fingerprint of one direct dependency's own unit.
type Dep struct {
	Key         string `json:"key"`
	Fingerprint string `json:"fingerprint"`
}

// Input is everything that decides a unit's build result, and nothing else.
type Input struct {
	// Target is the target name.
	Target string `json:"target"`
	// TargetConfig is the hash of the target's effective configuration.
	TargetConfig string `json:"target_config"`
	BaseURL      string `json:"base_url"`
	BaseBranch   string `json:"base_branch"`
	// BaseCommit is set only when the base policy includes the commit
	// (follow, or tag with a base-commit).
	BaseCommit string `json:"base_commit,omitempty"`
	// Items are the open dependencies in topological order, then the change
	// itself, last.
	Items []Item `json:"items"`
	// Deps are the fingerprints of the change's direct dependencies' units,
	// in the order of Items.
	Deps []Dep `json:"deps,omitempty"`
}

// ItemOf returns the part of c that takes part in a fingerprint: its key, its
// version and its content identity. Titles, URLs, submitters, targets,
// dependency texts and states are left out: they do not change what gets
// built.
func ItemOf(c *change.Change) Item {
	return Item{Key: string(c.Key), Version: c.Version, Content: slices.Clone(c.Content)}
}

// Encode returns the canonical encoding of in, described in the package
// documentation.
func Encode(in Input) []byte {
	return appendEncoding(make([]byte, 0, encodedSizeHint(in)), in)
}

// appendEncoding appends Encode(in) to b.
func appendEncoding(b []byte, in Input) []byte {
	b = binary.AppendUvarint(b, Version)
	for _, s := range []string{in.Target, in.TargetConfig, in.BaseURL, in.BaseBranch, in.BaseCommit} {
		b = appendString(b, s)
	}
	b = binary.AppendUvarint(b, uint64(len(in.Items)))
	for _, it := range in.Items {
		b = appendString(b, it.Key)
		b = binary.AppendVarint(b, int64(it.Version))
		b = binary.AppendUvarint(b, uint64(len(it.Content)))
		for _, s := range it.Content {
			b = appendString(b, s)
		}
	}
	b = binary.AppendUvarint(b, uint64(len(in.Deps)))
	for _, d := range in.Deps {
		b = appendString(b, d.Key)
		b = appendString(b, d.Fingerprint)
	}
	return b
}

// encodedSizeHint returns an upper bound of len(Encode(in)), so that Encode
// allocates once.
func encodedSizeHint(in Input) int {
	n := binary.MaxVarintLen64 * 8
	n += len(in.Target) + len(in.TargetConfig) + len(in.BaseURL) + len(in.BaseBranch) + len(in.BaseCommit)
	for _, it := range in.Items {
		n += 3*binary.MaxVarintLen64 + len(it.Key)
		for _, s := range it.Content {
			n += binary.MaxVarintLen64 + len(s)
		}
	}
	for _, d := range in.Deps {
		n += 2*binary.MaxVarintLen64 + len(d.Key) + len(d.Fingerprint)
	}
	return n
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// Sum returns the fingerprint of in: the lowercase hex SHA-256 of
// Encode(in).
func Sum(in Input) string {
	// The encoding is only hashed: its buffer is reused, as allocating one
	// per unit was most of what fingerprinting 10k units allocated.
	bp := encodeBuffers.Get().(*[]byte)
	*bp = appendEncoding((*bp)[:0], in)
	h := sha256.Sum256(*bp)
	if cap(*bp) <= maxPooledBuffer {
		encodeBuffers.Put(bp)
	}
	// Encoded in place: hex.EncodeToString allocates twice, its buffer
	// and the string.
	var text [2 * sha256.Size]byte
	hex.Encode(text[:], h[:])
	return string(text[:])
}

// encodeBuffers holds the buffers Sum encodes into.
var encodeBuffers = sync.Pool{New: func() any { return new([]byte) }}

// maxPooledBuffer bounds the buffers kept for reuse, so that one huge
// input does not stay in memory.
const maxPooledBuffer = 64 << 10

// Short returns the first 12 characters of fp, for messages and logs; fp
// itself when it is shorter.
func Short(fp string) string {
	if len(fp) <= shortLen {
		return fp
	}
	return fp[:shortLen]
}

// Explain lists, for people, what differs between the inputs of two
// fingerprints, in a fixed order: target, target configuration, base, the
// change itself, its dependencies' items, then its direct dependencies'
// fingerprints. It returns nil when the inputs encode the same, and a
// non-empty list otherwise.
func Explain(old, new Input) []string {
	if bytes.Equal(Encode(old), Encode(new)) {
		return nil
	}
	out := fieldChanges(old, new)
	items, oldKeys, newKeys := itemsChanges(old.Items, new.Items)
	out = append(out, items...)
	return append(out, depsChanges(old.Deps, new.Deps, oldKeys, newKeys)...)
}

// fieldChanges describes the changes of the target and the base.
func fieldChanges(old, new Input) []string {
	var out []string
	add := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	if old.Target != new.Target {
		add("target %s -> %s", orNone(old.Target), orNone(new.Target))
	}
	if old.TargetConfig != new.TargetConfig {
		add("target configuration changed")
	}
	if old.BaseURL != new.BaseURL {
		add("base URL %s -> %s", orNone(old.BaseURL), orNone(new.BaseURL))
	}
	if old.BaseBranch != new.BaseBranch {
		add("base branch %s -> %s", orNone(old.BaseBranch), orNone(new.BaseBranch))
	}
	if old.BaseCommit != new.BaseCommit {
		o, n := Short(old.BaseCommit), Short(new.BaseCommit)
		if o == n {
			o, n = old.BaseCommit, new.BaseCommit
		}
		add("base commit %s -> %s", orNone(o), orNone(n))
	}
	return out
}

// itemsChanges describes the changes of the change itself (the last item)
// and of its dependencies' items, matched by key. It also returns the keys
// of the dependency items on each side.
func itemsChanges(old, new []Item) (out []string, oldKeys, newKeys map[string]bool) {
	add := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	oldSelf, oldDeps := splitItems(old)
	newSelf, newDeps := splitItems(new)
	if oldSelf.Key != newSelf.Key || (len(old) == 0) != (len(new) == 0) {
		add("change %s -> %s", selfName(old), selfName(new))
	} else {
		out = append(out, itemChanges(oldSelf, newSelf)...)
	}

	oldIDs := occurrences(len(oldDeps), func(i int) string { return oldDeps[i].Key })
	newIDs := occurrences(len(newDeps), func(i int) string { return newDeps[i].Key })
	oldAt, newAt := index(oldIDs), index(newIDs)
	for i, id := range newIDs {
		if j, ok := oldAt[id]; ok {
			out = append(out, itemChanges(oldDeps[j], newDeps[i])...)
		} else {
			add("dependency %s added", id.key)
		}
	}
	for _, id := range oldIDs {
		if _, ok := newAt[id]; !ok {
			add("dependency %s removed", id.key)
		}
	}
	if reordered(oldIDs, newIDs, newAt) {
		add("dependency order changed")
	}
	return out, keySet(oldIDs), keySet(newIDs)
}

// depsChanges describes the changes of the direct dependencies'
// fingerprints. A direct dependency that comes or goes with its item (its
// key in oldItems or newItems only) is reported by itemsChanges already.
func depsChanges(old, new []Dep, oldItems, newItems map[string]bool) []string {
	var out []string
	add := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	oldIDs := occurrences(len(old), func(i int) string { return old[i].Key })
	newIDs := occurrences(len(new), func(i int) string { return new[i].Key })
	oldAt, newAt := index(oldIDs), index(newIDs)
	for i, id := range newIDs {
		j, ok := oldAt[id]
		switch {
		case ok && old[j].Fingerprint != new[i].Fingerprint:
			add("dependency %s fingerprint changed", id.key)
		case ok:
			// Unchanged.
		case oldItems[id.key] && newItems[id.key]:
			add("dependency %s is now direct", id.key)
		case !newItems[id.key]:
			add("dependency %s added", id.key)
		}
	}
	for _, id := range oldIDs {
		if _, ok := newAt[id]; ok {
			continue
		}
		switch {
		case oldItems[id.key] && newItems[id.key]:
			add("dependency %s is no longer direct", id.key)
		case !oldItems[id.key]:
			add("dependency %s removed", id.key)
		}
	}
	if reordered(oldIDs, newIDs, newAt) {
		add("direct dependency order changed")
	}
	return out
}

// occurrence names the n-th entry with a key in a list, so that a malformed
// input holding a key twice still compares copy with copy.
type occurrence struct {
	key string
	n   int
}

// occurrences names the n entries of a list whose keys key(i) returns.
func occurrences(n int, key func(i int) string) []occurrence {
	ids := make([]occurrence, n)
	seen := make(map[string]int, n)
	for i := range ids {
		k := key(i)
		ids[i] = occurrence{key: k, n: seen[k]}
		seen[k]++
	}
	return ids
}

// index maps each occurrence to its position.
func index(ids []occurrence) map[occurrence]int {
	m := make(map[occurrence]int, len(ids))
	for i, id := range ids {
		m[id] = i
	}
	return m
}

// keySet returns the keys of ids.
func keySet(ids []occurrence) map[string]bool {
	m := make(map[string]bool, len(ids))
	for _, id := range ids {
		m[id.key] = true
	}
	return m
}

// reordered reports whether old and new hold the same entries in another
// order.
func reordered(old, new []occurrence, inNew map[occurrence]int) bool {
	if len(old) != len(new) || slices.Equal(old, new) {
		return false
	}
	for _, id := range old {
		if _, ok := inNew[id]; !ok {
			return false
		}
	}
	return true
}

// splitItems returns the change's own item (the last) and its dependencies'.
func splitItems(items []Item) (self Item, deps []Item) {
	if len(items) == 0 {
		return Item{}, nil
	}
	return items[len(items)-1], items[:len(items)-1]
}

// itemChanges describes how one key's item changed.
func itemChanges(old, new Item) []string {
	var out []string
	if old.Version != new.Version {
		out = append(out, fmt.Sprintf("%s: version %d -> %d", new.Key, old.Version, new.Version))
	}
	if slices.Equal(old.Content, new.Content) {
		return out
	}
	if len(old.Content) != len(new.Content) {
		return append(out, fmt.Sprintf("%s: content changed (%d -> %d patches)", new.Key, len(old.Content), len(new.Content)))
	}
	var changed []string
	for i := range new.Content {
		if old.Content[i] != new.Content[i] {
			changed = append(changed, strconv.Itoa(i+1))
		}
	}
	noun := "patch"
	if len(changed) > 1 {
		noun = "patches"
	}
	return append(out, fmt.Sprintf("%s: content changed (%s %s of %d)", new.Key, noun, strings.Join(changed, ", "), len(new.Content)))
}

// selfName names the change of a unit's items (the last one) in messages.
func selfName(items []Item) string {
	switch {
	case len(items) == 0:
		return "(none)"
	case items[len(items)-1].Key == "":
		return `""`
	}
	return items[len(items)-1].Key
}

// orNone returns s, or "(none)" when it is empty, for messages.
func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
