package patchwork

import (
	"time"

	"github.com/trawl-ci/trawl/pkg/config"
	"github.com/trawl-ci/trawl/pkg/driver"
	"github.com/trawl-ci/trawl/pkg/httpx"
)

// FromConfig builds the Patchwork source s (of type config.SourcePatchwork)
// configures, and its check reporter when the source posts checks.
func FromConfig(env driver.Env, s config.Source) (driver.Source, error) {
	p := s.Patchwork
	var cred *httpx.Credential
	if p.Token.IsSet() {
		cred = &httpx.Credential{Header: "Authorization", Prefix: "Token ", Secret: p.Token}
	}
	hc, err := env.Client("patchwork "+s.Name, cred, true)
	if err != nil {
		return driver.Source{}, err
	}
	src, err := New(Opts{
		Name:     s.Name,
		URL:      p.URL,
		Project:  p.Project,
		States:   p.States,
		Lookback: time.Duration(p.Lookback),
		Delegate: p.Delegate,
		Base:     s.Base,
		Targets:  s.Targets,
		HTTP:     hc,
		Logger:   env.Logger,
		// The events hint, off by default.
		EventsRelist: p.EventsRelist,
	})
	if err != nil {
		return driver.Source{}, err
	}
	out := driver.Source{Source: src}
	if !s.Report.Checks {
		return out, nil
	}
	rp, err := src.Reporter(ReporterOpts{
		Name:      "patchwork:" + s.Name,
		Context:   s.Report.Context,
		PerTarget: len(s.Targets) > 1,
		States:    driver.CheckStates(s.Report.States),
	})
	if err != nil {
		return driver.Source{}, err
	}
	out.Reporter = rp
	return out, nil
}
