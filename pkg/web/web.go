// Package web is trawl's read-only status page, served by `trawl run` on
// its listener: the sources and their last cycle, every unit with its
// outcome, fingerprint, dependencies, last trigger, job and result, and a
// page per unit explaining its fingerprint.
//
// Pages are rendered on the server with html/template, which escapes every
// text that comes from a forge; control characters (ANSI escapes in a
// subject) are shown as visible escapes. The pages carry no script, and
// the Content-Security-Policy forbids any.
package web

import (
	"embed"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/trawl-ci/trawl/fingerprint"
	"github.com/trawl-ci/trawl/pkg/change"
	"github.com/trawl-ci/trawl/pkg/cycle"
	"github.com/trawl-ci/trawl/pkg/daemon"
	"github.com/trawl-ci/trawl/pkg/explain"
	"github.com/trawl-ci/trawl/pkg/state"
)

//go:embed templates/*.html
var files embed.FS

var pages = template.Must(template.New("").Funcs(template.FuncMap{
	"short":  fingerprint.Short,
	"stamp":  stamp,
	"clean":  clean,
	"unitOf": func(k change.Key, target string) string { return change.UnitKey(k, target) },
}).ParseFS(files, "templates/*.html"))

// Cycles gives what the daemon knows of every group's cycles.
type Cycles interface {
	Groups() []daemon.GroupState
}

var _ Cycles = (*daemon.Tracker)(nil)

// Options configures New.
type Options struct {
	Cycles Cycles
	// Load reads the state as the last cycle left it.
	Load func() (*state.State, error)
	// Now is the clock shown on pages; nil means time.Now.
	Now func() time.Time
}

// Handler serves the status page.
type Handler struct {
	o   Options
	mux *http.ServeMux
}

var _ http.Handler = (*Handler)(nil)

// New returns the status page handler: / lists sources and units,
// /unit?u=KEY explains one unit.
func New(o Options) *Handler {
	if o.Now == nil {
		o.Now = time.Now
	}
	h := &Handler{o: o, mux: http.NewServeMux()}
	h.mux.HandleFunc("GET /{$}", h.index)
	h.mux.HandleFunc("GET /unit", h.unit)
	return h
}

// ServeHTTP serves a page.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	h.mux.ServeHTTP(w, r)
}

// sourceRow is one source in the sources table.
type sourceRow struct {
	Name, Schedule string
	Interval       time.Duration
	Last           *daemon.Cycle
	Unknown        string // why the source was unknown in its last cycle
	Complete       time.Time
}

// unitRow is one unit in the units table.
type unitRow struct {
	Key    string
	Unit   *state.Unit
	Report *cycle.UnitReport // this unit in its group's last cycle, if any
}

// Title is the change's title from the last cycle, if known.
func (u unitRow) Title() string {
	if u.Report == nil {
		return ""
	}
	return u.Report.Title
}

type indexPage struct {
	Now     time.Time
	Sources []sourceRow
	Units   []unitRow
	Outbox  int
	Err     string
}

func (h *Handler) index(w http.ResponseWriter, _ *http.Request) {
	p := indexPage{Now: h.o.Now()}
	groups := h.o.Cycles.Groups()
	for _, g := range groups {
		for _, s := range g.Group.Sources {
			row := sourceRow{Name: s, Schedule: g.Group.Schedule, Interval: g.Interval, Last: g.Last, Complete: g.Complete[s]}
			if g.Last != nil && g.Last.Report != nil {
				for _, e := range g.Last.Report.UnknownSources {
					if e.Source == s {
						row.Unknown = e.Err
					}
				}
			}
			p.Sources = append(p.Sources, row)
		}
	}
	reports := lastReports(groups)
	st, err := h.o.Load()
	if err != nil {
		p.Err = err.Error()
	} else {
		keys := make([]string, 0, len(st.Units))
		for k := range st.Units {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			p.Units = append(p.Units, unitRow{Key: k, Unit: st.Units[k], Report: reports[k]})
		}
		p.Outbox = len(st.Outbox)
	}
	render(w, http.StatusOK, "index.html", p)
}

type unitPage struct {
	Now         time.Time
	Key         string
	Unit        *state.Unit
	Report      *cycle.UnitReport
	Explanation explain.Explanation
	Err         string
}

func (h *Handler) unit(w http.ResponseWriter, r *http.Request) {
	key := r.URL.Query().Get("u")
	p := unitPage{Now: h.o.Now(), Key: key}
	st, err := h.o.Load()
	if err != nil {
		p.Err = err.Error()
		render(w, http.StatusInternalServerError, "unit.html", p)
		return
	}
	p.Unit = st.Units[key]
	p.Report = lastReports(h.o.Cycles.Groups())[key]
	if p.Unit == nil && p.Report == nil {
		http.Error(w, fmt.Sprintf("no unit %q", key), http.StatusNotFound)
		return
	}
	var fp, why string
	var in *fingerprint.Input
	if p.Report != nil {
		fp, in, why = p.Report.Fingerprint, p.Report.Inputs, p.Report.Outcome
		if p.Report.Detail != "" {
			why += ": " + p.Report.Detail
		}
	}
	p.Explanation, err = explain.Build(key, fp, in, why, p.Unit)
	if err != nil {
		p.Err = err.Error()
	}
	render(w, http.StatusOK, "unit.html", p)
}

// lastReports indexes the units of every group's last cycle by unit key.
func lastReports(groups []daemon.GroupState) map[string]*cycle.UnitReport {
	out := map[string]*cycle.UnitReport{}
	for _, g := range groups {
		if g.Last == nil || g.Last.Report == nil {
			continue
		}
		for i := range g.Last.Report.Units {
			u := &g.Last.Report.Units[i]
			out[u.Unit] = u
		}
	}
	return out
}

// render executes a template whole before writing, so a failure is a
// clean 500 rather than half a page.
func render(w http.ResponseWriter, status int, name string, data any) {
	var b strings.Builder
	if err := pages.ExecuteTemplate(&b, name, data); err != nil {
		http.Error(w, "render: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, b.String())
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

// clean shows control characters (an ANSI escape in a subject) as
// visible Go escapes, so they neither reach the page raw nor vanish.
func clean(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			fmt.Fprintf(&b, `\x%02x`, r)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}
