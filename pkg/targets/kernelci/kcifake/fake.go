// Package kcifake is an in-process fake of the two KernelCI services trawl
// talks to, sharing one node store: the KernelCI API (kernelci-api: node
// queries under /latest) and the pipeline's HTTP service (kernelci-pipeline
// src/lava_callback.py: POST /api/patchset).
//
// The fake answers as the real services answered in the exchanges recorded
// in ../shared/fixtures/kernelci (kernelci-api 95acafc, kernelci-core
// 69a285e, kernelci-pipeline e81bdeb); TestReplayRecorded replays them
// against it. Where no recording exists it follows the services' sources:
//
//   - API: GET /latest/nodes with field filters (dotted paths, field__op with
//     op in lt, lte, gt, gte, ne, re, in, nin, the literal null, true/false
//     as booleans, ISO-8601 timestamps for created/updated/timeout/holdoff),
//     offset pagination (limit >= 1 with no maximum, default 50) in the envelope
//     {"items","total","limit","offset"} in insertion order (the real API
//     does not sort either); GET /latest/node/{id} answers the node, null for
//     an unknown id and 400 for an id that is not an ObjectId; GET
//     /latest/count answers an integer. A path without a version is served as
//     /latest, /v0 is the only known version and any other /vN gets 400 with
//     "Unsupported API version: vN" in plain text, like the real middleware.
//   - Pipeline: POST /api/patchset validates the body first (422, FastAPI
//     style), then the Authorization header, which must be the raw JWT (a
//     "Bearer " prefix fails to decode, as with PyJWT), HS256-signed with
//     Options.Secret, carrying a non-empty "permissions" containing
//     "patchset" and an "email": every failure is 401 {"message":
//     "Unauthorized"}. Then the node: 404 "Node not found", 400 "Node is not
//     a checkout", 500 for an id that is not an ObjectId (the real service
//     lets the API's 400 escape as an internal error). Then the patch URLs:
//     each must start with "http" and answer a HEAD made with the fake's
//     own client, redirects followed, with a status below 400 (400 "Invalid
//     patch URL"); an empty list is 400 "Missing patch URL or patch";
//     inline patches are stored as URLs on Options.StorageURL. The node is
//     created like the real service does it (data copied from the parent,
//     error_code included; submitter user:<JWT email>; a treeid of its
//     own; artifact URLs normalised as the API's URL type does) and the
//     answer is {"message":"OK","node":{...}}.
//
// The patch domain allow-list is not checked at submission, because the real
// service does not check it there: the patchset service (src/patchset.py)
// checks it when it processes the node and fails the node (state done,
// result fail). Process runs that pass on demand.
//
// What the pipeline does after that is simulated on demand too, through
// the same node store and the API's state transitions: Run is the
// scheduler and the runtimes (kbuild nodes under an available patchset,
// test job nodes under the builds that passed, their cases under them),
// Settle is the holdoff and closing timeout services that move finished
// nodes to done, Expire is the timeout service when a node's timeout
// lapses, and TakeOverPatchsets is the tarball service's recorded takeover
// of new patchset nodes. Finish and FinishWithError end single nodes; Seed
// loads recorded nodes with their own ids.
//
// The two handlers are separate (APIHandler, PipelineHandler) because the
// real services listen on different ports; serve each on its own
// httptest.Server.
package kcifake

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Options configures a Fake.
type Options struct {
	// Secret is the pipeline's JWT secret ([jwt] secret in its settings).
	Secret []byte
	// AllowedDomains is the patchset service's allow-list of patch URL
	// hosts ([patchset] allowed_domains), checked by Process.
	AllowedDomains []string
	// Now is the clock for node timestamps; nil means time.Now.
	Now func() time.Time
	// PipelineUser is the API user the pipeline posts nodes as, which
	// becomes their owner; empty means "staging.kernelci.org".
	PipelineUser string
	// PipelineEmail is that user's email. The trigger service writes
	// checkouts with submitter "service:pipeline" only for the users named
	// staging.kernelci.org and production, "user:<email>" for any other
	// (recorded: nodes-checkouts-trawl-query). Empty means
	// "bot@kernelci.org".
	PipelineEmail string
	// StorageURL is where the pipeline uploads files (inline patches,
	// tarballs); empty means "https://storage.example.org/".
	StorageURL string
	// HTTPClient fetches patch URLs to check they are reachable; nil means a
	// plain client with a 10 s timeout.
	HTTPClient *http.Client
}

