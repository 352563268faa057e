package sim

import (
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/trawl-ci/trawl/forges/patchwork/pwfake"
)

// Patchwork page sizes, as the recorded v3.1.3 server has them
// (REST_RESULTS_PER_PAGE, MAX_REST_RESULTS_PER_PAGE; pwfake's routes.go).
const (
	pwDefaultPerPage = 30
	pwMaxPerPage     = 250
)

// pwTimeLayout is Patchwork's naive UTC time, as in every capture.
const pwTimeLayout = "2006-01-02T15:04:05"

// pwHost stands for the request's host in the bodies built once: Patchwork
// builds absolute URLs from the request's Host (INDEX.md of the captures),
// so the handler replaces it per request, as pwfake does with its recorded
// host.
const pwHost = "http://pw.sim"

var (
	pwSeriesRe     = regexp.MustCompile(`^/api/1\.3/series/(\d+)/$`)
	pwCoverRe      = regexp.MustCompile(`^/api/1\.3/covers/(\d+)/$`)
	pwChecksRe     = regexp.MustCompile(`^/api/1\.3/patches/(\d+)/checks/$`)
	pwSeriesMboxRe = regexp.MustCompile(`^/series/(\d+)/mbox/$`)
	pwPatchMboxRe  = regexp.MustCompile(`^/project/netdev/patch/([^/]+)/mbox/$`)
)

// pwProject is the project object of the captures (series-list-all.json),
// field for field.
var pwProject = json.RawMessage(`{"id":1,"url":"` + pwHost + `/api/1.3/projects/1/","name":"Netdev","link_name":"netdev","list_id":"netdev.vger.kernel.org","list_email":"netdev@vger.kernel.org","web_url":"https://example.org/netdev","scm_url":"git://git.kernel.org/pub/scm/linux/kernel/git/netdev/net-next.git","webscm_url":"https://git.kernel.org/netdev/net-next","list_archive_url":"https://lore.kernel.org/netdev/","list_archive_url_format":"https://lore.kernel.org/netdev/{}/","commit_url_format":"https://git.kernel.org/netdev/net-next/c/{}"}`)

// The JSON forms below follow the field order of the captures named on
// each; TestShapesMatchRecordings holds them to it.

// pwPerson is a submitter (series-list-all.json).
type pwPerson struct {
	ID    int64  `json:"id"`
	URL   string `json:"url"`
	Name  string `json:"name"`
	Email string `json:"email"`
}

// pwSubmission is a patch or cover letter nested in a series
// (series-list-all.json).
type pwSubmission struct {
	ID             int64  `json:"id"`
	URL            string `json:"url"`
	WebURL         string `json:"web_url"`
	MsgID          string `json:"msgid"`
	ListArchiveURL string `json:"list_archive_url"`
	Date           string `json:"date"`
	Name           string `json:"name"`
	Mbox           string `json:"mbox"`
}

// pwSeriesJSON is a series detail (series-list-all.json elements;
// p2-03-series-v3-detail-complete.json).
type pwSeriesJSON struct {
	ID            int64           `json:"id"`
	URL           string          `json:"url"`
	WebURL        string          `json:"web_url"`
	Project       json.RawMessage `json:"project"`
	Name          string          `json:"name"`
	Date          string          `json:"date"`
	Submitter     pwPerson        `json:"submitter"`
	Version       int             `json:"version"`
	Total         int             `json:"total"`
	ReceivedTotal int             `json:"received_total"`
	ReceivedAll   bool            `json:"received_all"`
	Mbox          string          `json:"mbox"`
	CoverLetter   *pwSubmission   `json:"cover_letter"`
	Patches       []pwSubmission  `json:"patches"`
}

// pwSeriesRef is a series nested in a patch or cover
// (patches-list-series1.json).
type pwSeriesRef struct {
	ID      int64  `json:"id"`
	URL     string `json:"url"`
	WebURL  string `json:"web_url"`
	Date    string `json:"date"`
	Name    string `json:"name"`
	Version int    `json:"version"`
	Mbox    string `json:"mbox"`
}

