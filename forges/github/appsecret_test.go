package github

import (
	"strings"
	"testing"

	"github.com/trawl-ci/trawl/pkg/secret"
)

// TestAppTokensAreRedacted checks that the installation token a GitHub App
// mints, which no file or variable holds, is redacted like a configured
// one, so a server echoing it cannot make trawl repeat it; and the app's
// private key too.
func TestAppTokensAreRedacted(t *testing.T) {
	key, keySrc := appKey(t)
	e := appEnv(t, key)
	tok, err := e.appToken(t, keySrc).Token(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if got := secret.Redact("401: Bad credentials " + tok); strings.Contains(got, tok) || !strings.Contains(got, secret.Mask) {
		t.Errorf("minted token not redacted: %q", got)
	}
	pem, err := keySrc.Value()
	if err != nil {
		t.Fatal(err)
	}
	if got := secret.Redact("key " + pem); strings.Contains(got, pem) {
		t.Error("private key not redacted")
	}
}
