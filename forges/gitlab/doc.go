// Package gitlab is trawl's GitLab driver: the Source that turns the open
// merge requests of one GitLab project into trawl changes, the lookup of any
// merge request's state on the instance (for dependencies), and the
// reporter that posts commit statuses.
//
// Every call goes through gitlab.com/gitlab-org/api/client-go over the
// *http.Client that pkg/httpx builds for the instance. The library is set
// up so that the httpx stack is the only layer with a policy: it sends no
// credential of its own (httpx adds PRIVATE-TOKEN beneath the cache, so
// the token never reaches the cache or its files), it does not retry
// (httpx retries, bounded), and its client-side rate limiter is off (httpx
// honours 429 and Retry-After).
//
// # Listing
//
// GitLab answers REST GETs with a weak ETag (W/"...", from Rails'
// Rack::ETag, computed over the rendered body) and honours If-None-Match
// with a 304 on many endpoints, merge request lists and commit statuses
// among them. The httpx cache stores those answers and revalidates every
// later GET with the ETag, so an unchanged page comes back as a bodiless
// 304: that saves the transfer and the decoding, not GitLab's rendering
// nor the rate limit, and says nothing about what changed. It cannot
// replace a list filter. Merge request lists have offset pagination only.
// Fetch therefore keeps, in memory, the
// last complete snapshot of the project's open merge requests and works in
// two modes:
//
//   - a full relist lists every open merge request (state=opened,
//     order_by=updated_at, sort=desc, per_page=100, following x-next-page
//     and never the totals, which GitLab leaves out above 10,000 rows) and
//     replaces the snapshot. It happens on the first Fetch, after any failed
//     Fetch, and whenever Opts.FullRelist has passed since the last one. A
//     merge request of the old snapshot that the relist does not show is
//     read on its own before it is dropped: a merge request closed while the
//     pages were read shifts the later pages by one row, which can hide an
//     unrelated one, and a hidden merge request must not look gone.
//   - between full relists, an incremental list asks for merge requests of
//     every state updated since the start of the last successful Fetch
//     minus two minutes of clock skew (state=all, updated_after=...). Open
//     ones are merged into the snapshot; closed, merged and locked ones
//     leave it. Ordered by updated_at descending, a merge request updated
//     while the pages are read moves to the front: it is seen by the next
//     Fetch, and the rows it passes shift down and are seen twice, never
//     skipped (only a deleted merge request could shift rows up).
//
// A failed page, or any other failed request, fails the whole Fetch: the
// source is unknown for the cycle (DESIGN.md rule 1), the snapshot is not
// advanced, and the next Fetch relists in full. One limit remains: a merge
// request that is new since the previous snapshot and hidden by such a page
// shift during a full relist is seen at the next full relist or at its next
// update, whichever comes first; it is late, never wrongly gone.
//
// diff_refs (the base commit) are only on the single merge request GET, so
// Fetch reads each merge request it yields once per head commit and keeps
// the base while the head does not move. A fork's source project path is
// read once per project id and kept; a fork the credential cannot see is
// named by its numeric id in HeadRepo, which GitLab's API takes as well.
//
// # Dependencies
//
// Depends-on references in a merge request's description (pkg/deps) become
// change.Refs. A merge request of this project carries this source's name;
// one of another project on the same instance, another forge or Patchwork
// carries its key only. Merge requests on this instance that are not among
// the open ones are looked up, so that a merged dependency counts as part
// of the base and a closed one blocks its dependents; a merged state is
// final and remembered.
//
// # Statuses
//
// The Reporter posts a merge request's status where trawl's credential can
// write it. For a merge request of the project itself that is the
// project. For one from a fork it is the fork (change.Change.HeadRepo)
// when the credential can see it and may post there; otherwise (a fork
// named by its numeric id because it is not visible, or a 403 or 404 from
// the fork) it is the target project, on ref
// refs/merge-requests/<iid>/head, under which GitLab keeps every merge
// request's head: without that ref GitLab finds no branch holding the
// commit and answers 404. A fork that refused once is not asked again by
// this process.
//
// The cycle has the Reporter post without looking first (Post: one
// request) unless an interrupted run may have posted the status already;
// then (Report), before posting, the Reporter reads every status of the
// commit with that name (all=true, per_page=100, every page: GitLab serves
// 20 a page by default, oldest first) and compares the newest one, by id,
// whatever the order: found, it returns report.Found and posts nothing.
// GitLab refuses to repeat the state of a running or pending status
// ("Cannot transition status via :run from :running", a 400, or a 409 when
// a concurrent update got there first): that repeat, met by Post or
// Report, is done, not refused. Any other 409 ("another update to this
// commit status is in progress") is a *report.WaitError, retried later;
// any other refusal is an error. The relay read (Statuses) merges the
// statuses of the target project and of a visible fork.
package gitlab