// Fake is the shared node store behind both handlers. It is safe for
// concurrent use.
type Fake struct {
	opts Options

	mu          sync.Mutex
	nodes       []*Node // insertion order, which is the order queries answer in
	byID        map[string]*Node
	seq         uint64
	submissions int
	noApply     map[string]bool // patchset nodes whose patches do not apply
	trees       uint64          // tree ids handed out
	// index lists the nodes by the values of a few fields (index.go).
	index map[string]map[string][]*Node
}

// New returns an empty fake.
func New(o Options) *Fake {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.PipelineUser == "" {
		o.PipelineUser = "staging.kernelci.org"
	}
	if o.PipelineEmail == "" {
		o.PipelineEmail = "bot@kernelci.org"
	}
	if o.StorageURL == "" {
		o.StorageURL = "https://storage.example.org/"
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	return &Fake{opts: o, byID: map[string]*Node{}}
}

// Time is a node timestamp. The API stores naive UTC datetimes and renders
// them in Python's isoformat with microseconds and no zone.
type Time struct{ time.Time }

// timeLayout is how the API renders timestamps.
const timeLayout = "2006-01-02T15:04:05.000000"

// MarshalJSON renders the timestamp like the API.
func (t Time) MarshalJSON() ([]byte, error) {
	return json.Marshal(t.UTC().Format(timeLayout))
}

// UnmarshalJSON parses an ISO-8601 timestamp; one without a zone is UTC.
func (t *Time) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, ok := parseISO(s)
	if !ok {
		return fmt.Errorf("kcifake: timestamp %q is not ISO-8601", s)
	}
	t.Time = v
	return nil
}

// parseISO parses the forms Python's datetime.fromisoformat accepts that a
// client would send; a timestamp without a zone is UTC.
func parseISO(s string) (time.Time, bool) {
	for _, layout := range []string{
		"2006-01-02T15:04:05.999999999Z07:00",
		"2006-01-02T15:04:05.999999999",
		"2006-01-02 15:04:05.999999999",
		"2006-01-02T15:04",
		"2006-01-02",
	} {
		if v, err := time.Parse(layout, s); err == nil {
			return v.UTC(), true
		}
	}
	return time.Time{}, false
}

// Node is a KernelCI API node with the field names of the API's JSON.
// Pointer fields are the ones the API renders as null when unset.
type Node struct {
	ID             string            `json:"id"`
	Kind           string            `json:"kind"`
	Name           string            `json:"name"`
	Path           []string          `json:"path"`
	Group          *string           `json:"group"`
	Parent         *string           `json:"parent"`
	State          string            `json:"state"`
	Result         *string           `json:"result"`
	Artifacts      map[string]string `json:"artifacts"`
	Data           map[string]any    `json:"data"`
	Debug          map[string]any    `json:"debug"`
	JobFilter      []string          `json:"jobfilter"`
	PlatformFilter []string          `json:"platform_filter"`
	Created        Time              `json:"created"`
	Updated        Time              `json:"updated"`
	Timeout        Time              `json:"timeout"`
	Holdoff        *Time             `json:"holdoff"`
	Owner          string            `json:"owner"`
	Submitter      string            `json:"submitter"`
	TreeID         string            `json:"treeid"`
	UserGroups     []string          `json:"user_groups"`
	// ProcessedByKCIDBBridge and RetryCounter are carried only so that the
	// JSON has every field of the real model.
	ProcessedByKCIDBBridge bool `json:"processed_by_kcidb_bridge"`
	RetryCounter           int  `json:"retry_counter"`
}

