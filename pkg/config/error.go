package config

import (
	"errors"
	"fmt"
	"sort"
)

// Error is one problem in a configuration file: where it is and what is
// wrong. Load returns every problem it finds, joined with errors.Join, so a
// caller can print them all or walk them with errors.As on each.
type Error struct {
	// File is the file name as given to Load or LoadFile.
	File string
	// Line is the 1-based line of the offending key; 0 when unknown.
	Line int
	// Key is the dotted path of the key, e.g. "sources[0].base.policy";
	// empty for a problem with the file as a whole.
	Key string
	// Msg says what is wrong and, where it can, how to fix it.
	Msg string
}

// Error renders "file:line: key: msg", leaving out the line when it is
// unknown and the key when there is none.
func (e *Error) Error() string {
	s := e.File
	if e.Line > 0 {
		s += fmt.Sprintf(":%d", e.Line)
	}
	if e.Key != "" {
		s += ": " + e.Key
	}
	return s + ": " + e.Msg
}

// joinErrors sorts errs by line, keeping the order of equal lines, and joins
// them; nil when there are none.
func joinErrors(errs []*Error) error {
	sort.SliceStable(errs, func(i, j int) bool { return errs[i].Line < errs[j].Line })
	all := make([]error, len(errs))
	for i, e := range errs {
		all[i] = e
	}
	return errors.Join(all...)
}
