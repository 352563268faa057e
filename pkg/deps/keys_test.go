package deps

import (
	"testing"

	"github.com/trawl-ci/trawl/pkg/change"
)

func TestGitHubKey(t *testing.T) {
	tests := []struct {
		name     string
		ref      Ref
		selfRepo string
		want     change.Key
		ok       bool
	}{
		{"github.com url", Ref{Kind: GitHubPR, Host: "github.com", Repo: "o/r", Number: 4}, "x/y", "gh:o/r#4", true},
		{"www.github.com url", Ref{Kind: GitHubPR, Host: "www.github.com", Repo: "o/r", Number: 4}, "", "gh:o/r#4", true},
		{"enterprise url keeps host", Ref{Kind: GitHubPR, Host: "ghe.example:8443", Repo: "o/r", Number: 4}, "", "gh:ghe.example:8443/o/r#4", true},
		{"#N uses self", Ref{Kind: ShortPR, Number: 12}, "rock-core/base-types", "gh:rock-core/base-types#12", true},
		{"owner/repo#N ignores self", Ref{Kind: ShortPR, Repo: "o/r", Number: 12}, "x/y", "gh:o/r#12", true},
		{"#N without self", Ref{Kind: ShortPR, Number: 12}, "", "", false},
		{"merge request", Ref{Kind: ShortMR, Number: 12}, "x/y", "", false},
		{"message-id", Ref{Kind: MessageID, MsgID: "a@b"}, "x/y", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := tc.ref.GitHubKey(tc.selfRepo)
			if got != tc.want || ok != tc.ok {
				t.Errorf("GitHubKey(%q) = %q, %v; want %q, %v", tc.selfRepo, got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestGitLabKey(t *testing.T) {
	tests := []struct {
		name              string
		ref               Ref
		selfHost, selfPrj string
		want              change.Key
		ok                bool
	}{
		{"url", Ref{Kind: GitLabMR, Host: "gitlab.com", Repo: "redhat/kernel", Number: 7}, "other.example", "a/b", "gl:gitlab.com/redhat/kernel!7", true},
		{"!N uses self", Ref{Kind: ShortMR, Number: 7}, "gitlab.example.com", "g/sub/p", "gl:gitlab.example.com/g/sub/p!7", true},
		{"group/proj!N on self host", Ref{Kind: ShortMR, Repo: "g/q", Number: 7}, "gitlab.com", "g/p", "gl:gitlab.com/g/q!7", true},
		{"!N without self project", Ref{Kind: ShortMR, Number: 7}, "gitlab.com", "", "", false},
		{"short form without self host", Ref{Kind: ShortMR, Repo: "g/q", Number: 7}, "", "g/p", "", false},
		{"pull request", Ref{Kind: GitHubPR, Host: "github.com", Repo: "o/r", Number: 1}, "gitlab.com", "g/p", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := tc.ref.GitLabKey(tc.selfHost, tc.selfPrj)
			if got != tc.want || ok != tc.ok {
				t.Errorf("GitLabKey(%q, %q) = %q, %v; want %q, %v", tc.selfHost, tc.selfPrj, got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestPatchworkSeriesKey(t *testing.T) {
	tests := []struct {
		name string
		text string
		want change.Key
		ok   bool
	}{
		{"list url", "Depends-on: https://patchwork.kernel.org/project/netdevbpf/list/?series=812345", "pw:patchwork.kernel.org/netdevbpf/series/812345", true},
		{"list url with prefix and port", "Depends-on: http://127.0.0.1:8000/pw/project/netdev/list/?series=1", "pw:127.0.0.1:8000/pw/netdev/series/1", true},
		{"series url names no project", "Depends-on: https://patchwork.kernel.org/series/812345/", "", false},
		{"patch page names no series", "Depends-on: https://patchwork.kernel.org/project/netdevbpf/patch/a@b/", "", false},
		{"message-id", "Depends-on: <a@b>", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			refs := Parse(tc.text)
			if len(refs) != 1 {
				t.Fatalf("Parse(%q) = %+v, want one ref", tc.text, refs)
			}
			got, ok := refs[0].PatchworkSeriesKey()
			if got != tc.want || ok != tc.ok {
				t.Errorf("PatchworkSeriesKey() = %q, %v; want %q, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}