// clone returns a deep copy of n.
func (n *Node) clone() *Node {
	b, err := json.Marshal(n)
	if err != nil {
		panic(fmt.Sprintf("kcifake: marshal node: %v", err))
	}
	var c Node
	if err := json.Unmarshal(b, &c); err != nil {
		panic(fmt.Sprintf("kcifake: unmarshal node: %v", err))
	}
	return &c
}

// doc returns the node as the generic JSON document the filters walk.
func (n *Node) doc() map[string]any {
	b, err := json.Marshal(n)
	if err != nil {
		panic(fmt.Sprintf("kcifake: marshal node: %v", err))
	}
	var d map[string]any
	if err := json.Unmarshal(b, &d); err != nil {
		panic(fmt.Sprintf("kcifake: unmarshal node: %v", err))
	}
	return d
}

// Revision returns the node's data.kernel_revision field named key ("url",
// "branch", "commit", ...), or "".
func (n *Node) Revision(key string) string {
	rev, _ := n.Data["kernel_revision"].(map[string]any)
	s, _ := rev[key].(string)
	return s
}

// StrPtr returns a pointer to s, for the nullable fields of Node.
func StrPtr(s string) *string { return &s }

// insertLocked stores n as the API's POST /node does: a new id, updated
// now, created now unless given, a default timeout of 6 h when unset,
// artifact URLs normalised. Stored times have millisecond precision, as in
// MongoDB; the copy returned keeps the microseconds, as the API's answer to
// the POST does (recorded: patchset-post-200). The caller holds f.mu.
func (f *Fake) insertLocked(n *Node) *Node {
	now := f.opts.Now().UTC()
	f.seq++
	n.ID = fmt.Sprintf("%08x%016x", uint32(now.Unix()), f.seq)
	if n.Created.IsZero() {
		n.Created = Time{now}
	}
	n.Updated = Time{now}
	if n.Timeout.IsZero() {
		n.Timeout = Time{now.Add(6 * time.Hour)}
	}
	if n.Kind == "" {
		n.Kind = "node"
	}
	if n.State == "" {
		n.State = "running"
	}
	if n.UserGroups == nil {
		n.UserGroups = []string{}
	}
	if n.Artifacts == nil {
		n.Artifacts = map[string]string{}
	}
	for k, v := range n.Artifacts {
		n.Artifacts[k] = NormaliseURL(v)
	}
	answer := n.clone()
	for _, t := range []*Time{&n.Created, &n.Updated, &n.Timeout} {
		t.Time = t.Truncate(time.Millisecond)
	}
	f.nodes = append(f.nodes, n)
	f.byID[n.ID] = n
	f.indexLocked(n)
	return answer
}

// NormaliseURL returns an artifact URL as the API stores it: the API
// validates artifacts with pydantic's AnyUrl, which lower-cases the scheme
// and host, drops the default port and percent-encodes spaces and
// non-ASCII characters in the path (recorded:
// patchset-post-200-normalised-urls, patchset-post-200-forbidden-domain).
// This uses Go's escaping, which also escapes a few characters AnyUrl
// keeps (such as '!' and '*'); Patchwork URLs hold none of them. A URL
// that does not parse is returned as it is.
func NormaliseURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return raw
	}
	u.Scheme = strings.ToLower(u.Scheme)
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if (u.Scheme == "http" && port == "80") || (u.Scheme == "https" && port == "443") {
		port = ""
	}
	u.Host = host
	if port != "" {
		u.Host = net.JoinHostPort(host, port)
	}
	if u.Path == "" {
		u.Path = "/"
	}
	return u.String()
}

