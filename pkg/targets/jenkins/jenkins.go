// Package jenkins is the Jenkins target: it builds a unit by starting a
// parameterized Jenkins job through the remote access API, follows the
// queue item to its build, and reads the build's result.
//
// # The delivery
//
// One trigger is one POST to {job}/buildWithParameters (form-encoded),
// authenticated with HTTP basic auth as a user and that user's API token.
// The job must define these string parameters (Jenkins silently drops
// parameters a job does not define, so a trigger refuses to start a job
// that lacks one):
//
//	TRAWL_UNIT         the unit key
//	TRAWL_FINGERPRINT  the unit's fingerprint
//	TRAWL_ATTEMPT      0 for the first build of a fingerprint, n for its n-th
//	                   retry after an infrastructure error
//	TRAWL_REQUEST      the whole unit as JSON, the document the webhook and
//	                   exec targets send (targets.Document): base tree, URL,
//	                   branch and commit, the patches with their mbox URLs
//	                   and the pull/merge request heads, in the order to apply
//
// plus delay=<n>sec, the quiet period (Opts.QuietPeriod, 0 by default: trawl
// has already decided). The job sees no secret. The answer is a redirect to
// the queue item: 201 Created, or 303 See Other when Jenkins merged the
// request into an identical queued item (older cores answer 201 to both).
//
// CSRF: since Jenkins 2.96 a request authenticated with an API token needs
// no crumb. An older controller, or one configured otherwise, refuses the
// POST with 403; the target then asks /crumbIssuer/api/json for a crumb,
// keeps the session cookie the crumb is bound to, and posts once more with
// the crumb in the header the issuer names. A 403 where the crumb issuer
// is off (404) is a permission error and is returned as is.
//
// # Following the job
//
// The queue item ({root}queue/item/N/) is read until its `executable` names
// the build, whose JSON is then read. Jenkins forgets a queue item 5
// minutes after it left the queue, and trawl cannot rewrite the job
// reference it stored at trigger time, so the trigger waits up to
// Opts.QueueWait for the build to start and stores the build's URL
// ({job}N/) when it did. Otherwise the job id is the queue item's URL with
// the attempt's id (targets.AttemptID of unit, fingerprint and attempt) as
// its fragment: once the queue item is gone (404), the build is found
// again by its parameters among the job's builds, and only when no build
// carries them either is the job gone (targets.ErrJobGone; the unit is
// triggered again). A cancelled queue item is an infrastructure error.
//
// # Idempotency
//
// Before posting, Trigger looks for a job of the same unit, fingerprint
// and attempt: first in the queue (/queue/api/json, items of this job),
// then among the job's builds ({job}api/json, which lists the newest 100).
// The queue is read first, so an item that leaves it between the two
// reads is found among the builds. A match that Request.Exclude names is
// not adopted. A crash between the POST and the state write, or a lost
// state file, therefore adopts the job instead of starting a second.
//
// Jenkins merges a request into a queued item of the same job with equal
// parameters. Two triggers of one unit at one fingerprint and attempt
// while the first is still queued thus yield one build (the 303 marks the
// job adopted): the idempotency wanted. A retry after an infrastructure
// error carries another TRAWL_ATTEMPT, so it is never merged into, nor
// adopts, the build it retries.
//
// A trawl killed while its POST is on the wire does not know whether
// Jenkins got it, and the next trawl may look before Jenkins queues it.
// The next trigger then posts the same parameters again, and Jenkins
// merges the two requests while the first is still queued; only a first
// request that had already left the queue when the second arrived (a
// free executor and no quiet period, within that instant) yields a second
// build.
//
// What cannot be matched: a build older than the job's newest 100, or one
// deleted by the job's build discarder, is not found; the unit is then
// triggered again. A job that a person starts by hand with the same
// parameters is adopted as trawl's own.
//
// # Results
//
// From the build's `building` and `result`: building is pending, SUCCESS
// success, UNSTABLE warning, FAILURE fail, ABORTED and NOT_BUILT
// infra-error (the build was stopped or never ran its steps: nothing is
// known of the change). A queued item is pending, with Jenkins' `why`. A
// build that no longer exists (404) wraps targets.ErrJobGone.
package jenkins

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/trawl-ci/trawl/pkg/cycle"
	"github.com/trawl-ci/trawl/pkg/secret"
	"github.com/trawl-ci/trawl/pkg/targets"
)

