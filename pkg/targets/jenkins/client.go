package jenkins

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/trawl-ci/trawl/pkg/httpx"
	"github.com/trawl-ci/trawl/pkg/targets"
)

// maxJSON bounds an answer read from Jenkins.
const maxJSON = 16 << 20

// request makes one authenticated request; a non-nil form is the body.
func (t *Target) request(ctx context.Context, method, u string, form url.Values) (*http.Response, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, err
	}
	token, err := t.token.Value()
	if err != nil {
		return nil, fmt.Errorf("API token: %w", err)
	}
	req.SetBasicAuth(t.user, token)
	req.Header.Set("Accept", "application/json")
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		t.mu.Lock()
		c := t.crumb
		t.mu.Unlock()
		if c.Field != "" {
			req.Header.Set(c.Field, c.Value)
		}
	}
	return t.http.Do(req)
}

// get reads a 2xx answer's body; other answers are *httpx.StatusError.
func (t *Target) get(ctx context.Context, u string) ([]byte, error) {
	resp, err := t.request(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if err := httpx.CheckResponse(resp); err != nil {
		return nil, err
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxJSON))
	if err != nil {
		return nil, fmt.Errorf("GET %s: read: %w", u, err)
	}
	return b, nil
}

// getJSON decodes a 2xx answer into v.
func (t *Target) getJSON(ctx context.Context, u string, v any) error {
	b, err := t.get(ctx, u)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("GET %s: decode: %w", u, err)
	}
	return nil
}

func isNotFound(err error) bool { return errors.Is(err, httpx.ErrNotFound) }

// post asks for a build with form and returns the queue item's number and
// whether Jenkins merged the request into an item queued already. A 403
// is answered by fetching a crumb and posting once more.
func (t *Target) post(ctx context.Context, form url.Values) (item int64, merged bool, err error) {
	u := t.jobURL + "buildWithParameters"
	for try := 0; ; try++ {
		resp, err := t.request(ctx, http.MethodPost, u, form)
		if err != nil {
			return 0, false, err
		}
		if resp.StatusCode == http.StatusForbidden && try == 0 {
			denied := httpx.CheckResponse(resp)
			resp.Body.Close()
			// A refused POST created nothing: it is safe to send again
			// with a crumb, when the controller issues crumbs.
			issued, err := t.fetchCrumb(ctx)
			if err != nil {
				return 0, false, err
			}
			if !issued {
				return 0, false, denied
			}
			continue
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusSeeOther {
			if err := httpx.CheckResponse(resp); err != nil {
				return 0, false, err
			}
			return 0, false, fmt.Errorf("POST %s: %d %s, not a queue item's redirect", u, resp.StatusCode, http.StatusText(resp.StatusCode))
		}
		item, err := t.queueItemOf(resp.Header.Get("Location"))
		if err != nil {
			return 0, false, fmt.Errorf("POST %s: %d: %w", u, resp.StatusCode, err)
		}
		return item, resp.StatusCode == http.StatusSeeOther, nil
	}
}

// queueItemOf reads the queue item's number from a Location header: an
// absolute or root-relative URL ending in queue/item/N/.
func (t *Target) queueItemOf(loc string) (int64, error) {
	u, err := url.Parse(loc)
	if err != nil || loc == "" {
		return 0, fmt.Errorf("the Location %q is not a queue item's URL", loc)
	}
	parts := strings.Split(strings.TrimSuffix(u.Path, "/"), "/")
	if len(parts) < 3 || parts[len(parts)-3] != "queue" || parts[len(parts)-2] != "item" {
		return 0, fmt.Errorf("the Location %q is not a queue item's URL", loc)
	}
	n, err := strconv.ParseInt(parts[len(parts)-1], 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("the Location %q is not a queue item's URL", loc)
	}
	return n, nil
}

// fetchCrumb asks the crumb issuer for a crumb and keeps it (the cookie
// jar keeps the session it is bound to). It reports false when the
// controller issues no crumbs (404).
func (t *Target) fetchCrumb(ctx context.Context) (bool, error) {
	var c crumb
	err := t.getJSON(ctx, t.root+"crumbIssuer/api/json", &c)
	if isNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("crumb: %w", err)
	}
	if c.Field == "" || c.Value == "" || strings.ContainsAny(c.Field+c.Value, "\r\n") {
		return false, fmt.Errorf("crumb: GET %scrumbIssuer/api/json: no crumbRequestField and crumb in the answer", t.root)
	}
	t.mu.Lock()
	t.crumb = c
	t.mu.Unlock()
	return true, nil
}

// find looks for the job of attempt id that exclude does not name: in the
// queue, then among the job's builds. It also returns the names of the
// parameters the job defines.
func (t *Target) find(ctx context.Context, id string, exclude []string) (job targets.Job, found bool, defined map[string]bool, err error) {
	excluded := map[string]bool{}
	for _, e := range exclude {
		excluded[withoutFragment(e)] = true
	}
	var q struct {
		Items []queueItem `json:"items"`
	}
	if err := t.getJSON(ctx, t.root+"queue/api/json?tree=items[id,task[url],actions[parameters[name,value]]]", &q); err != nil {
		return targets.Job{}, false, nil, err
	}
	for _, it := range q.Items {
		if it.ID > 0 && t.ownTask(it.Task.URL) && attemptOf(params(it.Actions)) == id && !excluded[t.queueURL(it.ID)] {
			return t.queueJob(it.ID, id), true, nil, nil
		}
	}
	info, err := t.jobInfo(ctx)
	if err != nil {
		return targets.Job{}, false, nil, err
	}
	defined = map[string]bool{}
	for _, p := range info.Property {
		for _, d := range p.ParameterDefinitions {
			defined[d.Name] = true
		}
	}
	for _, b := range info.Builds {
		if b.Number > 0 && attemptOf(params(b.Actions)) == id && !excluded[t.buildURL(b.Number)] {
			u := t.buildURL(b.Number)
			return targets.Job{Target: t.name, ID: u, URL: u}, true, defined, nil
		}
	}
	return targets.Job{}, false, defined, nil
}

// findBuild finds the build of attempt id among the job's builds.
func (t *Target) findBuild(ctx context.Context, id string) (int, bool, error) {
	info, err := t.jobInfo(ctx)
	if err != nil {
		return 0, false, err
	}
	for _, b := range info.Builds {
		if b.Number > 0 && attemptOf(params(b.Actions)) == id {
			return b.Number, true, nil
		}
	}
	return 0, false, nil
}

// jobInfo reads the job's parameter definitions and newest builds (newest
// first) with their parameters.
func (t *Target) jobInfo(ctx context.Context) (jobInfo, error) {
	var info jobInfo
	err := t.getJSON(ctx, t.jobURL+"api/json?tree=property[parameterDefinitions[name]],builds[number,actions[parameters[name,value]]]", &info)
	if isNotFound(err) {
		return jobInfo{}, fmt.Errorf("job %s does not exist (or the user may not see it): %w", t.jobURL, err)
	}
	return info, err
}

// ownTask reports whether a queue item's task URL is this target's job. It
// compares paths: Jenkins writes its own idea of its root URL, which may
// name another host than the one trawl reaches it by.
func (t *Target) ownTask(task string) bool {
	u, err := url.Parse(task)
	own, _ := url.PathUnescape(t.jobPath)
	return err == nil && strings.HasSuffix(u.Path, "/"+own)
}
