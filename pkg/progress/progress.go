// Package progress shows, on a terminal, one status line that says how far
// a long cycle has come: how long it has run, which sources are fetched and
// how many requests it has made. Log lines written through the same
// Terminal clear the status line first and redraw it after, so the two
// never mix. It is used only when standard error is a terminal; logs to a
// file or a pipe are left as they are.
package progress

import (
	"context"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/trawl-ci/trawl/pkg/cycle"
	"github.com/trawl-ci/trawl/pkg/httpx"
	"github.com/trawl-ci/trawl/pkg/state"
)

// clearLine returns the cursor to the start of the line and erases it.
const clearLine = "\r\x1b[K"

// IsTerminal reports whether f is a character device (a terminal).
func IsTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// Terminal is a writer for log lines that also keeps one status line at
// the bottom. It is safe for concurrent use.
type Terminal struct {
	mu     sync.Mutex
	w      io.Writer
	status string
}

// NewTerminal returns a Terminal writing to w.
func NewTerminal(w io.Writer) *Terminal { return &Terminal{w: w} }

// Write writes a log line above the status line.
func (t *Terminal) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.status != "" {
		if _, err := io.WriteString(t.w, clearLine); err != nil {
			return 0, err
		}
	}
	n, err := t.w.Write(p)
	if err == nil && t.status != "" {
		_, err = io.WriteString(t.w, t.status)
	}
	return n, err
}

// SetStatus replaces the status line; "" removes it.
func (t *Terminal) SetStatus(s string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.status != "" || s != "" {
		_, _ = io.WriteString(t.w, clearLine+s)
	}
	t.status = s
}

// Status returns the status line shown now.
func (t *Terminal) Status() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.status
}

// Line follows one cycle and keeps the Terminal's status line up to date.
// It is a cycle.Observer.
type Line struct {
	t        *Terminal
	requests func() httpx.Counts
	now      func() time.Time

	mu      sync.Mutex
	start   time.Time
	fetched map[string]int // changes by fetched source
	failed  map[string]bool
}

var _ cycle.Observer = (*Line)(nil)

// NewLine returns a Line drawing on t; requests gives the running request
// counts of every HTTP client, now the clock (nil: time.Now).
func NewLine(t *Terminal, requests func() httpx.Counts, now func() time.Time) *Line {
	if now == nil {
		now = time.Now
	}
	return &Line{t: t, requests: requests, now: now, start: now(), fetched: map[string]int{}, failed: map[string]bool{}}
}

// SourceFetched records a fetched source and redraws the line.
func (l *Line) SourceFetched(source string, changes int, _ time.Duration, err error) {
	l.mu.Lock()
	l.fetched[source] = changes
	l.failed[source] = err != nil
	l.mu.Unlock()
	l.Draw()
}

// CycleEnded removes the status line: the cycle's summary follows.
func (l *Line) CycleEnded(*cycle.Report, *state.State, error) { l.t.SetStatus("") }

// Draw redraws the status line from the current counts.
func (l *Line) Draw() {
	l.mu.Lock()
	s := Render(l.now().Sub(l.start), l.requests(), l.fetched, l.failed)
	l.mu.Unlock()
	l.t.SetStatus(s)
}

// Run redraws the line every interval until ctx ends, then removes it.
func (l *Line) Run(ctx context.Context, every time.Duration) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			l.t.SetStatus("")
			return
		case <-tick.C:
			l.Draw()
		}
	}
}

// Render is the status line: elapsed time, the sources fetched so far with
// their change counts (failed ones marked), and the requests made.
func Render(elapsed time.Duration, c httpx.Counts, fetched map[string]int, failed map[string]bool) string {
	names := make([]string, 0, len(fetched))
	for n := range fetched {
		names = append(names, n)
	}
	sort.Strings(names)
	parts := make([]string, 0, len(names))
	for _, n := range names {
		if failed[n] {
			parts = append(parts, n+" failed")
			continue
		}
		parts = append(parts, fmt.Sprintf("%s %d", n, fetched[n]))
	}
	src := "fetching"
	if len(parts) > 0 {
		src = "fetched " + strings.Join(parts, ", ")
	}
	total := c.Network + c.Revalidated + c.Cache
	return fmt.Sprintf("trawl: %s · %s · %d requests (%d network, %d cache)",
		elapsed.Truncate(time.Second), src, total, c.Network, c.Revalidated+c.Cache)
}
