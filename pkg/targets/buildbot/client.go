package buildbot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"

	"github.com/trawl-ci/trawl/pkg/httpx"
)

// maxBody bounds a REST answer. A change with its properties and source
// stamp is about 2 KB as the master renders it; a page of changesPage
// holds well under this.
const maxBody = 16 << 20

// change is the part of a REST change the target reads
// (data/changes.py Change.EntityType).
type masterChange struct {
	ChangeID      int                          `json:"changeid"`
	Project       string                       `json:"project"`
	WhenTimestamp int64                        `json:"when_timestamp"`
	Properties    map[string][]json.RawMessage `json:"properties"`
}

// property returns a string property's value, or "".
func (c *masterChange) property(name string) string {
	p := c.Properties[name]
	if len(p) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(p[0], &s) != nil {
		return ""
	}
	return s
}

// build is the part of a REST build the target reads (data/builds.py
// Build.EntityType). results is null while the build runs.
type build struct {
	BuildID     int    `json:"buildid"`
	Number      int    `json:"number"`
	BuilderID   int    `json:"builderid"`
	Complete    bool   `json:"complete"`
	CompleteAt  *int64 `json:"complete_at"`
	Results     *int   `json:"results"`
	StateString string `json:"state_string"`
}

// builder is the part of a REST builder the target reads.
type builder struct {
	BuilderID int    `json:"builderid"`
	Name      string `json:"name"`
}

// errNotFound is what getChange returns for a change the master does not
// have.
var errNotFound = errors.New("not found")

// getChange returns the change with that id, or an error wrapping
// errNotFound.
func (t *Target) getChange(ctx context.Context, id int) (*masterChange, error) {
	var page struct {
		Changes []masterChange `json:"changes"`
	}
	err := t.getJSON(ctx, t.api+"/changes/"+strconv.Itoa(id), &page)
	switch {
	case errors.Is(err, httpx.ErrNotFound):
		return nil, fmt.Errorf("change %d: %w: %w", id, errNotFound, err)
	case err != nil:
		return nil, err
	case len(page.Changes) != 1:
		return nil, fmt.Errorf("GET %s/changes/%d: %d changes in the answer, want 1", t.api, id, len(page.Changes))
	}
	return &page.Changes[0], nil
}

// changeBuilds returns every build of a change's source stamp.
func (t *Target) changeBuilds(ctx context.Context, id int) ([]build, error) {
	var page struct {
		Builds []build `json:"builds"`
	}
	if err := t.getJSON(ctx, t.api+"/changes/"+strconv.Itoa(id)+"/builds", &page); err != nil {
		return nil, err
	}
	return page.Builds, nil
}

// builderID returns the id of the builder with that name, read once.
func (t *Target) builderID(ctx context.Context, name string) (int, error) {
	t.mu.Lock()
	id, ok := t.builderIDs[name]
	t.mu.Unlock()
	if ok {
		return id, nil
	}
	var page struct {
		Builders []builder `json:"builders"`
	}
	u := t.api + "/builders/" + url.PathEscape(name)
	err := t.getJSON(ctx, u, &page)
	switch {
	case errors.Is(err, httpx.ErrNotFound):
		return 0, fmt.Errorf("the master has no builder %q (GET %s: 404)", name, u)
	case err != nil:
		return 0, err
	case len(page.Builders) != 1 || page.Builders[0].Name != name:
		return 0, fmt.Errorf("GET %s: the answer is not builder %q", u, name)
	}
	t.mu.Lock()
	t.builderIDs[name] = page.Builders[0].BuilderID
	t.mu.Unlock()
	return page.Builders[0].BuilderID, nil
}

// getJSON GETs u and decodes the JSON answer into v. The Accept header
// matters: without it the master renders indented text/plain
// (www/rest.py).
func (t *Target) getJSON(ctx context.Context, u string, v any) error {
	return httpx.GetJSON(ctx, t.http, u, maxBody, v)
}
