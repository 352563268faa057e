package config

import (
	"regexp"

	"github.com/trawl-ci/trawl/pkg/secret"
)

// TargetWebhook POSTs each unit, signed, to a URL.
const TargetWebhook = "webhook"

// Webhook configures a signed webhook target.
type Webhook struct {
	URL string `yaml:"url" json:"url"`
	// Secret is the HMAC-SHA256 key the body is signed with.
	Secret secret.Source `yaml:"secret" json:"secret"`
	// Header carries the signature; empty is X-Trawl-Signature-256.
	Header string `yaml:"header,omitempty" json:"header,omitempty"`
}

// headerRE is the form of an HTTP header name (RFC 9110 token).
var headerRE = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")

// webhook reads a target's webhook block.
func (l *loader) webhook(f field) *Webhook {
	o := l.object(f, "url", "secret_file", "secret_env", "header")
	w := &Webhook{
		URL:    l.httpURL(o.get("url"), true),
		Secret: l.secretPair(o, "secret_file", "secret_env", "signing secret", true),
		Header: l.optional(o.get("header"), ""),
	}
	if w.Header != "" && !headerRE.MatchString(w.Header) {
		l.errorf(o.get("header"), "%s is not an HTTP header name", quote(w.Header))
	}
	return w
}
