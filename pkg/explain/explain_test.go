package explain

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trawl-ci/trawl/fingerprint"
	"github.com/trawl-ci/trawl/pkg/state"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func input(version int, content, dep string) fingerprint.Input {
	in := fingerprint.Input{Target: "kernelci", TargetConfig: "cfg", BaseURL: "https://git.example/net.git", BaseBranch: "main",
		Items: []fingerprint.Item{{Key: "pw:x/1", Version: 1, Content: []string{"h1"}}, {Key: "pw:x/2", Version: version, Content: []string{content}}}}
	if dep != "" {
		in.Deps = []fingerprint.Dep{{Key: "pw:x/1", Fingerprint: dep}}
	}
	return in
}

func stored(t *testing.T, in *fingerprint.Input) *state.Unit {
	t.Helper()
	if in == nil {
		return &state.Unit{Fingerprint: strings.Repeat("f", 64)} // an old file: no inputs
	}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	return &state.Unit{Fingerprint: fingerprint.Sum(*in), Inputs: string(b)}
}

func TestExplain(t *testing.T) {
	then := input(1, "h2", strings.Repeat("a", 64))
	now := input(2, "h3", strings.Repeat("b", 64))
	same := then
	tests := []struct {
		name    string
		now     *fingerprint.Input
		why     string
		unit    func(t *testing.T) *state.Unit
		changed []string // fields marked changed
	}{
		{"changed", &now, "", func(t *testing.T) *state.Unit { return stored(t, &then) }, []string{"item pw:x/2", "dep pw:x/1"}},
		{"unchanged", &same, "", func(t *testing.T) *state.Unit { return stored(t, &then) }, nil},
		{"never triggered", &now, "", func(*testing.T) *state.Unit { return nil }, nil},
		{"inputs not recorded", &now, "", func(t *testing.T) *state.Unit { return stored(t, nil) }, nil},
		{"no fingerprint now", nil, "waiting: base unresolved", func(t *testing.T) *state.Unit { return stored(t, &then) }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fp := ""
			if tt.now != nil {
				fp = fingerprint.Sum(*tt.now)
			}
			e, err := Build("pw:x/2@kernelci", fp, tt.now, tt.why, tt.unit(t))
			if err != nil {
				t.Fatal(err)
			}
			var changed []string
			for _, r := range e.Rows {
				if r.Changed {
					changed = append(changed, r.Field)
				}
			}
			if strings.Join(changed, ",") != strings.Join(tt.changed, ",") {
				t.Errorf("changed rows %v, want %v", changed, tt.changed)
			}
			var b strings.Builder
			if err := e.Write(&b); err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", strings.ReplaceAll(tt.name, " ", "-")+".golden")
			if *update {
				if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if b.String() != string(want) {
				t.Errorf("output:\n%s\nwant (%s):\n%s", b.String(), golden, want)
			}
		})
	}
}

func TestCorruptStoredInputsIsAnError(t *testing.T) {
	_, err := Build("u", "", nil, "", &state.Unit{Fingerprint: "f", Inputs: `{"items":7}`})
	if err == nil || !strings.Contains(err.Error(), "explain u: stored inputs") {
		t.Fatalf("err = %v", err)
	}
}
