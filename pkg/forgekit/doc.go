// Package forgekit holds what every forge driver (forges/patchwork,
// forges/github, forges/gitlab) does the same way, so that each does it
// once:
//
//   - ForEach, the bounded worker pool a Fetch reads many objects with;
//   - Once, one look-up per distinct key for the life of a tick, and Refs,
//     the references of one change without duplicates;
//   - LookBeforePost, the skeleton of a reporter that reads what an item
//     already carries before it posts, and Context, the name a status or
//     check is posted under.
//
// It lives outside forges/ so that the drivers share it without importing
// one another, and it does no I/O of its own.
package forgekit
