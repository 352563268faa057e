// Package github is trawl's GitHub driver: the Source that turns the open
// pull requests of one repository into trawl changes, the commit status
// reporter, the state lookup of any pull request on the same host, and the
// installation tokens of a GitHub App.
//
// All REST calls go through google/go-github over the *http.Client that
// pkg/httpx builds for the source: the disk cache above, the credential
// beneath it. Every list page is therefore revalidated with its ETag on
// every Fetch, and an unchanged page costs a 304 that GitHub does not count
// against the rate limit of an authenticated client. Nothing here sets a
// token on a request, and nothing asks the cache to skip validation.
//
// go-github's own rate limit memory is switched off: it ignores responses
// served through a cache (X-From-Cache), so it would go stale and refuse
// requests on its own. The Source instead keeps the X-RateLimit-* headers
// of the latest response, and once fewer than Opts.RateReserve requests
// remain it spreads the rest of the budget until the reset, waiting before
// each request rather than failing. An exhausted limit is an error, never
// an empty list.
//
// GitHub answers a spent primary limit, and a secondary ("abuse") limit,
// with 403 or 429, as it answers a missing permission with 403. A rate
// limit answer (x-ratelimit-remaining 0, a retry-after, a message about a
// secondary limit, any 429) is a *report.WaitError naming when to try
// again: the reset, the retry-after, or a minute doubled for each
// secondary limit in a row. Until then the Source sends nothing, as GitHub
// asks; a reporter's post stays in the outbox. Only another 403 is a
// refusal. Status posts are paced under GitHub's content creation limits:
// at most one every 750 ms (80 a minute) and 500 an hour, past which a post
// waits for the hour to free a slot, unsent. GitHub counts these per
// account: sources posting with the same one share an Opts.Writes.
//
// A Fetch never returns part of the list: a failed page fails it, and when
// the list moved while it was paged (sort=updated puts every edited pull
// request first, shifting the pages behind it) the earlier pages are
// revalidated, and the list is read again when one of them changed.
package github
