package config

import (
	"regexp"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/trawl-ci/trawl/pkg/secret"
)

// Target types for any CI.
const (
	// TargetExec runs a local command per unit.
	TargetExec = "exec"
	// TargetWebhook POSTs each unit, signed, to a URL.
	TargetWebhook = "webhook"
)

// Exec configures a local command target.
type Exec struct {
	// Command is the argv, run without a shell.
	Command []string `yaml:"command" json:"command"`
	// Dir is the working directory; empty is the state directory.
	Dir string `yaml:"dir,omitempty" json:"dir,omitempty"`
	// Timeout bounds each run; its whole process group is killed after.
	Timeout Duration `yaml:"timeout" json:"timeout"`
	// Env adds KEY=VALUE variables, sorted by key. It is not for secrets:
	// the values are part of the target's configuration hash.
	Env []string `yaml:"env,omitempty" json:"env,omitempty"`
}

// Webhook configures a signed webhook target.
type Webhook struct {
	URL string `yaml:"url" json:"url"`
	// Secret is the HMAC-SHA256 key the body is signed with.
	Secret secret.Source `yaml:"secret" json:"secret"`
	// Header carries the signature; empty is X-Trawl-Signature-256.
	Header string `yaml:"header,omitempty" json:"header,omitempty"`
}

// Bounds on the builds of one target running at once (max_running). A
// build is running from its trigger until trawl has read a final result
// for it: for exec until the command has ended (it runs on this host, so
// the default is small); for KernelCI until the patchset's whole subtree
// has a final result (the pipeline's own labs bound the load, so the
// default is larger). Units beyond the bound wait in a queue, oldest
// fingerprint first, and start on later cycles as builds end. A webhook's
// deliveries cannot be followed, so trawl cannot tell when they end: a
// webhook target has no bound and refuses the key.
const (
	DefaultMaxRunningExec     = 4
	DefaultMaxRunningKernelCI = 20
	MaxMaxRunning             = 1000
)

// maxRunning reads a target's max_running for a target of type typ.
func (l *loader) maxRunning(f field, typ string) int {
	switch typ {
	case TargetExec:
		return l.integer(f, DefaultMaxRunningExec, 1, MaxMaxRunning)
	case TargetKernelCI:
		return l.integer(f, DefaultMaxRunningKernelCI, 1, MaxMaxRunning)
	}
	if typ == TargetWebhook && f.node != nil {
		l.errorf(f, "a %s target's jobs cannot be followed, so trawl cannot tell how many run: leave max_running out", typ)
	}
	return 0
}

// DefaultExecTimeout bounds an exec target's run when none is configured.
const DefaultExecTimeout = Duration(10 * 60 * 1e9)

var (
	envKeyRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	headerRE = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
)

// exec reads a target's exec block.
func (l *loader) exec(f field) *Exec {
	o := l.object(f, "command", "dir", "timeout", "env")
	e := &Exec{Timeout: l.duration(o.get("timeout"), DefaultExecTimeout)}
	cf := o.get("command")
	cmd, ok := l.list(cf, nil, "")
	switch {
	case !ok:
		l.errorf(cf, "required: the program and its arguments, e.g. [/usr/local/bin/build-unit, --fast]")
	case len(cmd) == 0 || cmd[0] == "":
		l.errorf(cf, "names no program")
	default:
		e.Command = cmd
	}
	df := o.get("dir")
	if d := l.optional(df, ""); d != "" {
		e.Dir = l.pathAt(df, d)
		l.recordCheck(df, dirCheck(e.Dir))
	}
	if len(e.Command) > 0 {
		dir := e.Dir
		if dir == "" {
			dir = l.stateDir
		}
		l.recordCheck(cf, commandCheck(e.Command[0], dir))
	}
	ef := o.get("env")
	if ef.node != nil && ef.node.Kind == yaml.MappingNode {
		var names []string
		for i := 0; i+1 < len(ef.node.Content); i += 2 {
			names = append(names, ef.node.Content[i].Value)
		}
		vars := l.object(ef, names...)
		sort.Strings(names)
		for _, name := range names {
			vf := vars.get(name)
			v, _ := l.scalar(vf)
			switch {
			case !envKeyRE.MatchString(name):
				l.errorf(vf, "%s is not an environment variable name", quote(name))
			case strings.HasPrefix(name, "TRAWL_"):
				l.errorf(vf, "TRAWL_ variables are set by trawl")
			case secretKeyRE.MatchString(strings.ToLower(name)):
				l.errorf(vf, "secrets may not be written in the config file; the command can read them from its own files")
			default:
				e.Env = append(e.Env, name+"="+v)
			}
		}
	} else if ef.node != nil {
		l.object(ef) // reports the wrong kind
	}
	return e
}

// webhook reads a target's webhook block.
func (l *loader) webhook(f field) *Webhook {
	o := l.object(f, "url", "secret_file", "secret_env", "header")
	w := &Webhook{
		URL:    l.httpURL(o.get("url"), true),
		Secret: l.secretPair(o, "secret_file", "secret_env", "signing secret", true),
		Header: l.optional(o.get("header"), ""),
	}
	if w.Header != "" && !headerRE.MatchString(w.Header) {
		l.errorf(o.get("header"), "%s is not an HTTP header name", quote(w.Header))
	}
	return w
}