// pwPatchJSON is a patch's list form (patches-list-series1.json).
type pwPatchJSON struct {
	ID             int64           `json:"id"`
	URL            string          `json:"url"`
	WebURL         string          `json:"web_url"`
	Project        json.RawMessage `json:"project"`
	MsgID          string          `json:"msgid"`
	ListArchiveURL string          `json:"list_archive_url"`
	Date           string          `json:"date"`
	Name           string          `json:"name"`
	CommitRef      *string         `json:"commit_ref"`
	PullURL        *string         `json:"pull_url"`
	State          string          `json:"state"`
	Archived       bool            `json:"archived"`
	Hash           string          `json:"hash"`
	Submitter      pwPerson        `json:"submitter"`
	Delegate       *pwPerson       `json:"delegate"`
	Mbox           string          `json:"mbox"`
	Series         []pwSeriesRef   `json:"series"`
	Comments       string          `json:"comments"`
	Check          string          `json:"check"`
	Checks         string          `json:"checks"`
	Tags           struct{}        `json:"tags"`
	Related        []struct{}      `json:"related"`
}

// pwCoverJSON is a cover letter's detail form (covers-detail-3.json).
type pwCoverJSON struct {
	ID             int64             `json:"id"`
	URL            string            `json:"url"`
	WebURL         string            `json:"web_url"`
	Project        json.RawMessage   `json:"project"`
	MsgID          string            `json:"msgid"`
	ListArchiveURL string            `json:"list_archive_url"`
	Date           string            `json:"date"`
	Name           string            `json:"name"`
	Submitter      pwPerson          `json:"submitter"`
	Mbox           string            `json:"mbox"`
	Series         []pwSeriesRef     `json:"series"`
	Comments       string            `json:"comments"`
	Headers        map[string]string `json:"headers"`
	Content        string            `json:"content"`
}

// pwUser is a user, as a check names its poster (checks-list-patch-1.json).
type pwUser struct {
	ID        int64  `json:"id"`
	URL       string `json:"url"`
	Username  string `json:"username"`
	FirstName string `json:"first_name"`
	LastName  string `json:"last_name"`
	Email     string `json:"email"`
}

// pwCheckJSON is a check (checks-list-patch-1.json).
type pwCheckJSON struct {
	ID          int64   `json:"id"`
	URL         string  `json:"url"`
	User        pwUser  `json:"user"`
	Date        string  `json:"date"`
	State       string  `json:"state"`
	TargetURL   *string `json:"target_url"`
	Context     string  `json:"context"`
	Description *string `json:"description"`
}

// pwPatch is one patch of the simulated project.
type pwPatch struct {
	id     int64
	series *pwSeries
	n      int // 1-based position in the series
	msgid  string
	state  string
	date   time.Time
	text   string // the commit message
	list   []byte // list form, built on change
	mbox   []byte
}

// pwSeries is one series (one revision) of the simulated project.
type pwSeries struct {
	id        int64
	version   int
	name      string // without prefixes, shared by the revisions
	submitter int64
	date      time.Time
	cover     int64 // 0: none
	coverText string
	patches   []*pwPatch
	detail    []byte
}

// patchwork is the simulated Patchwork instance: one project, netdev.
type patchwork struct {
	mu        sync.Mutex
	series    []*pwSeries // id order
	byID      map[int64]*pwSeries
	patches   []*pwPatch // id order
	byMsgID   map[string]*pwPatch
	covers    map[int64]*pwSeries
	checks    map[int64][]pwCheckJSON
	nextPatch int64
	nextCover int64
	nextCheck int64
	now       func() time.Time
	stats     *Stats
	// listPages counts trawl's requests for pages of the project's
	// listing of patches (not by series or message id).
	listPages int64
	// events are the project's events, oldest first; dropEvents is how
	// many of the next ones are not recorded (World.DropEvents).
	events     []*pwEvent
	nextEvent  int64
	dropEvents int
}

func newPatchwork(now func() time.Time, stats *Stats) *patchwork {
	return &patchwork{
		byID: map[int64]*pwSeries{}, byMsgID: map[string]*pwPatch{}, covers: map[int64]*pwSeries{},
		checks: map[int64][]pwCheckJSON{}, nextPatch: 1, nextCover: 1, nextCheck: 1, now: now, stats: stats,
	}
}