// The parameters a trigger passes; the job must define each as a string
// parameter.
const (
	ParamUnit        = "TRAWL_UNIT"
	ParamFingerprint = "TRAWL_FINGERPRINT"
	ParamAttempt     = "TRAWL_ATTEMPT"
	ParamRequest     = "TRAWL_REQUEST"
)

// Parameters lists the parameters a trigger passes, in the order the job
// should define them.
func Parameters() []string {
	return []string{ParamUnit, ParamFingerprint, ParamAttempt, ParamRequest}
}

// DefaultQueuePoll is how often a trigger reads its queue item while it
// waits for the build to start.
const DefaultQueuePoll = time.Second

// Opts configures a Target.
type Opts struct {
	// Name is the configured target name.
	Name string
	// URL is the Jenkins root URL, with its context path
	// (https://ci.example.org/jenkins/).
	URL string
	// Job is the job's full name, folders separated by "/"
	// ("kernel/check-patches").
	Job string
	// User and Token authenticate every request (basic auth with the
	// user's API token). The token is read on every request.
	User  string
	Token secret.Source
	// HTTP makes the requests; build it with pkg/httpx. The target uses a
	// copy that does not follow redirects and keeps cookies (the session
	// a crumb is bound to).
	HTTP *http.Client
	// QuietPeriod is sent as the build's delay.
	QuietPeriod time.Duration
	// QueueWait bounds how long a trigger waits for its build to start,
	// so that the job reference holds the build; 0 does not wait.
	QueueWait time.Duration
	// QueuePoll is the interval of that wait; 0 means DefaultQueuePoll.
	QueuePoll time.Duration
	// Logger receives progress; nil means no logging.
	Logger *zap.Logger
}

// Target starts and follows Jenkins builds. It is safe for concurrent use.
type Target struct {
	name       string
	root       string // ends in "/"
	jobURL     string // root + job/a/job/b/
	jobPath    string // job/a/job/b/
	user       string
	token      secret.Source
	http       *http.Client
	quiet      time.Duration
	queueWait  time.Duration
	queuePoll  time.Duration
	log        *zap.Logger
	configHash string

	mu    sync.Mutex
	crumb crumb // the last crumb the issuer gave; zero: none
}

// What the cycle needs of a target that follows its jobs.
var (
	_ cycle.Target       = (*Target)(nil)
	_ cycle.ResultPoller = (*Target)(nil)
)

// crumb is a CSRF crumb and the header it goes in.
type crumb struct {
	Field string `json:"crumbRequestField"`
	Value string `json:"crumb"`
}

// New checks the options and returns a Target.
func New(o Opts) (*Target, error) {
	if o.Name == "" {
		return nil, errors.New("jenkins: target name is empty")
	}
	u, err := url.Parse(o.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("jenkins %s: url %q is not an http(s) root URL", o.Name, o.URL)
	}
	root := strings.TrimSuffix(u.String(), "/") + "/"
	jobPath, err := JobPath(o.Job)
	if err != nil {
		return nil, fmt.Errorf("jenkins %s: %w", o.Name, err)
	}
	if o.User == "" || !o.Token.IsSet() {
		return nil, fmt.Errorf("jenkins %s: a user and an API token are needed", o.Name)
	}
	if o.HTTP == nil {
		return nil, fmt.Errorf("jenkins %s: no HTTP client", o.Name)
	}
	if o.QuietPeriod < 0 || o.QueueWait < 0 || o.QueuePoll < 0 {
		return nil, fmt.Errorf("jenkins %s: negative duration", o.Name)
	}
	jar, err := cookiejar.New(nil)
	if err != nil {
		return nil, fmt.Errorf("jenkins %s: %w", o.Name, err)
	}
	hc := *o.HTTP
	hc.Jar = jar
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	t := &Target{
		name:      o.Name,
		root:      root,
		jobPath:   jobPath,
		jobURL:    root + jobPath,
		user:      o.User,
		token:     o.Token,
		http:      &hc,
		quiet:     o.QuietPeriod,
		queueWait: o.QueueWait,
		queuePoll: o.QueuePoll,
		log:       o.Logger,
	}
	if t.queuePoll == 0 {
		t.queuePoll = DefaultQueuePoll
	}
	if t.log == nil {
		t.log = zap.NewNop()
	}
	t.configHash = targets.HashConfig("trawl jenkins config v1", t.root, t.jobPath)
	return t, nil
}

