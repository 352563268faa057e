package kernelci

import (
	"time"

	"github.com/trawl-ci/trawl/pkg/config"
	"github.com/trawl-ci/trawl/pkg/cycle"
	"github.com/trawl-ci/trawl/pkg/driver"
)

// FromConfig builds the KernelCI target t (of type config.TargetKernelCI)
// configures.
func FromConfig(env driver.Env, t config.Target) (cycle.Target, error) {
	k := t.KernelCI
	api, err := env.Client("kernelci-api "+t.Name, nil, true)
	if err != nil {
		return nil, err
	}
	// The target adds the raw JWT itself; this client has no cache, and
	// the transport never retries its POST after a 5xx (the next tick
	// adopts the job instead).
	pipe, err := env.Client("kernelci-pipeline "+t.Name, nil, false)
	if err != nil {
		return nil, err
	}
	kt, err := New(Opts{
		Name:           t.Name,
		APIURL:         k.APIURL,
		PipelineURL:    k.PipelineURL,
		DashboardURL:   k.DashboardURL,
		Token:          k.Token,
		JobFilter:      k.JobFilter,
		PlatformFilter: k.PlatformFilter,
		PatchDomains:   k.PatchDomains,
		Submitters:     k.Submitters,
		CheckoutWait:   time.Duration(k.CheckoutWait),
		APIHTTP:        api,
		PipelineHTTP:   pipe,
		Logger:         env.Logger,
	})
	if err != nil {
		return nil, err
	}
	return kt, nil
}
