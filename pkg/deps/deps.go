// Package deps finds the dependency references a change names in its own
// text: a pull or merge request description, a cover letter, a commit
// message, or a whole series mbox.
//
// One parser covers every convention in use (API-NOTES.md §7):
//
//   - Zuul and Patchwork: a line "Depends-on: <value>" (case-insensitive,
//     also "depends on:"), whose value holds one or more references
//     separated by spaces or commas;
//   - autoproj-daemon: a header line ending in "Depends on:" (or "Depends:")
//     followed by a Markdown task list, of which only the unchecked items
//     ("- [ ] ref", "* [ ] ref") count, each for its first reference. Blank
//     lines may come between the header and the first item; after it, the
//     first line that is not an item (a blank line too) ends the list.
//
// References are pull request and merge request URLs and short forms
// (#N, owner/repo#N, !N, group/project!N), Patchwork series, list and patch
// URLs, <message-id>s and mail archive links. Lines inside fenced code
// blocks, HTML comments and quotes ("> ...") are ignored, as is any word that
// is not a reference. In an mbox, each message's "From " separator line
// closes whatever the previous message left open.
//
// The package only parses: it never resolves a reference against a source,
// does no I/O and keeps no state.
package deps

import (
	"regexp"
	"strconv"
	"strings"
	"unicode"
)

// Kind says which form a reference was written in, and so which forge it
// names.
type Kind int

// The reference forms.
const (
	// GitHubPR is a pull request URL: https://host/owner/repo/pull/N.
	GitHubPR Kind = iota + 1
	// GitLabMR is a merge request URL:
	// https://host/group/project/-/merge_requests/N (or the legacy form
	// without "/-").
	GitLabMR
	// PatchworkSeries is a Patchwork series: a patch list URL with
	// ?series=N, or a series web, mbox or API URL.
	PatchworkSeries
	// PatchworkPatch is a Patchwork patch (or cover letter) page URL; it
	// names the series that holds that message.
	PatchworkPatch
	// MessageID is a mail's message-id, written <id@host> or as a mail
	// archive link (lore.kernel.org and the like).
	MessageID
	// ShortPR is #N (the same repository) or owner/repo#N.
	ShortPR
	// ShortMR is !N (the same project) or group/project!N.
	ShortMR
)

