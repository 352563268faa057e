package kcifake

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// PipelineHandler serves the pipeline's POST /api/patchset over the store.
func (f *Fake) PipelineHandler() http.Handler {
	return http.HandlerFunc(f.servePipeline)
}

// patchsetTimeout is how long the pipeline gives a patchset node.
const patchsetTimeout = 300 * time.Minute

// patchsetBody is the decoded body of POST /api/patchset. The lists stay
// generic because the real model only requires them to be lists.
type patchsetBody struct {
	NodeID         string
	PatchURL       []any
	Patch          []any
	JobFilter      []any
	PlatformFilter []any
}

func (f *Fake) servePipeline(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/api/patchset" {
		writeJSON(w, http.StatusNotFound, map[string]any{"detail": "Not Found"})
		return
	}
	if r.Method != http.MethodPost {
		writeJSON(w, http.StatusMethodNotAllowed, map[string]any{"detail": "Method Not Allowed"})
		return
	}
	// FastAPI validates the body before the handler runs, so a malformed
	// body is 422 whatever the Authorization header says. A body that is
	// not sent as JSON is read as a string (recorded:
	// patchset-post-422-not-json-content-type).
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		raw, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"detail": []any{map[string]any{
			"type": "model_attributes_type", "loc": []string{"body"},
			"msg": "Input should be a valid dictionary or object to extract fields from", "input": string(raw),
		}}})
		return
	}
	body, verr := decodePatchset(r.Body)
	if verr != nil {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"detail": []any{verr}})
		return
	}
	unauthorized := map[string]any{"message": "Unauthorized"}
	email, ok := f.authorize(r.Header.Get("Authorization"), "patchset")
	if !ok {
		writeJSON(w, http.StatusUnauthorized, unauthorized)
		return
	}

	if !objectIDRE.MatchString(body.NodeID) {
		// The API answers 400 and the pipeline lets that escape.
		writeJSON(w, http.StatusInternalServerError, map[string]any{"message": "Internal server error"})
		return
	}
	checkout, ok := f.Node(body.NodeID)
	if !ok {
		writeJSON(w, http.StatusNotFound, map[string]any{"message": "Node not found"})
		return
	}
	if checkout.Kind != "checkout" {
		writeJSON(w, http.StatusBadRequest, map[string]any{"message": "Node is not a checkout"})
		return
	}

	var urls []string
	switch {
	case len(body.PatchURL) > 0:
		for _, e := range body.PatchURL {
			s, isStr := e.(string)
			if !isStr {
				writeJSON(w, http.StatusBadRequest, map[string]any{"message": "Invalid patch URL element type"})
				return
			}
			if !f.reachable(r.Context(), s) {
				writeJSON(w, http.StatusBadRequest, map[string]any{"message": "Invalid patch URL"})
				return
			}
			urls = append(urls, s)
		}
	case len(body.Patch) > 0:
		// Inline patches are uploaded to the pipeline's storage and stored
		// by URL (recorded: patchset-post-200-inline-patch,
		// patchset-post-400-inline-empty).
		stamp := f.opts.Now().UTC().Format("20060102150405")
		for i, e := range body.Patch {
			if s, isStr := e.(string); !isStr || s == "" {
				writeJSON(w, http.StatusBadRequest, map[string]any{"message": "Invalid patch element type"})
				return
			}
			urls = append(urls, fmt.Sprintf("%spatchset/%s/%s-%s-%d.patch",
				f.opts.StorageURL, strings.ReplaceAll(email, "@", "_"), checkout.ID, stamp, i))
		}
	default:
		writeJSON(w, http.StatusBadRequest, map[string]any{"message": "Missing patch URL or patch"})
		return
	}

	n := f.patchsetNode(&checkout, email, urls, body)
	f.mu.Lock()
	created := f.insertLocked(n)
	f.submissions++
	f.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"message": "OK", "node": created})
}

