package patchwork

import (
	"bytes"
	"regexp"
	"strings"
)

// baseCommitRe is the trailer git format-patch --base writes.
var baseCommitRe = regexp.MustCompile(`(?i)^base-commit:[ \t]*([0-9a-f]{40})[ \t]*$`)

// lines splits text into lines, with "\r\n" and a lone "\r" read as "\n".
func lines(text string) []string {
	text = strings.ReplaceAll(text, "\r\n", "\n")
	text = strings.ReplaceAll(text, "\r", "\n")
	return strings.Split(text, "\n")
}

// quoted reports a line quoted from another mail.
func quoted(line string) bool {
	return strings.HasPrefix(strings.TrimLeft(line, " \t"), ">")
}

// ParseBaseCommit returns the commit of the first "base-commit: <40 hex>"
// line of text, in lower case, or "" when there is none. Quoted lines are
// ignored.
func ParseBaseCommit(text string) string {
	for _, l := range lines(text) {
		if quoted(l) {
			continue
		}
		if m := baseCommitRe.FindStringSubmatch(l); m != nil {
			return strings.ToLower(m[1])
		}
	}
	return ""
}

// SplitMbox splits an mbox into its messages. A message starts at a line
// beginning with "From " that opens the mbox or follows an empty line;
// each message keeps that line and its bytes, so joining the messages gives
// the mbox back (but for leading blank lines, which are dropped).
func SplitMbox(mbox []byte) [][]byte {
	var msgs [][]byte
	start := -1
	prevEmpty := true
	for i := 0; i < len(mbox); {
		end := len(mbox)
		if j := bytes.IndexByte(mbox[i:], '\n'); j >= 0 {
			end = i + j + 1
		}
		line := mbox[i:end]
		if prevEmpty && bytes.HasPrefix(line, []byte("From ")) {
			if start >= 0 {
				msgs = append(msgs, mbox[start:i])
			}
			start = i
		} else if start < 0 && len(bytes.TrimSpace(line)) > 0 {
			start = i // text before any separator is a message of its own
		}
		prevEmpty = len(bytes.TrimRight(line, "\r\n")) == 0
		i = end
	}
	if start >= 0 {
		msgs = append(msgs, mbox[start:])
	}
	return msgs
}

// CommitMessage returns the commit message of one mail of a patch series:
// the body after the headers, up to the first "---" line or "diff --git"
// line.
func CommitMessage(msg []byte) string {
	ls := lines(string(msg))
	start := len(ls)
	for i, l := range ls {
		if l == "" {
			start = i + 1
			break
		}
	}
	var body []string
	for _, l := range ls[start:] {
		if strings.TrimRight(l, " \t") == "---" || strings.HasPrefix(l, "diff --git ") {
			break
		}
		body = append(body, l)
	}
	return strings.Join(body, "\n")
}
