package config

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/trawl-ci/trawl/pkg/secret"
)

// buildbotConfig is a configuration with one buildbot target whose block
// is block (indented under "buildbot:").
func buildbotConfig(block string) string {
	return `targets:
  - name: bb
    type: buildbot
    buildbot:
` + block + `
sources:
  - name: s
    type: patchwork
    targets: [bb]
    base: {tree: next, url: https://git.example.org/next.git, branch: main}
    patchwork: {url: https://patchwork.kernel.org, project: p}
`
}

func TestBuildbotBlock(t *testing.T) {
	c, err := Load([]byte(buildbotConfig(`      url: https://buildbot.example.org/
      builders: [unit]`)), "/etc/trawl/trawl.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := &Buildbot{URL: "https://buildbot.example.org", HookPath: "change_hook/base", Builders: []string{"unit"},
		Project: "trawl", Category: "trawl", LookupChanges: 1000, StartTimeout: Duration(6 * time.Hour), PostGrace: Duration(2 * time.Minute)}
	if got := c.Targets[0].Buildbot; !reflect.DeepEqual(got, want) {
		t.Errorf("defaults:\n got %+v\nwant %+v", got, want)
	}
	if c.Targets[0].MaxRunning != DefaultMaxRunningBuildbot {
		t.Errorf("max_running %d", c.Targets[0].MaxRunning)
	}

	c, err = Load([]byte(buildbotConfig(`      url: https://buildbot.example.org
      hook_path: /hooks/base
      user: trawl
      password_env: BB_HOOK
      builders: [unit, docs]
      project: netdev
      category: patches
      codebase: linux
      lookup_changes: 5000
      start_timeout: 2h
      post_grace: 30s`)), "/etc/trawl/trawl.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want = &Buildbot{URL: "https://buildbot.example.org", HookPath: "hooks/base", User: "trawl", Password: secret.Source{Env: "BB_HOOK"},
		Builders: []string{"unit", "docs"}, Project: "netdev", Category: "patches", Codebase: "linux", LookupChanges: 5000,
		StartTimeout: Duration(2 * time.Hour), PostGrace: Duration(30 * time.Second)}
	if got := c.Targets[0].Buildbot; !reflect.DeepEqual(got, want) {
		t.Errorf("all keys:\n got %+v\nwant %+v", got, want)
	}
}

func TestBuildbotBlockErrors(t *testing.T) {
	const file = "/etc/trawl/trawl.yaml"
	for _, tc := range []struct {
		name, block string
		want        []string
		hidden      string
	}{
		{"no url, no builders", `      project: p`, []string{
			`:4: targets[0].buildbot.url: required`,
			`:4: targets[0].buildbot.builders: required: the builders`,
		}, ""},
		{"empty builders", `      url: https://bb.example.org
      builders: []`, []string{`:6: targets[0].buildbot.builders: required: the builders`}, ""},
		{"builder with a slash", `      url: https://bb.example.org
      builders: [a/b]`, []string{`:6: targets[0].buildbot.builders[0]: "a/b" is not a builder name`}, ""},
		{"user without password", `      url: https://bb.example.org
      builders: [unit]
      user: trawl`, []string{`:7: targets[0].buildbot.user: needs password_file or password_env`}, ""},
		{"password without user", `      url: https://bb.example.org
      builders: [unit]
      password_env: BB`, []string{`:4: targets[0].buildbot: password_file or password_env needs a user`}, ""},
		{"password written in", `      url: https://bb.example.org
      builders: [unit]
      user: trawl
      password: hunter2-literal`, []string{
			`:7: targets[0].buildbot.user: needs password_file or password_env`,
			`:8: targets[0].buildbot.password: secrets may not be written in the config file; put it in a file and set password_file, or in an environment variable and set password_env`,
		}, "hunter2-literal"},
		{"bad words", `      url: https://bb.example.org
      builders: [unit]
      category: "two words"
      lookup_changes: 0
      start_timeout: 0s`, []string{
			`:7: targets[0].buildbot.category: "two words" is not letters`,
			`:8: targets[0].buildbot.lookup_changes: 0 is out of range 1..100000`,
			`:9: targets[0].buildbot.start_timeout: must be longer than zero`,
		}, ""},
		{"credentials in the url", `      url: https://trawl:hunter2@bb.example.org
      builders: [unit]`, []string{`:5: targets[0].buildbot.url: credentials may not be written in a URL`}, "hunter2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load([]byte(buildbotConfig(tc.block)), file)
			if err == nil {
				t.Fatal("loaded")
			}
			got := configErrors(t, err)
			if len(got) != len(tc.want) {
				t.Fatalf("got %d errors, want %d:\n%v", len(got), len(tc.want), err)
			}
			for i, e := range got {
				if want := file + tc.want[i]; !strings.HasPrefix(e.Error(), want) {
					t.Errorf("error %d:\n got %s\nwant prefix %s", i, e, want)
				}
			}
			if tc.hidden != "" && strings.Contains(err.Error(), tc.hidden) {
				t.Errorf("errors reveal %q: %v", tc.hidden, err)
			}
		})
	}
}