func person(id int64) pwPerson {
	return pwPerson{ID: id, URL: fmt.Sprintf("%s/api/1.3/people/%d/", pwHost, id),
		Name: fmt.Sprintf("Dev %d", id), Email: fmt.Sprintf("dev%d@example.org", id)}
}

func (s *pwSeries) prefix(n int) string {
	v := ""
	if s.version > 1 {
		v = fmt.Sprintf(",v%d", s.version)
	}
	return fmt.Sprintf("[net-next%s,%d/%d]", v, n, len(s.patches))
}

func (s *pwSeries) ref() pwSeriesRef {
	return pwSeriesRef{
		ID: s.id, URL: fmt.Sprintf("%s/api/1.3/series/%d/", pwHost, s.id),
		WebURL: fmt.Sprintf("%s/project/netdev/list/?series=%d", pwHost, s.id),
		Date:   s.date.Format(pwTimeLayout), Name: s.name, Version: s.version,
		Mbox: fmt.Sprintf("%s/series/%d/mbox/", pwHost, s.id),
	}
}

func coverMsgID(s *pwSeries) string {
	return fmt.Sprintf("<sim-%d-v%d-0@example.org>", s.id, s.version)
}

func (p *pwPatch) submission() pwSubmission {
	bare := strings.Trim(p.msgid, "<>")
	return pwSubmission{
		ID: p.id, URL: fmt.Sprintf("%s/api/1.3/patches/%d/", pwHost, p.id),
		WebURL: fmt.Sprintf("%s/project/netdev/patch/%s/", pwHost, bare), MsgID: p.msgid,
		ListArchiveURL: "https://lore.kernel.org/netdev/" + bare + "/", Date: p.date.Format(pwTimeLayout),
		Name: p.series.prefix(p.n) + " " + p.title(), Mbox: fmt.Sprintf("%s/project/netdev/patch/%s/mbox/", pwHost, bare),
	}
}

func (p *pwPatch) title() string { return fmt.Sprintf("%s: part %d", p.series.name, p.n) }

// hash is the patch's content hash: the hex SHA-1 of its message id, as
// pwfake derives the hash of a patch whose diff was not recorded.
func (p *pwPatch) hash() string {
	h := sha1.Sum([]byte(p.msgid))
	return hex.EncodeToString(h[:])
}

// render rebuilds the bodies of series s and its patches.
func (s *pwSeries) render() {
	d := pwSeriesJSON{
		ID: s.id, URL: fmt.Sprintf("%s/api/1.3/series/%d/", pwHost, s.id),
		WebURL: fmt.Sprintf("%s/project/netdev/list/?series=%d", pwHost, s.id), Project: pwProject,
		Name: s.name, Date: s.date.Format(pwTimeLayout), Submitter: person(s.submitter), Version: s.version,
		Total: len(s.patches), ReceivedTotal: len(s.patches), ReceivedAll: true,
		Mbox: fmt.Sprintf("%s/series/%d/mbox/", pwHost, s.id), Patches: []pwSubmission{},
	}
	if s.cover != 0 {
		bare := strings.Trim(coverMsgID(s), "<>")
		d.CoverLetter = &pwSubmission{
			ID: s.cover, URL: fmt.Sprintf("%s/api/1.3/covers/%d/", pwHost, s.cover),
			WebURL: fmt.Sprintf("%s/project/netdev/cover/%s/", pwHost, bare), MsgID: coverMsgID(s),
			ListArchiveURL: "https://lore.kernel.org/netdev/" + bare + "/", Date: s.date.Format(pwTimeLayout),
			Name: s.prefix(0) + " " + s.name, Mbox: fmt.Sprintf("%s/project/netdev/cover/%s/mbox/", pwHost, bare),
		}
	}
	for _, p := range s.patches {
		d.Patches = append(d.Patches, p.submission())
		p.render()
	}
	s.detail = mustJSON(d)
}

