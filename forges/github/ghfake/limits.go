package ghfake

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// What the fake's refusals rest on: docs.github.com, "Rate limits for the
// REST API" (REST version 2022-11-28), sections "Exceeding the primary rate
// limit", "About secondary rate limits" and "Handling rate limit errors",
// as ../shared/docs/API-NOTES.md §3.2 records them, and go-github v92's
// CheckResponse (a primary limit is 403 or 429 with x-ratelimit-remaining
// 0; a secondary one is 403 or 429 whose documentation_url ends in
// "secondary-rate-limits"). No exchange with github.com was recorded.

// Messages and documentation URLs GitHub sends with its refusals.
const (
	secondaryMessage = "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. " +
		"If you reach out to GitHub Support for help, please include the request ID 0000:1111:2222:3333:4444."
	secondaryDocs     = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"
	primaryDocs       = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"
	notAccessible     = "Resource not accessible by integration"
	adminRights       = "Must have admin rights to Repository."
	permissionDocs    = "https://docs.github.com/rest/commits/statuses#create-a-commit-status"
	secondaryWaitSecs = 60
)

// GitHub's secondary limits on content creation (a commit status is
// content): 80 requests a minute and 500 an hour per user or installation.
const (
	createPerMinute = 80
	createPerHour   = 500
)

// Refusal is an answer the fake gives instead of serving a request.
type Refusal int

// The refusals Refuse can inject.
const (
	// PrimaryLimit is 403 "API rate limit exceeded for user ID 1." with
	// x-ratelimit-remaining 0 and x-ratelimit-reset the window's end.
	PrimaryLimit Refusal = iota + 1
	// PrimaryLimit429 is PrimaryLimit answered with 429, which GitHub
	// documents as well.
	PrimaryLimit429
	// PrimaryNoReset is PrimaryLimit without x-ratelimit-reset: GitHub
	// documents the header on every answer, but a proxy in between may
	// drop it, and the client must not invent a time.
	PrimaryNoReset
	// SecondaryRetryAfter is 403 "You have exceeded a secondary rate
	// limit..." with retry-after: 60 and the primary headers (remaining
	// above 0).
	SecondaryRetryAfter
	// Secondary is the same 403 without retry-after and without any
	// x-ratelimit-* header: the client waits at least a minute, then backs
	// off exponentially.
	Secondary
	// Secondary429 is 429 with retry-after: 60 and the secondary message.
	Secondary429
	// NotAccessible is 403 "Resource not accessible by integration" with
	// remaining above 0: an App without the permission, a refusal.
	NotAccessible
	// AdminRights is 403 "Must have admin rights to Repository." with
	// remaining above 0, a refusal.
	AdminRights
)

// Refuse makes the next n API requests with method (any method when
// empty), once their credential is checked, answer r instead of being
// served. n = 0 cancels.
func (f *Fake) Refuse(method string, r Refusal, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.refuseMethod, f.refusal, f.refusals = method, r, n
}

// Refused returns how many requests were refused by a rate limit (the
// injected ones and the content creation limits).
func (f *Fake) Refused() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.limited
}

// refuse writes an injected refusal, if one is due. f.mu is held.
func (f *Fake) refuse(w http.ResponseWriter, r *http.Request, b *budget) bool {
	if f.refusals <= 0 || (f.refuseMethod != "" && f.refuseMethod != r.Method) {
		return false
	}
	f.refusals--
	hdr := w.Header()
	msg := message{Message: secondaryMessage, DocumentationURL: secondaryDocs}
	status := http.StatusForbidden
	switch f.refusal {
	case PrimaryLimit, PrimaryLimit429, PrimaryNoReset:
		b.used = b.limit
		rateHeaders(hdr, b)
		if f.refusal == PrimaryNoReset {
			hdr.Del("X-RateLimit-Reset")
		}
		if f.refusal == PrimaryLimit429 {
			status = http.StatusTooManyRequests
		}
		msg = message{Message: "API rate limit exceeded for user ID 1.", DocumentationURL: primaryDocs}
	case SecondaryRetryAfter:
		rateHeaders(hdr, b)
		hdr.Set("Retry-After", strconv.Itoa(secondaryWaitSecs))
	case Secondary429:
		status = http.StatusTooManyRequests
		rateHeaders(hdr, b)
		hdr.Set("Retry-After", strconv.Itoa(secondaryWaitSecs))
	case Secondary:
	case NotAccessible, AdminRights:
		f.charge(b)
		rateHeaders(hdr, b)
		msg = message{Message: notAccessible, DocumentationURL: permissionDocs, Status: "403"}
		if f.refusal == AdminRights {
			msg.Message = adminRights
		}
		write(w, answer{status: status, body: msg}, nil)
		return true
	}
	f.limited++
	write(w, answer{status: status, body: msg}, nil)
	return true
}

// createLimited answers a content-creating request past GitHub's limits
// with the secondary limit's 403 (no retry-after: GitHub sends none for
// these), and otherwise counts it. f.mu is held.
func (f *Fake) createLimited(w http.ResponseWriter, r *http.Request, c caller, b *budget) bool {
	if r.Method != http.MethodPost || !strings.Contains(r.URL.Path, "/statuses/") {
		return false
	}
	now := f.o.Now()
	var minute, hour int
	kept := f.created[c.principal][:0]
	for _, t := range f.created[c.principal] {
		if now.Sub(t) < time.Hour {
			kept = append(kept, t)
			hour++
			if now.Sub(t) < time.Minute {
				minute++
			}
		}
	}
	f.created[c.principal] = kept
	if minute >= createPerMinute || hour >= createPerHour {
		f.limited++
		rateHeaders(w.Header(), b)
		write(w, answer{status: http.StatusForbidden, body: message{Message: secondaryMessage, DocumentationURL: secondaryDocs}}, nil)
		return true
	}
	f.created[c.principal] = append(kept, now)
	return false
}
