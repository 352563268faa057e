package fingerprint_test

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/trawl-ci/trawl/fingerprint"
	"github.com/trawl-ci/trawl/pkg/change"
)

var update = flag.Bool("update", false, "rewrite testdata/vectors.golden from testdata/vectors.json")

const (
	vectorsFile = "testdata/vectors.json"
	goldenFile  = "testdata/vectors.golden"
	readmeFile  = "testdata/README.md"
)

// vector is one golden test vector. Vectors sharing a Pair form an
// ambiguity pair: their fields concatenate to the same bytes without length
// prefixes, yet their encodings must differ.
type vector struct {
	Name  string            `json:"name"`
	Pair  string            `json:"pair,omitempty"`
	Input fingerprint.Input `json:"input"`
}

func loadVectors(t *testing.T) []vector {
	t.Helper()
	raw, err := os.ReadFile(vectorsFile)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var vs []vector
	if err := dec.Decode(&vs); err != nil {
		t.Fatalf("%s: %v", vectorsFile, err)
	}
	return vs
}

// TestGoldenVectors pins the encoding: every vector of vectors.json must
// encode and sum as vectors.golden says. With -update it rewrites the golden
// file, but refuses (see checkUpdate) when that would change an existing
// vector without a bump of fingerprint.Version.
func TestGoldenVectors(t *testing.T) {
	vs := loadVectors(t)
	next := goldenOf(vs)
	got := next.text()
	if *update {
		if err := updateGolden(next); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(goldenFile)
	if err != nil {
		t.Fatalf("%v (run go test ./fingerprint -update)", err)
	}
	gotLines, wantLines := strings.Split(got, "\n"), strings.Split(string(want), "\n")
	for i := range max(len(gotLines), len(wantLines)) {
		var g, w string
		if i < len(gotLines) {
			g = gotLines[i]
		}
		if i < len(wantLines) {
			w = wantLines[i]
		}
		if g != w {
			t.Fatalf("%s line %d:\n got %q\nwant %q\nThe encoding changed: bump fingerprint.Version, or fix the regression.", goldenFile, i+1, g, w)
		}
	}
}

// updateGolden writes next to the golden file unless checkUpdate refuses to
// replace what the file holds. A missing file is written; an unreadable
// one is an error, since what it pins could not be checked.
func updateGolden(next golden) error {
	raw, err := os.ReadFile(goldenFile)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return err
	default:
		prev, err := parseGolden(string(raw))
		if err != nil {
			return fmt.Errorf("%s: %w", goldenFile, err)
		}
		if err := checkUpdate(prev, next); err != nil {
			return err
		}
	}
	return os.WriteFile(goldenFile, []byte(next.text()), 0o644)
}

func TestVectorsAreDistinctAndDecode(t *testing.T) {
	vs := loadVectors(t)
	sums := map[string]string{}
	pairs := map[string][]vector{}
	for _, v := range vs {
		enc := fingerprint.Encode(v.Input)
		got, err := decode(enc)
		if err != nil {
			t.Errorf("%s: decode: %v", v.Name, err)
		} else if !reflect.DeepEqual(got, normal(v.Input)) {
			t.Errorf("%s: decoded %+v, want %+v", v.Name, got, normal(v.Input))
		}
		sum := fingerprint.Sum(v.Input)
		if other, dup := sums[sum]; dup {
			t.Errorf("%s and %s share the sum %s", v.Name, other, sum)
		}
		sums[sum] = v.Name
		if v.Pair != "" {
			pairs[v.Pair] = append(pairs[v.Pair], v)
		}
	}
	if len(pairs) < 5 {
		t.Errorf("only %d ambiguity pairs in %s", len(pairs), vectorsFile)
	}
	for name, p := range pairs {
		if len(p) != 2 {
			t.Errorf("pair %s has %d vectors, want 2", name, len(p))
			continue
		}
		// The pair is a real ambiguity for an encoding without lengths.
		if a, b := naive(p[0].Input), naive(p[1].Input); a != b {
			t.Errorf("pair %s: naive concatenations %q and %q differ: not an ambiguity pair", name, a, b)
		}
	}
}

