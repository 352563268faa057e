package sim

import (
	"net/http"
	"testing"
	"time"
)

// TestLatencyDelaysEveryServer: with Options.Latency each simulated
// server answers trawl no sooner than that, and the counts still see
// every request; a request of the fakes themselves is not delayed.
func TestLatencyDelaysEveryServer(t *testing.T) {
	const latency = 40 * time.Millisecond
	w := New(Options{Series: 3, PullRequests: 2, Seed: 1, Latency: latency})
	u := w.Start()
	t.Cleanup(w.Close)
	get := func(url string, internalReq bool) time.Duration {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		if internalReq {
			req.Header.Set(internal, "1")
		}
		start := time.Now()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		return time.Since(start)
	}
	for name, url := range map[string]string{
		"patchwork": u.Patchwork + "/api/1.3/projects/netdev/",
		"github":    u.GitHub + "/repos/" + GitHubRepo,
		"gitlab":    u.GitLab + "/api/v4/projects/1",
		"kernelci":  u.KernelCIAPI + "/latest/nodes",
		"pipeline":  u.KernelCIPipeline + "/api/patchset",
		"webhook":   u.Webhook,
	} {
		if took := get(url, false); took < latency {
			t.Errorf("%s answered in %s, want at least %s", name, took, latency)
		}
	}
	if got := w.Stats.Snapshot()["patchwork"].Requests; got != 1 {
		t.Errorf("patchwork counted %d requests, want 1", got)
	}
	// The fakes' own requests (KernelCI checking a patch URL) are not
	// trawl's: a delay there would be counted against no one.
	before := w.Stats.Snapshot()["patchwork"].Requests
	for range 20 {
		if took := get(u.Patchwork+"/api/1.3/projects/netdev/", true); took < latency {
			return
		}
	}
	t.Errorf("20 internal requests each waited %s (%d counted)", latency, w.Stats.Snapshot()["patchwork"].Requests-before)
}
