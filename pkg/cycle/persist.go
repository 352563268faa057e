package cycle

import (
	"fmt"

	"github.com/trawl-ci/trawl/pkg/state"
)

// persist saves the whole state. A cycle persists right after its
// triggers, before anything else touches the network (DESIGN.md, rule 2),
// and again after reporting; what names the save in the error.
func (r *Runner) persist(st *state.State, what string) error {
	if err := r.o.Store.Save(st); err != nil {
		return fmt.Errorf("cycle: %s: %w", what, err)
	}
	return nil
}
