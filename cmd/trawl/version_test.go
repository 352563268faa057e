package main

import (
	"runtime/debug"
	"testing"
)

func TestDescribeVersion(t *testing.T) {
	vcs := func(rev, modified string) []debug.BuildSetting {
		return []debug.BuildSetting{
			{Key: "vcs", Value: "git"},
			{Key: "vcs.revision", Value: rev},
			{Key: "vcs.time", Value: "2026-12-03T11:20:00Z"},
			{Key: "vcs.modified", Value: modified},
		}
	}
	for _, tc := range []struct {
		name   string
		info   *debug.BuildInfo
		linked string
		want   string
	}{
		{"no build info", nil, "", "trawl dev"},
		{"linker flag without build info", nil, "v1.2.3", "trawl v1.2.3"},
		{"go install of a tag", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.2.3"}},
			"", "trawl v1.2.3 go1.26.8"},
		{"go build in a clone", &debug.BuildInfo{GoVersion: "go1.26.8",
			Main: debug.Module{Version: "v0.0.0-20261203112000-409a2f6abcde"}, Settings: vcs("409a2f6abcdef", "false")},
			"", "trawl v0.0.0-20261203112000-409a2f6abcde commit 409a2f6abcdef 2026-12-03T11:20:00Z go1.26.8"},
		{"go build of a modified tree", &debug.BuildInfo{GoVersion: "go1.26.8",
			Main: debug.Module{Version: "v0.0.0-20261203112000-409a2f6abcde+dirty"}, Settings: vcs("409a2f6abcdef", "true")},
			"", "trawl v0.0.0-20261203112000-409a2f6abcde+dirty commit 409a2f6abcdef-dirty 2026-12-03T11:20:00Z go1.26.8"},
		{"go run outside a repository", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}},
			"", "trawl dev go1.26.8"},
		{"release build: the linker flag wins", &debug.BuildInfo{GoVersion: "go1.26.8",
			Main: debug.Module{Version: "v0.0.0-20261203112000-409a2f6abcde"}, Settings: vcs("409a2f6abcdef", "false")},
			"v1.0.0", "trawl v1.0.0 commit 409a2f6abcdef 2026-12-03T11:20:00Z go1.26.8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := describe(tc.info, tc.linked).String(); got != tc.want {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}
