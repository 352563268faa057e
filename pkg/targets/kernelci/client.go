package kernelci

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/trawl-ci/trawl/pkg/httpx"
)

// pageSize is the page size of node queries. The API has no maximum
// (measured: limit=500 answered 259 nodes in one page) and refuses a limit
// below 1 with 422.
const pageSize = 500

// maxPages bounds one node query (pageSize nodes each): a query that
// matches more is too broad to be what trawl meant.
const maxPages = 20

// maxBody bounds a response body. A node is about 1.6 KB as the API renders
// it, so this holds the largest subtree Result reads in one answer.
const maxBody = 64 << 20

// queryTimeLayout is how timestamps are sent in filters: naive UTC, as the
// API stores them.
const queryTimeLayout = "2006-01-02T15:04:05"

// node is the part of an API node the target reads. Null strings decode as
// "".
type node struct {
	ID        string            `json:"id"`
	Kind      string            `json:"kind"`
	Name      string            `json:"name"`
	Parent    string            `json:"parent"`
	State     string            `json:"state"`
	Result    string            `json:"result"`
	Artifacts map[string]string `json:"artifacts"`
	Data      struct {
		KernelRevision struct {
			URL         string `json:"url"`
			Branch      string `json:"branch"`
			Commit      string `json:"commit"`
			Patchset    string `json:"patchset"`
			TipOfBranch *bool  `json:"tip_of_branch"`
		} `json:"kernel_revision"`
		ErrorCode string `json:"error_code"`
		ErrorMsg  string `json:"error_msg"`
	} `json:"data"`
	JobFilter      []string `json:"jobfilter"`
	PlatformFilter []string `json:"platform_filter"`
	Created        string   `json:"created"`
	Submitter      string   `json:"submitter"`
	TreeID         string   `json:"treeid"`
}

// nodePage is the part of the API's pagination envelope the target reads.
type nodePage struct {
	Items []node `json:"items"`
	Total int    `json:"total"`
}

// findNodes returns every node matching the filters in q, paging with
// limit and offset until the pages hold the total the API announced. A
// page that ends short of that total is an error, never a complete
// answer: the matches changed while paging, or the server cut the answer.
func (t *Target) findNodes(ctx context.Context, q url.Values) ([]node, error) {
	all, _, err := t.pages(ctx, q, pageSize, maxPages*pageSize)
	return all, err
}

// pages reads the query q with page size limit until the total is read or
// at most budget nodes are; more reports that budget cut the answer short
// (more than budget nodes match).
func (t *Target) pages(ctx context.Context, q url.Values, limit, budget int) (all []node, more bool, err error) {
	for {
		q.Set("limit", strconv.Itoa(min(limit, budget-len(all))))
		q.Set("offset", strconv.Itoa(len(all)))
		u := t.api + "/latest/nodes?" + q.Encode()
		var p nodePage
		if err := t.getJSON(ctx, u, &p); err != nil {
			return nil, false, err
		}
		all = append(all, p.Items...)
		switch {
		case len(all) >= p.Total:
			return all, false, nil
		case len(all) >= budget:
			return all, true, nil
		case len(p.Items) == 0:
			return nil, false, fmt.Errorf("GET %s: a page ends at %d nodes of the %d announced", u, len(all), p.Total)
		}
	}
}

// getNode returns the node with that id, or nil when the API answers null
// (no such node).
func (t *Target) getNode(ctx context.Context, id string) (*node, error) {
	var n *node
	if err := t.getJSON(ctx, t.api+"/latest/node/"+url.PathEscape(id), &n); err != nil {
		return nil, err
	}
	return n, nil
}