func (p *pwPatch) render() {
	s := p.series
	sub := p.submission()
	var commit *string
	if p.state == "accepted" {
		// A maintainer's tooling names the commit an accepted patch was
		// applied as (recorded: patches-detail-9-accepted).
		c := fmt.Sprintf("%040x", p.id)
		commit = &c
	}
	p.list = mustJSON(pwPatchJSON{
		ID: p.id, URL: sub.URL, WebURL: sub.WebURL, Project: pwProject, MsgID: p.msgid,
		ListArchiveURL: sub.ListArchiveURL, Date: sub.Date, Name: sub.Name, State: p.state, Hash: p.hash(), CommitRef: commit,
		Submitter: person(s.submitter), Mbox: sub.Mbox, Series: []pwSeriesRef{s.ref()},
		Comments: fmt.Sprintf("%s/api/1.3/patches/%d/comments/", pwHost, p.id), Check: "pending",
		Checks: fmt.Sprintf("%s/api/1.3/patches/%d/checks/", pwHost, p.id), Related: []struct{}{},
	})
	// The headers Patchwork's mbox view writes (mbox-series-1.mbox).
	var b bytes.Buffer
	fmt.Fprintf(&b, "From patchwork %s\n", p.date.Format("Mon Jan _2 15:04:05 2006"))
	b.WriteString("Content-Type: text/plain; charset=\"utf-8\"\nMIME-Version: 1.0\nContent-Transfer-Encoding: 7bit\n")
	per := person(s.submitter)
	fmt.Fprintf(&b, "X-Patchwork-Submitter: %s <%s>\nX-Patchwork-Id: %d\nFrom: %s <%s>\nTo: netdev@vger.kernel.org\n",
		per.Name, per.Email, p.id, per.Name, per.Email)
	fmt.Fprintf(&b, "Subject: [PATCH %d/%d] %s\nDate: %s\nMessage-Id: %s\nList-ID: <netdev.vger.kernel.org>\n\n",
		p.n, len(s.patches), p.title(), p.date.Format(time.RFC1123Z), p.msgid)
	fmt.Fprintf(&b, "%s\n\nSigned-off-by: %s <%s>\n---\n net/core/dev.c | 1 +\n 1 file changed, 1 insertion(+)\n\n", p.text, per.Name, per.Email)
	fmt.Fprintf(&b, "diff --git a/net/core/dev.c b/net/core/dev.c\n--- a/net/core/dev.c\n+++ b/net/core/dev.c\n@@ -1,1 +1,2 @@\n /* dev */\n+/* %s */\n", p.msgid)
	p.mbox = b.Bytes()
}

func mustJSON(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(fmt.Sprintf("sim: encode %T: %v", v, err))
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// addSeries adds a series of n patches; deps are the message ids its
// first patch (or cover letter) names in Depends-on tags.
func (pw *patchwork) addSeries(id int64, name string, version int, submitter int64, n int, deps []string, at time.Time) *pwSeries {
	s := &pwSeries{id: id, version: version, name: name, submitter: submitter, date: at}
	text := fmt.Sprintf("Simulated change %d, revision %d.", id, version)
	if len(deps) > 0 {
		text += "\n"
		for _, d := range deps {
			text += "\nDepends-on: " + d
		}
	}
	if n > 1 {
		s.cover = pw.nextCover
		pw.nextCover++
		s.coverText = text
		pw.covers[s.cover] = s
		text = ""
	}
	for i := 1; i <= n; i++ {
		p := &pwPatch{id: pw.nextPatch, series: s, n: i, state: "new", date: at.Add(time.Duration(i) * time.Second),
			msgid: fmt.Sprintf("<sim-%d-v%d-%d@example.org>", id, version, i)}
		p.text = fmt.Sprintf("Part %d of series %d.", i, id)
		if i == 1 && text != "" {
			p.text += "\n\n" + text
		}
		pw.nextPatch++
		s.patches = append(s.patches, p)
		pw.patches = append(pw.patches, p)
		pw.byMsgID[bareID(p.msgid)] = p
	}
	s.render()
	pw.series = append(pw.series, s)
	pw.byID[id] = s
	pw.seriesEvents(s, at)
	return s
}

func bareID(m string) string {
	return strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(m), "<"), ">")
}

// setState sets the state of patch p at time at and rebuilds its list
// form.
func (pw *patchwork) setState(p *pwPatch, state string, at time.Time) {
	pw.event(at, "patch-state-changed", pwMaintainer, map[string]any{"patch": p.submission(),
		"previous_state": p.state, "current_state": state})
	p.state = state
	p.render()
}

