// Package buildbot is the Buildbot target: it builds a unit by posting a
// change to a Buildbot master's base change hook, and follows the builds
// the master's schedulers start for that change through its REST API.
//
// It rests on the source of Buildbot 3.7 (Debian bookworm's package,
// /usr/lib/python3/dist-packages/buildbot) and is tested against that
// master: www/hooks/base.py (the form fields of the base dialect),
// db/sourcestamps.py and db/changes.py (how a change gets its source
// stamp), data/changes.py, data/builds.py, data/resultspec.py and
// data/connector.py (what the REST API lists and filters), and
// process/results.py (the result codes).
//
// # The delivery
//
// One trigger is one POST to URL + HookPath (default change_hook/base),
// form-encoded, with HTTP basic auth when a user is configured (the
// master's www change_hook_auth). The fields:
//
//	author      "trawl"
//	comments    the change's title, its web URL and a "Trawl-Job: <job key>" line
//	revision    the base commit
//	branch      the base branch
//	repository  the base repository URL
//	project     Project + "/" + the job key (see below why)
//	category    Category (default "trawl"): what a scheduler filters on
//	codebase    Codebase (default "")
//	properties  a JSON object of build properties:
//	  trawl_job          the job key: targets.AttemptID(unit, fingerprint, attempt)
//	  trawl_unit         the unit key
//	  trawl_fingerprint  the unit's fingerprint
//	  trawl_attempt      0, or n for the n-th retry after an infrastructure error
//	  trawl_change       the change the unit builds
//	  trawl_title, trawl_web_url
//	  trawl_base         {"tree", "url", "branch", "commit", "exact"}
//	  trawl_patches      [{"id", "msgid", "name", "hash", "mbox_url", "web_url"}]
//	  trawl_mbox_urls    the patches' mbox URLs alone
//	  trawl_heads        [{"key", "repo", "ref", "sha"}]
//
// Patches and heads are in the order to apply: the unit's open
// dependencies first (their patches and heads), the change last; both are
// empty lists, never null, when there are none. A builder reads them as
// properties (util.Interpolate('%(prop:trawl_mbox_urls)s'), or
// util.Property in a custom step) and a scheduler takes the changes with a
// util.ChangeFilter(category=...) or project_re.
//
// The project carries the job key because Buildbot gives a change the
// source stamp of its (branch, revision, repository, project, codebase):
// two units on the same base commit would otherwise share one source
// stamp, and a build takes its change properties from the newest change
// of its source stamp (process/buildrequest.py, db/changes.py
// getChangeFromSSid) and may be collapsed with another unit's request. A
// source stamp of its own per job keeps every build on its own unit.
//
// # Idempotency
//
// The change hook answers no id. The job is found through the REST API,
// in the LookupChanges newest changes (default 1000). The API filters
// changes in the database by changeid alone (data/changes.py
// fieldMapping); any other filter makes the master read every change it
// holds. So the target reads GET /api/v2/changes?order=-changeid in pages
// of 100 once, keeps each change's trawl_job and project (a change never
// changes), and later asks only for the changes made since
// (changeid__gt=<newest read>). A change is the job when its trawl_job
// property and its project are the job key's, and it is not one of
// Request.Exclude. Before posting, Trigger looks for it and adopts it
// (Job.Adopted): a crash between the POST and the state write, or a lost
// state file, leads to adoption, not a second change. After posting, the
// same lookup finds the change just made (the hook adds the change before
// it answers); when it does not, the master's ids started over (a reset
// database) and the newest changes are read again. The job's ID is
// "<changeid>:<job key>": Result reads the change by id and checks the
// key, so a master whose database was reset and reuses the id is seen as
// the job gone.
//
// A trawl killed while its POST is on the wire cannot know whether the
// master got it, and the master may still be adding the change when the
// next trawl looks. With Opts.StateDir, each POST is recorded on disk
// before it is sent and the record dropped once its change is found (or
// the master refused it with a 4xx); a trigger that finds a record but no
// change waits (targets.ErrWaiting) up to PostGrace (default 2m) from the
// recorded POST for the change to appear, and only then posts again.
//
// What cannot be matched: a change older than the LookupChanges newest
// ones (a lost state file on a busy master), which is posted again; and
// the lookup and the POST are two requests, so two trawl processes
// triggering the same unit at the same instant both post. Run one trawl
// per master.
//
// # Results
//
// Result reads the change, then its builds (GET
// /api/v2/changes/{id}/builds, which joins change, source stamp, buildset,
// request and build) and, for each configured builder, the newest build:
// a build Buildbot retries, or one a person rebuilds from the UI, runs on
// the same source stamp, and the newest one counts. A build's results code
// maps to a state:
//
//	code  Buildbot   state
//	0     SUCCESS    success
//	1     WARNINGS   warning
//	2     FAILURE    fail
//	3     SKIPPED    infra-error: the build ran nothing, so it says nothing about the change
//	4     EXCEPTION  infra-error
//	5     RETRY      pending: Buildbot starts the request again, as a newer build
//	6     CANCELLED  infra-error: someone stopped it; it says nothing about the change
//
// A builder with no build yet, with its newest build still running, or
// ending in RETRY is pending; one that has had no build for StartTimeout
// (default 6h) since the change (or since its last RETRY) is an
// infra-error naming the builder: no scheduler took the change, or its
// request was cancelled before a build started. The job's state is, in
// this order: pending while any builder is; fail when any build failed;
// infra-error when any is; warning when any warned; success otherwise.
// The REST API must be readable by anonymous users (the master's default
// authz); only the change hook takes the credentials. A change that no
// longer exists is an error wrapping targets.ErrJobGone.
package buildbot

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/trawl-ci/trawl/pkg/cycle"
	"github.com/trawl-ci/trawl/pkg/httpx"
	"github.com/trawl-ci/trawl/pkg/secret"
	"github.com/trawl-ci/trawl/pkg/targets"
	"github.com/trawl-ci/trawl/pkg/targets/inflight"
)

