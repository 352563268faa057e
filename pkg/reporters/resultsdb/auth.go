package resultsdb

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/trawl-ci/trawl/pkg/httpx"
	"github.com/trawl-ci/trawl/pkg/secret"
)

// What authentication rests on. ResultsDB itself (release-engineering/
// resultsdb 2.x, API v2.0) checks no credential: POST /api/v2.0/results is
// open, as recorded from a real 2.2.0 (../shared/fixtures/resultsdb,
// "no auth of any kind"), and stays open when OIDC is turned on, which
// only adds the v3 API beside it (resultsdb/__init__.py registers api_v3
// only when AUTH_MODULE is "oidc"; older, Python 2 releases, on
// flask-oidc, instead checked an "_auth_token" in every POST body under
// that setting, which trawl does not send). A deployment that protects
// writes does it in front of the application: an HTTP server or proxy
// asking for HTTP Basic credentials or a Bearer token (RFC 7235: 401 with
// WWW-Authenticate when missing or wrong). The reporter therefore sends
// one of the two on every request, reads as well as posts (a proxy may
// guard both).
//
// The v3 API is not used. Its POST /api/v3/results/<type>s exists only for
// four artifact types (brew-builds, productmd-composes,
// redhat-container-images, redhat-modules; resultsdb/parsers/api_v3.py),
// each with its own required fields (brew_task_id, ci_name, ci_team,
// ci_docs, ci_email, ...), and it sets data.type to the artifact type: a
// trawl change (a Patchwork series, a pull request) is none of them, and a
// gate reading type=brew-build would take it for a build.

// The schemes a credential is sent with.
const (
	// AuthBearer sends "Authorization: Bearer <token>".
	AuthBearer = "bearer"
	// AuthBasic sends "Authorization: Basic base64(<username>:<token>)".
	AuthBasic = "basic"
)

// Auth is the credential a ResultsDB behind an authenticating proxy asks
// for. The zero value sends none.
type Auth struct {
	// Scheme is AuthBearer or AuthBasic; empty means AuthBearer when
	// Secret is set.
	Scheme string
	// Username is the Basic user name; only with AuthBasic.
	Username string
	// Secret holds the token (the Basic password).
	Secret secret.Source
}

// IsSet reports whether a credential is configured.
func (a Auth) IsSet() bool { return a.Secret.IsSet() }

// check refuses an inconsistent Auth.
func (a Auth) check() error {
	switch {
	case !a.IsSet() && (a.Scheme != "" || a.Username != ""):
		return errors.New("auth: a scheme or user name without a token")
	case !a.IsSet():
		return nil
	case a.Scheme == "" || a.Scheme == AuthBearer:
		if a.Username != "" {
			return errors.New("auth: a user name is only sent with basic auth")
		}
	case a.Scheme == AuthBasic:
		if a.Username == "" || strings.Contains(a.Username, ":") {
			return errors.New("auth: basic auth needs a user name without ':'")
		}
	default:
		return fmt.Errorf("auth: scheme %q: want %s or %s", a.Scheme, AuthBearer, AuthBasic)
	}
	return nil
}

// Credential is how the HTTP client built for the reporter (pkg/httpx)
// sends a. It is nil for no credential. The secret is read on every
// request, so a rotated token file takes effect, and never appears in an
// error.
func (a Auth) Credential() (*httpx.Credential, error) {
	if err := a.check(); err != nil {
		return nil, err
	}
	switch {
	case !a.IsSet():
		return nil, nil
	case a.Scheme == AuthBasic:
		user, src := a.Username, a.Secret
		return &httpx.Credential{
			Header: "Authorization",
			Prefix: "Basic ",
			Token: func(context.Context) (string, error) {
				pw, err := src.Value()
				if err != nil {
					return "", err
				}
				return base64.StdEncoding.EncodeToString([]byte(user + ":" + pw)), nil
			},
			// The ResultsDB client keeps no cache; the identity names a
			// partition only if one is ever added.
			Identity: "basic:" + user,
		}, nil
	}
	return &httpx.Credential{Header: "Authorization", Prefix: "Bearer ", Secret: a.Secret}, nil
}
