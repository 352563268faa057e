package fingerprint_test

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/trawl-ci/trawl/fingerprint"
)

// golden is the content of testdata/vectors.golden: the format version the
// vectors were written with and, in file order, each vector's encoding and
// sum.
type golden struct {
	Version int
	Vectors []goldenVector
}

// goldenVector is one vector of the golden file.
type goldenVector struct {
	Name     string
	Encoding string // lowercase hex
	Sum      string
}

// goldenHeader is the first line of the golden file; it records the format
// version.
const goldenHeader = "# trawl fingerprint format %d: golden vectors for testdata/vectors.json."

// goldenOf computes the golden content of vs with the current encoder.
func goldenOf(vs []vector) golden {
	g := golden{Version: fingerprint.Version}
	for _, v := range vs {
		g.Vectors = append(g.Vectors, goldenVector{
			Name:     v.Name,
			Encoding: fmt.Sprintf("%x", fingerprint.Encode(v.Input)),
			Sum:      fingerprint.Sum(v.Input),
		})
	}
	return g
}

// text returns g as the golden file holds it.
func (g golden) text() string {
	var b strings.Builder
	fmt.Fprintf(&b, goldenHeader+"\n", g.Version)
	b.WriteString("# Regenerate with: go test ./fingerprint -update\n")
	for _, v := range g.Vectors {
		fmt.Fprintf(&b, "\nname: %s\nencoding: %s\nsum: %s\n", v.Name, v.Encoding, v.Sum)
	}
	return b.String()
}

// parseGolden reads the golden file's text back; errors name the line.
func parseGolden(text string) (golden, error) {
	var g golden
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if _, err := fmt.Sscanf(lines[0], goldenHeader, &g.Version); err != nil {
		return golden{}, fmt.Errorf("line 1: no format version in %q (want %q)", lines[0], goldenHeader)
	}
	field := func(i int, key string) (string, error) {
		if i >= len(lines) {
			return "", fmt.Errorf("line %d: missing %q", i+1, key)
		}
		v, ok := strings.CutPrefix(lines[i], key+": ")
		if !ok {
			return "", fmt.Errorf("line %d: %q, want %q", i+1, lines[i], key+": ...")
		}
		return v, nil
	}
	for i := 2; i < len(lines); i += 4 {
		if lines[i] != "" {
			return golden{}, fmt.Errorf("line %d: %q, want an empty line between vectors", i+1, lines[i])
		}
		var v goldenVector
		var err error
		if v.Name, err = field(i+1, "name"); err != nil {
			return golden{}, err
		}
		if v.Encoding, err = field(i+2, "encoding"); err != nil {
			return golden{}, err
		}
		if v.Sum, err = field(i+3, "sum"); err != nil {
			return golden{}, err
		}
		g.Vectors = append(g.Vectors, v)
	}
	return g, nil
}

// checkUpdate reports whether next may replace prev in the golden file.
// The vectors pin the encoding, so with the format version unchanged next
// may only add vectors: an existing vector whose encoding or sum differs,
// or that is gone (and not kept under another name), means the encoding
// changed without a version bump, or a pinned vector was edited. Once the
// version is bumped every vector may change. The version never goes down.
func checkUpdate(prev, next golden) error {
	if next.Version < prev.Version {
		return fmt.Errorf("refusing to rewrite %s: fingerprint.Version went down from %d to %d", goldenFile, prev.Version, next.Version)
	}
	if next.Version > prev.Version {
		return nil
	}
	byName := map[string]goldenVector{}
	byEncoding := map[string]bool{}
	for _, v := range next.Vectors {
		byName[v.Name] = v
		byEncoding[v.Encoding] = true
	}
	var problems []string
	for _, old := range prev.Vectors {
		v, ok := byName[old.Name]
		switch {
		case !ok && !byEncoding[old.Encoding]:
			problems = append(problems, fmt.Sprintf("vector %q is gone from %s", old.Name, vectorsFile))
		case !ok:
			// Renamed: its encoding is still pinned.
		case v.Encoding != old.Encoding || v.Sum != old.Sum:
			problems = append(problems, fmt.Sprintf("vector %q would change:\n  encoding %s\n        -> %s\n  sum      %s\n        -> %s",
				old.Name, old.Encoding, v.Encoding, old.Sum, v.Sum))
		}
	}
	if len(problems) == 0 {
		return nil
	}
	return fmt.Errorf("refusing to rewrite %s: fingerprint format version is still %d but\n%s\n"+
		"The vectors pin the encoding: bump fingerprint.Version if it changed on purpose (every vector is then rewritten), "+
		"fix the regression if not, and add a new vector rather than edit or remove an existing one.",
		goldenFile, prev.Version, strings.Join(problems, "\n"))
}

