package github

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trawl-ci/trawl/forges/github/ghfake"
	"github.com/trawl-ci/trawl/pkg/httpx"
	"github.com/trawl-ci/trawl/pkg/secret"
)

const (
	testAppID        = 4242
	testInstallation = 77
)

// appKey writes a new RSA key as PEM into a file and returns it with its
// secret source.
func appKey(t *testing.T) (*rsa.PrivateKey, secret.Source) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "app.pem")
	block := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	if err := os.WriteFile(path, block, 0o600); err != nil {
		t.Fatal(err)
	}
	return key, secret.Source{File: path}
}

// appEnv is an env whose fake knows the app of key.
func appEnv(t *testing.T, key *rsa.PrivateKey) *env {
	return newEnv(t, ghfake.Options{AppID: testAppID, AppKey: &key.PublicKey, Installation: testInstallation}, nil)
}

func (e *env) appToken(t *testing.T, key secret.Source) *AppToken {
	t.Helper()
	a, err := NewAppToken(AppOpts{
		AppID: testAppID, InstallationID: testInstallation, PrivateKey: key,
		APIURL: e.srv.URL + "/", HTTP: e.srv.Client(), Now: e.clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// mints counts the installation token requests the fake answered.
func (e *env) mints() int {
	n := 0
	for _, r := range e.fake.Requests() {
		if r.Method == http.MethodPost && strings.HasSuffix(r.URI, "/access_tokens") && r.Status == http.StatusCreated {
			n++
		}
	}
	return n
}

func TestAppTokenRotation(t *testing.T) {
	key, keySrc := appKey(t)
	e := appEnv(t, key)
	e.addPRs(2)
	app := e.appToken(t, keySrc)
	if got := app.Identity(); got != "github-app/4242/77" {
		t.Errorf("Identity = %q", got)
	}
	hc := e.client(t, &httpx.Credential{Header: "Authorization", Prefix: "Bearer ", Token: app.Token, Identity: app.Identity()})
	s := e.source(t, func(o *Opts) { o.HTTP = hc })

	first := fetch(t, s)
	if len(first) != 2 || e.mints() != 1 {
		t.Fatalf("first fetch: %d changes, %d tokens minted", len(first), e.mints())
	}
	partitions := func() []string {
		t.Helper()
		entries, err := os.ReadDir(e.cacheDir)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, d := range entries {
			names = append(names, d.Name())
		}
		return names
	}
	before := partitions()

	// 54 minutes on, the token has 6 minutes left: reused, and the list
	// revalidates for free.
	e.clock.Add(54 * time.Minute)
	n, used := len(e.fake.Requests()), e.fake.RateLimitUsed()
	fetch(t, s)
	if e.mints() != 1 || e.fake.RateLimitUsed() != used {
		t.Errorf("fetch at 54 min: %d mints, cost %d", e.mints(), e.fake.RateLimitUsed()-used)
	}
	for _, r := range e.requestsSince(n) {
		if r.Status != http.StatusNotModified {
			t.Errorf("fetch at 54 min: %+v, want 304", r)
		}
	}

	// At 56 minutes the token is within 5 minutes of expiry: a new one
	// is minted. The cache entry survives the rotation (the partition is
	// the installation, not the token), so the request is still
	// conditional; GitHub's ETag depends on the token, so this one
	// answer is a full 200. The fetch after it is a free 304 again.
	e.clock.Add(2 * time.Minute)
	n = len(e.fake.Requests())
	second := fetch(t, s)
	if e.mints() != 2 {
		t.Fatalf("fetch at 56 min: %d mints, want 2", e.mints())
	}
	for _, r := range e.requestsSince(n) {
		if strings.Contains(r.URI, "/pulls") && (r.IfNoneMatch == "" || !r.Authenticated || r.Status != http.StatusOK) {
			t.Errorf("request after rotation %+v: want an authenticated conditional request answered 200", r)
		}
	}
	if len(second) != 2 {
		t.Errorf("fetch after rotation: %d changes", len(second))
	}
	n, used = len(e.fake.Requests()), e.fake.RateLimitUsed()
	fetch(t, s)
	for _, r := range e.requestsSince(n) {
		if r.Status != http.StatusNotModified {
			t.Errorf("fetch after rotation settled: %+v, want 304", r)
		}
	}
	if e.fake.RateLimitUsed() != used || e.mints() != 2 {
		t.Errorf("fetch after rotation settled: cost %d, %d mints", e.fake.RateLimitUsed()-used, e.mints())
	}
	if after := partitions(); !slices.Equal(after, before) {
		t.Errorf("cache partitions %v after the rotation, %v before", after, before)
	}
	noLeak(t, e, e.cacheDir, e.fake.InstallationTokens()...)
}

func TestAppTokenSingleFlight(t *testing.T) {
	key, keySrc := appKey(t)
	e := appEnv(t, key)
	app := e.appToken(t, keySrc)
	var wg sync.WaitGroup
	tokens := make([]string, 8)
	for i := range tokens {
		wg.Go(func() {
			tok, err := app.Token(context.Background())
			if err != nil {
				t.Error(err)
			}
			tokens[i] = tok
		})
	}
	wg.Wait()
	if e.mints() != 1 {
		t.Errorf("%d concurrent callers minted %d tokens, want 1", len(tokens), e.mints())
	}
	for _, tok := range tokens[1:] {
		if tok != tokens[0] {
			t.Errorf("callers got different tokens")
		}
	}
}

func TestAppTokenErrors(t *testing.T) {
	key, keySrc := appKey(t)
	_, otherSrc := appKey(t)
	e := appEnv(t, key)

	// A key the app does not have: GitHub refuses the JWT.
	_, err := e.appToken(t, otherSrc).Token(context.Background())
	if err == nil || !strings.Contains(err.Error(), "401") || !strings.Contains(err.Error(), "create installation token") {
		t.Errorf("wrong key: %v, want a 401 naming the call", err)
	}
	if err != nil && strings.Contains(err.Error(), "eyJ") {
		t.Errorf("error carries the JWT: %v", err)
	}

	// An installation the app does not have.
	a, err := NewAppToken(AppOpts{AppID: testAppID, InstallationID: 1, PrivateKey: keySrc, APIURL: e.srv.URL, HTTP: e.srv.Client(), Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Token(context.Background()); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("unknown installation: %v, want a 404", err)
	}

	// A cancelled caller does not wait for the lock.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	app := e.appToken(t, keySrc)
	app.lock <- struct{}{}
	if _, err := app.Token(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled wait: %v", err)
	}
	<-app.lock

	bad := filepath.Join(t.TempDir(), "bad.pem")
	if err := os.WriteFile(bad, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, o := range map[string]AppOpts{
		"no app id":  {InstallationID: 1, PrivateKey: keySrc, HTTP: e.srv.Client()},
		"no client":  {AppID: 1, InstallationID: 1, PrivateKey: keySrc},
		"no key":     {AppID: 1, InstallationID: 1, HTTP: e.srv.Client()},
		"bad key":    {AppID: 1, InstallationID: 1, PrivateKey: secret.Source{File: bad}, HTTP: e.srv.Client()},
		"bad APIURL": {AppID: 1, InstallationID: 1, PrivateKey: keySrc, HTTP: e.srv.Client(), APIURL: "::"},
	} {
		if _, err := NewAppToken(o); err == nil {
			t.Errorf("%s: NewAppToken accepted it", name)
		}
	}
}
