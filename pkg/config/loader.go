package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/trawl-ci/trawl/pkg/secret"
)

// loader walks the YAML node tree of one file, collecting every problem as
// an *Error with the file, the line and the dotted key.
type loader struct {
	file  string // for messages
	dir   string // relative paths are resolved against it
	errs  []*Error
	nodes int  // values visited so far, counting each use of an alias
	stop  bool // set when nodes passed maxNodes: the walk ends
	// patchDomains maps each KernelCI target read to its patch domains,
	// which the Patchwork sources feeding it must be on.
	patchDomains map[string][]string
	// checks are what CheckLocal looks at on this machine.
	checks []check
	// stateDir is the state directory, once read: an exec target's
	// default working directory.
	stateDir string
}

// maxNodes bounds the values one load visits. An alias lets a few bytes
// name a long list again and again; without a bound a small file could make
// the walk take quadratic time and memory. No real config comes near it.
const maxNodes = 100_000

// field is one value of the tree and where it is.
type field struct {
	key  string     // dotted path, e.g. "sources[0].base.policy"
	line int        // line of the key, or of the item in a list
	node *yaml.Node // nil when the key is absent or null
}

// object is a mapping whose keys have been checked against the known ones.
type object struct {
	field
	fields map[string]field
}

// errorf records a problem at f, unless the walk has been stopped.
func (l *loader) errorf(f field, format string, args ...any) {
	if l.stop {
		return
	}
	l.errs = append(l.errs, &Error{File: l.file, Line: f.line, Key: f.key, Msg: fmt.Sprintf(format, args...)})
}

// emptyFile is the message for a file without a single key.
const emptyFile = "the file is empty; it needs at least targets and sources"

// parse decodes data into a node tree and returns its top-level value.
func (l *loader) parse(data []byte) field {
	top := field{line: 1}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	err := dec.Decode(&doc)
	if errors.Is(err, io.EOF) {
		l.errorf(top, emptyFile)
		return top
	}
	if err != nil {
		l.errs = append(l.errs, yamlError(l.file, err))
		return top
	}
	var next yaml.Node
	if err := dec.Decode(&next); !errors.Is(err, io.EOF) {
		line := next.Line
		if err != nil {
			line = yamlError(l.file, err).Line
		}
		l.errorf(field{line: line}, "only one YAML document is allowed")
		return top
	}
	if len(doc.Content) == 0 {
		l.errorf(top, emptyFile)
		return top
	}
	top = l.value(top, doc.Content[0])
	if top.node == nil {
		l.errorf(top, emptyFile)
	}
	return top
}

// yamlErrorRE matches yaml.v3's syntax errors, "yaml: line 3: message".
var yamlErrorRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlError turns a yaml.v3 error into an *Error with its line.
func yamlError(file string, err error) *Error {
	msg := err.Error()
	if m := yamlErrorRE.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &Error{File: file, Line: line, Msg: "invalid YAML: " + m[2]}
	}
	return &Error{File: file, Msg: "invalid YAML: " + strings.TrimPrefix(msg, "yaml: ")}
}

// value returns f holding n, following an alias and treating null as
// absent. Once the walk has visited too many values, it stops it and
// returns absent fields.
func (l *loader) value(f field, n *yaml.Node) field {
	l.nodes++
	if l.nodes > maxNodes && !l.stop {
		l.errorf(f, "the file has more than %d values, counting each use of an alias; is an alias (*name) repeated too often?", maxNodes)
		l.stop = true
	}
	if l.stop {
		return field{key: f.key, line: f.line}
	}
	if n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n == nil || n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return field{key: f.key, line: f.line}
	}
	f.node = n
	return f
}

