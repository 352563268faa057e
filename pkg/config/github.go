package config

import (
	"regexp"

	"github.com/trawl-ci/trawl/pkg/secret"
)

// SourceGitHub polls a repository's pull requests.
const SourceGitHub = "github"

// GitHub configures a GitHub source.
type GitHub struct {
	// Repo is "owner/name".
	Repo string `yaml:"repo" json:"repo"`
	// APIURL is the REST API root for GitHub Enterprise Server
	// (https://host/api/v3); empty for github.com.
	APIURL string `yaml:"api_url,omitempty" json:"api_url,omitempty"`
	// Host is the web host of a GitHub Enterprise Server, for keys and
	// dependency URLs; empty for github.com.
	Host string `yaml:"host,omitempty" json:"host,omitempty"`
	// Branches keeps only pull requests into these base branches.
	Branches []string `yaml:"branches,omitempty" json:"branches,omitempty"`
	// Drafts builds draft pull requests too.
	Drafts bool `yaml:"drafts" json:"drafts"`
	// Forks builds pull requests from forks.
	Forks bool `yaml:"forks" json:"forks"`
	// RateReserve is the remaining request budget below which requests
	// are spaced out until the reset.
	RateReserve int `yaml:"rate_reserve" json:"rate_reserve"`
	// Token is a personal access token; unset when App is set.
	Token secret.Source `yaml:"token" json:"token"`
	// App authenticates as a GitHub App installation instead.
	App *GitHubApp `yaml:"app,omitempty" json:"app,omitempty"`
}

// GitHubApp is a GitHub App installation; its tokens are minted hourly.
type GitHubApp struct {
	AppID          int64         `yaml:"app_id" json:"app_id"`
	InstallationID int64         `yaml:"installation_id" json:"installation_id"`
	PrivateKey     secret.Source `yaml:"private_key" json:"private_key"`
}

// DefaultRateReserve is the rate_reserve of a GitHub source that sets none.
const DefaultRateReserve = 500

// Forms of a GitHub repository and of an Enterprise server's host.
var (
	repoRE = regexp.MustCompile(`^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$`)
	hostRE = regexp.MustCompile(`^[A-Za-z0-9.-]+(:[0-9]+)?$`)
)

// github reads a source's github block.
func (l *loader) github(f field) *GitHub {
	o := l.object(f, "repo", "api_url", "host", "branches", "drafts", "forks", "rate_reserve", "token_file", "token_env", "app")
	g := &GitHub{
		APIURL:      l.httpURL(o.get("api_url"), false),
		Host:        l.optional(o.get("host"), ""),
		Drafts:      l.enum(o.get("drafts"), "false", "true", "false") == "true",
		Forks:       l.enum(o.get("forks"), "true", "true", "false") == "true",
		RateReserve: l.integer(o.get("rate_reserve"), DefaultRateReserve, 0, 1_000_000),
	}
	rf := o.get("repo")
	if g.Repo = l.required(rf); g.Repo != "" && !repoRE.MatchString(g.Repo) {
		l.errorf(rf, "%s is not a repository \"owner/name\"", quote(g.Repo))
	}
	if hf := o.get("host"); g.Host != "" && !hostRE.MatchString(g.Host) {
		l.errorf(hf, "%s is not a host name (no scheme, no path)", quote(g.Host))
	}
	if g.APIURL != "" && g.Host == "" {
		l.errorf(o.get("api_url"), "a GitHub Enterprise API needs host: the server's web host, for change keys and dependency URLs")
	}
	g.Branches, _ = l.list(o.get("branches"), branchRE, "a branch name")
	if af := o.get("app"); af.node != nil {
		a := l.object(af, "app_id", "installation_id", "private_key_file", "private_key_env")
		g.App = &GitHubApp{
			AppID:          int64(l.integer(a.get("app_id"), 0, 1, 1<<62)),
			InstallationID: int64(l.integer(a.get("installation_id"), 0, 1, 1<<62)),
			PrivateKey:     l.secretPair(a, "private_key_file", "private_key_env", "private key", true),
		}
		for _, k := range []string{"app_id", "installation_id"} {
			if a.get(k).node == nil {
				l.errorf(a.get(k), "required")
			}
		}
		if tf, te := o.get("token_file"), o.get("token_env"); tf.node != nil || te.node != nil {
			l.errorf(af, "set either a token or an app, not both")
		}
	} else {
		g.Token = l.secret(o, true)
	}
	return g
}
