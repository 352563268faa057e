package patchwork

import (
	"context"
	"fmt"
	"net/url"
	"strconv"

	"github.com/trawl-ci/trawl/pkg/forgekit"
)

// ListChecks returns the checks of patch id in one context, oldest first.
// Checks are append-only: the latest one is the patch's current state for
// that context and user.
func (c *Client) ListChecks(ctx context.Context, patchID int64, checkContext string) ([]Check, error) {
	q := url.Values{"per_page": {"250"}, "context": {checkContext}}
	checks, err := getList(ctx, c, c.api("patches/"+strconv.FormatInt(patchID, 10)+"/checks/", q), func(ch Check) int64 { return ch.ID }, nil, nil)
	if err != nil {
		return nil, c.errorf(fmt.Sprintf("list checks of patch %d", patchID), err)
	}
	return checks, nil
}

// current returns the check patch id carries in context checkContext: the
// latest one, checks being append-only; none when it has none.
func (r *Reporter) current(ctx context.Context, id int64, checkContext string) ([]forgekit.Existing, error) {
	existing, err := r.client.ListChecks(ctx, id, checkContext)
	if err != nil {
		return nil, err
	}
	if n := len(existing); n > 0 {
		last := existing[n-1]
		return []forgekit.Existing{{State: last.State, Description: last.Description}}, nil
	}
	return nil, nil
}
