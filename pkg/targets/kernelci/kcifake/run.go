package kcifake

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// holdoff is how long the pipeline keeps a node available after its own
// work is over, waiting for children (patchset and kbuild services).
const holdoff = 10 * time.Minute

// RunPlan is what the pipeline's scheduler and runtimes make of a
// patchset: builds, and tests on the builds that passed.
type RunPlan struct {
	Builds []BuildPlan
}

// BuildPlan is one kbuild job and the test jobs scheduled on it.
type BuildPlan struct {
	// Name is the job name, e.g. "kbuild-gcc-12-x86".
	Name string
	// Arch, Defconfig and Compiler fill data.arch, data.defconfig and
	// data.compiler; empty Defconfig and Compiler mean "defconfig" and
	// "gcc-12".
	Arch, Defconfig, Compiler string
	// Result is how the build ends: "pass" (the node becomes available
	// while its tests run), "fail", "incomplete" or "skip" (done); empty
	// leaves the build running.
	Result string
	// ErrorCode and ErrorMsg fill data.error_code and data.error_msg.
	ErrorCode, ErrorMsg string
	// Tests are scheduled only on a build that passed.
	Tests []TestPlan
}

// TestPlan is one test job on a build.
type TestPlan struct {
	// Name is the job name, e.g. "baseline-x86".
	Name string
	// Platform fills data.platform, e.g. "qemu-x86".
	Platform string
	// Result is how the job ends ("pass", "fail", "skip", "incomplete");
	// empty leaves it running.
	Result string
	// ErrorCode and ErrorMsg fill data.error_code and data.error_msg.
	ErrorCode, ErrorMsg string
	// Cases are the results the runtime reports with the job's result,
	// created as its children; only with a Result.
	Cases []CasePlan
}

// CasePlan is one test case a test job reports.
type CasePlan struct {
	Name   string
	Result string
}

// isResult reports whether the API accepts r as a node result.
func isResult(r string) bool {
	switch r {
	case "pass", "fail", "skip", "incomplete":
		return true
	}
	return false
}

// check refuses a plan the pipeline cannot produce.
func (p *RunPlan) check() error {
	for _, b := range p.Builds {
		if b.Name == "" || (b.Result != "" && !isResult(b.Result)) {
			return fmt.Errorf("kcifake: build %q: bad name or result %q", b.Name, b.Result)
		}
		if len(b.Tests) > 0 && b.Result != "pass" {
			return fmt.Errorf("kcifake: build %s: tests are scheduled only on a build that passed", b.Name)
		}
		for _, tp := range b.Tests {
			if tp.Name == "" || (tp.Result != "" && !isResult(tp.Result)) {
				return fmt.Errorf("kcifake: test %q: bad name or result %q", tp.Name, tp.Result)
			}
			if len(tp.Cases) > 0 && tp.Result == "" {
				return fmt.Errorf("kcifake: test %s: cases are reported with the job's result", tp.Name)
			}
			for _, c := range tp.Cases {
				if c.Name == "" || !isResult(c.Result) {
					return fmt.Errorf("kcifake: test %s: case %q: bad name or result %q", tp.Name, c.Name, c.Result)
				}
			}
		}
	}
	return nil
}