// ServeHTTP answers one request as Patchwork 3.1.3 does: no validators, no
// Cache-Control, numbered pages with a Link header.
func (pw *patchwork) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Vary", "Accept, Cookie")
	w.Header().Set("X-Frame-Options", "DENY")
	path := r.URL.Path
	switch {
	case path == "/api/1.3/patches/" && r.Method == http.MethodGet:
		pw.listPatches(w, r)
	case path == "/api/1.3/projects/netdev/" || path == "/api/1.3/projects/1/":
		pw.write(w, r, http.StatusOK, "application/json", pwProject, "")
	case path == "/api/1.3/events/" && r.Method == http.MethodGet:
		pw.listEvents(w, r)
	case path == "/api/1.3/covers/" && r.Method == http.MethodGet:
		pw.listCovers(w, r)
	case path == "/api/1.3/series/" && r.Method == http.MethodGet:
		pw.listSeries(w, r)
	case pwSeriesRe.MatchString(path):
		id, _ := strconv.ParseInt(pwSeriesRe.FindStringSubmatch(path)[1], 10, 64)
		pw.mu.Lock()
		s := pw.byID[id]
		pw.mu.Unlock()
		if s == nil {
			pw.write(w, r, http.StatusNotFound, "application/json", []byte(`{"detail":"Not found."}`), "")
			return
		}
		pw.write(w, r, http.StatusOK, "application/json", s.detail, "")
	case pwCoverRe.MatchString(path):
		id, _ := strconv.ParseInt(pwCoverRe.FindStringSubmatch(path)[1], 10, 64)
		pw.mu.Lock()
		s := pw.covers[id]
		pw.mu.Unlock()
		if s == nil {
			pw.write(w, r, http.StatusNotFound, "application/json", []byte(`{"detail":"Not found."}`), "")
			return
		}
		pw.write(w, r, http.StatusOK, "application/json", pw.coverJSON(s), "")
	case pwSeriesMboxRe.MatchString(path):
		id, _ := strconv.ParseInt(pwSeriesMboxRe.FindStringSubmatch(path)[1], 10, 64)
		pw.mu.Lock()
		s := pw.byID[id]
		var parts [][]byte
		if s != nil {
			for _, p := range s.patches {
				parts = append(parts, p.mbox)
			}
		}
		pw.mu.Unlock()
		if s == nil {
			pw.write(w, r, http.StatusNotFound, "text/html", []byte("<h1>Not Found</h1>"), "")
			return
		}
		w.Header().Set("Content-Disposition", "attachment; filename="+strconv.FormatInt(id, 10)+".patch")
		pw.write(w, r, http.StatusOK, "text/plain", bytes.Join(parts, []byte("\n")), "")
	case pwPatchMboxRe.MatchString(path):
		pw.mu.Lock()
		p := pw.byMsgID[pwPatchMboxRe.FindStringSubmatch(path)[1]]
		pw.mu.Unlock()
		if p == nil {
			pw.write(w, r, http.StatusNotFound, "text/html", []byte("<h1>Not Found</h1>"), "")
			return
		}
		pw.write(w, r, http.StatusOK, "text/plain; charset=utf-8", p.mbox, "")
	case pwChecksRe.MatchString(path):
		id, _ := strconv.ParseInt(pwChecksRe.FindStringSubmatch(path)[1], 10, 64)
		pw.serveChecks(w, r, id)
	default:
		pw.write(w, r, http.StatusNotFound, "text/html", []byte("<h1>Not Found</h1>"), "")
	}
}

func (pw *patchwork) coverJSON(s *pwSeries) []byte {
	bare := strings.Trim(coverMsgID(s), "<>")
	return mustJSON(pwCoverJSON{
		ID: s.cover, URL: fmt.Sprintf("%s/api/1.3/covers/%d/", pwHost, s.cover),
		WebURL: fmt.Sprintf("%s/project/netdev/cover/%s/", pwHost, bare), Project: pwProject,
		MsgID: coverMsgID(s), ListArchiveURL: "https://lore.kernel.org/netdev/" + bare + "/",
		Date: s.date.Format(pwTimeLayout), Name: s.prefix(0) + " " + s.name, Submitter: person(s.submitter),
		Mbox:   fmt.Sprintf("%s/project/netdev/cover/%s/mbox/", pwHost, bare),
		Series: []pwSeriesRef{s.ref()}, Comments: fmt.Sprintf("%s/api/1.3/covers/%d/comments/", pwHost, s.cover),
		Headers: map[string]string{"Message-ID": coverMsgID(s), "Subject": "[PATCH 0/" + strconv.Itoa(len(s.patches)) + "] " + s.name},
		Content: s.coverText,
	})
}

