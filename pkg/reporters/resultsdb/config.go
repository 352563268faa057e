package resultsdb

import (
	"github.com/trawl-ci/trawl/pkg/config"
	"github.com/trawl-ci/trawl/pkg/cycle"
	"github.com/trawl-ci/trawl/pkg/driver"
)

// FromConfig builds the ResultsDB reporter r (of type
// config.ReporterResultsDB) configures.
func FromConfig(env driver.Env, r config.Reporter) (cycle.Reporter, error) {
	c := r.ResultsDB
	auth := Auth{Scheme: c.Auth, Username: c.Username, Secret: c.Token}
	cred, err := auth.Credential()
	if err != nil {
		return nil, err
	}
	hc, err := env.Client("resultsdb "+r.Name, cred, false)
	if err != nil {
		return nil, err
	}
	rp, err := New(Opts{
		Name:     r.Name,
		URL:      c.URL,
		Testcase: c.Testcase,
		ItemType: c.ItemType,
		Outcomes: c.Outcomes,
		HTTP:     hc,
		Auth:     auth,
		Logger:   env.Logger,
	})
	if err != nil {
		return nil, err
	}
	return rp, nil
}
