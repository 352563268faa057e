// Package pwfake is an in-process fake Patchwork server, built from
// responses recorded on a real Patchwork v3.1.3 (the shared fixtures; the
// captures it needs are embedded from recorded/, so it runs from a binary
// with no files on disk).
//
// It serves what trawl's Patchwork driver reads, and behaves as the real
// server was measured to:
//
//   - /api/1.3/ and /api/ (the latest version is 1.3): patches/, series/,
//     series/<id>/, covers/, covers/<id>/, patches/<id>/checks/ (GET, HEAD,
//     POST, OPTIONS) and patches/<id>/checks/<check id>/. Other API
//     versions, and API routes not listed here, get the server's HTML 404
//     page. On /api/1.3/, API URLs in bodies carry the version, except the
//     "checks" and "comments" links of patches, which Patchwork builds
//     without it.
//   - /series/<id>/mbox/ (text/plain, the patches only) and
//     /project/<link_name>/patch/<msgid>/mbox/ (text/plain; charset=utf-8),
//     with ?series=* or ?series=<its own series> prepending the earlier
//     patches of the series, and an HTML 404 for ?series=<another series>.
//   - Lists are bare JSON arrays in id order, paginated with page and
//     per_page (default 30, at most 250; 0, negative or non-numeric values
//     give 30). A page out of range or not a number gives
//     404 {"detail":"Invalid page."}. The Link header carries first and last
//     always, next and prev when they exist, as absolute URLs on the
//     request's own host with the query re-encoded in key order.
//   - Patch filters: project (link_name or id), state (slug, repeatable,
//     OR), archived, since (>=) and before (<) on the date, series
//     (repeatable, OR), msgid (without angle brackets), hash (any case),
//     delegate (username or id), submitter (email or id). Series filters:
//     project, submitter, since, before, q (every word of it in the name). Cover filters:
//     project, submitter, msgid, since, before, and series with its
//     upstream bug (validated against project ids: an id that is a project
//     gives HTTP 500, any other value []). A filter value that names nothing
//     gives 200 []. A since or before with a time zone gives the recorded
//     HTML 500 (Django on SQLite); an unparsable one gives []. order and
//     other parameters are ignored.
//   - Check filters: user (id or username, repeatable, OR), state (the
//     state's value 0 to 3, as Patchwork filters the model's integer choice:
//     a state name such as success names nothing, so gives []; read from
//     the source, not recorded), context (exact), since and before.
//     Patches' combined "check" follows the checks the fake holds: the
//     latest check per user and context, then fail, warning, pending,
//     success.
//   - Authentication, on every API route, before anything else: with
//     "Authorization: Token <key>", AdminToken is admin (maintainer of
//     netdev and bpf) and BotToken is ci-bot (maintainer of netdev); an
//     unknown key gives 403 {"detail":"Invalid token."} (also on reads: DRF
//     authenticates every request; read from the source, not recorded); no
//     header is anonymous.
//   - Check posts, in the recorded order: an unknown patch (or one of a
//     later phase) gives 404 {"detail":"Not found."}; a poster who is not
//     a maintainer of the patch's project nor its delegate (anonymous
//     included) gives 403 {"detail":"You do not have permission to perform
//     this action."}; then the body is read (JSON, form-encoded or
//     multipart by Content-Type, else 415; malformed JSON gives 400
//     {"detail":"JSON parse error - ..."} in Python's words) and validated
//     as Patchwork's serializer does: a missing or empty state alone gives
//     {"state":["A check must have a state."]}; otherwise every field is
//     checked and the errors are listed per field, in the serializer's
//     order: state is a name or a value 0-3, case-sensitive; target_url is
//     null, empty, or a URL Django's URLValidator takes of at most 200
//     characters; context is a slug of at most 255 characters, "default"
//     when absent; description is any text; strings are stripped and may
//     not hold NUL. A created check answers 201 with its Location, dated by
//     Options.Now in naive UTC (microseconds unless zero), posted by the
//     token's user, and numbered from 13 on (check 12 of the recording came
//     after the last capture of its patch and is not held). Posted checks
//     stay across SetPhase.
//   - An unknown object id gives JSON 404 {"detail":"Not found."}; a method
//     a view does not take gives 405. Responses carry the recorded headers
//     (Vary, Allow, X-Frame-Options) and, like the real server, no ETag,
//     Last-Modified or Cache-Control. The recorded host 127.0.0.1:8000 is
//     replaced by the request's host in every body.
//
// Data: projects netdev (1) and bpf (2), series 1 to 16, patches 1 to 30,
// cover letters 1 to 9. Patch states are as recorded at the end of phase 1
// (5 and 6 superseded, 9 accepted, 14 changes-requested and archived, 7
// delegated to admin, every other patch new). Phases replay the recorded
// arrival of new mail:
//
//	Phase1        series 1-14 (everything recorded without a p2- prefix)
//	P2CoverOnly   + series 15 (v3 of "A sample series"): its cover letter only
//	P2OnePatch    + patch 27: series 15 has 1 of 2 patches
//	P2V3Complete  + patch 28: series 15 is complete
//	P2DependsOn   + series 16 (patches 29, 30) with Depends-on tags
//
// Tests change the data as the server would see it change: Decide sets a
// patch's state and commit_ref, as a maintainer's PATCH does (recorded:
// patch-update-state-as-bot-200, patches-detail-9-accepted), and EditText
// serves mails whose prose differs from the recording (other Depends-on
// tags, say).
//
// Derived objects. These were not recorded and are built from the recorded
// forms of the same object (same field names and order):
//
//   - Patch list forms of patches 19, 20, 21, 22, 24, 25, 26 and 30: from
//     their summary in the series, with the series' project, submitter and
//     summary; state new, not archived, no delegate, check pending, no
//     commit_ref or pull_url. Their hash is Patchwork's hash of their diff
//     in a recorded series mbox (20, 21, 24, 30), or, where no diff was
//     recorded (19, 22, 25, 26), the hex SHA-1 of the message id (with its
//     angle brackets).
//   - Patch list forms of 9 and 29: their recorded detail without headers,
//     content, diff and prefixes.
//   - Patch mboxes: patches 1-4, 7, 8, 20, 21, 24 and 27-30 are cut from
//     the recorded series mboxes. 9, 10 and 17 are rendered from their
//     recorded detail (headers, content, diff; without reply trailers). All
//     others (5, 6, 11-16, 18, 19, 22, 23, 25, 26) have a From, Subject,
//     Date and Message-Id header built from their list form and an empty
//     body.
//   - Series mboxes: always the patch mboxes joined by a blank line, which
//     gives back the recorded bytes of series 1, 3, 10, 13, 15 and 16. The
//     one-patch mbox of series 15 in P2OnePatch is derived.
//   - Cover letter list forms of covers 5, 6 and 7 (bpf): from their summary
//     in the series, with the series' project and submitter.
//   - Cover letter details other than 3 and 9: their list form with empty
//     headers ({}) and empty content.
//   - Checks 5 to 8 (on patches 3, 4, 2 and 7): from their check-created
//     events, which have no description (served as null). Checks 1 to 4 and
//     9 to 11 are recorded whole.
package pwfake

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// Phase is a point in the recorded arrival of new mail.
type Phase int