// Run does what the scheduler and the runtimes do with an available
// checkout or patchset, in one step: it creates the plan's kbuild nodes
// under it, ends them as planned, creates the test job nodes under the
// builds that passed, and ends those with their cases as children.
//
// Nodes are created like the pipeline creates them (kernelci-core
// api/helper.py create_job_node, kbuild.py, runtime/lava.py): kind, name,
// path (the parent's path plus the name), group (the job name), parent,
// treeid, submitter, jobfilter and platform_filter inherited from the
// patchset, data.kernel_revision copied, data.arch, data.defconfig,
// data.compiler, data.platform and data.runtime. A passed build becomes
// available with a holdoff; everything else that ends is done. Cases are
// what the runtime's result hierarchy holds: name, kind test, state done,
// result, path and group, and the job's data.
//
// The scheduler only reacts to an available checkout, so Run refuses a
// node in another state (call Process first); it also refuses tests on a
// build that did not pass. The patchset and the builds stay available:
// Settle closes them as the timeout service would.
func (f *Fake) Run(patchsetID string, p RunPlan) error {
	if err := p.check(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	ps, ok := f.byID[patchsetID]
	if !ok {
		return fmt.Errorf("kcifake: node %s not found", patchsetID)
	}
	if ps.Kind != "checkout" || ps.State != "available" {
		return fmt.Errorf("kcifake: node %s is a %s in state %s; the scheduler builds available checkouts only",
			patchsetID, ps.Kind, ps.State)
	}
	now := f.opts.Now().UTC()
	for _, bp := range p.Builds {
		b := f.insertLocked(f.jobNode(ps, "kbuild", bp.Name, map[string]any{
			"arch":      bp.Arch,
			"defconfig": orDefault(bp.Defconfig, "defconfig"),
			"compiler":  orDefault(bp.Compiler, "gcc-12"),
			"runtime":   "k8s-all",
		}))
		build := f.byID[b.ID]
		if bp.Result == "pass" {
			build.Artifacts["kernel"] = storageURL(build, "bzImage")
			build.Artifacts["build_log"] = storageURL(build, "build.log")
			build.Holdoff = &Time{now.Add(holdoff)}
		}
		f.endLocked(build, bp.Result, bp.ErrorCode, bp.ErrorMsg)
		for _, tp := range bp.Tests {
			data := map[string]any{"platform": tp.Platform, "runtime": "lava-collabora"}
			for _, k := range []string{"arch", "defconfig", "compiler"} {
				data[k] = build.Data[k]
			}
			j := f.insertLocked(f.jobNode(build, "job", tp.Name, data))
			job := f.byID[j.ID]
			for _, c := range tp.Cases {
				f.insertLocked(&Node{
					Kind: "test", Name: c.Name, Path: append(slices.Clone(job.Path), c.Name),
					Group: StrPtr(job.Name), Parent: StrPtr(job.ID), State: "done", Result: StrPtr(c.Result),
					Data: cloneData(job.Data), Owner: job.Owner, Submitter: job.Submitter, TreeID: job.TreeID,
				})
			}
			f.endLocked(job, tp.Result, tp.ErrorCode, tp.ErrorMsg)
		}
	}
	return nil
}

// jobNode is the node create_job_node makes for a job of that kind and
// name on parent, with extra data.
func (f *Fake) jobNode(parent *Node, kind, name string, extra map[string]any) *Node {
	data := map[string]any{"kernel_revision": cloneData(parent.Data)["kernel_revision"]}
	for k, v := range extra {
		data[k] = v
	}
	return &Node{
		Kind: kind, Name: name, Path: append(slices.Clone(parent.Path), name),
		Group: StrPtr(name), Parent: StrPtr(parent.ID), State: "running", Data: data,
		JobFilter: slices.Clone(parent.JobFilter), PlatformFilter: slices.Clone(parent.PlatformFilter),
		Owner: f.opts.PipelineUser, Submitter: parent.Submitter, TreeID: parent.TreeID,
	}
}

// endLocked ends n with result as its runtime would: a passed kbuild
// becomes available, anything else done; an empty result leaves n
// running. The caller holds f.mu.
func (f *Fake) endLocked(n *Node, result, code, msg string) {
	if result == "" {
		return
	}
	state := "done"
	if n.Kind == "kbuild" && result == "pass" {
		state = "available"
	}
	n.State, n.Result = state, StrPtr(result)
	setError(n, code, msg)
	n.Updated = Time{f.opts.Now().UTC()}
}

// setError fills data.error_code and data.error_msg when given.
func setError(n *Node, code, msg string) {
	if code == "" && msg == "" {
		return
	}
	if n.Data == nil {
		n.Data = map[string]any{}
	}
	n.Data["error_code"], n.Data["error_msg"] = code, msg
}

// FinishWithError completes a node like Finish and records data.error_code
// and data.error_msg, as a service that hit an error does.
func (f *Fake) FinishWithError(id, result, code, msg string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.setStateLocked(id, "done", result); err != nil {
		return err
	}
	setError(f.byID[id], code, msg)
	return nil
}

// Children returns copies of the children of the node id, oldest first.
func (f *Fake) Children(id string) []Node {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Node
	for _, n := range f.nodes {
		if n.Parent != nil && *n.Parent == id {
			out = append(out, *n.clone())
		}
	}
	return out
}

// pending reports whether a state is one the timeout services wait on.
func pending(state string) bool { return state != "done" }

// pendingLocked counts the children of n that are not done, and the
// children of its kbuild children that are not done, as the timeout
// service counts them before closing a node. The caller holds f.mu.
func (f *Fake) pendingLocked(n *Node) (children, grandchildren int) {
	for _, c := range f.nodes {
		if c.Parent == nil || *c.Parent != n.ID {
			continue
		}
		if pending(c.State) {
			children++
		}
		if c.Kind != "kbuild" {
			continue
		}
		for _, g := range f.nodes {
			if g.Parent != nil && *g.Parent == c.ID && pending(g.State) {
				grandchildren++
			}
		}
	}
	return children, grandchildren
}

// ownedDescendantsLocked returns the pending descendants of n the
// pipeline owns, in state (any when empty), as the timeout service
// collects them. The caller holds f.mu.
func (f *Fake) ownedDescendantsLocked(n *Node, state string) []*Node {
	var out []*Node
	for _, c := range f.nodes {
		if c.Parent == nil || *c.Parent != n.ID || !pending(c.State) || c.Owner != f.opts.PipelineUser {
			continue
		}
		if state == "" || c.State == state {
			out = append(out, c)
			out = append(out, f.ownedDescendantsLocked(c, state)...)
		}
	}
	return out
}

// Settle runs the pipeline's holdoff and closing timeout services
// (src/timeout.py, modes holdoff and closing) until nothing changes, with
// every holdoff taken as lapsed:
//
//   - an available node with pending children moves to closing, with its
//     available descendants;
//   - an available node without moves to done with its pending
//     descendants, and a closing node without moves to done alone;
//   - a checkout (a patchset is one) waits in either state while the
//     children of its builds are pending, and gets result pass when done.
func (f *Fake) Settle() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for changed := true; changed; {
		changed = false
		for _, n := range slices.Clone(f.nodes) {
			if n.State != "available" && n.State != "closing" {
				continue
			}
			children, grandchildren := f.pendingLocked(n)
			var moving []*Node
			state := "done"
			switch {
			case n.State == "available" && children > 0:
				moving, state = append([]*Node{n}, f.ownedDescendantsLocked(n, "available")...), "closing"
			case children > 0 || (n.Kind == "checkout" && grandchildren > 0):
				continue
			case n.State == "available":
				moving = append([]*Node{n}, f.ownedDescendantsLocked(n, "")...)
			default:
				moving = []*Node{n}
			}
			for _, m := range moving {
				f.moveLocked(m, state)
				if state == "done" && m.Kind == "checkout" {
					m.Result = StrPtr("pass")
				}
			}
			changed = true
		}
	}
}

