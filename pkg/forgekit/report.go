package forgekit

import (
	"context"

	"github.com/trawl-ci/trawl/pkg/report"
)

// Existing is a report an item already carries, in the forge's words: its
// state and its description.
type Existing struct {
	State, Description string
}

// LookBeforePost is how every forge reporter writes a report it may have
// written already (a crash between the post and the state write, another
// trawl on the same change): look first, post only what is not there.
//
// look returns the reports of the item that stand for this one (the newest
// of its context, as the forge keeps them). When one of them is
// report.Same as m in state posted, LookBeforePost returns report.Found
// and does not post. Otherwise it calls post, which returns report.Posted,
// or report.Found when the forge answered that the report was there
// already. A failed look posts nothing and returns its error.
func LookBeforePost(ctx context.Context, m report.Message, posted string,
	look func(ctx context.Context) ([]Existing, error),
	post func(ctx context.Context) (report.Done, error)) (report.Done, error) {
	existing, err := look(ctx)
	if err != nil {
		return 0, err
	}
	for _, e := range existing {
		if report.Same(e.State, e.Description, m, posted) {
			return report.Found, nil
		}
	}
	return post(ctx)
}

// Context is the name a status is posted under: m.Context when the cycle
// gives one (a relayed result keeps its name), else base, followed by sep
// and the target when each target has its own status (perTarget).
func Context(m report.Message, base, sep string, perTarget bool) string {
	switch {
	case m.Context != "":
		return m.Context
	case perTarget:
		return base + sep + m.Target
	}
	return base
}
