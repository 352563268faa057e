package config

import (
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/trawl-ci/trawl/pkg/secret"
	"github.com/trawl-ci/trawl/pkg/targets"
)

// The reporter types trawl knows.
const (
	// ReporterResultsDB posts results to a ResultsDB (API v2.0).
	ReporterResultsDB = "resultsdb"
)

// Report says where a source's results are written back.
type Report struct {
	// Checks posts the result where the change lives: a Patchwork check on
	// every patch of a series (key "checks"), a commit status on a pull or
	// merge request's head (key "statuses"). It defaults to true when the
	// source has a token.
	Checks bool `yaml:"checks" json:"checks"`
	// Context is the check context, a slug; when the source has several
	// targets, "-<target>" is appended so each target has its own.
	Context string `yaml:"context" json:"context"`
	// States maps a result state (pending, success, warning, fail,
	// infra-error) to the check or status state posted, in the forge's
	// words; "none" means not posted.
	// Missing states keep the reporter's default.
	States map[targets.State]string `yaml:"states,omitempty" json:"states,omitempty"`
	// Reporters names further reporters (ResultsDB) the source's results go to.
	Reporters []string `yaml:"reporters,omitempty" json:"reporters,omitempty"`
	// MaxAge bounds how long a report that keeps failing is retried: an
	// older one is dropped from the outbox, logged and counted.
	MaxAge Duration `yaml:"max_age" json:"max_age"`
}

// DefaultReportMaxAge is how long a failing report is retried by default.
const DefaultReportMaxAge = Duration(7 * 24 * time.Hour)

// DefaultCheckContext is the check context of a source that names none.
const DefaultCheckContext = "trawl"

// Reporter is one results store. Exactly the block of its Type is set.
type Reporter struct {
	Name      string     `yaml:"name" json:"name"`
	Type      string     `yaml:"type" json:"type"`
	ResultsDB *ResultsDB `yaml:"resultsdb,omitempty" json:"resultsdb,omitempty"`
}

// ResultsDB configures a ResultsDB reporter.
type ResultsDB struct {
	// URL is the ResultsDB root (trawl appends /api/v2.0/results).
	URL string `yaml:"url" json:"url"`
	// Testcase is the testcase name results are posted under.
	Testcase string `yaml:"testcase" json:"testcase"`
	// ItemType is data.type of every result; empty means "trawl-change".
	ItemType string `yaml:"item_type,omitempty" json:"item_type,omitempty"`
	// Outcomes overrides the outcome of a result state (e.g. infra-error:
	// ERROR on instances that know it).
	Outcomes map[targets.State]string `yaml:"outcomes,omitempty" json:"outcomes,omitempty"`
	// Token, when set, is where the credential of a ResultsDB that
	// protects writes lives (token_file or token_env): a Bearer token, or
	// the password with Auth basic.
	Token secret.Source `yaml:"token" json:"token"`
	// Auth is how Token is sent: "bearer" (the default) or "basic".
	Auth string `yaml:"auth,omitempty" json:"auth,omitempty"`
	// Username is the user name of basic auth.
	Username string `yaml:"username,omitempty" json:"username,omitempty"`
}

var (
	resultStates = []string{string(targets.StatePending), string(targets.StateSuccess), string(targets.StateWarning), string(targets.StateFail), string(targets.StateInfra)}
	checkSlugRE  = regexp.MustCompile(`^[-a-zA-Z0-9_]{1,255}$`)
	testcaseRE   = regexp.MustCompile(`^[^\s,]+$`)
	outcomeRE    = regexp.MustCompile(`^[A-Za-z_]+$`)
)