// AddNode stores a copy of n as a new node and returns its id. The id and
// updated fields are set by the store, created too unless n has one; an
// unset owner becomes the pipeline user.
func (f *Fake) AddNode(n Node) string {
	c := n.clone()
	if c.Owner == "" {
		c.Owner = f.opts.PipelineUser
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.insertLocked(c).ID
}

// AddCheckout stores a checkout node of commit on the tree at url and
// branch, as the pipeline's trigger and tarball services leave it once the
// source tarball is uploaded (state available, result pass), and returns
// its id.
func (f *Fake) AddCheckout(tree, url, branch, commit string) string {
	return f.AddNode(Node{
		Kind:   "checkout",
		Name:   "checkout",
		Path:   []string{"checkout"},
		State:  "available",
		Result: StrPtr("pass"),
		Artifacts: map[string]string{
			"tarball": "https://storage.example.org/linux-" + tree + "-" + branch + "-" + commit + ".tar.gz",
		},
		Data: map[string]any{"kernel_revision": map[string]any{
			"tree": tree, "url": url, "branch": branch, "commit": commit,
		}},
		Submitter: f.checkoutSubmitter(),
		TreeID:    f.treeID(url, branch),
	})
}

// checkoutSubmitter is the submitter the trigger service writes on the
// checkouts it makes as the pipeline's API user (trigger.py).
func (f *Fake) checkoutSubmitter() string {
	switch f.opts.PipelineUser {
	case "staging.kernelci.org", "production":
		return "service:pipeline"
	}
	return "user:" + f.opts.PipelineEmail
}

// treeID is a new tree id: the pipeline takes a sha256 over URL, branch
// and datetime.now(); a counter stands in for the clock's resolution, so
// two trees never share one.
func (f *Fake) treeID(url, branch string) string {
	f.mu.Lock()
	f.trees++
	n := f.trees
	f.mu.Unlock()
	sum := sha256.Sum256([]byte(fmt.Sprintf("%s%s%s#%d", url, branch, f.opts.Now(), n)))
	return hex.EncodeToString(sum[:])
}

// Node returns a copy of the node with that id.
func (f *Fake) Node(id string) (Node, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, ok := f.byID[id]
	if !ok {
		return Node{}, false
	}
	return *n.clone(), true
}

// Patchsets returns copies of every node named "patchset", oldest first.
func (f *Fake) Patchsets() []Node {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Node
	for _, n := range f.nodes {
		if n.Name == "patchset" {
			out = append(out, *n.clone())
		}
	}
	return out
}

// Submissions counts the POST /api/patchset requests that created a node.
func (f *Fake) Submissions() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.submissions
}

// nextStates lists the states the API lets a node in state move to.
func nextStates(state string) []string {
	switch state {
	case "running":
		return []string{"available", "closing", "done"}
	case "available":
		return []string{"closing", "done"}
	case "closing":
		return []string{"done"}
	}
	return nil
}

// SetState moves a node to state with result (empty result means null),
// enforcing the API's state transitions.
func (f *Fake) SetState(id, state, result string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.setStateLocked(id, state, result)
}

func (f *Fake) setStateLocked(id, state, result string) error {
	n, ok := f.byID[id]
	if !ok {
		return fmt.Errorf("kcifake: node %s not found", id)
	}
	if state != n.State && !slices.Contains(nextStates(n.State), state) {
		return fmt.Errorf("kcifake: node %s: transition not allowed with state: %s", id, state)
	}
	n.State = state
	n.Result = nil
	if result != "" {
		n.Result = StrPtr(result)
	}
	n.Updated = Time{f.opts.Now().UTC()}
	return nil
}

// Finish completes a node: state done with result ("pass", "fail", "skip",
// "incomplete").
func (f *Fake) Finish(id, result string) error {
	return f.SetState(id, "done", result)
}