// child returns the path of key name under path.
func child(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// secretKeyRE matches key names that would hold a secret in clear.
var secretKeyRE = regexp.MustCompile(`(^|_)(token|password|passwd|secret|api_key|apikey)$`)

// object checks that f is a mapping with only known keys, each once. An
// absent f gives an empty object, so its keys take their defaults.
func (l *loader) object(f field, known ...string) object {
	o := object{field: f, fields: map[string]field{}}
	if f.node == nil || l.stop {
		return o
	}
	if f.node.Kind != yaml.MappingNode {
		l.errorf(f, "must be a mapping of keys to values, not %s", kind(f.node))
		return o
	}
	c := f.node.Content
	for i := 0; i+1 < len(c) && !l.stop; i += 2 {
		k, v := c[i], c[i+1]
		if k.Kind != yaml.ScalarNode {
			l.errorf(field{key: f.key, line: k.Line}, "keys must be plain names, not %s", kind(k))
			continue
		}
		kf := field{key: child(f.key, k.Value), line: k.Line}
		switch {
		case k.Tag == "!!merge":
			l.errorf(kf, "merge keys (<<) are not supported; use an alias (*name) for a whole value instead")
			continue
		case !slices.Contains(known, k.Value) && secretKeyRE.MatchString(k.Value):
			l.errorf(kf, "secrets may not be written in the config file; %s", secretHint(known))
			continue
		case !slices.Contains(known, k.Value):
			l.errorf(kf, "unknown key; known keys here: %s", strings.Join(known, ", "))
			continue
		}
		if prev, ok := o.fields[k.Value]; ok {
			l.errorf(kf, "key repeated; first set on line %d", prev.line)
			continue
		}
		o.fields[k.Value] = l.value(kf, v)
	}
	return o
}

// secretHint tells where a secret goes in a block with the given keys.
func secretHint(known []string) string {
	for _, k := range known {
		stem, ok := strings.CutSuffix(k, "_file")
		if ok && slices.Contains(known, stem+"_env") {
			return "put it in a file and set " + k + ", or in an environment variable and set " + stem + "_env"
		}
	}
	return "this block takes no credentials"
}

// get returns the field of key name; when absent, it has the object's line.
func (o object) get(name string) field {
	if f, ok := o.fields[name]; ok {
		return f
	}
	return field{key: child(o.key, name), line: o.line}
}

// kind names the YAML kind of n for messages.
func kind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!str":
			return "a string"
		case "!!int":
			return "an integer"
		case "!!bool":
			return "a boolean"
		case "!!float":
			return "a number"
		}
		return "a scalar"
	}
	return "an alias"
}

// scalar returns the text of f and whether it is present; anything but a
// scalar is an error.
func (l *loader) scalar(f field) (string, bool) {
	if f.node == nil {
		return "", false
	}
	if f.node.Kind != yaml.ScalarNode {
		l.errorf(f, "must be a single value, not %s", kind(f.node))
		return "", false
	}
	return f.node.Value, true
}

// required returns the text of f, which must be present and not empty.
func (l *loader) required(f field) string {
	s, ok := l.scalar(f)
	if ok && s != "" {
		return s
	}
	if f.node == nil || ok {
		l.errorf(f, "required")
	}
	return ""
}

// optional returns the text of f, or def when it is absent.
func (l *loader) optional(f field, def string) string {
	if s, ok := l.scalar(f); ok {
		return s
	}
	return def
}

// integer returns the integer f, which must lie in [lo, hi], or def.
func (l *loader) integer(f field, def, lo, hi int) int {
	s, ok := l.scalar(f)
	if !ok {
		return def
	}
	n, err := strconv.ParseInt(s, 10, 64)
	switch {
	case f.node.Tag != "!!int":
		l.errorf(f, "must be an integer, not %s", kind(f.node))
		return def
	case err != nil:
		l.errorf(f, "%s is not a decimal integer in range %d..%d", quote(s), lo, hi)
		return def
	case n < int64(lo) || n > int64(hi):
		l.errorf(f, "%d is out of range %d..%d", n, lo, hi)
		return def
	}
	return int(n)
}

