package resultsdb_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trawl-ci/trawl/pkg/httpx"
	"github.com/trawl-ci/trawl/pkg/report"
	"github.com/trawl-ci/trawl/pkg/reporters/resultsdb"
	"github.com/trawl-ci/trawl/pkg/reporters/resultsdb/rdbfake"
	"github.com/trawl-ci/trawl/pkg/secret"
	"github.com/trawl-ci/trawl/pkg/targets"
)

const token = "s3cr3t-t0ken"

// authedReporter is a reporter sending a's credential through the
// daemon's HTTP stack, against a fake whose writes need writeAuth.
func authedReporter(t *testing.T, writeAuth string, a resultsdb.Auth) (*resultsdb.Reporter, *rdbfake.Fake) {
	t.Helper()
	fake := rdbfake.New(rdbfake.Options{WriteAuth: writeAuth})
	srv := httptest.NewServer(fake.Handler())
	t.Cleanup(srv.Close)
	cred, err := a.Credential()
	if err != nil {
		t.Fatal(err)
	}
	hc, err := httpx.New(httpx.Options{Name: "resultsdb test", UserAgent: httpx.UserAgent("test"), Credential: cred,
		RetryWaitMin: time.Millisecond, RetryWaitMax: 2 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	r, err := resultsdb.New(resultsdb.Opts{Name: "rdb", URL: srv.URL, Testcase: testcase, HTTP: hc, Auth: a})
	if err != nil {
		t.Fatal(err)
	}
	return r, fake
}

func TestCredentialReachesAProtectedResultsDB(t *testing.T) {
	file := filepath.Join(t.TempDir(), "rdb.token")
	if err := os.WriteFile(file, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TRAWL_TEST_RDB_TOKEN", token)
	tests := []struct {
		name      string
		auth      resultsdb.Auth
		writeAuth string
	}{
		{"bearer from a file", resultsdb.Auth{Secret: secret.Source{File: file}}, "Bearer " + token},
		{"bearer named, from the environment", resultsdb.Auth{Scheme: resultsdb.AuthBearer, Secret: secret.Source{Env: "TRAWL_TEST_RDB_TOKEN"}}, "Bearer " + token},
		// base64("trawl-bot:s3cr3t-t0ken")
		{"basic from a file", resultsdb.Auth{Scheme: resultsdb.AuthBasic, Username: "trawl-bot", Secret: secret.Source{File: file}},
			"Basic dHJhd2wtYm90OnMzY3IzdC10MGtlbg=="},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, fake := authedReporter(t, tt.writeAuth, tt.auth)
			m := report.Message{Unit: item + "@kci", Target: "kci", Fingerprint: "f00d", State: targets.StateSuccess, Summary: "ok"}
			done, err := r.Report(t.Context(), item, m, "PASSED")
			if err != nil || done != report.Posted {
				t.Fatalf("Report = %v, %v; want posted", done, err)
			}
			if n := len(fake.Results()); n != 1 {
				t.Fatalf("%d results stored, want 1", n)
			}
		})
	}
}

func TestRefusedCredentialIsPermanentAndSaysSo(t *testing.T) {
	tests := []struct {
		name string
		auth resultsdb.Auth
		want string
	}{
		{"none sent", resultsdb.Auth{}, "no credential was sent: set token_file or token_env"},
		{"wrong token", resultsdb.Auth{Secret: secret.Source{Env: "TRAWL_TEST_RDB_WRONG"}}, "check the reporter's token and auth scheme"},
	}
	t.Setenv("TRAWL_TEST_RDB_WRONG", "not-"+token)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, fake := authedReporter(t, "Bearer "+token, tt.auth)
			err := r.PostResult(t.Context(), result(targets.StateFail))
			if !report.Permanent(err) || !errors.Is(err, httpx.ErrForbidden) {
				t.Fatalf("error %v: want a permanent 401", err)
			}
			if !strings.Contains(err.Error(), "401 Unauthorized") || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q: want the status and %q", err, tt.want)
			}
			if strings.Contains(err.Error(), token) {
				t.Errorf("error %q carries the token", err)
			}
			if len(fake.Results()) != 0 {
				t.Error("a refused post was stored")
			}
		})
	}
}

func TestUnreadableTokenIsRetryable(t *testing.T) {
	r, fake := authedReporter(t, "Bearer "+token, resultsdb.Auth{Secret: secret.Source{File: filepath.Join(t.TempDir(), "missing")}})
	err := r.PostResult(t.Context(), result(targets.StateFail))
	if err == nil || report.Permanent(err) || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("error %v: want a retryable error naming the file", err)
	}
	if len(fake.Results()) != 0 {
		t.Error("stored without a credential")
	}
}

func TestAuthRejects(t *testing.T) {
	src := secret.Source{Env: "X"}
	for _, a := range []resultsdb.Auth{
		{Scheme: resultsdb.AuthBasic},
		{Username: "u"},
		{Scheme: resultsdb.AuthBasic, Secret: src},
		{Scheme: resultsdb.AuthBasic, Username: "a:b", Secret: src},
		{Scheme: resultsdb.AuthBearer, Username: "u", Secret: src},
		{Scheme: "negotiate", Secret: src},
	} {
		if _, err := a.Credential(); err == nil {
			t.Errorf("%+v accepted", a)
		}
		if _, err := resultsdb.New(resultsdb.Opts{Name: "r", URL: "https://rdb.example.org", Testcase: testcase, HTTP: http.DefaultClient, Auth: a}); err == nil {
			t.Errorf("New accepted %+v", a)
		}
	}
	if c, err := (resultsdb.Auth{}).Credential(); c != nil || err != nil {
		t.Errorf("no auth: %v, %v; want no credential", c, err)
	}
}