// Token mints a pipeline JWT signed with the fake's secret, carrying email
// (omitted when empty) and perms as "permissions".
func (f *Fake) Token(email string, perms ...string) string {
	claims := jwt.MapClaims{"permissions": append([]string{}, perms...)}
	if email != "" {
		claims["email"] = email
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(f.opts.Secret)
	if err != nil {
		panic(fmt.Sprintf("kcifake: sign token: %v", err))
	}
	return s
}

// Process runs one pass of the pipeline's patchset service (src/patchset.py):
// every running patchset node whose parent is no longer running is failed
// (state done, result fail, and no error_code or error_msg of its own, as
// recorded in patchset-node-noapply-done-fail) when it has no parent, the
// parent did not pass (recorded: patchset-node-failed-parent-done-fail),
// one of its patch URLs has a host off Options.AllowedDomains (recorded:
// patchset-node-forbidden-domain-done-fail), or it is marked with
// FailPatches; otherwise it becomes available with result pass, a
// "tarball" artifact, data.kernel_revision.patchset and a holdoff of 10
// minutes (recorded: patchset-node-1-available-pass). The patch artifacts
// are kept.
func (f *Fake) Process() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, n := range f.nodes {
		if n.Name != "patchset" || n.State != "running" {
			continue
		}
		var parent *Node
		if n.Parent != nil {
			parent = f.byID[*n.Parent]
		}
		switch {
		case parent == nil, parent.State == "done" && (parent.Result == nil || *parent.Result != "pass"):
			_ = f.setStateLocked(n.ID, "done", "fail")
		case parent.State == "running":
			continue
		case !f.allowedLocked(n), f.noApply[n.ID]:
			_ = f.setStateLocked(n.ID, "done", "fail")
		default:
			hash := patchsetHash(n.Artifacts)
			n.Artifacts["tarball"] = strings.TrimSuffix(parent.Artifacts["tarball"], ".tar.gz") +
				"-" + hash[:13] + "-" + n.ID[len(n.ID)-12:] + ".tar.gz"
			rev, _ := n.Data["kernel_revision"].(map[string]any)
			if rev == nil {
				rev = map[string]any{}
				n.Data["kernel_revision"] = rev
			}
			rev["patchset"] = hash
			n.Holdoff = &Time{f.opts.Now().UTC().Add(holdoff)}
			_ = f.setStateLocked(n.ID, "available", "pass")
		}
	}
}

// FailPatches makes Process fail the patchset node id as patch(1) would,
// when its patches do not apply to the tree.
func (f *Fake) FailPatches(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.noApply == nil {
		f.noApply = map[string]bool{}
	}
	f.noApply[id] = true
}

// patchsetHash stands for the patchset service's hash of the applied
// lines: a sha256 over the patch URLs in order.
func patchsetHash(artifacts map[string]string) string {
	h := sha256.New()
	for i := 0; ; i++ {
		u, ok := artifacts[fmt.Sprintf("patch%d", i)]
		if !ok {
			break
		}
		fmt.Fprintln(h, u)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// TakeOverPatchsets does what the real tarball service did to every new
// patchset node while it ran (recorded: patchset-race-2-after-tarball-service):
// it subscribes to created, running nodes of kind checkout without a name
// filter, so it builds each running patchset node as a plain checkout: state
// available, result pass, the patch artifacts replaced by the unpatched
// tarball, no data.kernel_revision.patchset. The patches are never applied.
func (f *Fake) TakeOverPatchsets() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, n := range f.nodes {
		if n.Name != "patchset" || n.State != "running" || n.Parent == nil || f.byID[*n.Parent] == nil {
			continue
		}
		n.Artifacts = map[string]string{"tarball": f.byID[*n.Parent].Artifacts["tarball"]}
		n.Holdoff = &Time{f.opts.Now().UTC().Add(holdoff)}
		_ = f.setStateLocked(n.ID, "available", "pass")
	}
}

// Delete removes the node id from the store, as an administrator cleaning
// the database would.
func (f *Fake) Delete(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.byID, id)
	f.nodes = slices.DeleteFunc(f.nodes, func(n *Node) bool { return n.ID == id })
	f.reindexLocked()
}

// allowedLocked reports whether every artifact URL of n has an allowed host.
func (f *Fake) allowedLocked(n *Node) bool {
	for _, raw := range n.Artifacts {
		u, err := url.Parse(raw)
		if err != nil || !slices.Contains(f.opts.AllowedDomains, u.Hostname()) {
			return false
		}
	}
	return true
}

// Seed stores copies of recorded nodes (as the real API answered them) with
// their own ids and timestamps, replacing any node with the same id, so
// that the fake serves the recorded database.
func (f *Fake) Seed(nodes ...Node) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, n := range nodes {
		c := n.clone()
		if old, ok := f.byID[c.ID]; ok {
			*old = *c
			continue
		}
		f.nodes = append(f.nodes, c)
		f.byID[c.ID] = c
	}
	f.reindexLocked()
}
