package pwfake

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The API tokens of the recorded users (see the package documentation).
const (
	// AdminToken is the token of user 1, admin: a maintainer of netdev and
	// bpf.
	AdminToken = "0123456789abcdef0123456789abcdef01234567"
	// BotToken is the token of user 2, ci-bot: a maintainer of netdev only.
	BotToken = "fedcba9876543210fedcba9876543210fedcba98"
)

// firstPostedCheck is the id of the first check posted to the fake. Check
// 12 of the recording (on patch 29, posted after the last capture of that
// patch) is not seeded, and its id is not reused.
const firstPostedCheck = 13

// checkStates are the check states, in the order of their values in
// Patchwork's Check model (0 to 3).
var checkStates = []string{"pending", "success", "warning", "fail"}

// Recorded checks: whole check objects, then the check-created events of
// the checks no capture holds whole.
var checkCaptures = []string{
	"checks-list-patch-1.json",
	"checks-list-patch-8.json",
	"check-post-201-minimal.json",
	"check-post-201-long-desc.json",
}

const checkEvents = "events-since-naive.json"

var checkURLRe = regexp.MustCompile(`/api/patches/(\d+)/checks/(\d+)/$`)

// CheckRecord is one check the fake holds, recorded or posted.
type CheckRecord struct {
	ID          int64
	PatchID     int64
	User        string // the poster's username
	Date        time.Time
	State       string // pending, success, warning or fail
	TargetURL   string // "" when null
	Context     string
	Description string // "" when null
}

// check is one check as the fake stores it.
type check struct {
	id, patch   int64
	user        *user
	date        time.Time
	state       string
	targetURL   *string
	context     string
	description *string
}

// checkJSON is a check in the server's field order.
type checkJSON struct {
	ID          int64   `json:"id"`
	URL         string  `json:"url"`
	User        raw     `json:"user"`
	Date        string  `json:"date"`
	State       string  `json:"state"`
	TargetURL   *string `json:"target_url"`
	Context     string  `json:"context"`
	Description *string `json:"description"`
}

// checkIn is a recorded check (or the check of a check-created event,
// which has no user and no description).
type checkIn struct {
	ID   int64  `json:"id"`
	URL  string `json:"url"`
	User struct {
		ID int64 `json:"id"`
	} `json:"user"`
	Date        string  `json:"date"`
	State       string  `json:"state"`
	TargetURL   *string `json:"target_url"`
	Context     string  `json:"context"`
	Description *string `json:"description"`
}

// checkURL is the API URL of a check on the recorded host.
func checkURL(patch, id int64) string {
	return fmt.Sprintf("%s/api/patches/%d/checks/%d/", recordedHost, patch, id)
}

// body is the JSON of c, as the server renders it.
func (c check) body() []byte {
	return marshal(checkJSON{
		ID: c.id, URL: checkURL(c.patch, c.id), User: c.user.body, Date: isoformat(c.date),
		State: c.state, TargetURL: c.targetURL, Context: c.context, Description: c.description,
	})
}

func (c check) record() CheckRecord {
	deref := func(s *string) string {
		if s == nil {
			return ""
		}
		return *s
	}
	return CheckRecord{
		ID: c.id, PatchID: c.patch, User: c.user.Username, Date: c.date, State: c.state,
		TargetURL: deref(c.targetURL), Context: c.context, Description: deref(c.description),
	}
}

// isoformat renders a naive UTC time as Python's isoformat does: with
// microseconds unless they are zero.
func isoformat(t time.Time) string {
	if t.Nanosecond()/1000 == 0 {
		return t.Format("2006-01-02T15:04:05")
	}
	return t.Format("2006-01-02T15:04:05.000000")
}

// loadUsers reads the recorded users, their tokens and the projects they
// maintain.
func (s *store) loadUsers() error {
	items, err := readList("auth-users-list-token.json")
	if err != nil {
		return err
	}
	projects, err := readRecorded("projects-list.json")
	if err != nil {
		return err
	}
	var maint []struct {
		ID          int64 `json:"id"`
		Maintainers []ref `json:"maintainers"`
	}
	if err := json.Unmarshal(projects, &maint); err != nil {
		return fmt.Errorf("pwfake: decode projects-list.json: %w", err)
	}
	for _, it := range items {
		u := user{body: it}
		if err := json.Unmarshal(it, &u); err != nil {
			return fmt.Errorf("pwfake: decode users: %w", err)
		}
		switch u.Username {
		case "admin":
			u.token = AdminToken
		case "ci-bot":
			u.token = BotToken
		}
		for _, p := range maint {
			if slices.Contains(p.Maintainers, ref{ID: u.ID}) {
				u.maintains = append(u.maintains, p.ID)
			}
		}
		s.users = append(s.users, u)
	}
	return nil
}

func (s *store) userByID(id int64) (*user, bool) {
	for i := range s.users {
		if s.users[i].ID == id {
			return &s.users[i], true
		}
	}
	return nil, false
}

