package config

import (
	"regexp"
	"strings"

	"github.com/trawl-ci/trawl/pkg/secret"
	"github.com/trawl-ci/trawl/pkg/targets"
)

// ReporterResultsDB posts results to a ResultsDB (API v2.0).
const ReporterResultsDB = "resultsdb"

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

// Forms of a ResultsDB testcase name and outcome.
var (
	testcaseRE = regexp.MustCompile(`^[^\s,]+$`)
	outcomeRE  = regexp.MustCompile(`^[A-Za-z_]+$`)
)

// resultsDB reads a reporter's resultsdb block.
func (l *loader) resultsDB(f field) *ResultsDB {
	b := l.object(f, "url", "testcase", "item_type", "outcomes", "token_file", "token_env", "auth", "username")
	rd := &ResultsDB{
		URL:      l.httpURL(b.get("url"), true),
		Testcase: l.required(b.get("testcase")),
		ItemType: l.optional(b.get("item_type"), ""),
		Token:    l.secret(b, false),
		Auth:     l.enum(b.get("auth"), "", "bearer", "basic"),
		Username: l.optional(b.get("username"), ""),
	}
	switch {
	case rd.Auth != "" && !rd.Token.IsSet():
		l.errorf(b.get("auth"), "needs token_file or token_env (where the token or password is read from)")
	case rd.Auth == "basic" && rd.Username == "":
		l.errorf(b.get("auth"), "basic auth needs username")
	case rd.Username != "" && rd.Auth != "basic":
		l.errorf(b.get("username"), "a user name is sent only with auth: basic")
	case strings.Contains(rd.Username, ":"):
		l.errorf(b.get("username"), "must not contain ':'")
	}
	if tc := rd.Testcase; tc != "" && !testcaseRE.MatchString(tc) {
		l.errorf(b.get("testcase"), "%s must not contain white space or commas", quote(tc))
	}
	if it := rd.ItemType; strings.ContainsAny(it, ", \t") {
		l.errorf(b.get("item_type"), "%s must not contain white space or commas", quote(it))
	}
	rd.Outcomes = l.stateMap(b.get("outcomes"), func(f field, v string) bool {
		if !outcomeRE.MatchString(v) {
			l.errorf(f, "%s is not a ResultsDB outcome (PASSED, FAILED, NEEDS_INSPECTION, INFO, or one the instance adds)", quote(v))
			return false
		}
		return true
	})
	if _, ok := rd.Outcomes[targets.StatePending]; ok {
		l.errorf(b.get("outcomes"), "pending cannot be posted to ResultsDB: its results are final")
	}
	return rd
}
