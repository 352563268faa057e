// Package change holds trawl's forge-neutral model of what is under review:
// changes, their dependency references and the base they apply on.
//
// Every forge driver converts its own objects into these types, and every
// pure step of a cycle (graph, fingerprint, diff) works on them alone, so the
// cycle never needs to know which forge a change came from.
package change

import "fmt"

// Key identifies a change across every source and forge, for example
// "pw:patchwork.kernel.org/netdevbpf/series/812345",
// "gh:rock-core/base-types#42" or "gl:gitlab.com/redhat/kernel!7".
type Key string

// Policy says how a unit's base commit takes part in its fingerprint.
type Policy string

// The base policies of DESIGN.md "Fingerprint".
const (
	// PolicyPinned fixes the base commit when the unit is first seen; base
	// moves do not retrigger.
	PolicyPinned Policy = "pinned"
	// PolicyFollow puts the base commit in the fingerprint: every base move
	// retriggers.
	PolicyFollow Policy = "follow"
	// PolicyTag uses the change's own "base-commit:" when it has one, and
	// behaves as PolicyPinned otherwise.
	PolicyTag Policy = "tag"
)

// Valid reports whether p is one of the known policies.
func (p Policy) Valid() bool {
	switch p {
	case PolicyPinned, PolicyFollow, PolicyTag:
		return true
	}
	return false
}

// Base is the tree a change applies on.
type Base struct {
	Tree   string // tree name as the CI knows it, e.g. "net-next"
	URL    string // git URL of the tree
	Branch string
	Policy Policy
}

// Patch is one patch of a Patchwork series, in series order.
type Patch struct {
	ID      int64
	MsgID   string // with angle brackets, as Patchwork returns it
	Name    string
	Hash    string // Patchwork's content hash; empty for a pull request without a diff
	MboxURL string // the patch's own mbox (a web URL a CI can fetch)
	WebURL  string
}

// Ref is one dependency reference of a change, as written and as far as the
// source could resolve it.
type Ref struct {
	// Raw is the reference as written ("<msgid@host>", a URL, "#42"), for
	// messages.
	Raw string
	// Key is the change the reference names; empty when the source could not
	// resolve it (such a reference blocks its change).
	Key Key
	// Source is the configured source that owns Key. It lets the graph tell a
	// dependency that is really missing from one whose source is unknown this
	// cycle.
	Source string
	// Merged reports that the dependency is already applied upstream
	// (accepted, merged): it counts as part of the base, not as a unit.
	Merged bool
	// Closed reports that the dependency was closed without being merged
	// (a rejected series, a closed pull request): it blocks its dependents.
	Closed bool
	// Checked reports that the source looked the dependency up this cycle:
	// Merged and Closed are its answer, and nobody asks again.
	Checked bool
	// Unknown, when non-empty, says why the dependency could not be looked
	// up this cycle (a failed request): its change is unknown for the cycle,
	// neither built without the dependency nor forgotten.
	Unknown string
}