// duration returns the positive duration f, or def.
func (l *loader) duration(f field, def Duration) Duration {
	s, ok := l.scalar(f)
	if !ok {
		return def
	}
	d, err := ParseDuration(s)
	if err != nil {
		l.errorf(f, "%v", err)
		return def
	}
	if d <= 0 {
		l.errorf(f, "must be longer than zero")
		return def
	}
	return d
}

// enum returns f, which must be one of allowed, or def when absent.
func (l *loader) enum(f field, def string, allowed ...string) string {
	s, ok := l.scalar(f)
	if !ok {
		return def
	}
	if !slices.Contains(allowed, s) {
		l.errorf(f, "%s is not one of %s", quote(s), strings.Join(allowed, ", "))
		return def
	}
	return s
}

// items returns the items of the list f, each with its own key and line.
func (l *loader) items(f field) []field {
	if f.node == nil || l.stop {
		return nil
	}
	if f.node.Kind != yaml.SequenceNode {
		l.errorf(f, "must be a list, not %s", kind(f.node))
		return nil
	}
	var out []field
	for i, n := range f.node.Content {
		if l.stop {
			break
		}
		out = append(out, l.value(field{key: fmt.Sprintf("%s[%d]", f.key, i), line: n.Line}, n))
	}
	return out
}

// list returns the list of non-empty strings f, each once, and whether
// it is present. An item not matching re (when set) is an error named by
// what.
func (l *loader) list(f field, re *regexp.Regexp, what string) ([]string, bool) {
	if f.node == nil {
		return nil, false
	}
	var out []string
	first := map[string]int{}
	for _, it := range l.items(f) {
		s := l.required(it)
		switch {
		case s == "":
		case re != nil && !re.MatchString(s):
			l.errorf(it, "%s is not %s", quote(s), what)
		case first[s] != 0:
			l.errorf(it, "%s is listed twice; first on line %d", quote(s), first[s])
		default:
			first[s] = it.line
			out = append(out, s)
		}
	}
	return out, true
}

// nameRE is the form of target and source names.
var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)

// name returns the required name f, which must match nameRE and not be in
// seen (name -> line of its first use); it records f in seen.
func (l *loader) name(f field, seen map[string]int) string {
	s := l.required(f)
	switch {
	case s == "":
	case !nameRE.MatchString(s):
		l.errorf(f, "%s is not a valid name: lower-case letters, digits, '_' and '-', starting with a letter or digit", quote(s))
	case seen[s] != 0:
		l.errorf(f, "%s is used twice; first on line %d", quote(s), seen[s])
	default:
		seen[s] = f.line
	}
	return s
}

// httpURL returns the http(s) URL f without a trailing slash; "" when
// absent and not required.
func (l *loader) httpURL(f field, required bool) string {
	var s string
	if required {
		s = l.required(f)
	} else {
		s = l.optional(f, "")
	}
	if s == "" {
		return ""
	}
	u, err := url.Parse(s)
	switch {
	case err != nil || u.Host == "" || u.Opaque != "":
		l.errorf(f, "%s is not a URL such as https://host/path", quote(redact(s)))
	case u.Scheme != "http" && u.Scheme != "https":
		l.errorf(f, "%s is not an http or https URL", quote(redact(s)))
	case u.User != nil:
		l.errorf(f, "credentials may not be written in a URL; set token_file or token_env instead")
	case u.RawQuery != "" || u.Fragment != "":
		l.errorf(f, "%s has a query or fragment; give the base URL only", quote(u.Redacted()))
	default:
		return strings.TrimRight(s, "/")
	}
	return ""
}

// scpURLRE matches git's scp-like form, "user@host:path".
var scpURLRE = regexp.MustCompile(`^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:.+$`)

