package config

import (
	"testing"
	"time"
)

// TestForgeCIPostGrace: post_grace of the gitlab-pipeline and
// github-workflow blocks defaults to 2m and takes a duration.
func TestForgeCIPostGrace(t *testing.T) {
	blocks := map[string]string{
		TargetGitLabPipeline: "url: https://gitlab.com, project: g/p, ref: main, mode: api, token_env: GL_TOKEN",
		TargetGitHubWorkflow: "repo: o/r, workflow: trawl.yml, ref: main, token_env: GH_TOKEN",
	}
	for _, tc := range []struct {
		typ, extra string
		want       time.Duration
	}{
		{TargetGitLabPipeline, "", 2 * time.Minute},
		{TargetGitLabPipeline, ", post_grace: 30s", 30 * time.Second},
		{TargetGitHubWorkflow, "", 2 * time.Minute},
		{TargetGitHubWorkflow, ", post_grace: 5m", 5 * time.Minute},
	} {
		t.Run(tc.typ+tc.extra, func(t *testing.T) {
			c, err := Load([]byte(`targets:
  - name: ci
    type: `+tc.typ+`
    `+tc.typ+`: {`+blocks[tc.typ]+tc.extra+`}
sources:
  - name: s
    type: patchwork
    targets: [ci]
    base: {tree: next, url: https://git.example.org/next.git, branch: main}
    patchwork: {url: https://patchwork.kernel.org, project: p}
`), "/etc/trawl/trawl.yaml")
			if err != nil {
				t.Fatal(err)
			}
			var got Duration
			if tg := c.Targets[0]; tg.GitLabPipeline != nil {
				got = tg.GitLabPipeline.PostGrace
			} else {
				got = tg.GitHubWorkflow.PostGrace
			}
			if time.Duration(got) != tc.want {
				t.Errorf("post_grace = %s, want %s", time.Duration(got), tc.want)
			}
		})
	}
}
