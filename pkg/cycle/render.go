package cycle

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/trawl-ci/trawl/fingerprint"
	"github.com/trawl-ci/trawl/pkg/safetext"
	"github.com/trawl-ci/trawl/pkg/secret"
)

// WriteTable writes one line per unit (outcome, short fingerprint, unit,
// and why: the trigger reason, or why it is blocked, waiting or unknown),
// then the cycle summary. It is what `trawl plan` and `trawl once` print.
func (r *Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "OUTCOME\tFINGERPRINT\tUNIT\tWHY")
	for _, u := range r.Units {
		fp := "-"
		if u.Fingerprint != "" {
			fp = fingerprint.Short(u.Fingerprint)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", u.Outcome, fp, show(u.Unit), show(u.why()))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, s := range r.UnknownSources {
		if _, err := fmt.Fprintf(w, "source %s unknown this cycle: %s\n", s.Source, show(s.Err)); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintln(w, r.Summary())
	return err
}

// Summary is the one-line account of a cycle.
func (r *Report) Summary() string {
	c := r.Count
	verb := "triggered"
	n := c.Triggered
	if r.Mode == Plan {
		verb, n = "would trigger", c.Trigger
	}
	s := fmt.Sprintf("%d changes, %d units: %s %d, adopted %d, unchanged %d, blocked %d, waiting %d, unknown %d, failed %d, gone %d; ",
		r.Changes, c.Units, verb, n, c.Adopted, c.Unchanged, c.Blocked, c.Waiting, c.Unknown, c.Failed, c.Gone)
	if c.Queued > 0 {
		s += fmt.Sprintf("queued %d (max_running); ", c.Queued)
	}
	if rc := r.Reports; rc != (ReportCounts{}) {
		s += fmt.Sprintf("reports posted %d, already there %d, retrying %d, refused %d, dropped %d; ", rc.Posted, rc.Found, rc.Retrying, rc.Failed, rc.Dropped)
	}
	return s + fmt.Sprintf("%d requests (%d network, %d revalidated, %d cache), %d bytes, errors %d",
		r.Requests.Requests(), r.Requests.Network, r.Requests.Revalidated, r.Requests.Cache, r.Requests.Bytes, r.Errors)
}

// show makes a value fit for one cell of terminal output: registered
// secrets redacted, control characters and escapes made visible. Keys,
// reasons and errors quote what patch authors and servers wrote.
func show(s string) string { return safetext.Line(secret.Redact(s)) }

func (u *UnitReport) why() string {
	switch u.Outcome {
	case OutcomeTrigger, OutcomeTriggered, OutcomeAdopted:
		s := "new unit"
		if u.Reason == ReasonChanged || u.Reason == ReasonRetry || u.Reason == ReasonRetrigger {
			s = strings.Join(u.Why, "; ")
		}
		if len(u.Deps) > 0 {
			deps := make([]string, len(u.Deps))
			for i, d := range u.Deps {
				deps[i] = string(d)
			}
			s += "; built on " + strings.Join(deps, ", ")
		}
		if u.Job != nil {
			s += " -> job " + u.Job.ID
		}
		return s
	case OutcomeUnchanged:
		return "fingerprint unchanged"
	}
	return u.Detail
}
