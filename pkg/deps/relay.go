package deps

import (
	"regexp"
	"strings"
)

// relayLine is the tag that links a change to another whose CI results are
// to be copied onto it: "Relay-CI-from: <URL of a pull or merge request>".
var relayLine = regexp.MustCompile(`(?i)^[ \t]*relay-ci-from[ \t]*:[ \t]*(.+?)[ \t]*$`)

// ParseRelays returns the pull and merge requests a change's text names in
// Relay-CI-from: lines (outside code blocks and quotes), in order, without
// duplicates. Only GitHub and GitLab references count: their statuses are
// what is relayed.
func ParseRelays(text string) []Ref {
	text = strings.ReplaceAll(text, "\r\n", "\n")
	p := parser{seen: map[identity]bool{}}
	fence := ""
	for line := range strings.SplitSeq(text, "\n") {
		trimmed := strings.TrimLeft(line, " \t")
		switch {
		case fence != "":
			if closesFence(trimmed, fence) {
				fence = ""
			}
			continue
		case opensFence(trimmed) != "":
			fence = opensFence(trimmed)
			continue
		case strings.HasPrefix(trimmed, ">"):
			continue
		}
		m := relayLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		for _, tok := range strings.FieldsFunc(m[1], isSeparator) {
			if r, ok := parseToken(tok); ok && (r.Kind == GitHubPR || r.Kind == GitLabMR || r.Kind == ShortPR || r.Kind == ShortMR) {
				p.add(r)
			}
		}
	}
	return p.refs
}