// Defaults of Opts.
const (
	DefaultHookPath      = "change_hook/base"
	DefaultCategory      = "trawl"
	DefaultProject       = "trawl"
	DefaultLookupChanges = 1000
	DefaultStartTimeout  = 6 * time.Hour
	DefaultPostGrace     = 2 * time.Minute
)

// changesPage is how many changes one lookup request reads.
const changesPage = 100

// Opts configures a Target.
type Opts struct {
	// Name is the configured target name.
	Name string
	// URL is the master's web root (its buildbotURL), e.g.
	// https://buildbot.example.org/; the REST API is URL + "api/v2".
	URL string
	// HookPath is the change hook's path under URL; empty means
	// DefaultHookPath.
	HookPath string
	// User and Password are the change hook's basic auth credentials;
	// both empty means none. The password is read on every trigger.
	User     string
	Password secret.Source
	// Builders names the builders a trawl change starts: the job ends when
	// each has a final build. At least one.
	Builders []string
	// Project prefixes each change's project; empty means DefaultProject.
	Project string
	// Category is each change's category; empty means DefaultCategory.
	Category string
	// Codebase is each change's codebase; empty is Buildbot's default "".
	Codebase string
	// LookupChanges bounds how many of the newest changes a lookup reads;
	// 0 means DefaultLookupChanges.
	LookupChanges int
	// StartTimeout bounds how long a builder may have no build for a
	// change; 0 means DefaultStartTimeout.
	StartTimeout time.Duration
	// StateDir, when set, holds a record of each POST under
	// StateDir/buildbot/<Name> until its change is found (see
	// posting.go); empty means no records, and a POST on the wire when
	// trawl dies may be sent twice.
	StateDir string
	// PostGrace is how long a trigger waits for the change of an earlier
	// run's POST to appear before it posts again; 0 means
	// DefaultPostGrace.
	PostGrace time.Duration
	// HTTP makes the requests.
	HTTP *http.Client
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives progress; nil means no logging.
	Logger *zap.Logger
}

// What the cycle asks of a target.
var (
	_ cycle.Target       = (*Target)(nil)
	_ cycle.ResultPoller = (*Target)(nil)
)

// Target posts units to a Buildbot master. It is safe for concurrent use.
type Target struct {
	name         string
	root         string // URL with a trailing slash
	api          string // root + "api/v2"
	hook         string
	user         string
	password     secret.Source
	builders     []string
	project      string
	category     string
	codebase     string
	lookup       int
	startTimeout time.Duration
	dir          string
	postGrace    time.Duration
	http         *http.Client
	now          func() time.Time
	log          *zap.Logger
	configHash   string

	mu         sync.Mutex
	builderIDs map[string]int
	index      changeIndex
}

// What the cycle finds on a Buildbot target.
var (
	_ cycle.Target       = (*Target)(nil)
	_ cycle.ResultPoller = (*Target)(nil)
)