// JobPath turns a job's full name ("a/b") into its path under the root
// ("job/a/job/b/"), each name escaped.
func JobPath(full string) (string, error) {
	if full == "" {
		return "", errors.New("no job name")
	}
	var b strings.Builder
	for _, n := range strings.Split(full, "/") {
		if n == "" || n == "." || n == ".." {
			return "", fmt.Errorf("job %q: empty or relative name in the path", full)
		}
		b.WriteString("job/" + url.PathEscape(n) + "/")
	}
	return b.String(), nil
}

// Name is the configured target name.
func (t *Target) Name() string { return t.name }

// ConfigHash identifies the configuration that decides what is built: the
// root URL and the job. The user, token and waits are not part of it.
func (t *Target) ConfigHash() string { return t.configHash }

// Trigger starts a build of r, or adopts the one that exists already (see
// the package documentation).
func (t *Target) Trigger(ctx context.Context, r targets.Request) (targets.Job, error) {
	if r.Unit == "" || r.Fingerprint == "" || r.Attempt < 0 {
		return targets.Job{}, fmt.Errorf("jenkins %s: request needs a unit and a fingerprint", t.name)
	}
	id := targets.AttemptID(r.Unit, r.Fingerprint, r.Attempt)
	job, found, defined, err := t.find(ctx, id, r.Exclude)
	if err != nil {
		return targets.Job{}, fmt.Errorf("jenkins %s: unit %s: look for its build: %w", t.name, r.Unit, err)
	}
	if found {
		job.Adopted = true
		job.BaseCommit = r.Base.Commit
		t.log.Info("jenkins: adopted", zap.String("target", t.name), zap.String("unit", r.Unit), zap.String("job", job.ID))
		return job, nil
	}
	for _, p := range Parameters() {
		if !defined[p] {
			return targets.Job{}, fmt.Errorf("jenkins %s: job %s does not define the string parameter %s, which trawl passes (Jenkins would drop it)", t.name, t.jobURL, p)
		}
	}
	doc, err := json.Marshal(targets.NewDocument(r))
	if err != nil {
		return targets.Job{}, fmt.Errorf("jenkins %s: unit %s: encode: %w", t.name, r.Unit, err)
	}
	form := url.Values{
		ParamUnit:        {r.Unit},
		ParamFingerprint: {r.Fingerprint},
		ParamAttempt:     {strconv.Itoa(r.Attempt)},
		ParamRequest:     {string(doc)},
		"delay":          {strconv.Itoa(int(t.quiet/time.Second)) + "sec"},
	}
	item, merged, err := t.post(ctx, form)
	if err != nil {
		return targets.Job{}, fmt.Errorf("jenkins %s: unit %s: %w", t.name, r.Unit, err)
	}
	job = t.queueJob(item, id)
	job.Adopted = merged
	job.BaseCommit = r.Base.Commit
	if n := t.awaitBuild(ctx, item); n > 0 {
		job.ID, job.URL = t.buildURL(n), t.buildURL(n)
	}
	t.log.Info("jenkins: triggered", zap.String("target", t.name), zap.String("unit", r.Unit),
		zap.String("job", job.ID), zap.Bool("merged", merged))
	return job, nil
}

