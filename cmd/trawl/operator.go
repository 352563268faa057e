package main

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/trawl-ci/trawl/pkg/state"
)

// errNoUnit marks an argument that names no unit of the state: a bad
// command line, not a failure to run.
var errNoUnit = errors.New("no such unit")

// editUnits is `trawl retrigger` and `trawl forget`: it marks or drops the
// named units under the state lock.
func editUnits(cmd, path string, args []string, stdout, stderr io.Writer) int {
	var done []string
	err := state.Edit(path, func(st *state.State) error {
		keys, err := selectUnits(st, args)
		if err != nil {
			return err
		}
		now := time.Now().UTC()
		for _, k := range keys {
			if cmd == "forget" {
				forget(st, k)
			} else {
				st.Units[k].RetriggerRequested = &now
			}
		}
		done = keys
		return nil
	})
	switch {
	case errors.Is(err, errNoUnit):
		fmt.Fprintf(stderr, "trawl %s: %v\n", cmd, err)
		return exitUsage
	case err != nil:
		fmt.Fprintf(stderr, "trawl %s: %v\n", cmd, err)
		return exitRuntime
	}
	verb := "built again on its next cycle"
	if cmd == "forget" {
		verb = "forgotten"
	}
	for _, k := range done {
		fmt.Fprintf(stdout, "%s: %s\n", k, verb)
	}
	return exitOK
}

// selectUnits maps each argument to the units it names: a unit key
// ("<change>@<target>") names one, a change key names every unit of the
// change. An argument that names none is an error wrapping errNoUnit.
func selectUnits(st *state.State, args []string) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	for _, a := range args {
		var keys []string
		if _, ok := st.Units[a]; ok {
			keys = []string{a}
		} else {
			for k, u := range st.Units {
				if u.Change == a {
					keys = append(keys, k)
				}
			}
			sort.Strings(keys)
		}
		if len(keys) == 0 {
			return nil, fmt.Errorf("%w %q in %d units of the state (trawl status lists them)", errNoUnit, a, len(st.Units))
		}
		for _, k := range keys {
			if !seen[k] {
				seen[k] = true
				out = append(out, k)
			}
		}
	}
	return out, nil
}

// forget drops unit k and the reports about it still waiting in the
// outbox.
func forget(st *state.State, k string) {
	delete(st.Units, k)
	kept := st.Outbox[:0]
	for _, p := range st.Outbox {
		if p.Message.Unit != k {
			kept = append(kept, p)
		}
	}
	st.Outbox = kept
}