// newCheck resolves a recorded check.
func (s *store) newCheck(in checkIn) (check, error) {
	m := checkURLRe.FindStringSubmatch(in.URL)
	if m == nil {
		return check{}, fmt.Errorf("pwfake: check %d: bad url %q", in.ID, in.URL)
	}
	patch, _ := strconv.ParseInt(m[1], 10, 64)
	u, ok := s.userByID(in.User.ID)
	if !ok {
		return check{}, fmt.Errorf("pwfake: check %d: unknown user %d", in.ID, in.User.ID)
	}
	date, err := time.Parse("2006-01-02T15:04:05.999999", in.Date)
	if err != nil {
		return check{}, fmt.Errorf("pwfake: check %d: %w", in.ID, err)
	}
	return check{
		id: in.ID, patch: patch, user: u, date: date, state: in.State,
		targetURL: in.TargetURL, context: in.Context, description: in.Description,
	}, nil
}

// loadChecks reads the recorded checks 1 to 11. The events hold checks 5
// to 8 without their description, which the fake serves as null.
func (s *store) loadChecks() error {
	byID := map[int64]check{}
	for _, name := range checkCaptures {
		b, err := readRecorded(name)
		if err != nil {
			return err
		}
		var items []checkIn
		if bytes.HasPrefix(b, []byte("[")) {
			err = json.Unmarshal(b, &items)
		} else {
			items = make([]checkIn, 1)
			err = json.Unmarshal(b, &items[0])
		}
		if err != nil {
			return fmt.Errorf("pwfake: decode %s: %w", name, err)
		}
		for _, in := range items {
			c, err := s.newCheck(in)
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			byID[c.id] = c
		}
	}
	events, err := readList(checkEvents)
	if err != nil {
		return err
	}
	for _, e := range events {
		var ev struct {
			Category string `json:"category"`
			Actor    ref    `json:"actor"`
			Payload  struct {
				Check checkIn `json:"check"`
			} `json:"payload"`
		}
		if err := json.Unmarshal(e, &ev); err != nil {
			return fmt.Errorf("pwfake: decode %s: %w", checkEvents, err)
		}
		if ev.Category != "check-created" {
			continue
		}
		if _, ok := byID[ev.Payload.Check.ID]; ok {
			continue
		}
		in := ev.Payload.Check
		in.User.ID = ev.Actor.ID
		c, err := s.newCheck(in)
		if err != nil {
			return fmt.Errorf("%s: %w", checkEvents, err)
		}
		byID[c.id] = c
	}
	for _, c := range byID {
		s.checks = append(s.checks, c)
	}
	slices.SortFunc(s.checks, func(a, b check) int { return int(a.id - b.id) })
	return nil
}

// Checks returns the checks on patch id, recorded and posted, in id order,
// whatever the phase.
func (f *Fake) Checks(patchID int64) []CheckRecord {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []CheckRecord
	for _, c := range f.checks {
		if c.patch == patchID {
			out = append(out, c.record())
		}
	}
	return out
}

// PostCount returns how many POST requests the fake received on a patch's
// checks list, whatever their answer (injected failures included).
func (f *Fake) PostCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.posts
}

// isCheckPost reports a POST on a patch's checks list.
func isCheckPost(r *http.Request) bool {
	rest, ok := apiRoute(r.URL.Path)
	return ok && r.Method == http.MethodPost && checkListRe.MatchString(rest)
}

// checkObjects returns the checks on patch as list objects, in id order.
func (f *Fake) checkObjects(patch int64) ([]object, error) {
	f.mu.Lock()
	var bodies [][]byte
	for _, c := range f.checks {
		if c.patch == patch {
			bodies = append(bodies, c.body())
		}
	}
	f.mu.Unlock()
	objs := make([]object, 0, len(bodies))
	for _, b := range bodies {
		o, err := newObject(Phase1, b)
		if err != nil {
			return nil, err
		}
		objs = append(objs, o)
	}
	return objs, nil
}

// checkList serves GET patches/<id>/checks/.
func (f *Fake) checkList(w http.ResponseWriter, r *http.Request, p Phase, patch object) {
	objs, err := f.checkObjects(patch.m.ID)
	if err != nil {
		f.writeHTML(w, r, http.StatusInternalServerError, f.data.errorPage, "text/html")
		return
	}
	f.list(w, r, objs, p, func(q url.Values, _ Phase) filters { return f.checkFilters(q) })
}

