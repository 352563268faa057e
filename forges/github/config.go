package github

import (
	"fmt"

	"github.com/trawl-ci/trawl/pkg/config"
	"github.com/trawl-ci/trawl/pkg/driver"
	"github.com/trawl-ci/trawl/pkg/httpx"
)

// FromConfig builds the GitHub source s (of type config.SourceGitHub)
// configures, and its status reporter when the source posts statuses.
func FromConfig(env driver.Env, s config.Source) (driver.Source, error) {
	g := s.GitHub
	cred := &httpx.Credential{Header: "Authorization", Prefix: "Bearer ", Secret: g.Token}
	account := fmt.Sprintf("%s\x00token\x00%s\x00%s", g.APIURL, g.Token.File, g.Token.Env)
	if g.App != nil {
		account = fmt.Sprintf("%s\x00app\x00%d\x00%d", g.APIURL, g.App.AppID, g.App.InstallationID)
		plain, err := env.Client("github-app "+s.Name, nil, false)
		if err != nil {
			return driver.Source{}, err
		}
		app, err := NewAppToken(AppOpts{
			AppID:          g.App.AppID,
			InstallationID: g.App.InstallationID,
			PrivateKey:     g.App.PrivateKey,
			APIURL:         g.APIURL,
			HTTP:           plain,
		})
		if err != nil {
			return driver.Source{}, err
		}
		cred = &httpx.Credential{Header: "Authorization", Prefix: "Bearer ", Token: app.Token, Identity: app.Identity()}
	}
	hc, err := env.Client("github "+s.Name, cred, true)
	if err != nil {
		return driver.Source{}, err
	}
	// GitHub limits content creation per account: the sources that post
	// with the same credential share one pace.
	writes := driver.Share(env.Shared, "github writes\x00"+account, func() *Writes { return &Writes{} })
	src, err := New(Opts{
		Name:        s.Name,
		Repo:        g.Repo,
		APIURL:      g.APIURL,
		Host:        g.Host,
		Branches:    g.Branches,
		Drafts:      g.Drafts,
		Forks:       g.Forks,
		Base:        s.Base,
		Targets:     s.Targets,
		HTTP:        hc,
		RateReserve: g.RateReserve,
		Writes:      writes,
		Registerer:  env.Registerer,
		Logger:      env.Logger,
	})
	if err != nil {
		return driver.Source{}, err
	}
	out := driver.Source{Source: src}
	if !s.Report.Checks {
		return out, nil
	}
	rp, err := src.Reporter(ReporterOpts{Name: "github:" + s.Name, Context: s.Report.Context,
		PerTarget: len(s.Targets) > 1, States: driver.CheckStates(s.Report.States)})
	if err != nil {
		return driver.Source{}, err
	}
	out.Reporter, out.Relay = rp, rp
	return out, nil
}