// The phases of the recording (see the package documentation).
const (
	Phase1 Phase = iota
	P2CoverOnly
	P2OnePatch
	P2V3Complete
	P2DependsOn
)

// Options configures a Fake.
type Options struct {
	// Phase is the starting phase; the zero value is Phase1.
	Phase Phase
	// Now is the clock that dates posted checks; nil is time.Now.
	Now func() time.Time
}

// Fake is a fake Patchwork server. It is an http.Handler, safe for
// concurrent use.
type Fake struct {
	data *store

	now func() time.Time

	mu        sync.Mutex
	phase     Phase
	requests  map[string]int
	failures  map[string]int
	checks    []check // recorded, then posted; in id order
	decisions map[int64]decision
	edits     []edit
	nextCheck int64
	posts     int
	srv       *http.Server
	url       string
}

// New builds a fake from the recorded responses.
func New(o Options) (*Fake, error) {
	if err := checkPhase(o.Phase); err != nil {
		return nil, err
	}
	data, err := load()
	if err != nil {
		return nil, err
	}
	now := o.Now
	if now == nil {
		now = time.Now
	}
	return &Fake{
		data: data, now: now, phase: o.Phase, requests: map[string]int{}, failures: map[string]int{},
		checks: slices.Clone(data.checks), nextCheck: firstPostedCheck, decisions: map[int64]decision{},
	}, nil
}

