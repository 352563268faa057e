// Package secret reads credentials from a file or an environment variable.
//
// A secret is never part of a configuration file itself, so it cannot leak
// through the config, a log of the config, or the state file. Values are
// read when needed and their String form is always redacted.
//
// Every value read is also registered process-wide, so that Redact can
// remove it from any text trawl did not write itself: a server that echoes
// a token in its error message cannot make trawl log, print or store it.
package secret

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// ErrUnset is returned by Source.Value when neither a file nor an
// environment variable is configured.
var ErrUnset = errors.New("no secret configured")

// Source says where a secret lives: a file (its content, trailing newline
// trimmed) or an environment variable. At most one of the two is set.
type Source struct {
	File string
	Env  string
}

// IsSet reports whether the source names a file or a variable.
func (s Source) IsSet() bool { return s.File != "" || s.Env != "" }

// Where describes the source without its value, for error messages.
func (s Source) Where() string {
	switch {
	case s.File != "":
		return "file " + s.File
	case s.Env != "":
		return "environment variable " + s.Env
	}
	return "nowhere"
}

// Value reads the secret and registers it for Redact. Errors name the file
// or variable, never the value.
func (s Source) Value() (string, error) {
	switch {
	case s.File != "" && s.Env != "":
		return "", fmt.Errorf("secret: both file %s and environment variable %s are set; choose one", s.File, s.Env)
	case s.File != "":
		b, err := os.ReadFile(s.File)
		if err != nil {
			return "", fmt.Errorf("secret: read %w", err)
		}
		v := strings.TrimRight(string(b), "\r\n")
		if v == "" {
			return "", fmt.Errorf("secret: file %s is empty", s.File)
		}
		Register(v)
		return v, nil
	case s.Env != "":
		v, ok := os.LookupEnv(s.Env)
		if !ok || v == "" {
			return "", fmt.Errorf("secret: environment variable %s is unset or empty", s.Env)
		}
		Register(v)
		return v, nil
	}
	return "", ErrUnset
}

// String never prints the secret.
func (s Source) String() string { return "secret(" + s.Where() + ")" }
