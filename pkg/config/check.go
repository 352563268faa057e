package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/trawl-ci/trawl/pkg/secret"
)

// check is one thing on this machine a configuration depends on, found
// while loading and checked by CheckLocal: where it is in the file, and
// what to look at.
type check struct {
	f   field
	run func() error
}

// recordCheck remembers a check of what f names, for CheckLocal.
func (l *loader) recordCheck(f field, run func() error) {
	l.checks = append(l.checks, check{f: f, run: run})
}

// CheckLocal checks what the configuration needs from this machine, which
// loading leaves alone so that a file validates anywhere: every secret is
// read (file readable and not empty, variable set), every exec command
// exists and is executable, every directory exists (the state directory,
// or the directory it is created in, must be writable). Every problem is
// returned, each an *Error naming file, line and key. A secret's value
// never appears in an error.
func (c *Config) CheckLocal() error {
	var errs []*Error
	for _, ch := range c.checks {
		if err := ch.run(); err != nil {
			errs = append(errs, &Error{File: c.file, Line: ch.f.line, Key: ch.f.key, Msg: err.Error()})
		}
	}
	return joinErrors(errs)
}

// secretCheck reads the secret, naming where it is read from.
func secretCheck(s secret.Source) func() error {
	return func() error {
		_, err := s.Value()
		if err != nil {
			return errors.New(strings.TrimPrefix(err.Error(), "secret: "))
		}
		return nil
	}
}

// commandCheck finds the program of an exec target as the target will run
// it: a name with a slash is a path (relative to dir), a bare name is
// looked up in PATH.
func commandCheck(program, dir string) func() error {
	return func() error {
		if !strings.Contains(program, "/") {
			if _, err := osexec.LookPath(program); err != nil {
				return fmt.Errorf("program %s is not found in PATH (%s)", quote(program), os.Getenv("PATH"))
			}
			return nil
		}
		p := program
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		fi, err := os.Stat(p)
		switch {
		case err != nil:
			return fmt.Errorf("program %s: %w", p, unwrapPath(err))
		case fi.IsDir():
			return fmt.Errorf("program %s is a directory", p)
		case fi.Mode().Perm()&0o111 == 0:
			return fmt.Errorf("program %s is not executable (mode %s)", p, fi.Mode().Perm())
		}
		return nil
	}
}

// dirCheck checks that dir is an existing directory.
func dirCheck(dir string) func() error {
	return func() error {
		fi, err := os.Stat(dir)
		switch {
		case err != nil:
			return fmt.Errorf("directory %s: %w", dir, unwrapPath(err))
		case !fi.IsDir():
			return fmt.Errorf("%s is not a directory", dir)
		}
		return nil
	}
}

// stateDirCheck checks that trawl can write the state directory, or create
// it in the nearest directory that exists.
func stateDirCheck(dir string) func() error {
	return func() error {
		d := dir
		for {
			fi, err := os.Stat(d)
			if err == nil {
				if !fi.IsDir() {
					return fmt.Errorf("%s is not a directory", d)
				}
				break
			}
			gone := errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
			if !gone || filepath.Dir(d) == d {
				return fmt.Errorf("directory %s: %w", d, unwrapPath(err))
			}
			d = filepath.Dir(d)
		}
		probe, err := os.CreateTemp(d, ".trawl-validate-*")
		if err != nil {
			if d == dir {
				return fmt.Errorf("directory %s is not writable: %w", dir, unwrapPath(err))
			}
			return fmt.Errorf("directory %s does not exist and cannot be created in %s: %w", dir, d, unwrapPath(err))
		}
		name := probe.Name()
		_ = probe.Close()
		return os.Remove(name)
	}
}

// unwrapPath drops the operation and path of an *fs.PathError, which the
// messages above already name.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
