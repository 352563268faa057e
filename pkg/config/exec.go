package config

import (
	"regexp"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// TargetExec runs a local command per unit.
const TargetExec = "exec"

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

// DefaultExecTimeout bounds an exec target's run when none is configured.
const DefaultExecTimeout = Duration(10 * 60 * 1e9)

// envKeyRE is the form of an environment variable name an exec target sets.
var envKeyRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

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
