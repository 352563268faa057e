package cycle

import (
	"context"
	"time"

	"github.com/trawl-ci/trawl/pkg/change"
	"github.com/trawl-ci/trawl/pkg/report"
	"github.com/trawl-ci/trawl/pkg/state"
	"github.com/trawl-ci/trawl/pkg/targets"
)

// What the cycle needs from sources, targets, reporters and the store.
// Source, Target, Store and Reporter are required; every other interface
// here is an optional capability the cycle discovers on a value at run
// time. So that a renamed or mistyped method fails the build rather than
// silently turning a capability off, each implementation asserts the
// capabilities it has next to its type:
//
//	var _ cycle.Owner = (*Source)(nil)

// Source is what the cycle needs from a forge: every open, buildable change
// of one configured place, or an error if any request failed.
//
// Contract: Fetch returns the complete set or an error: a listing that
// failed or ended without the server's sign that it is complete is an
// error (rule 1), never a shorter list. Name is stable across runs. Fetch
// is called once per cycle, concurrently with the other sources' Fetch.
type Source interface {
	Name() string
	Fetch(ctx context.Context) ([]change.Change, error)
}

// Target is what the cycle needs from a CI backend.
//
// Contract: Trigger must be idempotent (rule 2): it adopts a job that
// already exists for the same request (Job.Adopted) rather than creating a
// second one, except the jobs named in Request.Exclude, and returns an
// error wrapping targets.ErrWaiting when the unit cannot be built yet.
// ConfigHash changes exactly when a change of the target's configuration
// changes what gets built. Trigger is called concurrently for different
// units (Options.Concurrency).
type Target interface {
	Name() string
	ConfigHash() string
	Trigger(ctx context.Context, r targets.Request) (targets.Job, error)
}

// Store loads and saves the whole state.
//
// Contract: Save is atomic: a crash leaves the old state or the new one,
// never a mix. Load of a missing state is an empty state, not an error.
type Store interface {
	Load() (*state.State, error)
	Save(*state.State) error
}

// Reporter writes results back where a change lives; its contract is in
// pkg/report.
type Reporter = report.Reporter

// Poster is the optional capability of a Reporter to post without looking
// first; its contract is in pkg/report.
type Poster = report.Poster

// StatusReader is the optional capability of a Source to read the CI
// statuses of a change, for relaying; its contract is in pkg/report.
type StatusReader = report.StatusReader

// BaseResolver is an optional capability of a Target (and what
// Options.Resolver is): resolving a branch of a tree to its current
// commit. A target that has its own view of the tree (KernelCI's checkout
// nodes) implements it and is asked instead of Options.Resolver.
//
// Contract: ResolveBase reads only. It returns an error wrapping
// targets.ErrWaiting when the branch cannot be built on yet (the unit
// waits, not an error of the cycle), any other error when the look-up
// failed (the unit waits, and the cycle counts an error). The cycle asks
// once per cycle per tree and branch, before it decides anything.
type BaseResolver interface {
	ResolveBase(ctx context.Context, url, branch string) (string, error)
}

// WaitLimit is an optional capability of a Target: bounding how long a
// unit may wait on it (KernelCI: for a checkout of its base).
//
// Contract: MaxWait is constant for the target's life; 0 or less means no
// bound. A unit that has waited longer is an error of the cycle, logged
// and shown by status, naming why it waits; it keeps waiting.
type WaitLimit interface {
	MaxWait() time.Duration
}

// ResultPoller is an optional capability of a Target: following the jobs
// it started. A target without it reports every job as pending once.
//
// Contract: Result reads only. It returns an error wrapping
// targets.ErrJobGone when the job no longer exists on the target (the unit
// is triggered again), any other error when the poll failed (the job
// counts as running). A conclusive result is final: it is not polled
// again.
type ResultPoller interface {
	Result(ctx context.Context, job targets.Job) (targets.Result, error)
}

// Owner is an optional capability of a Source: saying which keys are its
// own and looking up a change that is not among its open changes (merged,
// closed, filtered out). It resolves references across sources and forges.
//
// Contract: Claim is pure and cheap. ChangeState reads only; a failed
// look-up is an error, never StateMerged (the dependency is unknown this
// cycle, rule 1). The cycle asks each key once per cycle.
type Owner interface {
	Claim(key change.Key) change.Claim
	ChangeState(ctx context.Context, key change.Key) (change.State, error)
}

// MergedLoader is an optional capability of an Owner: giving a merged
// change's content with its state, in one look-up (Patchwork: the patches
// of an accepted series). A unit that was built with that change keeps it
// until its base is known to hold it, instead of being rebuilt without
// it.
//
// Contract: ChangeStateContent is ChangeState, plus the change when it is
// merged (nil when its content cannot be given); when an Owner has it, the
// cycle calls it instead of ChangeState.
type MergedLoader interface {
	ChangeStateContent(ctx context.Context, key change.Key) (change.State, *change.Change, error)
}

// Follower is an optional capability of an Owner whose forge does not
// link the revisions of a change (Patchwork: v1, v2 and v3 of a series are
// unrelated series).
//
// Contract: Follow returns the newest revision of key, or key itself when
// there is none; it reads only, and a failed look-up is an error (the
// dependency is unknown this cycle).
type Follower interface {
	Follow(ctx context.Context, key change.Key) (change.Key, error)
}

// MsgIDResolver is an optional capability of a Source: resolving a mail
// message-id to the change holding it (Patchwork).
//
// Contract: ResolveMsgID returns "" and no error when the message is
// unknown there; an error only when the look-up failed, which makes the
// reference unknown this cycle unless another source holds it.
type MsgIDResolver interface {
	ResolveMsgID(ctx context.Context, msgid string) (change.Key, error)
}
