package deps

import (
	"reflect"
	"testing"
)

func TestParseRelays(t *testing.T) {
	for _, tc := range []struct {
		name string
		text string
		want []Ref
	}{
		{"dist-git MR", "Source-git change.\r\n\r\nRelay-CI-from: https://gitlab.com/redhat/centos-stream/rpms/kernel/-/merge_requests/42\r\n",
			[]Ref{{Raw: "https://gitlab.com/redhat/centos-stream/rpms/kernel/-/merge_requests/42", Kind: GitLabMR, Host: "gitlab.com", Repo: "redhat/centos-stream/rpms/kernel", Number: 42}}},
		{"GitHub PR, case and duplicates", "relay-ci-from: https://github.com/o/r/pull/3\nRELAY-CI-FROM: https://github.com/o/r/pull/3",
			[]Ref{{Raw: "https://github.com/o/r/pull/3", Kind: GitHubPR, Host: "github.com", Repo: "o/r", Number: 3}}},
		{"a Patchwork series has no statuses to relay", "Relay-CI-from: https://pw.example.org/project/netdev/list/?series=3", nil},
		{"quoted and fenced lines do not count", "> Relay-CI-from: https://github.com/o/r/pull/1\n```\nRelay-CI-from: https://github.com/o/r/pull/2\n```", nil},
		{"Depends-on is not a relay", "Depends-on: https://github.com/o/r/pull/1", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ParseRelays(tc.text); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("ParseRelays = %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func FuzzParseRelays(f *testing.F) {
	f.Add("Relay-CI-from: https://gitlab.com/g/p/-/merge_requests/1\n")
	f.Add("relay-ci-from: #3, !4\n> Relay-CI-from: x\n```\n")
	f.Fuzz(func(t *testing.T, text string) {
		for _, r := range ParseRelays(text) {
			if r.Raw == "" || r.Number <= 0 {
				t.Fatalf("bad relay ref %+v from %q", r, text)
			}
		}
	})
}
