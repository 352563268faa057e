package report

import (
	"context"

	"github.com/trawl-ci/trawl/pkg/change"
	"github.com/trawl-ci/trawl/pkg/targets"
)

// Reporter writes results back where a change lives (a Patchwork check on
// every patch, a commit status on the head) or into a results store. Each
// implementation lives beside its forge or store and asserts that it is
// one (var _ report.Reporter = (*Reporter)(nil)).
//
// Contract: Name is stable across runs (the state records reports by it).
// Map and Items are pure. Report may be called from several goroutines at
// once (at most a few per reporter); it must make a repeated call harmless
// and must not retry a refused post itself: the outbox (outbox.go) owns
// retries, backoff and expiry.
type Reporter interface {
	Name() string
	// Map turns a result state into the reporter's own word for it; false
	// means the state is not reported at all by this reporter.
	Map(s targets.State) (posted string, ok bool)
	// Items lists what a report on c is posted on: each patch of a series,
	// the head commit, the change itself.
	Items(c *change.Change) []string
	// Report writes one report on one item. It must make a repeated call
	// after a crash harmless (look before posting where the server cannot
	// deduplicate) and say which happened: Posted or Found. Errors for
	// which Permanent is true are not retried; a retry is not tried before
	// the time RetryAt gives.
	Report(ctx context.Context, item string, m Message, posted string) (Done, error)
}

// Poster is an optional capability of a Reporter: posting without looking
// first. The cycle records the items whose posting starts (persisted
// before the first post), and looks before posting (Report) only on an
// item a crash or a failure may have left posted but not recorded
// (MustLook); every other item costs one request (Post).
//
// Contract: Post writes the report on item once, without looking for an
// existing one; its errors follow Report's (Permanent, RetryAt). It is
// called under the same concurrency as Report.
type Poster interface {
	Post(ctx context.Context, item string, m Message, posted string) error
}

// StatusReader is an optional capability of a source whose changes carry
// CI statuses that can be relayed onto another change (GitHub, GitLab).
//
// Contract: Statuses returns the head commit of change key and its current
// statuses, the newest of each context, in trawl's words. It reads only;
// a failed read is an error (never an empty list), so that a relay is not
// taken for removed. The cycle calls it after the state holding the
// cycle's triggers is saved, once per linked change and cycle.
type StatusReader interface {
	Statuses(ctx context.Context, key change.Key) (head string, statuses []Status, err error)
}