// Change is one unit of review on a source: the latest revision of a
// Patchwork series, a pull request, a merge request.
type Change struct {
	Key       Key
	Source    string // name of the configured source that yielded it
	Title     string
	WebURL    string
	Submitter string
	// Version is the revision number (Patchwork series version); 0 when the
	// forge has none.
	Version int
	// Supersedes lists the older revisions of the same change that this
	// one replaces in the snapshot (earlier versions of a Patchwork
	// series), for logs.
	Supersedes []Key
	// Content is the change's content identity, in order: each patch's hash
	// for Patchwork, the head commit SHA for GitHub and GitLab.
	Content []string
	// Patches lists a Patchwork series' patches in series order.
	Patches []Patch
	// Deps are the dependency references found in the change.
	Deps []Ref
	// Relays are the changes whose CI results are copied onto this one
	// ("Relay-CI-from:" in a pull or merge request's description), e.g. a
	// source-git merge request relaying its dist-git merge request's
	// pipelines.
	Relays []Ref
	// Base is what the change applies on.
	Base Base
	// BaseCommit is the "base-commit:" the change names itself, if any; it is
	// used under PolicyTag.
	BaseCommit string
	// Targets names the configured targets that build this change.
	Targets []string
	// Unbuildable, when non-empty, says why no CI can build this change (for
	// example a git pull request without a diff). Such a change is reported
	// as blocked with that reason and never triggered.
	Unbuildable string
	// Waiting, when non-empty, says why the change is not buildable yet
	// (a Patchwork series that has not received all its patches: "2 of 5
	// patches received"). It is reported as waiting, never triggered, and
	// its dependents wait with it.
	Waiting string
	// Merged reports a change that is applied upstream already, yielded only
	// because an open change depends on it: it is no unit of its own, and
	// its dependents keep its content until their base is known to hold it
	// (see Commits).
	Merged bool
	// Commits are the commits a merged change was applied as (Patchwork's
	// commit_ref of each patch), when the forge records them. A base at one
	// of them holds the change.
	Commits []string

	// The fields below describe pull and merge requests; they are empty for
	// Patchwork series.

	// HeadSHA is the head commit of the pull or merge request (also its
	// Content).
	HeadSHA string
	// HeadRepo is where the head commit lives ("owner/repo" on GitHub, the
	// source project's path on GitLab); for a fork it differs from the
	// change's own repository, and statuses are posted there on GitLab.
	HeadRepo string
	// HeadRef is the head branch name.
	HeadRef string
	// FetchRef is the ref of the base repository (Base.URL) that holds the
	// head, forks included: refs/pull/N/head on GitHub,
	// refs/merge-requests/N/head on GitLab.
	FetchRef string
	// BaseSHA is the forge's view of the base branch's commit.
	BaseSHA string
	// Draft reports a draft pull or merge request.
	Draft bool
	// Fork reports that the head lives in another repository.
	Fork bool
}

// State is where a change stands on its forge, for a dependency that is not
// among the open changes of a snapshot.
type State string

// The states of a change.
const (
	StateOpen   State = "open"
	StateMerged State = "merged"
	StateClosed State = "closed"
)

// Claim is how a source relates to a change key, so that a reference to a
// change on another source or forge reaches the source that owns it.
type Claim int

// The claims a source can make on a key.
const (
	// ClaimNone: the key names a change on another host.
	ClaimNone Claim = iota
	// ClaimHost: the key is on the source's host but not its repository or
	// project; the source can look it up but does not poll it.
	ClaimHost
	// ClaimOwn: the key is one of the source's changes.
	ClaimOwn
)

// The key forms of each forge, in one place so that a reference to a change
// of another forge resolves to the very key that forge's source yields.

// PatchworkKey is the key of series id of project on the Patchwork instance
// at host (host[:port] plus any path prefix, no scheme).
func PatchworkKey(host, project string, id int64) Key {
	return Key(fmt.Sprintf("pw:%s/%s/series/%d", host, project, id))
}

// GitHubKey is the key of pull request n of repo ("owner/name"). host is
// empty for github.com and the server's host for GitHub Enterprise.
func GitHubKey(host, repo string, n int64) Key {
	if host == "" || host == "github.com" {
		return Key(fmt.Sprintf("gh:%s#%d", repo, n))
	}
	return Key(fmt.Sprintf("gh:%s/%s#%d", host, repo, n))
}

// GitLabKey is the key of merge request iid of project (its full path) on
// the GitLab instance at host.
func GitLabKey(host, project string, iid int64) Key {
	return Key(fmt.Sprintf("gl:%s/%s!%d", host, project, iid))
}

// String returns the change key, for logs.
func (c *Change) String() string { return string(c.Key) }

// UnitKey names the unit that builds change k on target t.
func UnitKey(k Key, target string) string { return string(k) + "@" + target }