// naive concatenates the fields of in without lengths or separators.
func naive(in fingerprint.Input) string {
	s := in.Target + in.TargetConfig + in.BaseURL + in.BaseBranch + in.BaseCommit
	for _, it := range in.Items {
		s += it.Key + strconv.Itoa(it.Version) + strings.Join(it.Content, "")
	}
	for _, d := range in.Deps {
		s += d.Key + d.Fingerprint
	}
	return s
}

func TestEncodeDocumentedLayout(t *testing.T) {
	in := fingerprint.Input{
		Target: "k", TargetConfig: "c", BaseURL: "u", BaseBranch: "b",
		Items: []fingerprint.Item{{Key: "a", Version: 2, Content: []string{"h1", "h2"}}},
		Deps:  []fingerprint.Dep{{Key: "d", Fingerprint: "f"}},
	}
	want := []byte{
		0x01,      // format version
		0x01, 'k', // Target
		0x01, 'c', // TargetConfig
		0x01, 'u', // BaseURL
		0x01, 'b', // BaseBranch
		0x00,      // BaseCommit, empty
		0x01,      // one item
		0x01, 'a', // Key
		0x04, // Version 2, zig-zag
		0x02, // two content entries
		0x02, 'h', '1',
		0x02, 'h', '2',
		0x01,      // one dep
		0x01, 'd', // Key
		0x01, 'f', // Fingerprint
	}
	if got := fingerprint.Encode(in); !bytes.Equal(got, want) {
		t.Errorf("Encode = % x\nwant     % x", got, want)
	}
	// The README's worked example is this encoding.
	readme, err := os.ReadFile(readmeFile)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), hex.EncodeToString(want)) {
		t.Errorf("%s does not show the worked example %x", readmeFile, want)
	}
	if !strings.Contains(string(readme), fingerprint.Sum(in)) {
		t.Errorf("%s does not show the worked example's sum %s", readmeFile, fingerprint.Sum(in))
	}

	long := fingerprint.Encode(fingerprint.Input{Target: strings.Repeat("x", 300)})
	if !bytes.HasPrefix(long, []byte{0x01, 0xac, 0x02, 'x'}) {
		t.Errorf("300-byte Target encodes as % x..., want 01 ac 02 78...", long[:4])
	}
}

func TestNilAndEmptyListsEncodeTheSame(t *testing.T) {
	a := fingerprint.Input{Target: "t", Items: []fingerprint.Item{{Key: "k"}}}
	b := fingerprint.Input{Target: "t", Items: []fingerprint.Item{{Key: "k", Content: []string{}}}, Deps: []fingerprint.Dep{}}
	if fingerprint.Sum(a) != fingerprint.Sum(b) {
		t.Error("nil and empty lists give different sums")
	}
	if got := fingerprint.Explain(a, b); got != nil {
		t.Errorf("Explain = %q, want nil", got)
	}
}

func TestSumAndShort(t *testing.T) {
	in := fingerprint.Input{Target: "kernelci"}
	sum := fingerprint.Sum(in)
	if len(sum) != 64 || strings.ToLower(sum) != sum {
		t.Errorf("Sum = %q, want 64 lowercase hex digits", sum)
	}
	if fingerprint.Sum(in) != sum {
		t.Error("Sum is not stable")
	}
	if got := fingerprint.Short(sum); got != sum[:12] {
		t.Errorf("Short(%s) = %q", sum, got)
	}
	if got := fingerprint.Short("abc"); got != "abc" {
		t.Errorf(`Short("abc") = %q`, got)
	}
}