// New checks the options and returns a Target.
func New(o Opts) (*Target, error) {
	if o.Name == "" {
		return nil, errors.New("buildbot: target name is empty")
	}
	u, err := url.Parse(o.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("buildbot %s: url %q is not an http(s) URL", o.Name, o.URL)
	}
	if u.User != nil {
		return nil, fmt.Errorf("buildbot %s: url carries credentials: configure the user and password file instead", o.Name)
	}
	if o.HTTP == nil {
		return nil, fmt.Errorf("buildbot %s: no HTTP client", o.Name)
	}
	if len(o.Builders) == 0 || slices.Contains(o.Builders, "") {
		return nil, fmt.Errorf("buildbot %s: name the builders a trawl change starts", o.Name)
	}
	if (o.User == "") != !o.Password.IsSet() {
		return nil, fmt.Errorf("buildbot %s: the change hook user and password go together", o.Name)
	}
	if o.LookupChanges < 0 || o.StartTimeout < 0 || o.PostGrace < 0 {
		return nil, fmt.Errorf("buildbot %s: negative lookup bound, start timeout or post grace", o.Name)
	}
	root := strings.TrimRight(o.URL, "/") + "/"
	t := &Target{
		name:         o.Name,
		root:         root,
		api:          root + "api/v2",
		hook:         root + strings.TrimLeft(cmp.Or(o.HookPath, DefaultHookPath), "/"),
		user:         o.User,
		password:     o.Password,
		builders:     slices.Clone(o.Builders),
		project:      cmp.Or(o.Project, DefaultProject),
		category:     cmp.Or(o.Category, DefaultCategory),
		codebase:     o.Codebase,
		lookup:       o.LookupChanges,
		startTimeout: o.StartTimeout,
		postGrace:    cmp.Or(o.PostGrace, DefaultPostGrace),
		http:         o.HTTP,
		now:          o.Now,
		log:          o.Logger,
		builderIDs:   map[string]int{},
	}
	if o.StateDir != "" {
		t.dir = filepath.Join(o.StateDir, "buildbot", o.Name)
	}
	if t.lookup == 0 {
		t.lookup = DefaultLookupChanges
	}
	if t.startTimeout == 0 {
		t.startTimeout = DefaultStartTimeout
	}
	if t.now == nil {
		t.now = time.Now
	}
	if t.log == nil {
		t.log = zap.NewNop()
	}
	sorted := slices.Sorted(slices.Values(t.builders))
	t.configHash = targets.HashConfig(append([]string{"trawl buildbot config v1", t.root, t.hook,
		t.project, t.category, t.codebase}, sorted...)...)
	return t, nil
}

// Name is the configured target name.
func (t *Target) Name() string { return t.name }

// ConfigHash identifies the configuration that changes what gets built:
// the master, the hook, the builders, project, category and codebase. It
// never covers the credentials.
func (t *Target) ConfigHash() string { return t.configHash }

// JobKey is the key of one build attempt of a unit (targets.AttemptID): the
// trawl_job property of its change.
func JobKey(unit, fingerprint string, attempt int) string {
	return targets.AttemptID(unit, fingerprint, attempt)
}

// jobID is a job's ID: the change id and the job key.
func jobID(changeID int, key string) string { return strconv.Itoa(changeID) + ":" + key }

// parseJobID splits a job's ID.
func parseJobID(id string) (changeID int, key string, err error) {
	n, key, ok := strings.Cut(id, ":")
	changeID, err = strconv.Atoi(n)
	if !ok || err != nil || changeID <= 0 || key == "" {
		return 0, "", fmt.Errorf("job id %q is not <changeid>:<job key>", id)
	}
	return changeID, key, nil
}

// changeURL is where a person looks at a change.
func (t *Target) changeURL(id int) string { return t.root + "#/changes/" + strconv.Itoa(id) }

// project is the project of a job's change.
func (t *Target) changeProject(key string) string { return t.project + "/" + key }