// gitURL returns the required git URL f: http(s), git, ssh, a local
// file:/// mirror, or the scp-like form user@host:path.
func (l *loader) gitURL(f field) string {
	s := l.required(f)
	if s == "" || scpURLRE.MatchString(s) {
		return s
	}
	u, err := url.Parse(s)
	switch {
	case err == nil && u.Scheme == "file" && u.Host == "" && strings.HasPrefix(u.Path, "/"):
		return s // a local mirror
	case err != nil || u.Host == "" || u.Path == "":
		l.errorf(f, "%s is not a git URL (https://, git://, ssh://, file:///path or user@host:path)", quote(redact(s)))
	case u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "git" && u.Scheme != "ssh":
		l.errorf(f, "%s is not a git URL (https://, git://, ssh://, file:///path or user@host:path)", quote(redact(s)))
	case hasPassword(u):
		l.errorf(f, "credentials may not be written in a URL")
	default:
		return s
	}
	return ""
}

// hasPassword reports whether u carries a password.
func hasPassword(u *url.URL) bool {
	_, ok := u.User.Password()
	return ok
}

// redact hides the password of a URL-looking s for messages.
func redact(s string) string {
	if u, err := url.Parse(s); err == nil && u.User != nil {
		return u.Redacted()
	}
	if i := strings.LastIndex(s, "@"); i >= 0 && strings.Contains(s[:i], "://") {
		return "<redacted>" + s[i:]
	}
	return s
}

// envRE is the form of an environment variable name.
var envRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// secret reads the token_file / token_env pair of o; at most one may be
// set, and one must be when required. It never reads the secret itself.
func (l *loader) secret(o object, required bool) secret.Source {
	return l.secretPair(o, "token_file", "token_env", "token", required)
}

// secretPair reads a <name>_file / <name>_env pair of o, as secret does.
func (l *loader) secretPair(o object, fileKey, envKey, what string, required bool) secret.Source {
	ff, fe := o.get(fileKey), o.get(envKey)
	var src secret.Source
	if s, ok := l.scalar(ff); ok {
		if s == "" {
			l.errorf(ff, "must name a file")
		} else {
			src.File = l.pathAt(ff, s)
		}
	}
	if s, ok := l.scalar(fe); ok {
		// The value is not quoted back: a secret pasted here by mistake
		// must not end up in a log.
		if !envRE.MatchString(s) {
			l.errorf(fe, "is not an environment variable name (letters, digits and '_'); it must name the variable holding the %s, not the %s itself", what, what)
		} else {
			src.Env = s
		}
	}
	switch {
	case src.File != "" && src.Env == "":
		l.recordCheck(ff, secretCheck(src))
	case src.Env != "" && src.File == "":
		l.recordCheck(fe, secretCheck(src))
	}
	switch {
	case ff.node != nil && fe.node != nil:
		later := ff
		if fe.line > ff.line {
			later = fe
		}
		l.errorf(later, "set only one of %s and %s", fileKey, envKey)
		return secret.Source{}
	case required && ff.node == nil && fe.node == nil:
		l.errorf(o.field, "needs %s or %s (where the %s is read from)", fileKey, envKey, what)
	}
	return src
}

// pathAt resolves the path p, the value of f, against the config file's
// directory. Paths are taken literally: a "~" or "$" would be expanded by a
// shell but not by trawl (nor by systemd), so a path that starts with "~"
// or holds "$" is an error rather than a directory of that name.
func (l *loader) pathAt(f field, p string) string {
	switch {
	case strings.HasPrefix(p, "~"):
		l.errorf(f, "%s starts with ~, which trawl does not expand: write the absolute path", quote(p))
	case strings.Contains(p, "$"):
		l.errorf(f, "%s holds $, which trawl does not expand: write the path itself", quote(p))
	}
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(l.dir, p)
}

// maxQuoted bounds how much of a value a message quotes.
const maxQuoted = 64

// quote quotes s for a message, shortened when long.
func quote(s string) string {
	if len(s) > maxQuoted {
		cut := maxQuoted
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		return strconv.Quote(s[:cut]) + "..."
	}
	return strconv.Quote(s)
}