func TestItemOf(t *testing.T) {
	c := &change.Change{
		Key: "pw:x/series/3", Source: "x", Title: "net: fix", WebURL: "https://pw/series/3", Submitter: "Ann",
		Version: 2, Content: []string{"h1", "h2"},
		Patches:     []change.Patch{{ID: 1, Name: "[1/2] net: fix", Hash: "h1"}},
		Deps:        []change.Ref{{Raw: "<m@x>", Key: "pw:x/series/1", Source: "x"}},
		Base:        change.Base{Tree: "net", URL: "https://git/net", Branch: "main", Policy: change.PolicyFollow},
		BaseCommit:  "abc",
		Targets:     []string{"kernelci"},
		Unbuildable: "",
	}
	got := fingerprint.ItemOf(c)
	want := fingerprint.Item{Key: "pw:x/series/3", Version: 2, Content: []string{"h1", "h2"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ItemOf = %+v, want %+v", got, want)
	}
	c.Content[0] = "changed"
	if got.Content[0] != "h1" {
		t.Error("ItemOf shares Content with the change")
	}
}

func TestExplain(t *testing.T) {
	item := func(k string, v int, content ...string) fingerprint.Item {
		return fingerprint.Item{Key: k, Version: v, Content: content}
	}
	base := fingerprint.Input{
		Target: "kernelci", TargetConfig: "cfg1", BaseURL: "https://git/net", BaseBranch: "main",
		BaseCommit: "1a2b3c4d5e6f708192a3",
		Items:      []fingerprint.Item{item("pw:x/series/1", 1, "p1"), item("pw:x/series/2", 1, "q1"), item("pw:x/series/3", 2, "h1", "h2")},
		Deps:       []fingerprint.Dep{{Key: "pw:x/series/2", Fingerprint: "fp2"}},
	}
	tests := []struct {
		name   string
		mutate func(in *fingerprint.Input)
		want   []string
	}{
		{"equal", func(*fingerprint.Input) {}, nil},
		{"target", func(in *fingerprint.Input) { in.Target = "buildbot" }, []string{"target kernelci -> buildbot"}},
		{"target configuration", func(in *fingerprint.Input) { in.TargetConfig = "cfg2" }, []string{"target configuration changed"}},
		{"base URL", func(in *fingerprint.Input) { in.BaseURL = "https://git/net-next" }, []string{"base URL https://git/net -> https://git/net-next"}},
		{"base branch", func(in *fingerprint.Input) { in.BaseBranch = "next" }, []string{"base branch main -> next"}},
		{"base commit", func(in *fingerprint.Input) { in.BaseCommit = "7a8b9c0d1e2f000000" }, []string{"base commit 1a2b3c4d5e6f -> 7a8b9c0d1e2f"}},
		{"base commit past the short form", func(in *fingerprint.Input) { in.BaseCommit = "1a2b3c4d5e6f708192a4" },
			[]string{"base commit 1a2b3c4d5e6f708192a3 -> 1a2b3c4d5e6f708192a4"}},
		{"base commit dropped", func(in *fingerprint.Input) { in.BaseCommit = "" }, []string{"base commit 1a2b3c4d5e6f -> (none)"}},
		{"one patch", func(in *fingerprint.Input) { in.Items[2].Content[1] = "h2b" }, []string{"pw:x/series/3: content changed (patch 2 of 2)"}},
		{"new revision", func(in *fingerprint.Input) { in.Items[2] = item("pw:x/series/3", 3, "i1", "i2") },
			[]string{"pw:x/series/3: version 2 -> 3", "pw:x/series/3: content changed (patches 1, 2 of 2)"}},
		{"patch count", func(in *fingerprint.Input) { in.Items[2] = item("pw:x/series/3", 2, "h1", "h2", "h3") },
			[]string{"pw:x/series/3: content changed (2 -> 3 patches)"}},
		{"another change", func(in *fingerprint.Input) { in.Items[2] = item("pw:x/series/4", 1, "h1") }, []string{"change pw:x/series/3 -> pw:x/series/4"}},
		{"dependency content", func(in *fingerprint.Input) {
			in.Items[1] = item("pw:x/series/2", 1, "q2")
			in.Deps[0].Fingerprint = "fp2b"
		}, []string{"pw:x/series/2: content changed (patch 1 of 1)", "dependency pw:x/series/2 fingerprint changed"}},
		{"dependency fingerprint only", func(in *fingerprint.Input) { in.Deps[0].Fingerprint = "fp2b" }, []string{"dependency pw:x/series/2 fingerprint changed"}},
		{"dependency added", func(in *fingerprint.Input) {
			in.Items = append([]fingerprint.Item{item("pw:x/series/0", 1, "z")}, in.Items...)
			in.Deps = append([]fingerprint.Dep{{Key: "pw:x/series/0", Fingerprint: "fp0"}}, in.Deps...)
		}, []string{"dependency pw:x/series/0 added"}},
		{"dependency removed", func(in *fingerprint.Input) {
			in.Items = in.Items[1:]
		}, []string{"dependency pw:x/series/1 removed"}},
		{"direct dependency removed", func(in *fingerprint.Input) {
			in.Items = append(in.Items[:1:1], in.Items[2])
			in.Deps = nil
		}, []string{"dependency pw:x/series/2 removed"}},
		{"dependency order", func(in *fingerprint.Input) { in.Items[0], in.Items[1] = in.Items[1], in.Items[0] }, []string{"dependency order changed"}},
		{"dependency now direct", func(in *fingerprint.Input) {
			in.Deps = append([]fingerprint.Dep{{Key: "pw:x/series/1", Fingerprint: "fp1"}}, in.Deps...)
		}, []string{"dependency pw:x/series/1 is now direct"}},
		{"dependency no longer direct", func(in *fingerprint.Input) { in.Deps = nil }, []string{"dependency pw:x/series/2 is no longer direct"}},
		{"several", func(in *fingerprint.Input) {
			in.BaseBranch = "next"
			in.TargetConfig = "cfg2"
			in.Items[2].Version = 3
		}, []string{"target configuration changed", "base branch main -> next", "pw:x/series/3: version 2 -> 3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old, next := clone(base), clone(base)
			tt.mutate(&next)
			got := fingerprint.Explain(old, next)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Explain =\n  %q\nwant\n  %q", got, tt.want)
			}
			if same := fingerprint.Sum(old) == fingerprint.Sum(next); same != (tt.want == nil) {
				t.Errorf("sums equal = %v, Explain = %q", same, got)
			}
		})
	}
	if got := fingerprint.Explain(fingerprint.Input{}, fingerprint.Input{Items: []fingerprint.Item{item("k", 0)}}); !reflect.DeepEqual(got, []string{"change (none) -> k"}) {
		t.Errorf("Explain from nothing = %q", got)
	}
}

