package deps

import (
	"net/url"
	"strconv"
	"strings"
)

// Punctuation that surrounds a reference in prose ("(see #12).") and is not
// part of it.
const (
	leadingNoise  = "([`\"'"
	trailingNoise = ".,;:!?)]`\"'"
)

// isArchiveHost reports a mail archive that serves a mail by its
// message-id: /r/<msgid>, /<list>/<msgid>/ or /<msgid>.
func isArchiveHost(host string) bool {
	switch host {
	case "lore.kernel.org", "lkml.kernel.org", "msgid.link", "patch.msgid.link":
		return true
	}
	return false
}

// parseToken classifies one word of a Depends-on value or task list item.
func parseToken(tok string) (Ref, bool) {
	// A Markdown link, "[text](url)": the URL is the reference.
	if i := strings.LastIndex(tok, "]("); i >= 0 {
		tok = tok[i+2:]
	}
	raw, bracketed := clean(tok)
	inner := raw
	if bracketed {
		inner = raw[1 : len(raw)-1]
	}
	var r Ref
	var ok bool
	switch {
	case isHTTP(inner):
		raw = inner
		r, ok = parseURL(inner)
	case bracketed:
		r, ok = Ref{Kind: MessageID, MsgID: inner}, validMsgID(inner)
	default:
		r, ok = parseShort(inner)
	}
	if !ok {
		return Ref{}, false
	}
	r.Raw = raw
	return r, true
}

// clean strips the punctuation around a reference. It reports bracketed when
// what is left is "<...>" (a message-id or a URL in angle brackets), which
// it keeps whole.
func clean(tok string) (string, bool) {
	for {
		t := strings.TrimLeft(tok, leadingNoise)
		t = strings.TrimRight(t, trailingNoise)
		opens, closes := strings.HasPrefix(t, "<"), strings.HasSuffix(t, ">")
		if opens && closes && len(t) > 2 {
			return t, true
		}
		if opens {
			t = t[1:]
		}
		if closes {
			t = t[:len(t)-1]
		}
		if t == tok {
			return t, false
		}
		tok = t
	}
}

func isHTTP(s string) bool {
	l := strings.ToLower(s)
	return strings.HasPrefix(l, "http://") || strings.HasPrefix(l, "https://")
}

// parseShort reads #N, owner/repo#N, !N and group/project!N.
func parseShort(s string) (Ref, bool) {
	if i := strings.IndexByte(s, '#'); i >= 0 {
		n, ok := number(s[i+1:])
		if !ok {
			return Ref{}, false
		}
		if i == 0 {
			return Ref{Kind: ShortPR, Number: n}, true
		}
		parts := strings.Split(s[:i], "/")
		if len(parts) != 2 || !validNames(parts) {
			return Ref{}, false
		}
		return Ref{Kind: ShortPR, Repo: s[:i], Number: n}, true
	}
	if i := strings.IndexByte(s, '!'); i >= 0 {
		n, ok := number(s[i+1:])
		if !ok {
			return Ref{}, false
		}
		if i == 0 {
			return Ref{Kind: ShortMR, Number: n}, true
		}
		parts := strings.Split(s[:i], "/")
		if len(parts) < 2 || !validNames(parts) {
			return Ref{}, false
		}
		return Ref{Kind: ShortMR, Repo: s[:i], Number: n}, true
	}
	return Ref{}, false
}

// parseURL classifies an http(s) URL. When the host is not known, the path
// decides: /pull/N is GitHub, /merge_requests/N is GitLab, /project/ and
// /series/ are Patchwork; the caller resolves hosts against its sources.
func parseURL(s string) (Ref, bool) {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return Ref{}, false
	}
	host := strings.ToLower(u.Host)
	var esc, dec []string
	for seg := range strings.SplitSeq(u.EscapedPath(), "/") {
		if seg == "" {
			continue
		}
		d, err := url.PathUnescape(seg)
		if err != nil {
			return Ref{}, false
		}
		esc = append(esc, seg)
		dec = append(dec, d)
	}
	if isArchiveHost(host) {
		return archiveURL(dec)
	}
	for _, f := range []func(string, []string) (Ref, bool){githubURL, gitlabURL} {
		if r, ok := f(host, dec); ok {
			return r, true
		}
	}
	if r, ok := patchworkProjectURL(host, esc, dec, u.Query()); ok {
		return r, true
	}
	return patchworkSeriesURL(host, esc, dec)
}

// archiveURL reads a mail archive link: the message-id is the first or
// second path segment (after "r" or the list name).
func archiveURL(dec []string) (Ref, bool) {
	for i := 0; i < len(dec) && i < 2; i++ {
		if validMsgID(dec[i]) {
			return Ref{Kind: MessageID, MsgID: dec[i]}, true
		}
	}
	return Ref{}, false
}

