package cycle

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/trawl-ci/trawl/fingerprint"
	"github.com/trawl-ci/trawl/pkg/state"
)

// WriteStatus writes what the state says of every unit: its last decision,
// its last trigger and job, the job's result, and what was reported where
// (posted, found already there, refused, or still queued in the outbox).
// It is `trawl status`.
func WriteStatus(w io.Writer, st *state.State) error {
	keys := make([]string, 0, len(st.Units))
	for k := range st.Units {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	queued := map[string][]*state.Post{}
	for _, p := range st.Outbox {
		queued[p.Message.Unit] = append(queued[p.Message.Unit], p)
	}
	var b strings.Builder
	found := 0
	for _, k := range keys {
		u := st.Units[k]
		fmt.Fprintf(&b, "%s\n", show(k))
		status := u.Status
		if u.Reason != "" {
			status += ": " + u.Reason
		}
		fmt.Fprintf(&b, "  status     %s\n", show(status))
		if u.WaitingSince != nil {
			fmt.Fprintf(&b, "  waiting    since %s\n", stamp(*u.WaitingSince))
		}
		if u.Fingerprint != "" {
			fmt.Fprintf(&b, "  fingerprint %s\n", fingerprint.Short(u.Fingerprint))
		}
		if u.TriggeredAt != nil && u.Job != nil {
			job := u.Job.ID
			if u.Job.Adopted {
				job += " (adopted)"
			}
			if u.Job.URL != "" {
				job += " " + u.Job.URL
			}
			fmt.Fprintf(&b, "  triggered  %s on %s, job %s\n", stamp(*u.TriggeredAt), show(u.Target), show(job))
		}
		if u.Result != nil {
			at := ""
			if u.ResultAt != nil {
				at = " (polled " + stamp(*u.ResultAt) + ")"
			}
			fmt.Fprintf(&b, "  result     %s: %s%s\n", u.Result.State, show(u.Result.Summary), at)
		}
		label := "reported"
		for _, name := range sortedKeys(u.Reports) {
			r := u.Reports[name]
			line := fmt.Sprintf("%s: %s at %s", name, r.Posted, stamp(r.At))
			if r.Found {
				line = fmt.Sprintf("%s: %s found already there at %s", name, r.Posted, stamp(r.At))
				found++
			}
			if r.Failed != "" {
				line = fmt.Sprintf("%s: %s refused at %s: %s", name, r.Posted, stamp(r.At), r.Failed)
			}
			if r.Fingerprint != u.Fingerprint {
				line += " (for an earlier fingerprint)"
			}
			fmt.Fprintf(&b, "  %-10s %s\n", label, show(line))
			label = ""
		}
		label = "queued"
		for _, p := range queued[k] {
			line := fmt.Sprintf("%s: %s, %d of %d posted", p.Reporter, p.Posted, len(p.Done), len(p.Items))
			if p.Attempts > 0 {
				line += fmt.Sprintf(", attempt %d failed, next at %s: %s", p.Attempts, stamp(p.NextAttempt), p.LastError)
			}
			fmt.Fprintf(&b, "  %-10s %s\n", label, show(line))
			label = ""
		}
		fmt.Fprintf(&b, "  seen       %s .. %s\n", stamp(u.FirstSeen), stamp(u.LastSeen))
	}
	fmt.Fprintf(&b, "%d units, %d reports queued", len(st.Units), len(st.Outbox))
	if found > 0 {
		fmt.Fprintf(&b, ", %d found already there (not posted)", found)
	}
	b.WriteString("\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05Z") }

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
