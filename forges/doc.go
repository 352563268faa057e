// Package forges holds trawl's forge drivers, one package each:
// forges/patchwork, forges/github and forges/gitlab. This file only
// documents their shared layout; the package has no code.
//
// Every driver keeps the same job in the file of the same name, so that
// what is learnt in one is found at once in the others:
//
//	file         job
//	----         ---
//	doc.go       what the driver does and the server facts it rests on
//	client.go    the API client: requests, paging, errors
//	source.go    the Source: Opts, New, Fetch (list and read the open changes)
//	convert.go   API object -> change.Change, and nothing else (no I/O)
//	deps.go      dependencies: Depends-on references, Claim, ChangeState,
//	             state and message-id look-ups, Follow, Relay-CI-from refs
//	reporter.go  the Reporter: ReporterOpts, states, posting a check/status
//	lookup.go    reading what a change already carries: the look half of
//	             look-before-post, and Statuses for relaying
//	project.go   CheckProject (does the configured project exist?)
//	config.go    building the driver from its config section
//	<forge>fake/ the fake server tests and `trawl demo` run against
//
// A job only one forge has keeps a file named for it: GitHub's App
// tokens (app.go) and rate limits (ratelimit.go); Patchwork's own API
// types (api.go: GitHub and GitLab take theirs from their client
// libraries), mbox parsing (mbox.go), the name the revisions of a series
// share (revision.go) and what a Source keeps across Fetches (memo.go).
// Tests follow the file they test: source_test.go, deps_test.go,
// reporter_test.go, lookup_test.go, and so on.
//
// What every driver does the same way lives once in pkg/forgekit, outside
// this tree so that drivers never import one another: the bounded worker
// pool (ForEach), one look-up per key per tick (Once), references without
// duplicates (Refs) and the look-before-post skeleton of a reporter
// (LookBeforePost, Context).
package forges