// checkFilters parses the filters of a checks list: user (id or username,
// repeatable, OR), state (the state's value 0 to 3: Patchwork filters the
// model's integer choice, so a state name names nothing), context (exact),
// since and before.
func (f *Fake) checkFilters(q url.Values) filters {
	var fl filters
	fl.oneOf(q, "user", func(v string) bool {
		return slices.ContainsFunc(f.data.users, func(u user) bool { return userMatches(u, v) })
	}, func(o object, v string) bool { return userMatches(o.m.User, v) })
	if v := last(q, "state"); v != "" {
		if n, err := strconv.Atoi(v); err == nil && strconv.Itoa(n) == v && n >= 0 && n < len(checkStates) {
			fl.preds = append(fl.preds, func(o object) bool { return o.m.State == checkStates[n] })
		} else {
			fl.empty = true
		}
	}
	fl.exact(q, "context", func(o object, v string) bool { return o.m.Context == v })
	fl.dates(q)
	return fl
}

func userMatches(u user, v string) bool {
	return strconv.FormatInt(u.ID, 10) == v || strings.EqualFold(u.Username, v)
}

// checkDetail serves GET patches/<id>/checks/<check id>/.
func (f *Fake) checkDetail(w http.ResponseWriter, r *http.Request, patch object, idText string) {
	id, err := strconv.ParseInt(idText, 10, 64)
	if err == nil {
		f.mu.Lock()
		i := slices.IndexFunc(f.checks, func(c check) bool { return c.id == id && c.patch == patch.m.ID })
		var body []byte
		if i >= 0 {
			body = f.checks[i].body()
		}
		f.mu.Unlock()
		if body != nil {
			f.writeJSON(w, r, http.StatusOK, body, "")
			return
		}
	}
	f.writeJSON(w, r, http.StatusNotFound, f.data.notFound, "")
}

// editable reports whether u may post checks on patch. Patchwork 3.1.3
// lets a maintainer of the patch's project, the patch's delegate and its
// submitter post; no recorded submitter has an account, so the submitter
// rule never applies here.
func editable(u *user, patch object) bool {
	if u == nil {
		return false
	}
	if d := patch.m.Delegate; d != nil && d.ID == u.ID {
		return true
	}
	return slices.Contains(u.maintains, patch.m.Project.ID)
}

// postCheck serves POST patches/<id>/checks/ in the recorded server's
// order: the patch must exist, then the user must have the rights, then
// the body must parse and validate.
func (f *Fake) postCheck(w http.ResponseWriter, r *http.Request, u *user, patch object) {
	if !editable(u, patch) {
		f.writeJSON(w, r, http.StatusForbidden, f.data.denied, "")
		return
	}
	data, status, msg := requestData(r)
	switch {
	case status >= http.StatusInternalServerError:
		f.writeHTML(w, r, status, f.data.errorPage, "text/html")
		return
	case status != 0:
		f.writeJSON(w, r, status, msg, "")
		return
	}
	in, errs := validateCheck(data)
	if errs != nil {
		f.writeJSON(w, r, http.StatusBadRequest, marshal(errs), "")
		return
	}
	f.mu.Lock()
	c := check{
		id: f.nextCheck, patch: patch.m.ID, user: u, date: f.now().UTC().Truncate(time.Microsecond),
		state: in.state, targetURL: in.targetURL, context: in.context, description: in.description,
	}
	f.nextCheck++
	f.checks = append(f.checks, c)
	f.mu.Unlock()
	w.Header().Set("Location", string(rewriteHost(r, []byte(checkURL(c.patch, c.id)))))
	f.writeJSON(w, r, http.StatusCreated, c.body(), "")
}

// patchesNow returns the list forms of the patches with the combined check
// state of each patch as the checks now held give it.
func (f *Fake) patchesNow() []object {
	f.mu.Lock()
	combined := combinedStates(f.checks)
	f.mu.Unlock()
	out := f.applyDecisions(f.data.patches)
	cloned := false
	for i, o := range out {
		st, ok := combined[o.m.ID]
		if !ok || st == o.m.Check {
			continue
		}
		if !cloned {
			out, cloned = slices.Clone(out), true
		}
		out[i].body = bytes.Replace(o.body, []byte(`"check":"`+o.m.Check+`"`), []byte(`"check":"`+st+`"`), 1)
		out[i].m.Check = st
	}
	return out
}

// combinedStates is Patchwork's combined check state of each patch with
// checks: the latest check per user and context counts, and fail beats
// warning beats pending beats success.
func combinedStates(checks []check) map[int64]string {
	type key struct {
		user    int64
		context string
	}
	latest := map[int64]map[key]check{}
	for _, c := range checks {
		m := latest[c.patch]
		if m == nil {
			m = map[key]check{}
			latest[c.patch] = m
		}
		k := key{c.user.ID, c.context}
		if old, ok := m[k]; ok && old.date.After(c.date) {
			continue
		}
		m[k] = c
	}
	out := map[int64]string{}
	for patch, m := range latest {
		seen := map[string]bool{}
		for _, c := range m {
			seen[c.state] = true
		}
		out[patch] = "success"
		for _, st := range []string{"fail", "warning", "pending"} {
			if seen[st] {
				out[patch] = st
				break
			}
		}
	}
	return out
}