// TestExplainOddInputs covers inputs the cycle does not build (a key twice,
// direct dependencies out of order or missing from Items): Explain still
// names what differs.
func TestExplainOddInputs(t *testing.T) {
	item := func(k string, content ...string) fingerprint.Item { return fingerprint.Item{Key: k, Content: content} }
	dep := func(k, fp string) fingerprint.Dep { return fingerprint.Dep{Key: k, Fingerprint: fp} }
	tests := []struct {
		name     string
		old, new fingerprint.Input
		want     []string
	}{
		{
			name: "second copy of a key changed",
			old:  fingerprint.Input{Items: []fingerprint.Item{item("d", "p1"), item("d", "p2"), item("k", "h")}},
			new:  fingerprint.Input{Items: []fingerprint.Item{item("d", "p1"), item("d", "p1"), item("k", "h")}},
			want: []string{"d: content changed (patch 1 of 1)"},
		},
		{
			name: "copy of a key added",
			old:  fingerprint.Input{Items: []fingerprint.Item{item("d", "p1"), item("k", "h")}},
			new:  fingerprint.Input{Items: []fingerprint.Item{item("d", "p1"), item("d", "p1"), item("k", "h")}},
			want: []string{"dependency d added"},
		},
		{
			name: "direct dependencies reordered",
			old:  fingerprint.Input{Items: []fingerprint.Item{item("a"), item("b"), item("k")}, Deps: []fingerprint.Dep{dep("a", "1"), dep("b", "2")}},
			new:  fingerprint.Input{Items: []fingerprint.Item{item("a"), item("b"), item("k")}, Deps: []fingerprint.Dep{dep("b", "2"), dep("a", "1")}},
			want: []string{"direct dependency order changed"},
		},
		{
			name: "direct dependency that is not an item",
			old:  fingerprint.Input{Items: []fingerprint.Item{item("k")}, Deps: []fingerprint.Dep{dep("x", "1")}},
			new:  fingerprint.Input{Items: []fingerprint.Item{item("k")}, Deps: []fingerprint.Dep{dep("y", "1")}},
			want: []string{"dependency y added", "dependency x removed"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := fingerprint.Explain(tt.old, tt.new); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Explain =\n  %q\nwant\n  %q", got, tt.want)
			}
		})
	}
}