// subtree returns up to budget nodes under root, read with the API's treeid
// filter: every node the pipeline grows under a patchset inherits the
// patchset's treeid, so one query answers the whole job (a patchset posted
// on top of it has a treeid of its own and is not part of it). The root
// itself, which shares the treeid, is left out. more reports that budget
// cut the tree short. Once the root is done, an answer whose nodes are all
// done is final: it is kept in the HTTP cache, so that reading a finished
// job again (after a lost state, say) costs no round trip.
func (t *Target) subtree(ctx context.Context, root *node, budget int) (nodes []node, more bool, err error) {
	if root.TreeID == "" {
		return nil, false, fmt.Errorf("node %s has no treeid", root.ID)
	}
	if root.State == "done" {
		ctx = httpx.CacheIfComplete(ctx, allDone)
	}
	// One more than the budget, for the root.
	all, more, err := t.pages(ctx, url.Values{"treeid": {root.TreeID}}, budget+1, budget+1)
	if err != nil {
		return nil, false, err
	}
	for _, n := range all {
		if n.ID != root.ID {
			nodes = append(nodes, n)
		}
	}
	if len(nodes) > budget {
		nodes, more = nodes[:budget], true
	}
	return nodes, more, nil
}

// getJSON GETs u from the API and decodes the JSON answer into v.
func (t *Target) getJSON(ctx context.Context, u string, v any) error {
	return httpx.GetJSON(ctx, t.apiHTTP, u, maxBody, v)
}

// patchsetRequest is the body of POST /api/patchset.
type patchsetRequest struct {
	NodeID         string   `json:"nodeid"`
	PatchURL       []string `json:"patchurl"`
	JobFilter      []string `json:"jobfilter,omitempty"`
	PlatformFilter []string `json:"platformfilter,omitempty"`
}

// patchsetResponse is the pipeline's answer to POST /api/patchset.
type patchsetResponse struct {
	Message string `json:"message"`
	Node    node   `json:"node"`
}

// submit POSTs the patch URLs against the checkout node and returns the
// patchset node the pipeline created.
func (t *Target) submit(ctx context.Context, checkoutID string, urls []string) (*node, error) {
	body, err := json.Marshal(patchsetRequest{
		NodeID:         checkoutID,
		PatchURL:       urls,
		JobFilter:      t.jobFilter,
		PlatformFilter: t.platformFilter,
	})
	if err != nil {
		return nil, err
	}
	u := t.pipeline + "/api/patchset"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if t.token.IsSet() {
		tok, err := t.token.Value()
		if err != nil {
			return nil, fmt.Errorf("pipeline token: %w", err)
		}
		// The pipeline decodes the header value itself as the JWT: no
		// "Bearer " prefix.
		req.Header.Set("Authorization", tok)
	}
	resp, err := t.pipelineHTTP.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if err := httpx.CheckResponse(resp); err != nil {
		return nil, err
	}
	var out patchsetResponse
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxBody)).Decode(&out); err != nil {
		return nil, fmt.Errorf("decode POST %s: %w", u, err)
	}
	if out.Node.ID == "" {
		return nil, fmt.Errorf("POST %s: answer %q carries no node id", u, out.Message)
	}
	return &out.Node, nil
}

// newest returns the most recently created node that keep accepts; on equal
// times the later one in the answer wins.
func newest(nodes []node, keep func(*node) bool) (*node, bool, error) {
	var best *node
	var bestTime time.Time
	for i := range nodes {
		n := &nodes[i]
		if !keep(n) {
			continue
		}
		created, err := parseTime(n.Created)
		if err != nil {
			return nil, false, fmt.Errorf("node %s: created: %w", n.ID, err)
		}
		if best == nil || !created.Before(bestTime) {
			best, bestTime = n, created
		}
	}
	return best, best != nil, nil
}

// parseTime parses an API timestamp: ISO-8601, naive ones being UTC.
func parseTime(s string) (time.Time, error) {
	for _, layout := range []string{
		"2006-01-02T15:04:05.999999999",
		"2006-01-02T15:04:05.999999999Z07:00",
	} {
		if v, err := time.Parse(layout, s); err == nil {
			return v.UTC(), nil
		}
	}
	return time.Time{}, errors.New("timestamp " + strconv.Quote(s) + " is not ISO-8601")
}

// allDone reports whether a page of nodes holds only nodes that are done.
func allDone(body []byte) bool {
	var p nodePage
	if json.Unmarshal(body, &p) != nil {
		return false
	}
	for _, n := range p.Items {
		if n.State != "done" {
			return false
		}
	}
	return true
}