// Trigger adopts the change of r's job when the master has it, and posts
// it otherwise (see the package documentation).
func (t *Target) Trigger(ctx context.Context, r targets.Request) (targets.Job, error) {
	if r.Unit == "" || r.Fingerprint == "" {
		return targets.Job{}, fmt.Errorf("buildbot %s: request needs a unit and a fingerprint", t.name)
	}
	key := JobKey(r.Unit, r.Fingerprint, r.Attempt)
	id, err := t.findChange(ctx, key, r.Exclude)
	if err != nil {
		return targets.Job{}, fmt.Errorf("buildbot %s: unit %s: look for its change: %w", t.name, r.Unit, err)
	}
	if id > 0 {
		t.unmark(key)
		t.log.Info("buildbot: adopted", zap.String("target", t.name), zap.String("unit", r.Unit), zap.Int("change", id))
		return t.job(id, key, r, true), nil
	}
	if at, ok := t.postedAt(key); ok && t.now().Before(at.Add(t.postGrace)) {
		return targets.Job{}, t.inFlight(r.Unit, key, at)
	}
	if err := t.markPosting(key); err != nil {
		return targets.Job{}, fmt.Errorf("buildbot %s: unit %s: record the POST before sending it: %w", t.name, r.Unit, err)
	}
	if err := t.post(ctx, r, key); err != nil {
		if inflight.Refused(err) {
			// Refused: the master made no change.
			t.unmark(key)
		}
		return targets.Job{}, fmt.Errorf("buildbot %s: unit %s: %w", t.name, r.Unit, err)
	}
	id, err = t.findChange(ctx, key, r.Exclude)
	if err == nil && id == 0 {
		// Not among the changes made since the index's newest: the
		// master's database was reset, and its ids start over. Read the
		// newest changes again.
		t.forget(0)
		id, err = t.findChange(ctx, key, r.Exclude)
	}
	if err != nil {
		return targets.Job{}, fmt.Errorf("buildbot %s: unit %s: find the change just posted: %w", t.name, r.Unit, err)
	}
	if id == 0 {
		return targets.Job{}, fmt.Errorf("buildbot %s: unit %s: POST %s answered, but no change with trawl_job %s is listed at %s/changes",
			t.name, r.Unit, t.hook, key, t.api)
	}
	t.unmark(key)
	t.log.Info("buildbot: posted", zap.String("target", t.name), zap.String("unit", r.Unit), zap.Int("change", id))
	return t.job(id, key, r, false), nil
}

// job is the Job of a change.
func (t *Target) job(changeID int, key string, r targets.Request, adopted bool) targets.Job {
	return targets.Job{Target: t.name, ID: jobID(changeID, key), URL: t.changeURL(changeID), BaseCommit: r.Base.Commit, Adopted: adopted}
}

// post sends the change of r to the change hook.
func (t *Target) post(ctx context.Context, r targets.Request, key string) error {
	props, err := json.Marshal(properties(r, key))
	if err != nil {
		return fmt.Errorf("encode properties: %w", err)
	}
	form := url.Values{
		"author":     {"trawl"},
		"comments":   {comments(r, key)},
		"revision":   {r.Base.Commit},
		"branch":     {r.Base.Branch},
		"repository": {r.Base.URL},
		"project":    {t.changeProject(key)},
		"category":   {t.category},
		"codebase":   {t.codebase},
		"properties": {string(props)},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.hook, strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if t.user != "" {
		pw, err := t.password.Value()
		if err != nil {
			return fmt.Errorf("change hook password: %w", err)
		}
		req.SetBasicAuth(t.user, pw)
	}
	resp, err := t.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return httpx.CheckResponse(resp)
}

// comments is the change's comments: what a person reads in the master's
// UI.
func comments(r targets.Request, key string) string {
	var b strings.Builder
	b.WriteString(cmp.Or(r.Title, r.Unit))
	if r.WebURL != "" {
		b.WriteString("\n\n" + r.WebURL)
	}
	b.WriteString("\n\nTrawl-Unit: " + r.Unit + "\nTrawl-Job: " + key)
	return b.String()
}

// properties are the change's properties (see the package documentation).
func properties(r targets.Request, key string) map[string]any {
	d := targets.NewDocument(r)
	mboxes := make([]string, len(d.Patches))
	for i, p := range d.Patches {
		mboxes[i] = p.MboxURL
	}
	return map[string]any{
		"trawl_job":         key,
		"trawl_unit":        d.Unit,
		"trawl_fingerprint": d.Fingerprint,
		"trawl_attempt":     d.Attempt,
		"trawl_change":      d.Change,
		"trawl_title":       d.Title,
		"trawl_web_url":     d.WebURL,
		"trawl_base":        d.Base,
		"trawl_patches":     d.Patches,
		"trawl_mbox_urls":   mboxes,
		"trawl_heads":       d.Heads,
	}
}
