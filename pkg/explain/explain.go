// Package explain says why a unit has the fingerprint it has: the
// fingerprint inputs now beside those stored at its last trigger, with the
// differences marked. `trawl explain` prints it and the status page shows
// it; both build it here from a cycle's unit report and the state.
package explain

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/trawl-ci/trawl/fingerprint"
	"github.com/trawl-ci/trawl/pkg/state"
)

// Row is one fingerprint input, now and at the last trigger.
type Row struct {
	Field string
	Now   string
	Then  string
	// Changed marks an input that differs between now and the last
	// trigger (or exists on one side only).
	Changed bool
}

// Explanation is one unit's fingerprint explained.
type Explanation struct {
	Unit string
	// Fingerprint is the fingerprint now; empty when the unit has none
	// this cycle (Why says why).
	Fingerprint string
	// Triggered is the fingerprint of the last trigger; empty when never
	// triggered.
	Triggered string
	// Why is the unit's current outcome and its reason, when it has no
	// fingerprint now.
	Why string
	// Recorded is false when the inputs at the last trigger were not kept
	// (a state written by an older trawl).
	Recorded bool
	Rows     []Row
	// Differences lists, in words, what moved since the last trigger
	// (fingerprint.Explain); empty when nothing did.
	Differences []string
}

// Same reports whether the fingerprint now is the triggered one.
func (e Explanation) Same() bool { return e.Fingerprint != "" && e.Fingerprint == e.Triggered }

// Build explains unit: now are its inputs this cycle (nil when it has no
// fingerprint, why saying why), u its stored record (nil when unknown to
// the state).
func Build(unit string, fp string, now *fingerprint.Input, why string, u *state.Unit) (Explanation, error) {
	e := Explanation{Unit: unit, Fingerprint: fp, Why: why}
	var then *fingerprint.Input
	if u != nil {
		e.Triggered = u.Fingerprint
		if len(u.Inputs) > 0 {
			var in fingerprint.Input
			if err := json.Unmarshal([]byte(u.Inputs), &in); err != nil {
				return e, fmt.Errorf("explain %s: stored inputs: %w", unit, err)
			}
			then, e.Recorded = &in, true
		}
	}
	e.Rows = rows(now, then)
	if now != nil && then != nil {
		e.Differences = fingerprint.Explain(*then, *now)
	}
	return e, nil
}

// rows lines up the inputs of both sides field by field; items and deps
// are matched by change key.
func rows(now, then *fingerprint.Input) []Row {
	var out []Row
	add := func(field string, n, t *string) {
		r := Row{Field: field}
		if n != nil {
			r.Now = *n
		}
		if t != nil {
			r.Then = *t
		}
		r.Changed = (n == nil) != (t == nil) || r.Now != r.Then
		if now == nil || then == nil {
			// One side missing entirely: nothing to compare.
			r.Changed = false
		}
		out = append(out, r)
	}
	str := func(in *fingerprint.Input, f func(*fingerprint.Input) string) *string {
		if in == nil {
			return nil
		}
		s := f(in)
		return &s
	}
	for _, f := range []struct {
		name string
		get  func(*fingerprint.Input) string
	}{
		{"target", func(i *fingerprint.Input) string { return i.Target }},
		{"target config", func(i *fingerprint.Input) string { return i.TargetConfig }},
		{"base url", func(i *fingerprint.Input) string { return i.BaseURL }},
		{"base branch", func(i *fingerprint.Input) string { return i.BaseBranch }},
		{"base commit", func(i *fingerprint.Input) string { return i.BaseCommit }},
	} {
		add(f.name, str(now, f.get), str(then, f.get))
	}
	items := func(in *fingerprint.Input) (keys []string, m map[string]string) {
		m = map[string]string{}
		if in == nil {
			return nil, m
		}
		for _, it := range in.Items {
			keys = append(keys, it.Key)
			v := strings.Join(it.Content, " ")
			if it.Version != 0 {
				v = fmt.Sprintf("v%d %s", it.Version, v)
			}
			m[it.Key] = v
		}
		return keys, m
	}
	deps := func(in *fingerprint.Input) (keys []string, m map[string]string) {
		m = map[string]string{}
		if in == nil {
			return nil, m
		}
		for _, d := range in.Deps {
			keys = append(keys, d.Key)
			m[d.Key] = fingerprint.Short(d.Fingerprint)
		}
		return keys, m
	}
	for _, part := range []struct {
		label string
		get   func(*fingerprint.Input) ([]string, map[string]string)
	}{{"item", items}, {"dep", deps}} {
		nk, nm := part.get(now)
		tk, tm := part.get(then)
		for _, k := range union(nk, tk) {
			n, nok := nm[k]
			t, tok := tm[k]
			var np, tp *string
			if nok {
				np = &n
			}
			if tok {
				tp = &t
			}
			add(part.label+" "+k, np, tp)
		}
	}
	return out
}

// union returns a's keys then those of b not in a.
func union(a, b []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, k := range append(append([]string(nil), a...), b...) {
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out
}

// Write prints e for a terminal: the fingerprints, one line per input
// with both sides (changed ones marked with "*"), then the differences.
func (e Explanation) Write(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "unit        %s\n", e.Unit)
	now := fingerprint.Short(e.Fingerprint)
	if now == "" {
		now = "none this cycle"
		if e.Why != "" {
			now += " (" + e.Why + ")"
		}
	}
	fmt.Fprintf(&b, "fingerprint %s\n", now)
	then := fingerprint.Short(e.Triggered)
	if then == "" {
		then = "never triggered"
	}
	fmt.Fprintf(&b, "triggered   %s\n\n", then)
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  \tinput\tnow\tat last trigger")
	for _, r := range e.Rows {
		mark := " "
		if r.Changed {
			mark = "*"
		}
		fmt.Fprintf(tw, "%s \t%s\t%s\t%s\n", mark, r.Field, orDash(r.Now), orDash(r.Then))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	b.WriteString("\n")
	switch {
	case e.Triggered != "" && !e.Recorded:
		b.WriteString("the inputs at the last trigger were not recorded\n")
	case e.Fingerprint == "":
	case e.Triggered == "":
		b.WriteString("never triggered: the next cycle triggers it\n")
	case e.Same():
		b.WriteString("unchanged since the last trigger\n")
	default:
		b.WriteString("changed since the last trigger:\n")
		for _, d := range e.Differences {
			fmt.Fprintf(&b, "  %s\n", d)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
