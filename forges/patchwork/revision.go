package patchwork

import (
	"regexp"
	"strings"
	"unicode"
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
