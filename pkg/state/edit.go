package state

import "fmt"

// Edit changes the state file at path under its lock: it opens the store
// (failing with ErrLocked while a daemon or another command holds it),
// loads the state, calls fn and saves the result unless fn fails. It serves
// the operator commands (`trawl retrigger`, `trawl forget`).
func Edit(path string, fn func(*State) error) error {
	s, err := Open(path)
	if err != nil {
		return err
	}
	defer func() { _ = s.Close() }()
	st, err := s.Load()
	if err != nil {
		return err
	}
	if err := fn(st); err != nil {
		return err
	}
	if err := s.Save(st); err != nil {
		return err
	}
	if err := s.Close(); err != nil {
		return fmt.Errorf("state %s: %w", path, err)
	}
	return nil
}