func checkPhase(p Phase) error {
	if p < Phase1 || p > P2DependsOn {
		return fmt.Errorf("pwfake: unknown phase %d", p)
	}
	return nil
}

// SetPhase switches the data the fake serves to phase p.
func (f *Fake) SetPhase(p Phase) error {
	if err := checkPhase(p); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.phase = p
	return nil
}

// Requests returns how many requests each path received, failed and
// unsupported ones included.
func (f *Fake) Requests() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.requests)
}

// FailPath makes every request whose path starts with prefix fail with
// status (a 5xx gets the server's HTML error page, anything else a JSON
// detail). When prefix contains "?", it is matched against the path and the
// raw query instead. A prefix "METHOD /path" (e.g. "POST /api/") matches
// only requests of that method. A status of 0 removes the failure.
func (f *Fake) FailPath(prefix string, status int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if status == 0 {
		delete(f.failures, prefix)
		return
	}
	f.failures[prefix] = status
}

// Start serves the fake on addr ("" for a free loopback port) until Close.
func (f *Fake) Start(addr string) error {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("pwfake: listen %s: %w", addr, err)
	}
	srv := &http.Server{Handler: f, ReadHeaderTimeout: 10 * time.Second}
	f.mu.Lock()
	f.srv, f.url = srv, "http://"+ln.Addr().String()
	f.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
	return nil
}

// URL returns the base URL the fake serves on after Start, "" before.
func (f *Fake) URL() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.url
}

// Close stops a server started with Start.
func (f *Fake) Close() error {
	f.mu.Lock()
	srv := f.srv
	f.srv, f.url = nil, ""
	f.mu.Unlock()
	if srv == nil {
		return errors.New("pwfake: not started")
	}
	return srv.Close()
}

// ServeHTTP answers one request as the recorded server would.
func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.requests[r.URL.Path]++
	if isCheckPost(r) {
		f.posts++
	}
	phase := f.phase
	status := f.failure(r)
	f.mu.Unlock()
	if status != 0 {
		f.fail(w, r, status)
		return
	}
	f.route(w, r, phase)
}

// failure returns the injected status for r, 0 for none. The longest
// matching prefix wins. f.mu must be held.
func (f *Fake) failure(r *http.Request) int {
	best, status := -1, 0
	for key, st := range f.failures {
		prefix := key
		if method, path, ok := strings.Cut(key, " "); ok && method != "" && method == strings.ToUpper(method) && strings.HasPrefix(path, "/") {
			if method != r.Method {
				continue
			}
			prefix = path
		}
		target := r.URL.Path
		if strings.Contains(prefix, "?") {
			target += "?" + r.URL.RawQuery
		}
		if strings.HasPrefix(target, prefix) && len(key) > best {
			best, status = len(key), st
		}
	}
	return status
}

func (f *Fake) fail(w http.ResponseWriter, r *http.Request, status int) {
	if status >= 500 {
		f.writeHTML(w, r, status, f.data.errorPage, "text/html")
		return
	}
	f.writeJSON(w, r, status, detail("Injected failure."), "")
}
