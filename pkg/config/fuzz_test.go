package config

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoad checks that Load never panics, that it returns either a config
// or errors, and that every error is an *Error naming the file.
func FuzzLoad(f *testing.F) {
	files, err := filepath.Glob("testdata/*.yaml")
	if err != nil {
		f.Fatal(err)
	}
	examples, err := filepath.Glob("../../examples/*.yaml")
	if err != nil {
		f.Fatal(err)
	}
	for _, name := range append(files, examples...) {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		const name = "fuzz.yaml"
		c, err := Load(data, name)
		if err != nil {
			if c != nil {
				t.Fatalf("Load returned a config with errors")
			}
			for _, e := range configErrors(t, err) {
				if e.File != name {
					t.Fatalf("error %q names file %q", e, e.File)
				}
			}
			return
		}
		if len(c.Targets) == 0 || len(c.Sources) == 0 {
			t.Fatalf("a valid config without targets or sources: %+v", c)
		}
		for _, s := range c.Sources {
			if _, err := ParseSchedule(s.Schedule); err != nil {
				t.Fatalf("source %s: valid config with a bad schedule: %v", s.Name, err)
			}
			if blocks := count(s.Patchwork != nil, s.GitHub != nil, s.GitLab != nil); blocks != 1 ||
				(s.Type == SourcePatchwork) != (s.Patchwork != nil) || (s.Type == SourceGitHub) != (s.GitHub != nil) {
				t.Fatalf("source %s of type %s has %d blocks", s.Name, s.Type, blocks)
			}
			for _, tn := range s.Targets {
				if _, ok := c.Target(tn); !ok {
					t.Fatalf("source %s names unknown target %s", s.Name, tn)
				}
			}
		}
		for _, tg := range c.Targets {
			switch {
			case count(tg.KernelCI != nil, tg.Exec != nil, tg.Webhook != nil, tg.Buildbot != nil, tg.Jenkins != nil, tg.GitLabPipeline != nil, tg.GitHubWorkflow != nil) != 1:
				t.Fatalf("target %s of type %s without exactly its block", tg.Name, tg.Type)
			case tg.KernelCI != nil && !tg.KernelCI.Token.IsSet(), tg.Webhook != nil && !tg.Webhook.Secret.IsSet(),
				tg.Jenkins != nil && !tg.Jenkins.Token.IsSet():
				t.Fatalf("target %s without its secret", tg.Name)
			case tg.GitLabPipeline != nil && (!tg.GitLabPipeline.Token.IsSet() ||
				tg.GitLabPipeline.Mode == GitLabPipelineTrigger && !tg.GitLabPipeline.TriggerToken.IsSet()),
				tg.GitHubWorkflow != nil && !tg.GitHubWorkflow.Token.IsSet():
				t.Fatalf("target %s without its secret", tg.Name)
			case tg.Exec != nil && len(tg.Exec.Command) == 0:
				t.Fatalf("target %s without a command", tg.Name)
			case tg.Buildbot != nil && (len(tg.Buildbot.Builders) == 0 || (tg.Buildbot.User != "") != tg.Buildbot.Password.IsSet()):
				t.Fatalf("target %s without builders, or with half its change hook credentials", tg.Name)
			}
		}
	})
}

// FuzzParseDuration checks that ParseDuration never panics and that what
// it accepts survives a round trip through String.
func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"30s", "10m", "7d", "1d12h", "1.5h", "-5m", "0d", "106751d", "d", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		if err != nil {
			return
		}
		back, err := ParseDuration(d.String())
		if err != nil || back != d {
			t.Fatalf("ParseDuration(%q) = %d; String %q parses to %d, %v", s, d, d.String(), back, err)
		}
	})
}

// FuzzParseSchedule checks that ParseSchedule never panics.
func FuzzParseSchedule(f *testing.F) {
	for _, s := range []string{"@every 5m", "*/10 * * * *", "TZ=UTC 0 3 * * *", "CRON_TZ=", "@hourly", "1-5/2 * * JAN-MAR MON"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		_, _ = ParseSchedule(s)
	})
}

// count is the number of true values.
func count(bs ...bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}