// listPatches serves /api/1.3/patches/ with the filters trawl uses:
// project, state (OR), archived, since (>=), series, msgid.
func (pw *patchwork) listPatches(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	states := q["state"]
	var since time.Time
	if v := q.Get("since"); v != "" {
		t, err := time.ParseInLocation(pwTimeLayout, v, time.UTC)
		if err != nil {
			pw.write(w, r, http.StatusInternalServerError, "text/html", []byte("<h1>Server Error (500)</h1>"), "")
			return
		}
		since = t
	}
	series, _ := strconv.ParseInt(q.Get("series"), 10, 64)
	msgid := q.Get("msgid")
	archived := q.Get("archived")
	pw.mu.Lock()
	var items [][]byte
	add := func(p *pwPatch) {
		if len(states) > 0 && !slices.Contains(states, p.state) {
			return
		}
		if archived == "true" || (since.After(p.date)) {
			return // nothing is archived in the simulation
		}
		items = append(items, p.list)
	}
	switch {
	case msgid != "":
		if p := pw.byMsgID[msgid]; p != nil {
			add(p)
		}
	case q.Has("series"):
		if s := pw.byID[series]; s != nil {
			for _, p := range s.patches {
				add(p)
			}
		}
	default:
		for _, p := range pw.patches {
			add(p)
		}
		if r.Header.Get(internal) == "" {
			pw.listPages++
		}
	}
	pw.mu.Unlock()
	pw.page(w, r, items)
}

// listSeries serves /api/1.3/series/ with the filters trawl's search for
// a newer revision uses: project, submitter (a person id or email) and q,
// where every term (split at commas and white space) must be in the
// name, in any case (pwfake's seriesFilters, after Django REST
// framework's SearchFilter; recorded: series-list-q-search). Items are in
// the detail form, as the recorded series-list-all.json has them.
func (pw *patchwork) listSeries(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	terms := strings.Fields(strings.ToLower(strings.ReplaceAll(q.Get("q"), ",", " ")))
	project, submitter := q.Get("project"), q.Get("submitter")
	pw.mu.Lock()
	var items [][]byte
	for _, s := range pw.series {
		if project != "" && project != "netdev" && project != "1" {
			break // invalid filter values give 200 [] (INDEX.md)
		}
		if submitter != "" && submitter != strconv.FormatInt(s.submitter, 10) && !strings.EqualFold(submitter, person(s.submitter).Email) {
			continue
		}
		name := strings.ToLower(s.name)
		if slices.ContainsFunc(terms, func(t string) bool { return !strings.Contains(name, t) }) {
			continue
		}
		items = append(items, s.detail)
	}
	pw.mu.Unlock()
	pw.page(w, r, items)
}

func (pw *patchwork) listCovers(w http.ResponseWriter, r *http.Request) {
	msgid := r.URL.Query().Get("msgid")
	pw.mu.Lock()
	var items [][]byte
	for _, s := range pw.covers {
		if msgid == "" || bareID(coverMsgID(s)) == msgid {
			items = append(items, pw.coverJSON(s))
		}
	}
	pw.mu.Unlock()
	pw.page(w, r, items)
}

