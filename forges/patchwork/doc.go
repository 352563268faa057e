// Package patchwork is trawl's Patchwork driver: a small typed client for
// the Patchwork REST API (version 1.3, pinned in every URL), the parsers of
// base-commit tags and mboxes, and the Source that turns one Patchwork
// project into trawl changes. Depends-on tags are read with pkg/deps, the
// parser every forge shares, so a series may depend on a pull or merge
// request as well as on another series.
//
// Patchwork has no ETag, Last-Modified or Cache-Control, and ignores
// conditional requests (measured on v3.1.3), so a poller cannot revalidate
// cheaply. Instead the client marks the reads that never change once
// complete with httpx.CacheIfComplete: a series that received all its
// patches, a cover letter, a non-empty series mbox and a message id lookup
// that matched. After the first tick, an unchanged server costs the patch
// list pages plus the lookups that cannot be cached (incomplete series,
// listings of series with patches outside the actionable states,
// merged-checked dependencies). A message-id nobody holds is asked again
// only after 2, 4, 8 ... Fetches (at most 64), one listing at a time.
//
// Other measured facts the code relies on: times are naive UTC and a since=
// with a time zone gives HTTP 500, list bodies are bare JSON arrays paged by
// the Link header, patch.series is a list, hash is null for a pull request,
// msgid filters take the id without angle brackets, and revisions of a
// series (v1, v2, v3) are unrelated series that share only their name and
// submitter.
package patchwork