// githubURL reads /owner/repo/pull/N[/files|/commits|...]; the API's
// /repos/owner/repo/pulls/N and issue URLs are not accepted.
func githubURL(host string, dec []string) (Ref, bool) {
	if len(dec) < 4 || !strings.EqualFold(dec[2], "pull") || !validNames(dec[:2]) {
		return Ref{}, false
	}
	n, ok := itemNumber(dec[3])
	if !ok {
		return Ref{}, false
	}
	return Ref{Kind: GitHubPR, Host: host, Repo: dec[0] + "/" + dec[1], Number: n}, true
}

// gitlabURL reads /group/.../project/-/merge_requests/N and the legacy form
// without "/-".
func gitlabURL(host string, dec []string) (Ref, bool) {
	for i := 0; i+1 < len(dec); i++ {
		if !strings.EqualFold(dec[i], "merge_requests") {
			continue
		}
		n, ok := itemNumber(dec[i+1])
		if !ok {
			return Ref{}, false
		}
		project := dec[:i]
		if len(project) > 0 && project[len(project)-1] == "-" {
			project = project[:len(project)-1]
		}
		if len(project) < 2 || !validNames(project) {
			return Ref{}, false
		}
		return Ref{Kind: GitLabMR, Host: host, Repo: strings.Join(project, "/"), Number: n}, true
	}
	return Ref{}, false
}

// patchworkProjectURL reads [/prefix]/project/<p>/list/?series=N and
// [/prefix]/project/<p>/patch/<msgid>/ (or /cover/<msgid>/).
func patchworkProjectURL(host string, esc, dec []string, query url.Values) (Ref, bool) {
	for i := 0; i+2 < len(dec); i++ {
		if !strings.EqualFold(dec[i], "project") || !validName(dec[i+1]) {
			continue
		}
		r := Ref{Host: host, Repo: dec[i+1], URLPath: prefix(esc[:i])}
		switch strings.ToLower(dec[i+2]) {
		case "list":
			n, ok := number(query.Get("series"))
			if !ok || i+3 != len(dec) {
				return Ref{}, false
			}
			r.Kind, r.Number = PatchworkSeries, n
			return r, true
		case "patch", "cover":
			if i+3 >= len(dec) || !validMsgID(dec[i+3]) {
				return Ref{}, false
			}
			r.Kind, r.MsgID = PatchworkPatch, dec[i+3]
			return r, true
		}
	}
	return Ref{}, false
}

// patchworkSeriesURL reads [/prefix]/series/N/, [/prefix]/series/N/mbox/ and
// [/prefix]/api[/1.x]/series/N/. Such URLs do not name the project.
func patchworkSeriesURL(host string, esc, dec []string) (Ref, bool) {
	for i := 0; i+1 < len(dec); i++ {
		if !strings.EqualFold(dec[i], "series") {
			continue
		}
		rest := dec[i+2:]
		if len(rest) > 1 || (len(rest) == 1 && !strings.EqualFold(rest[0], "mbox")) {
			continue
		}
		n, ok := number(dec[i+1])
		if !ok {
			continue
		}
		pre := esc[:i]
		if k := len(pre); k >= 2 && strings.EqualFold(pre[k-2], "api") && isAPIVersion(pre[k-1]) {
			pre = pre[:k-2]
		} else if k >= 1 && strings.EqualFold(pre[k-1], "api") {
			pre = pre[:k-1]
		}
		return Ref{Kind: PatchworkSeries, Host: host, Number: n, URLPath: prefix(pre)}, true
	}
	return Ref{}, false
}

// prefix joins the escaped path segments before a Patchwork route.
func prefix(segs []string) string {
	if len(segs) == 0 {
		return ""
	}
	return "/" + strings.Join(segs, "/")
}

// isAPIVersion reports an API version segment such as "1.3".
func isAPIVersion(s string) bool {
	major, minor, ok := strings.Cut(s, ".")
	return ok && isDigits(major) && isDigits(minor)
}

// itemNumber reads a pull or merge request number, also written N.diff or
// N.patch.
func itemNumber(s string) (int64, bool) {
	s = strings.TrimSuffix(s, ".diff")
	s = strings.TrimSuffix(s, ".patch")
	return number(s)
}

// number reads a positive decimal number written with digits only.
func number(s string) (int64, bool) {
	if !isDigits(s) {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil && n > 0
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func validNames(names []string) bool {
	for _, n := range names {
		if !validName(n) {
			return false
		}
	}
	return true
}

// validName reports a repository, group or project path segment: letters,
// digits, '-', '_' and '.', but not "." or "..".
func validName(s string) bool {
	if s == "" || s == "." || s == ".." {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// validMsgID reports a message-id without its angle brackets: something on
// each side of an '@', and no brackets or spaces.
func validMsgID(s string) bool {
	at := strings.LastIndexByte(s, '@')
	return at > 0 && at < len(s)-1 && !strings.ContainsAny(s, "<> \t\n")
}
