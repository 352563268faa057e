package ghfake

import (
	"crypto/rand"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// createToken answers POST /app/installations/{id}/access_tokens: the
// request carries the app's JWT, the answer an installation token.
func (f *Fake) createToken(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.o.AppKey == nil {
		write(w, notFound(), nil)
		return
	}
	scheme, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "bearer") || tok == "" {
		write(w, fail(http.StatusUnauthorized, "A JSON web token could not be decoded"), nil)
		return
	}
	var claims jwt.RegisteredClaims
	_, err := jwt.ParseWithClaims(tok, &claims,
		func(*jwt.Token) (any, error) { return f.o.AppKey, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodRS256.Alg()}),
		jwt.WithTimeFunc(f.o.Now),
		jwt.WithLeeway(jwtClockLeeway),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithIssuer(strconv.FormatInt(f.o.AppID, 10)),
	)
	if err != nil {
		write(w, fail(http.StatusUnauthorized, "A JSON web token could not be decoded"), nil)
		return
	}
	if claims.IssuedAt == nil || claims.ExpiresAt.Sub(claims.IssuedAt.Time) > jwtMaxLifetime+jwtClockLeeway ||
		claims.ExpiresAt.Sub(f.o.Now()) > jwtMaxLifetime+jwtClockLeeway {
		write(w, fail(http.StatusUnauthorized, "'Expiration time' claim ('exp') is too far in the future"), nil)
		return
	}
	if rec, ok := w.(*recorder); ok {
		rec.authenticated = true
	}
	if id, err := strconv.ParseInt(r.PathValue("id"), 10, 64); err != nil || id != f.o.Installation {
		write(w, notFound(), nil)
		return
	}
	token := "ghs_" + rand.Text()
	expires := f.o.Now().Add(f.o.TokenTTL).UTC().Truncate(time.Second)
	f.installTok[token] = expires
	write(w, answer{status: http.StatusCreated, body: tokenJSON{
		Token:               token,
		ExpiresAt:           timestamp(expires),
		Permissions:         map[string]string{"metadata": "read", "pull_requests": "read", "statuses": "write"},
		RepositorySelection: "all",
	}}, nil)
}