// awaitBuild reads queue item n until it names its build, for at most
// QueueWait; it returns the build's number, or 0. Errors end the wait
// quietly: the job is followed through its queue item instead.
func (t *Target) awaitBuild(ctx context.Context, item int64) int {
	if t.queueWait <= 0 {
		return 0
	}
	ctx, cancel := context.WithTimeout(ctx, t.queueWait)
	defer cancel()
	tick := time.NewTicker(t.queuePoll)
	defer tick.Stop()
	for {
		var q queueItem
		if err := t.getJSON(ctx, t.queueURL(item)+"api/json?tree=id,cancelled,executable[number,url]", &q); err != nil {
			return 0
		}
		if q.Executable != nil && q.Executable.Number > 0 {
			return q.Executable.Number
		}
		if q.Cancelled {
			return 0
		}
		select {
		case <-ctx.Done():
			return 0
		case <-tick.C:
		}
	}
}

// queueJob is the job of queue item n for attempt id.
func (t *Target) queueJob(n int64, id string) targets.Job {
	return targets.Job{Target: t.name, ID: t.queueURL(n) + "#" + id, URL: t.jobURL}
}

func (t *Target) queueURL(n int64) string {
	return t.root + "queue/item/" + strconv.FormatInt(n, 10) + "/"
}

func (t *Target) buildURL(n int) string { return t.jobURL + strconv.Itoa(n) + "/" }

// Result reads the job's result (see the package documentation).
func (t *Target) Result(ctx context.Context, job targets.Job) (targets.Result, error) {
	res, err := t.result(ctx, job.ID)
	if err != nil {
		return targets.Result{}, fmt.Errorf("jenkins %s: job %s: %w", t.name, job.ID, err)
	}
	return res, nil
}

func (t *Target) result(ctx context.Context, id string) (targets.Result, error) {
	if n, ok := t.parseBuildID(id); ok {
		return t.buildResult(ctx, n)
	}
	item, attempt, ok := t.parseQueueID(id)
	if !ok {
		return targets.Result{}, fmt.Errorf("not a job of %s", t.jobURL)
	}
	var q queueItem
	err := t.getJSON(ctx, t.queueURL(item)+"api/json?tree=id,why,blocked,buildable,cancelled,executable[number,url]", &q)
	switch {
	case isNotFound(err):
		// The queue item expired: find its build by its parameters.
		b, found, err := t.findBuild(ctx, attempt)
		if err != nil {
			return targets.Result{}, err
		}
		if !found {
			return targets.Result{}, fmt.Errorf("queue item %d expired and no build of %s carries its parameters: %w", item, t.jobURL, targets.ErrJobGone)
		}
		return t.buildResult(ctx, b)
	case err != nil:
		return targets.Result{}, err
	case q.Executable != nil && q.Executable.Number > 0:
		return t.buildResult(ctx, q.Executable.Number)
	}
	return queueResult(q, t.jobURL), nil
}

// buildResult reads build n of the job.
func (t *Target) buildResult(ctx context.Context, n int) (targets.Result, error) {
	u := t.buildURL(n)
	body, err := t.get(ctx, u+"api/json?tree=number,url,building,result")
	if isNotFound(err) {
		return targets.Result{}, fmt.Errorf("build %s: %w", u, targets.ErrJobGone)
	}
	if err != nil {
		return targets.Result{}, err
	}
	res, err := buildResult(body, u)
	if err != nil {
		return targets.Result{}, fmt.Errorf("GET %s: %w", u, err)
	}
	return res, nil
}

// parseBuildID reads a build job id: {job}N/.
func (t *Target) parseBuildID(id string) (int, bool) {
	rest, ok := strings.CutPrefix(id, t.jobURL)
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(strings.TrimSuffix(rest, "/"))
	return n, err == nil && n > 0 && strings.HasSuffix(rest, "/")
}

// parseQueueID reads a queue job id: {root}queue/item/N/#attempt.
func (t *Target) parseQueueID(id string) (int64, string, bool) {
	rest, ok := strings.CutPrefix(id, t.root+"queue/item/")
	if !ok {
		return 0, "", false
	}
	num, attempt, ok := strings.Cut(rest, "/#")
	n, err := strconv.ParseInt(num, 10, 64)
	return n, attempt, ok && err == nil && n > 0 && attempt != ""
}

// withoutFragment is a job id without its fragment, for comparisons.
func withoutFragment(id string) string {
	s, _, _ := strings.Cut(id, "#")
	return s
}
