// Package kcifake is an in-process fake of the two KernelCI services trawl
// talks to, sharing one node store: the KernelCI API (kernelci-api: node
// queries under /latest) and the pipeline's HTTP service (kernelci-pipeline
// src/lava_callback.py: POST /api/patchset).
//
// The fake enforces the contract of the real services as read from their
// sources, not a convenient subset of it:
//
//   - API: GET /latest/nodes with field filters (dotted paths, field__op with
//     op in lt, lte, gt, gte, ne, re, in, nin, the literal null, true/false
//     as booleans, ISO-8601 timestamps for created/updated/timeout/holdoff),
//     offset pagination (limit 1..100, default 50) in the envelope
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
//     each must start with "http" and answer 200 to a GET made with the
//     fake's own client (400 "Invalid patch URL"); an empty list is 400
//     "Missing patch URL or patch" and inline patches are 501. The node is
//     created like the real service does it and the answer is
//     {"message":"OK","node":{...}}.
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
// nodes to done, and Expire is the timeout service when a node's timeout
// lapses. Finish and FinishWithError end single nodes.
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
	"net/http"
	"net/url"
	"slices"
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
	// becomes their owner; empty means "pipeline".
	PipelineUser string
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
}

// New returns an empty fake.
func New(o Options) *Fake {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.PipelineUser == "" {
		o.PipelineUser = "pipeline"
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
// now, created now unless given, a default timeout of 6 h when unset. The
// caller holds f.mu.
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
	f.nodes = append(f.nodes, n)
	f.byID[n.ID] = n
	return n.clone()
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
		Submitter: "service:pipeline",
		TreeID:    treeID(url, branch, f.opts.Now()),
	})
}

// treeID is the pipeline's tree id: sha256 over URL, branch and a time.
func treeID(url, branch string, now time.Time) string {
	sum := sha256.Sum256([]byte(url + branch + now.String()))
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

// Process runs one pass of the pipeline's patchset service: every running
// patchset node whose parent checkout is no longer running is failed
// (state done, result fail) when it has no parent, the parent failed, or
// one of its patch URLs has a host off Options.AllowedDomains; otherwise it
// becomes available with result pass, a "tarball" artifact and a holdoff
// of 10 minutes. Applying the patches is not modelled, and a failed node
// carries no error_code or error_msg, as the real service sets none.
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
		case parent == nil, parent.State == "done" && parent.Result != nil && *parent.Result == "fail":
			_ = f.setStateLocked(n.ID, "done", "fail")
		case parent.State == "running":
			continue
		case !f.allowedLocked(n):
			_ = f.setStateLocked(n.ID, "done", "fail")
		default:
			n.Artifacts["tarball"] = parent.Artifacts["tarball"] + ".patched-" + n.ID + ".tar.gz"
			n.Holdoff = &Time{f.opts.Now().UTC().Add(holdoff)}
			_ = f.setStateLocked(n.ID, "available", "pass")
		}
	}
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