// patchsetNode builds the node the pipeline posts: a copy of the checkout
// without id, timestamps, result and owner, renamed and re-parented, with
// one artifact per patch URL. The owner is the pipeline's own API user.
func (f *Fake) patchsetNode(checkout *Node, email string, urls []string, body patchsetBody) *Node {
	now := f.opts.Now().UTC()
	n := checkout.clone()
	n.ID = ""
	n.Created, n.Updated = Time{}, Time{}
	n.Result = nil
	n.Name = "patchset"
	n.Path = []string{"checkout", "patchset"}
	n.Group = StrPtr("patchset")
	n.State = "running"
	n.Parent = StrPtr(checkout.ID)
	n.Artifacts = map[string]string{}
	for i, u := range urls {
		n.Artifacts[fmt.Sprintf("patch%d", i)] = u
	}
	n.Timeout = Time{now.Add(patchsetTimeout)}
	n.Submitter = "user:" + email
	n.TreeID = f.treeID(checkout.Revision("url"), checkout.Revision("branch"))
	n.Owner = f.opts.PipelineUser
	if len(body.JobFilter) > 0 {
		n.JobFilter = stringsOf(body.JobFilter)
	}
	if len(body.PlatformFilter) > 0 {
		n.PlatformFilter = stringsOf(body.PlatformFilter)
	}
	return n
}

// stringsOf renders list elements as strings.
func stringsOf(l []any) []string {
	out := make([]string, len(l))
	for i, e := range l {
		if s, ok := e.(string); ok {
			out[i] = s
		} else {
			out[i] = fmt.Sprint(e)
		}
	}
	return out
}

// decodePatchset checks the body against the service's PatchSet model:
// a JSON object with a string "nodeid" and optional lists "patchurl",
// "patch", "jobfilter", "platformfilter". A failure is one FastAPI
// validation error.
func decodePatchset(r io.Reader) (patchsetBody, map[string]any) {
	var out patchsetBody
	raw, err := io.ReadAll(io.LimitReader(r, 1<<20))
	if err != nil {
		return out, map[string]any{"type": "json_invalid", "loc": []string{"body"}, "msg": "JSON decode error"}
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
		return out, map[string]any{"type": "json_invalid", "loc": []string{"body"}, "msg": "JSON decode error"}
	}
	id, ok := obj["nodeid"]
	if !ok {
		return out, map[string]any{"type": "missing", "loc": []string{"body", "nodeid"}, "msg": "Field required"}
	}
	if err := json.Unmarshal(id, &out.NodeID); err != nil || bytes.Equal(bytes.TrimSpace(id), []byte("null")) {
		return out, map[string]any{"type": "string_type", "loc": []string{"body", "nodeid"}, "msg": "Input should be a valid string"}
	}
	for name, dst := range map[string]*[]any{
		"patchurl": &out.PatchURL, "patch": &out.Patch,
		"jobfilter": &out.JobFilter, "platformfilter": &out.PlatformFilter,
	} {
		v, ok := obj[name]
		if !ok {
			continue
		}
		if err := json.Unmarshal(v, dst); err != nil {
			return out, map[string]any{"type": "list_type", "loc": []string{"body", name}, "msg": "Input should be a valid list"}
		}
	}
	return out, nil
}

// authorize checks a raw Authorization header value the way the pipeline's
// validate_permissions does: the whole value is decoded as an HS256 JWT
// signed with the secret, "permissions" must be non-empty and contain perm,
// and "email" must be non-empty. It returns the email.
func (f *Fake) authorize(header, perm string) (string, bool) {
	if header == "" {
		return "", false
	}
	tok, err := jwt.Parse(header, func(*jwt.Token) (any, error) { return f.opts.Secret, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}))
	if err != nil || !tok.Valid {
		return "", false
	}
	claims, ok := tok.Claims.(jwt.MapClaims)
	if !ok {
		return "", false
	}
	if !hasPermission(claims["permissions"], perm) {
		return "", false
	}
	email, _ := claims["email"].(string)
	return email, email != ""
}

// hasPermission is Python's `perm in permissions` for a non-empty list or
// string.
func hasPermission(perms any, perm string) bool {
	switch p := perms.(type) {
	case []any:
		return slices.ContainsFunc(p, func(e any) bool { return e == perm })
	case string:
		return strings.Contains(p, perm)
	}
	return false
}

// reachable is the pipeline's validate_url: the URL starts with "http"
// (case-sensitive: recorded patchset-post-400-uppercase-scheme) and
// requests.head(url, allow_redirects=True) answers a status below 400 (the
// fake's HTTP client follows redirects).
func (f *Fake) reachable(ctx context.Context, raw string) bool {
	if !strings.HasPrefix(raw, "http") {
		return false
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, raw, nil)
	if err != nil {
		return false
	}
	resp, err := f.opts.HTTPClient.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode < 400
}