// Expire does what the timeout service does when the timeout of node id
// lapses (src/timeout.py, mode timeout): the node and its pending
// descendants the pipeline owns become done; only those without a result
// also get result incomplete, data.error_code node_timeout and
// data.error_msg "Node timed-out" (recorded: job-node-2-timed-out,
// kbuild-node-timed-out-keeps-result). A node already done is left as it
// is.
func (f *Fake) Expire(id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, ok := f.byID[id]
	if !ok {
		return fmt.Errorf("kcifake: node %s not found", id)
	}
	if !pending(n.State) {
		return nil
	}
	for _, m := range append([]*Node{n}, f.ownedDescendantsLocked(n, "")...) {
		f.moveLocked(m, "done")
		if m.Result != nil {
			continue
		}
		m.Result = StrPtr("incomplete")
		setError(m, "node_timeout", "Node timed-out")
	}
	return nil
}

// moveLocked changes the state of n, keeping its result. The services only
// ask for transitions the API allows; one it refuses is a bug in the fake.
// The caller holds f.mu.
func (f *Fake) moveLocked(n *Node, state string) {
	if state != n.State && !slices.Contains(nextStates(n.State), state) {
		panic(fmt.Sprintf("kcifake: node %s: transition not allowed with state: %s", n.ID, state))
	}
	n.State = state
	n.Updated = Time{f.opts.Now().UTC()}
}

// storageURL is where the pipeline's storage keeps a file of node n.
func storageURL(n *Node, file string) string {
	return "https://storage.example.org/" + n.Name + "-" + n.ID + "/" + file
}

// orDefault returns s, or def when s is empty.
func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// cloneData returns a deep copy of a node's data.
func cloneData(d map[string]any) map[string]any {
	b, err := json.Marshal(d)
	if err != nil {
		panic(fmt.Sprintf("kcifake: marshal data: %v", err))
	}
	var c map[string]any
	if err := json.Unmarshal(b, &c); err != nil {
		panic(fmt.Sprintf("kcifake: unmarshal data: %v", err))
	}
	return c
}
