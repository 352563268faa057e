package httpx

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/trawl-ci/trawl/pkg/secret"
)

// TestSelfSignedServerRefused checks that TLS verification cannot be off:
// trawl has no option to skip it, so a server with a certificate no
// trusted authority signed is refused, with an error naming the URL and the
// certificate problem, and never receives the credential.
func TestSelfSignedServerRefused(t *testing.T) {
	var got atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			got.Add(1)
		}
	}))
	defer srv.Close()
	dir := t.TempDir()
	t.Setenv("TRAWL_TLS_TEST_TOKEN", "tls-canary-token-1234")
	c, err := New(Options{
		Name:       "tls",
		UserAgent:  "test",
		RetryMax:   -1,
		CacheDir:   dir,
		Credential: &Credential{Header: "Authorization", Prefix: "Token ", Secret: secret.Source{Env: "TRAWL_TLS_TEST_TOKEN"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Get(srv.URL + "/api/")
	if err == nil {
		resp.Body.Close()
		t.Fatal("a self-signed server was accepted")
	}
	for _, want := range []string{srv.URL + "/api/", "certificate"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
	if got.Load() != 0 {
		t.Error("the credential reached a server whose certificate was refused")
	}
}