// clone deep-copies in, so that a test can mutate the copy.
func clone(in fingerprint.Input) fingerprint.Input {
	out := in
	out.Items = nil
	for _, it := range in.Items {
		it.Content = append([]string(nil), it.Content...)
		out.Items = append(out.Items, it)
	}
	out.Deps = append([]fingerprint.Dep(nil), in.Deps...)
	return out
}

// normal returns in with every empty list nil: the form decode returns, in
// which deep equality is equality of encodings.
func normal(in fingerprint.Input) fingerprint.Input {
	out := in
	out.Items, out.Deps = nil, nil
	for _, it := range in.Items {
		if len(it.Content) == 0 {
			it.Content = nil
		}
		out.Items = append(out.Items, it)
	}
	if len(in.Deps) > 0 {
		out.Deps = in.Deps
	}
	return out
}

// decoder reads the documented encoding back; it exists to prove, in tests,
// that Encode loses nothing.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("bad uvarint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count reads a list count; each element takes at least one byte.
func (d *decoder) count() int {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail("count past the end")
		return 0
	}
	return int(n)
}

func (d *decoder) str() string {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail("string past the end")
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *decoder) fail(msg string) {
	if d.err == nil {
		d.err = errors.New(msg)
	}
	d.b = nil
}

func decode(b []byte) (fingerprint.Input, error) {
	d := &decoder{b: b}
	if v := d.uvarint(); v != fingerprint.Version {
		return fingerprint.Input{}, fmt.Errorf("format version %d", v)
	}
	in := fingerprint.Input{Target: d.str(), TargetConfig: d.str(), BaseURL: d.str(), BaseBranch: d.str(), BaseCommit: d.str()}
	for range d.count() {
		it := fingerprint.Item{Key: d.str(), Version: int(d.varint())}
		for range d.count() {
			it.Content = append(it.Content, d.str())
		}
		in.Items = append(in.Items, it)
	}
	for range d.count() {
		in.Deps = append(in.Deps, fingerprint.Dep{Key: d.str(), Fingerprint: d.str()})
	}
	if d.err == nil && len(d.b) > 0 {
		d.err = fmt.Errorf("%d bytes left", len(d.b))
	}
	return in, d.err
}

// inputFrom builds an Input from fuzz bytes. Strings are short and drawn
// from a four-letter alphabet, so that different inputs often concatenate to
// the same bytes.
func inputFrom(data []byte) fingerprint.Input {
	next := func() byte {
		if len(data) == 0 {
			return 0
		}
		b := data[0]
		data = data[1:]
		return b
	}
	str := func() string {
		var s []byte
		for range next() % 4 {
			s = append(s, "ab0\x01"[next()%4])
		}
		return string(s)
	}
	in := fingerprint.Input{Target: str(), TargetConfig: str(), BaseURL: str(), BaseBranch: str(), BaseCommit: str()}
	for range next() % 4 {
		it := fingerprint.Item{Key: str(), Version: int(int8(next()))}
		n := next()
		if n%8 == 7 {
			it.Content = []string{}
		}
		for range n % 4 {
			it.Content = append(it.Content, str())
		}
		in.Items = append(in.Items, it)
	}
	for range next() % 3 {
		in.Deps = append(in.Deps, fingerprint.Dep{Key: str(), Fingerprint: str()})
	}
	return in
}

