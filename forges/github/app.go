package github

import (
	"context"
	"crypto/rsa"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/golang-jwt/jwt/v5"
	gh "github.com/google/go-github/v92/github"

	"github.com/trawl-ci/trawl/pkg/secret"
)

// Timing of the app JWT and of installation token reuse.
const (
	// jwtBackdate puts the JWT's iat in the past, against clock drift.
	jwtBackdate = 60 * time.Second
	// jwtLifetime is how long the JWT is valid after now; GitHub refuses an
	// exp more than 10 minutes ahead.
	jwtLifetime = 9 * time.Minute
	// refreshBefore is how long before its expiry an installation token
	// is replaced.
	refreshBefore = 5 * time.Minute
)

// AppOpts configures an AppToken.
type AppOpts struct {
	AppID          int64
	InstallationID int64
	// PrivateKey holds the app's PEM private key; it is read on each
	// mint, so a replaced key file takes effect.
	PrivateKey secret.Source
	// APIURL is the REST API's root, as Opts.APIURL.
	APIURL string
	// HTTP is a plain client without a cache: token requests are POSTs
	// carrying the app's JWT, and nothing about them may be stored.
	HTTP *http.Client
	Now  func() time.Time
}

// AppToken mints the installation tokens of a GitHub App: its Token
// method is an httpx.Credential.Token. A token is reused until five minutes
// before it expires. It is safe for concurrent use; concurrent callers
// wait for a single mint.
type AppToken struct {
	o   AppOpts
	api string
	// lock is held (a value in the channel) while a caller reads or mints
	// the token; waiting for it respects the caller's context.
	lock    chan struct{}
	token   string
	refresh time.Time
}

// NewAppToken checks o and the private key, and returns the minter. It
// makes no request.
func NewAppToken(o AppOpts) (*AppToken, error) {
	if o.AppID <= 0 || o.InstallationID <= 0 {
		return nil, fmt.Errorf("github app: app id %d and installation id %d must be positive", o.AppID, o.InstallationID)
	}
	if o.HTTP == nil {
		return nil, fmt.Errorf("github app %d: no HTTP client", o.AppID)
	}
	api, err := apiURL(o.APIURL)
	if err != nil {
		return nil, fmt.Errorf("github app %d: %w", o.AppID, err)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	a := &AppToken{o: o, api: api, lock: make(chan struct{}, 1)}
	if _, err := a.key(); err != nil {
		return nil, err
	}
	return a, nil
}

// Identity names the installation for httpx.Credential.Identity: it stays
// the same when the token rotates, so the cache partition does too.
func (a *AppToken) Identity() string {
	return fmt.Sprintf("github-app/%d/%d", a.o.AppID, a.o.InstallationID)
}

// Token returns a valid installation token, minting one when there is
// none or the current one expires within five minutes.
func (a *AppToken) Token(ctx context.Context) (string, error) {
	select {
	case a.lock <- struct{}{}:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	defer func() { <-a.lock }()
	if a.token != "" && a.o.Now().Before(a.refresh) {
		return a.token, nil
	}
	token, expires, err := a.mint(ctx)
	if err != nil {
		return "", err
	}
	a.token, a.refresh = token, expires.Add(-refreshBefore)
	return token, nil
}

// key reads and parses the app's private key.
func (a *AppToken) key() (*rsa.PrivateKey, error) {
	pem, err := a.o.PrivateKey.Value()
	if err != nil {
		return nil, fmt.Errorf("github app %d: private key: %w", a.o.AppID, err)
	}
	key, err := jwt.ParseRSAPrivateKeyFromPEM([]byte(pem))
	if err != nil {
		return nil, fmt.Errorf("github app %d: private key from %s: %w", a.o.AppID, a.o.PrivateKey.Where(), err)
	}
	return key, nil
}

// mint signs a JWT as the app and exchanges it for an installation token.
func (a *AppToken) mint(ctx context.Context) (string, time.Time, error) {
	key, err := a.key()
	if err != nil {
		return "", time.Time{}, err
	}
	now := a.o.Now()
	jwtToken, err := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.RegisteredClaims{
		Issuer:    strconv.FormatInt(a.o.AppID, 10),
		IssuedAt:  jwt.NewNumericDate(now.Add(-jwtBackdate)),
		ExpiresAt: jwt.NewNumericDate(now.Add(jwtLifetime)),
	}).SignedString(key)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("github app %d: sign JWT: %w", a.o.AppID, err)
	}
	// The JWT is set above AppOpts.HTTP, which has no cache: nothing
	// stores it. It is a credential, so it is redacted like one.
	secret.Register(jwtToken)
	client, err := newClient(a.o.HTTP, a.api, gh.WithAuthToken(jwtToken))
	if err != nil {
		return "", time.Time{}, fmt.Errorf("github app %d: %w", a.o.AppID, err)
	}
	it, _, err := client.Apps.CreateInstallationToken(ctx, a.o.InstallationID, nil)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("github app %d installation %d: create installation token: %w", a.o.AppID, a.o.InstallationID, apiError(err))
	}
	if it.GetToken() == "" || it.ExpiresAt == nil {
		return "", time.Time{}, fmt.Errorf("github app %d installation %d: create installation token: answer has no token or no expiry", a.o.AppID, a.o.InstallationID)
	}
	secret.Register(it.GetToken())
	return it.GetToken(), it.GetExpiresAt().Time, nil
}
