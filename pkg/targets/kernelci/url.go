package kernelci

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// storedURL returns raw in the form the KernelCI API stores an artifact URL,
// so that a patch URL trawl sends compares equal to the one it reads back.
// The API validates artifact URLs with pydantic's AnyUrl (the WHATWG URL
// parser of the Rust url crate), which, as recorded in
// ../shared/fixtures/kernelci (patchset-post-200-normalised-urls,
// patchset-post-200-forbidden-domain):
//
//   - lower-cases the scheme and the host;
//   - drops the scheme's default port (80 for http, 443 for https);
//   - gives an empty path the path "/";
//   - percent-encodes, in the path, C0 controls, space, '"', '#', '<',
//     '>', '?', '`', '{', '}' and every byte outside ASCII (UTF-8), and in
//     the query the same less '?', '`', '{', '}' plus the apostrophe, and in
//     the fragment C0 controls, space, '"', '<', '>' and '`', keeping
//     existing escapes.
//
// Only http and https URLs with a host are accepted.
func storedURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", err
	}
	scheme := strings.ToLower(u.Scheme)
	if (scheme != "http" && scheme != "https") || u.Hostname() == "" || u.Opaque != "" {
		return "", fmt.Errorf("%q is not an http(s) URL", raw)
	}
	host := strings.ToLower(u.Hostname())
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port := u.Port(); port != "" && !(scheme == "http" && port == "80") && !(scheme == "https" && port == "443") {
		host = net.JoinHostPort(strings.Trim(host, "[]"), port)
	}
	userinfo := ""
	if u.User != nil {
		userinfo = u.User.String() + "@"
	}
	// The path, query and fragment as written: everything after the
	// authority.
	rest := raw[strings.Index(raw, "//")+2:]
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		rest = rest[i:]
	} else {
		rest = ""
	}
	path, query, fragment := rest, "", ""
	if i := strings.IndexByte(path, '#'); i >= 0 {
		path, fragment = path[:i], path[i:]
	}
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path, query = path[:i], path[i:]
	}
	if path == "" {
		path = "/"
	}
	out := scheme + "://" + userinfo + host + encode(path, "\"#<>?`{}")
	if query != "" {
		out += "?" + encode(query[1:], "\"#<>'")
	}
	if fragment != "" {
		out += "#" + encode(fragment[1:], "\"<>`")
	}
	return out, nil
}

// encode percent-encodes in s the C0 controls, space, the bytes in set and
// every byte outside ASCII.
func encode(s, set string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= 0x20 || c >= 0x7f || strings.IndexByte(set, c) >= 0 {
			fmt.Fprintf(&b, "%%%02X", c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}