// reporter reads one entry of the top-level reporters list.
func (l *loader) reporter(f field, seen map[string]int) Reporter {
	o := l.object(f, "name", "type", ReporterResultsDB)
	r := Reporter{Name: l.name(o.get("name"), seen)}
	var block field
	r.Type, block = l.typeOf(o, "reporter", ReporterResultsDB)
	if block.node != nil && r.Type == ReporterResultsDB {
		b := l.object(block, "url", "testcase", "item_type", "outcomes", "token_file", "token_env", "auth", "username")
		r.ResultsDB = &ResultsDB{
			URL:      l.httpURL(b.get("url"), true),
			Testcase: l.required(b.get("testcase")),
			ItemType: l.optional(b.get("item_type"), ""),
			Token:    l.secret(b, false),
			Auth:     l.enum(b.get("auth"), "", "bearer", "basic"),
			Username: l.optional(b.get("username"), ""),
		}
		switch rd := r.ResultsDB; {
		case rd.Auth != "" && !rd.Token.IsSet():
			l.errorf(b.get("auth"), "needs token_file or token_env (where the token or password is read from)")
		case rd.Auth == "basic" && rd.Username == "":
			l.errorf(b.get("auth"), "basic auth needs username")
		case rd.Username != "" && rd.Auth != "basic":
			l.errorf(b.get("username"), "a user name is sent only with auth: basic")
		case strings.Contains(rd.Username, ":"):
			l.errorf(b.get("username"), "must not contain ':'")
		}
		if tc := r.ResultsDB.Testcase; tc != "" && !testcaseRE.MatchString(tc) {
			l.errorf(b.get("testcase"), "%s must not contain white space or commas", quote(tc))
		}
		if it := r.ResultsDB.ItemType; strings.ContainsAny(it, ", \t") {
			l.errorf(b.get("item_type"), "%s must not contain white space or commas", quote(it))
		}
		r.ResultsDB.Outcomes = l.stateMap(b.get("outcomes"), func(f field, v string) bool {
			if !outcomeRE.MatchString(v) {
				l.errorf(f, "%s is not a ResultsDB outcome (PASSED, FAILED, NEEDS_INSPECTION, INFO, or one the instance adds)", quote(v))
				return false
			}
			return true
		})
		if _, ok := r.ResultsDB.Outcomes[targets.StatePending]; ok {
			l.errorf(b.get("outcomes"), "pending cannot be posted to ResultsDB: its results are final")
		}
	}
	return r
}

// report reads a source's report block; reporters maps the reporter
// names to their lines.
func (l *loader) report(f field, s Source, reporters map[string]int) Report {
	key, what, words := "checks", "check", []string{"pending", "success", "warning", "fail"}
	hasToken := s.Patchwork != nil && s.Patchwork.Token.IsSet()
	switch s.Type {
	case SourceGitHub:
		key, what, words = "statuses", "commit status", []string{"pending", "success", "failure", "error"}
		hasToken = s.GitHub != nil
	case SourceGitLab:
		key, what, words = "statuses", "commit status", []string{"pending", "running", "success", "failed", "canceled"}
		hasToken = s.GitLab != nil
	}
	o := l.object(f, key, "context", "states", "reporters", "max_age")
	r := Report{Checks: hasToken, Context: DefaultCheckContext, MaxAge: l.duration(o.get("max_age"), DefaultReportMaxAge)}
	cf := o.get(key)
	if v := l.enum(cf, "", "true", "false"); v != "" {
		r.Checks = v == "true"
		if r.Checks && !hasToken {
			l.errorf(cf, "posting checks needs the Patchwork token: set patchwork.token_file or patchwork.token_env")
		}
	}
	xf := o.get("context")
	r.Context = l.optional(xf, DefaultCheckContext)
	switch {
	case s.Type == SourcePatchwork && !checkSlugRE.MatchString(r.Context):
		l.errorf(xf, "%s is not a check context: letters, digits, '-' and '_' only (no dots, slashes or spaces)", quote(r.Context))
	case r.Context == "" || len(r.Context) > 190:
		l.errorf(xf, "must be 1 to 190 characters")
	}
	r.States = l.stateMap(o.get("states"), func(f field, v string) bool {
		if v == "none" || slices.Contains(words, v) {
			return true
		}
		l.errorf(f, "%s is not a %s state: %s, or none", quote(v), what, strings.Join(words, ", "))
		return false
	})
	for _, it := range l.items(o.get("reporters")) {
		name := l.required(it)
		if name != "" && reporters[name] == 0 {
			l.errorf(it, "no reporter is named %s; reporters are: %s", quote(name), knownNames(reporters))
			continue
		}
		r.Reporters = append(r.Reporters, name)
	}
	return r
}

// stateMap reads a mapping of result states to values checked by valid.
func (l *loader) stateMap(f field, valid func(field, string) bool) map[targets.State]string {
	if f.node == nil {
		return nil
	}
	o := l.object(f, resultStates...)
	m := map[targets.State]string{}
	for _, s := range resultStates {
		vf := o.get(s)
		if v, ok := l.scalar(vf); ok && valid(vf, v) {
			m[targets.State(s)] = v
		}
	}
	return m
}
