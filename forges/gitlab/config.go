package gitlab

import (
	"time"

	"github.com/trawl-ci/trawl/pkg/config"
	"github.com/trawl-ci/trawl/pkg/driver"
	"github.com/trawl-ci/trawl/pkg/httpx"
)

// FromConfig builds the GitLab source s (of type config.SourceGitLab)
// configures, and its status reporter when the source posts statuses.
func FromConfig(env driver.Env, s config.Source) (driver.Source, error) {
	g := s.GitLab
	hc, err := env.Client("gitlab "+s.Name, &httpx.Credential{Header: "PRIVATE-TOKEN", Secret: g.Token}, true)
	if err != nil {
		return driver.Source{}, err
	}
	src, err := New(Opts{
		Name:       s.Name,
		URL:        g.URL,
		Project:    g.Project,
		Branches:   g.Branches,
		Drafts:     g.Drafts,
		Forks:      g.Forks,
		FullRelist: time.Duration(g.FullRelist),
		Base:       s.Base,
		Targets:    s.Targets,
		HTTP:       hc,
		Logger:     env.Logger,
	})
	if err != nil {
		return driver.Source{}, err
	}
	out := driver.Source{Source: src}
	if !s.Report.Checks {
		return out, nil
	}
	rp, err := src.Reporter(ReporterOpts{Name: "gitlab:" + s.Name, Context: s.Report.Context,
		PerTarget: len(s.Targets) > 1, States: driver.CheckStates(s.Report.States)})
	if err != nil {
		return driver.Source{}, err
	}
	out.Reporter, out.Relay = rp, rp
	return out, nil
}