// page serves one page of items as Patchwork's LinkHeaderPagination does
// (pwfake's list and LinkHeader, read from the recorded page-series-*
// captures): per_page at most 250, 404 {"detail":"Invalid page."} out of
// range, Link with next, prev, first and last.
func (pw *patchwork) page(w http.ResponseWriter, r *http.Request, items [][]byte) {
	q := r.URL.Query()
	perPage := pwDefaultPerPage
	if n, err := strconv.Atoi(q.Get("per_page")); err == nil && n > 0 {
		perPage = min(n, pwMaxPerPage)
	}
	pages := max(1, (len(items)+perPage-1)/perPage)
	page := 1
	if q.Has("page") {
		n, err := strconv.Atoi(q.Get("page"))
		if err != nil || n < 1 || n > pages {
			pw.write(w, r, http.StatusNotFound, "application/json", []byte(`{"detail":"Invalid page."}`), "")
			return
		}
		page = n
	}
	start := (page - 1) * perPage
	items = items[min(start, len(items)):min(start+perPage, len(items))]
	body := append([]byte("["), bytes.Join(items, []byte(","))...)
	body = append(body, ']')
	pw.write(w, r, http.StatusOK, "application/json", body, pwfake.LinkHeader(r, page, pages))
}

// serveChecks serves GET and POST /api/1.3/patches/<id>/checks/ (the
// recorded checks-list-patch-1 and check-post-201-* exchanges).
func (pw *patchwork) serveChecks(w http.ResponseWriter, r *http.Request, id int64) {
	pw.mu.Lock()
	var patch *pwPatch
	if i, ok := slices.BinarySearchFunc(pw.patches, id, func(p *pwPatch, id int64) int { return int(p.id - id) }); ok {
		patch = pw.patches[i]
	}
	pw.mu.Unlock()
	if patch == nil {
		pw.write(w, r, http.StatusNotFound, "application/json", []byte(`{"detail":"Not found."}`), "")
		return
	}
	w.Header().Set("Allow", "GET, POST, HEAD, OPTIONS")
	switch r.Method {
	case http.MethodGet:
		pw.mu.Lock()
		items := make([][]byte, 0, len(pw.checks[id]))
		for _, c := range pw.checks[id] {
			items = append(items, mustJSON(c))
		}
		pw.mu.Unlock()
		pw.page(w, r, items)
	case http.MethodPost:
		if !strings.HasPrefix(r.Header.Get("Authorization"), "Token ") {
			pw.write(w, r, http.StatusForbidden, "application/json",
				[]byte(`{"detail":"You do not have permission to perform this action."}`), "")
			return
		}
		var in struct {
			State       string  `json:"state"`
			TargetURL   *string `json:"target_url"`
			Context     string  `json:"context"`
			Description *string `json:"description"`
		}
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.State == "" {
			pw.write(w, r, http.StatusBadRequest, "application/json", []byte(`{"state":["A check must have a state."]}`), "")
			return
		}
		if in.Context == "" {
			in.Context = "default"
		}
		pw.mu.Lock()
		c := pwCheckJSON{ID: pw.nextCheck, URL: fmt.Sprintf("%s/api/1.3/patches/%d/checks/%d/", pwHost, id, pw.nextCheck),
			User: pwUser{ID: 2, URL: pwHost + "/api/1.3/users/2/", Username: "ci-bot", Email: "ci-bot@example.org"},
			Date: pw.now().UTC().Format(pwTimeLayout), State: in.State, TargetURL: in.TargetURL,
			Context: in.Context, Description: in.Description}
		pw.nextCheck++
		pw.checks[id] = append(pw.checks[id], c)
		payload := map[string]any{"check": c}
		if id >= 1 && id <= int64(len(pw.patches)) {
			payload["patch"] = pw.patches[id-1].submission()
		}
		pw.event(pw.now(), "check-created", json.RawMessage(mustJSON(c.User)), payload)
		pw.mu.Unlock()
		w.Header().Set("Location", strings.ReplaceAll(c.URL, pwHost, "http://"+r.Host))
		pw.write(w, r, http.StatusCreated, "application/json", mustJSON(c), "")
	default:
		pw.write(w, r, http.StatusMethodNotAllowed, "application/json", []byte(`{"detail":"Method not allowed."}`), "")
	}
}

// write sends body with the request's host in its URLs and counts it.
func (pw *patchwork) write(w http.ResponseWriter, r *http.Request, status int, contentType string, body []byte, link string) {
	body = bytes.ReplaceAll(body, []byte(pwHost), []byte("http://"+r.Host))
	h := w.Header()
	h.Set("Content-Type", contentType)
	if link != "" {
		h.Set("Link", link)
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
	pw.stats.count("patchwork", r, status, len(body))
}
