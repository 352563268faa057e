package deps

import "github.com/trawl-ci/trawl/pkg/change"

// GitHubKey returns the key of the pull request r names, for GitHubPR and
// ShortPR references. selfRepo ("owner/repo") is the repository of the
// change that holds r, which #N refers to. A github.com (or www.github.com)
// URL gives the github.com key form; another host is kept, as GitHub
// Enterprise keys keep it. It reports false for other kinds, and for #N when
// selfRepo is empty.
func (r Ref) GitHubKey(selfRepo string) (change.Key, bool) {
	switch r.Kind {
	case GitHubPR:
		host := r.Host
		if host == "www.github.com" {
			host = "github.com"
		}
		return change.GitHubKey(host, r.Repo, r.Number), true
	case ShortPR:
		repo := r.Repo
		if repo == "" {
			repo = selfRepo
		}
		if repo == "" {
			return "", false
		}
		return change.GitHubKey("", repo, r.Number), true
	}
	return "", false
}

// GitLabKey returns the key of the merge request r names, for GitLabMR and
// ShortMR references. selfHost and selfProject (the project's full path)
// are those of the change that holds r: a short form is on selfHost, and !N
// is in selfProject. It reports false for other kinds, and for a short form
// whose host or project is unknown.
func (r Ref) GitLabKey(selfHost, selfProject string) (change.Key, bool) {
	switch r.Kind {
	case GitLabMR:
		return change.GitLabKey(r.Host, r.Repo, r.Number), true
	case ShortMR:
		project := r.Repo
		if project == "" {
			project = selfProject
		}
		if selfHost == "" || project == "" {
			return "", false
		}
		return change.GitLabKey(selfHost, project, r.Number), true
	}
	return "", false
}

// PatchworkSeriesKey returns the key of the series r names when the URL
// names its project (a patch list URL with ?series=N). A /series/N/ URL does
// not name the project, nor does a patch page name the series: for those it
// reports false and the caller must look the series up on the instance.
func (r Ref) PatchworkSeriesKey() (change.Key, bool) {
	if r.Kind != PatchworkSeries || r.Repo == "" {
		return "", false
	}
	return change.PatchworkKey(r.Host+r.URLPath, r.Repo, r.Number), true
}