// committedGolden reads and parses the committed golden file.
func committedGolden(t *testing.T) golden {
	t.Helper()
	raw, err := os.ReadFile(goldenFile)
	if err != nil {
		t.Fatal(err)
	}
	g, err := parseGolden(string(raw))
	if err != nil {
		t.Fatalf("%s: %v", goldenFile, err)
	}
	if g.text() != string(raw) {
		t.Fatalf("%s does not read back to the same text", goldenFile)
	}
	return g
}

// TestUpdateRefusesToChangeAVectorWithoutVersionBump runs the check -update
// makes on vector sets derived from the committed ones: only additions pass
// while fingerprint.Version stays; a changed or removed vector is refused
// with a message naming it and saying to bump the version.
func TestUpdateRefusesToChangeAVectorWithoutVersionBump(t *testing.T) {
	prev := committedGolden(t)
	if prev.Version != fingerprint.Version {
		t.Fatalf("%s records format %d, fingerprint.Version is %d", goldenFile, prev.Version, fingerprint.Version)
	}
	tests := []struct {
		name string
		// edit changes the vectors -update would write.
		edit func(vs []vector) []vector
		// bump is added to the version -update would write.
		bump int
		// refused lists what the error must say; nil when -update may
		// write.
		refused []string
	}{
		{name: "unchanged", edit: func(vs []vector) []vector { return vs }},
		{name: "vector added", edit: func(vs []vector) []vector {
			return append(vs, vector{Name: "new", Input: fingerprint.Input{Target: "new"}})
		}},
		{name: "vector renamed", edit: func(vs []vector) []vector {
			vs[1].Name = "zero-renamed"
			return vs
		}},
		{name: "input of a vector edited", edit: func(vs []vector) []vector {
			vs[0].Input.BaseBranch = "next"
			return vs
		}, refused: []string{`vector "readme-example" would change`, "bump fingerprint.Version"}},
		{name: "vector removed", edit: func(vs []vector) []vector {
			return vs[1:]
		}, refused: []string{`vector "readme-example" is gone`, "bump fingerprint.Version"}},
		{name: "input of a vector edited, version bumped", bump: 1, edit: func(vs []vector) []vector {
			vs[0].Input.BaseBranch = "next"
			return vs
		}},
		{name: "version lowered", bump: -1, edit: func(vs []vector) []vector { return vs },
			refused: []string{"went down"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next := goldenOf(tt.edit(loadVectors(t)))
			next.Version += tt.bump
			err := checkUpdate(prev, next)
			if tt.refused == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			for _, s := range tt.refused {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error does not say %q:\n%v", s, err)
				}
			}
		})
	}
}

// TestUpdateRefusesAChangedEncoding is the case the guard is for: the
// encoder changed (here simulated by editing the pinned encoding and sum)
// while the format version did not.
func TestUpdateRefusesAChangedEncoding(t *testing.T) {
	prev := committedGolden(t)
	next := goldenOf(loadVectors(t))
	prev.Vectors[2].Encoding = "00" + prev.Vectors[2].Encoding[2:]
	err := checkUpdate(prev, next)
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("vector %q would change", prev.Vectors[2].Name)) {
		t.Fatalf("checkUpdate = %v, want a refusal naming %s", err, prev.Vectors[2].Name)
	}
}

func TestParseGoldenErrorsNameTheLine(t *testing.T) {
	tests := []struct{ text, want string }{
		{"# something else\n", "line 1: no format version"},
		{fmt.Sprintf(goldenHeader, 1) + "\n# x\n\nname: a\nencoding: 01\n", `line 6: missing "sum"`},
		{fmt.Sprintf(goldenHeader, 1) + "\n# x\n\nname: a\nsum: 01\n", `line 5: "sum: 01", want "encoding: ..."`},
		{fmt.Sprintf(goldenHeader, 1) + "\n# x\nname: a\n", "line 3"},
	}
	for _, tt := range tests {
		if _, err := parseGolden(tt.text); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("parseGolden(%q) = %v, want an error with %q", tt.text, err, tt.want)
		}
	}
}