func FuzzEncode(f *testing.F) {
	f.Add([]byte{}, []byte{})
	f.Add([]byte{1, 0, 0, 0, 0, 0, 1, 1, 1, 0, 2, 2, 0, 1, 1, 2}, []byte{1, 0, 0, 0, 0, 0, 1, 1, 1, 0, 2, 1, 0, 2, 1, 2})
	f.Add([]byte{0, 0, 0, 0, 2, 0, 2, 0}, []byte{0, 0, 0, 0, 0, 2, 0, 2})
	f.Add([]byte{0, 0, 0, 0, 0, 2, 1, 0, 0, 3, 1, 0, 0}, []byte{0, 0, 0, 0, 0, 1, 1, 0, 0, 7})
	f.Fuzz(func(t *testing.T, a, b []byte) {
		x, y := inputFrom(a), inputFrom(b)
		ex, ey := fingerprint.Encode(x), fingerprint.Encode(y)
		same := reflect.DeepEqual(normal(x), normal(y))
		if bytes.Equal(ex, ey) != same {
			t.Fatalf("inputs equal = %v but encodings equal = %v:\n%+v\n%+v\n% x", same, !same, x, y, ex)
		}
		if (fingerprint.Sum(x) == fingerprint.Sum(y)) != same {
			t.Fatalf("inputs equal = %v but sums equal = %v", same, !same)
		}
		got, err := decode(ex)
		if err != nil || !reflect.DeepEqual(got, normal(x)) {
			t.Fatalf("decode(Encode(x)) = %+v, %v; want %+v", got, err, normal(x))
		}
		if (len(fingerprint.Explain(x, y)) == 0) != same {
			t.Fatalf("inputs equal = %v but Explain = %q", same, fingerprint.Explain(x, y))
		}
	})
}

func BenchmarkSum30Items(b *testing.B) {
	in := fingerprint.Input{
		Target:       "kernelci",
		TargetConfig: strings.Repeat("c", 64),
		BaseURL:      "https://git.kernel.org/pub/scm/linux/kernel/git/netdev/net-next.git",
		BaseBranch:   "main",
		BaseCommit:   strings.Repeat("b", 40),
	}
	for i := range 30 {
		key := fmt.Sprintf("pw:patchwork.kernel.org/netdevbpf/series/%d", 812300+i)
		it := fingerprint.Item{Key: key, Version: 2}
		for j := range 5 {
			it.Content = append(it.Content, fmt.Sprintf("%040x", i*10+j))
		}
		in.Items = append(in.Items, it)
		if i >= 27 && i < 29 {
			in.Deps = append(in.Deps, fingerprint.Dep{Key: key, Fingerprint: strings.Repeat("f", 64)})
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		fingerprint.Sum(in)
	}
}

// BenchmarkSum10000Units fingerprints 10,000 units of one change of 1 to
// 12 patches each, as a cycle of a large project does.
func BenchmarkSum10000Units(b *testing.B) {
	ins := make([]fingerprint.Input, 10000)
	for i := range ins {
		it := fingerprint.Item{Key: fmt.Sprintf("pw:patchwork.kernel.org/netdevbpf/series/%d", 800000+i), Version: 1}
		for j := range 1 + i%12 {
			it.Content = append(it.Content, fmt.Sprintf("%040x", i*16+j))
		}
		ins[i] = fingerprint.Input{Target: "kernelci", TargetConfig: strings.Repeat("c", 64),
			BaseURL: "https://git.kernel.org/pub/scm/linux/kernel/git/netdev/net-next.git", BaseBranch: "main",
			Items: []fingerprint.Item{it}}
	}
	b.ReportAllocs()
	for b.Loop() {
		for _, in := range ins {
			fingerprint.Sum(in)
		}
	}
}
