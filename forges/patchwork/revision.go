package patchwork

import (
	"regexp"
	"strings"
	"unicode"

	"github.com/trawl-ci/trawl/pkg/change"
)

var (
	// namePrefixRe matches one leading "[...]" group of a subject, once
	// leading white space is trimmed (by unicode.IsSpace, as
	// strings.Fields splits words: RE2's \s knows no \v or NBSP).
	namePrefixRe = regexp.MustCompile(`^\[[^\]]*\]`)
	// versionRe matches a version marker word: v2, V3, (v3), [v4].
	versionRe = regexp.MustCompile(`(?i)^[(\[]?v\d+[)\]]?$`)
)

// normalName is the name revisions of one series share: without leading
// "[PATCH ...]" groups and version markers, lower case, single spaces.
// "[net,v2,1/2] Foo (v2)" and "foo" have the same normal name.
func normalName(name string) string {
	full := strings.ToLower(strings.Join(strings.Fields(name), " "))
	for {
		name = strings.TrimLeftFunc(name, unicode.IsSpace)
		loc := namePrefixRe.FindStringIndex(name)
		if loc == nil {
			break
		}
		name = name[loc[1]:]
	}
	var words []string
	for w := range strings.FieldsSeq(name) {
		if !versionRe.MatchString(w) {
			words = append(words, strings.ToLower(w))
		}
	}
	if len(words) == 0 {
		return full // nothing but prefixes: keep them rather than match every such name
	}
	return strings.Join(words, " ")
}

// waitingSeries returns the incomplete series that no complete revision
// of a higher version supersedes: those are gone, not waiting.
func waitingSeries(incomplete []*Series, newest map[revision]*Series) []*Series {
	var out []*Series
	for _, sr := range incomplete {
		if n := newest[revisionOf(sr)]; n == nil || n.Version <= sr.Version {
			out = append(out, sr)
		}
	}
	return out
}

// revision identifies the revisions of one series: same submitter, same
// normalised name.
type revision struct{ email, name string }

func revisionOf(sr *Series) revision {
	return revision{strings.ToLower(sr.Submitter.Email), normalName(sr.Name)}
}

// supersede drops every series a higher version of the same revision line
// supersedes. Series of equal versions are all kept. newest maps each
// revision line to its newest series (the highest id among equal versions).
func supersede(series []*Series) (kept []*Series, newest map[revision]*Series) {
	newest = map[revision]*Series{}
	for _, sr := range series {
		k := revisionOf(sr)
		if cur, ok := newest[k]; !ok || sr.Version > cur.Version || (sr.Version == cur.Version && sr.ID > cur.ID) {
			newest[k] = sr
		}
	}
	for _, sr := range series {
		if sr.Version >= newest[revisionOf(sr)].Version {
			kept = append(kept, sr)
		}
	}
	return kept, newest
}

// supersededBy lists, in id order, the series of the snapshot that the
// newest series sr of its revision line supersedes (lower versions).
func (s *Source) supersededBy(sr *Series, complete []*Series, newest map[revision]*Series) []change.Key {
	var out []change.Key
	if newest[revisionOf(sr)] != sr {
		return nil
	}
	for _, o := range complete {
		if o.Version < sr.Version && revisionOf(o) == revisionOf(sr) {
			out = append(out, s.key(o.ID))
		}
	}
	return out
}