// String returns the kind's name, for logs and test messages.
func (k Kind) String() string {
	switch k {
	case GitHubPR:
		return "GitHubPR"
	case GitLabMR:
		return "GitLabMR"
	case PatchworkSeries:
		return "PatchworkSeries"
	case PatchworkPatch:
		return "PatchworkPatch"
	case MessageID:
		return "MessageID"
	case ShortPR:
		return "ShortPR"
	case ShortMR:
		return "ShortMR"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Ref is one dependency reference as written in a change's text, split into
// the parts a caller needs to resolve it against its configured sources.
type Ref struct {
	// Raw is the reference exactly as written, without surrounding
	// punctuation; a message-id keeps its angle brackets.
	Raw  string
	Kind Kind
	// Host is the lower-cased host[:port] of a URL form ("github.com",
	// "gitlab.com", "patchwork.kernel.org"); empty for short forms and
	// message-ids.
	Host string
	// Repo is "owner/repo" on GitHub, the project's full path on GitLab,
	// and the Patchwork project's link name when the URL names it; empty for
	// #N and !N (the same repository).
	Repo string
	// Number is the pull request number, the merge request iid or the
	// Patchwork series id; 0 for message-ids and patch pages.
	Number int64
	// MsgID is the message-id without angle brackets (MessageID,
	// PatchworkPatch).
	MsgID string
	// URLPath is, for Patchwork URLs, the instance's path prefix before
	// /project/, /series/ or /api/ (for example "/patchwork"); usually "".
	URLPath string
}

// identity is what makes two references the same dependency.
type identity struct {
	kind   Kind
	host   string
	repo   string
	number int64
	msgID  string
}

var (
	// dependsOnLine is the Zuul and Patchwork tag; the value may be empty,
	// which makes the line an autoproj list header instead.
	dependsOnLine = regexp.MustCompile(`(?i)^[ \t]*depends(?:-|[ \t]+)on[ \t]*:[ \t]*(.*?)[ \t]*$`)
	// listHeader is the autoproj header: a line ending in "depends on",
	// "depends:" and the like, optionally as a Markdown heading or in bold.
	listHeader = regexp.MustCompile(`(?i)(?:^|[ \t#*_])depends?(?:-on|[ \t]+on)?[ \t*_]*:?[ \t*_]*$`)
	// mboxFrom is the separator line that starts each message of an mbox.
	mboxFrom = regexp.MustCompile(`^From \S+ +[A-Z][a-z]{2} [A-Z][a-z]{2} +\d{1,2} \d{1,2}:\d{2}:\d{2} .*\d{4}[ \t]*$`)
)

// listState tracks an autoproj task list.
type listState int

const (
	noList     listState = iota
	afterTitle           // a header was seen; blank lines may precede the first item
	inList               // items are being read; any other line ends the list
)

// parser holds the line-by-line state of one Parse call.
type parser struct {
	fence   string // the opening fence while inside a fenced code block
	comment bool   // inside a multi-line HTML comment
	list    listState
	refs    []Ref
	seen    map[identity]bool
}

// Parse returns every dependency reference in text, in the order written,
// without duplicates. It never fails: anything it does not recognise is
// skipped.
func Parse(text string) []Ref {
	text = strings.ReplaceAll(text, "\r\n", "\n")
	text = strings.ReplaceAll(text, "\r", "\n")
	p := parser{seen: map[identity]bool{}}
	for line := range strings.SplitSeq(text, "\n") {
		p.line(line)
	}
	return p.refs
}

func (p *parser) line(line string) {
	if strings.HasPrefix(line, "From ") && mboxFrom.MatchString(line) {
		// A new message of an mbox: nothing carries over from the last
		// one, whose diff may have left a fence or comment open.
		p.fence, p.comment, p.list = "", false, noList
		return
	}
	trimmed := strings.TrimLeft(line, " \t")
	if p.fence != "" {
		if closesFence(trimmed, p.fence) {
			p.fence = ""
		}
		return
	}
	if p.comment {
		p.comment = !strings.Contains(line, "-->")
		return
	}
	switch p.list {
	case afterTitle:
		if trimmed == "" {
			return
		}
		if isBullet(trimmed) {
			p.list = inList
			p.item(trimmed)
			return
		}
		p.list = noList
	case inList:
		if isBullet(trimmed) {
			p.item(trimmed)
			return
		}
		p.list = noList
	}
	if f := opensFence(trimmed); f != "" {
		p.fence = f
		return
	}
	if rest, ok := strings.CutPrefix(trimmed, "<!--"); ok {
		p.comment = !strings.Contains(rest, "-->")
		return
	}
	if strings.HasPrefix(trimmed, ">") {
		return
	}
	if !mentionsDepend(line) {
		return
	}
	if m := dependsOnLine.FindStringSubmatch(line); m != nil && m[1] != "" {
		for _, tok := range strings.FieldsFunc(m[1], isSeparator) {
			if r, ok := parseToken(tok); ok {
				p.add(r)
			}
		}
		return
	}
	if listHeader.MatchString(line) {
		p.list = afterTitle
	}
}

// item reads one task list line (trimmed, a bullet): an
// unchecked item yields its first reference; checked items and plain bullets
// yield nothing.
func (p *parser) item(line string) {
	rest := strings.TrimLeft(line[1:], " \t")
	box, ok := strings.CutPrefix(rest, "[")
	if !ok {
		return
	}
	inside, after, ok := strings.Cut(box, "]")
	if !ok || strings.TrimSpace(inside) != "" {
		return
	}
	for _, tok := range strings.FieldsFunc(after, isSeparator) {
		if r, ok := parseToken(tok); ok {
			p.add(r)
			return
		}
	}
}

func (p *parser) add(r Ref) {
	id := identity{kind: r.Kind, host: r.Host, repo: r.Repo, number: r.Number, msgID: r.MsgID}
	if p.seen[id] {
		return
	}
	p.seen[id] = true
	p.refs = append(p.refs, r)
}

// mentionsDepend reports whether line holds "depend" in any case: a cheap
// test before the tag and header expressions.
func mentionsDepend(line string) bool {
	const word = "depend"
	for i := 0; i+len(word) <= len(line); i++ {
		if strings.EqualFold(line[i:i+len(word)], word) {
			return true
		}
	}
	return false
}

// isBullet reports a list item line (trimmed): '-' or '*' followed by a
// space, a checkbox or nothing. "---" rules and "**bold**" text are not items.
func isBullet(trimmed string) bool {
	if trimmed == "" || (trimmed[0] != '-' && trimmed[0] != '*') {
		return false
	}
	return len(trimmed) == 1 || trimmed[1] == ' ' || trimmed[1] == '\t' || trimmed[1] == '['
}

func isSeparator(r rune) bool {
	return r == ',' || unicode.IsSpace(r)
}

// opensFence returns the fence (a run of three or more '`' or '~') that
// trimmed opens, or "".
func opensFence(trimmed string) string {
	for _, c := range []byte{'`', '~'} {
		n := 0
		for n < len(trimmed) && trimmed[n] == c {
			n++
		}
		if n >= 3 {
			return trimmed[:n]
		}
	}
	return ""
}

// closesFence reports whether trimmed closes the block opened by fence: the
// same character, at least as many times, and nothing else.
func closesFence(trimmed, fence string) bool {
	n := 0
	for n < len(trimmed) && trimmed[n] == fence[0] {
		n++
	}
	return n >= len(fence) && strings.TrimSpace(trimmed[n:]) == ""
}
