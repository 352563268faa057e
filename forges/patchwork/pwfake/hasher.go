package pwfake

import (
	"crypto/sha1"
	"encoding/hex"
	"regexp"
	"strconv"
	"strings"
)

var (
	hunkRe     = regexp.MustCompile(`^@@ -\d+(?:,(\d+))? \+\d+(?:,(\d+))? @@`)
	diffFileRe = regexp.MustCompile(`^(---|\+\+\+) (\S+)`)
)

// hashDiff is Patchwork's patch hash (patchwork/hasher.py): a SHA-1 over
// the normalised diff. File names become a/ and b/ paths, hunk headers keep
// only their line counts, and only +, - and context lines are kept.
func hashDiff(diff string) string {
	diff = strings.ReplaceAll(diff, "\r", "")
	diff = strings.TrimSpace(diff) + "\n"
	h := sha1.New()
	for line := range strings.SplitSeq(diff, "\n") {
		if line == "" {
			continue
		}
		switch m, f := hunkRe.FindStringSubmatch(line), diffFileRe.FindStringSubmatch(line); {
		case f != nil:
			prefix := "a/"
			if f[1] == "+++" {
				prefix = "b/"
			}
			name := f[2]
			if i := strings.IndexByte(name, '/'); i >= 0 {
				name = name[i+1:]
			} else {
				name = ""
			}
			line = f[1] + " " + prefix + name
		case m != nil:
			line = "@@ -" + count(m[1]) + " +" + count(m[2]) + " @@"
		case line[0] == '+' || line[0] == '-' || line[0] == ' ':
		default:
			continue
		}
		h.Write([]byte(line + "\n"))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// count renders a hunk line count, which defaults to 1 when omitted.
func count(s string) string {
	if s == "" {
		return "1"
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return s
	}
	return strconv.Itoa(n)
}

// diffOf returns the diff part of a patch mail as Patchwork finds it: from
// the first "diff " or "Index: " line, or a "--- " line followed by "+++ ".
func diffOf(msg string) string {
	lines := strings.Split(msg, "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "diff ") || strings.HasPrefix(l, "Index: ") ||
			(strings.HasPrefix(l, "--- ") && i+1 < len(lines) && strings.HasPrefix(lines[i+1], "+++ ")) {
			return strings.Join(lines[i:], "\n")
		}
	}
	return ""
}
