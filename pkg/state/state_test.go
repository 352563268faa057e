package state

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/trawl-ci/trawl/pkg/report"
	"github.com/trawl-ci/trawl/pkg/targets"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden files")

// sample is a state using every field.
func sample() *State {
	first := time.Date(2025, 3, 1, 10, 0, 0, 123456789, time.UTC)
	trig := first.Add(90 * time.Second)
	gone := first.Add(48 * time.Hour)
	st := New()
	st.Units["pw:patchwork.kernel.org/netdevbpf/series/812345@kernelci"] = &Unit{
		Change:      "pw:patchwork.kernel.org/netdevbpf/series/812345",
		Source:      "netdev",
		Target:      "kernelci",
		Status:      "triggered",
		Fingerprint: "9f2c4b1e6a0d5c3b8e7f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d",
		Inputs:      `{"version":1,"patches":["a1","b2"]}`,
		Job: &targets.Job{
			Target:     "kernelci",
			ID:         "65f0c0ffee",
			URL:        "https://dashboard.kernelci.org/node/65f0c0ffee",
			BaseCommit: "dac25a05d816db6edb722ef6173269e88bc7ef3c",
			Adopted:    true,
		},
		BaseCommit:  "dac25a05d816db6edb722ef6173269e88bc7ef3c",
		FirstSeen:   first,
		LastSeen:    gone,
		TriggeredAt: &trig,
		Result: &targets.Result{
			State:   targets.StateFail,
			Summary: "builds 12/12 passed; tests 140 passed, 2 failed",
			URL:     "https://dashboard.kernelci.org/node/65f0c0ffee",
			Builds:  targets.Tally{Pass: 12},
			Tests:   targets.Tally{Pass: 140, Fail: 2},
		},
		ResultAt: &gone,
		Reports: map[string]*Reported{
			"patchwork": {Fingerprint: "9f2c4b1e", State: targets.StatePending, Posted: "pending", At: trig},
			"resultsdb": {Fingerprint: "9f2c4b1e", State: targets.StateFail, Posted: "FAILED", At: gone, Failed: "POST https://resultsdb.example.org/api/v2.0/results: 400 Bad Request: bad outcome"},
		},
	}
	st.Outbox = []*Post{{
		Reporter: "patchwork",
		Message: report.Message{
			Unit: "pw:patchwork.kernel.org/netdevbpf/series/812345@kernelci", Change: "pw:patchwork.kernel.org/netdevbpf/series/812345",
			Target: "kernelci", Fingerprint: "9f2c4b1e", State: targets.StateFail, Summary: "tests 2 failed",
			URL: "https://dashboard.kernelci.org/node/65f0c0ffee",
		},
		Posted:      "fail",
		Items:       []string{"101", "102"},
		Done:        []string{"101"},
		Attempts:    2,
		NextAttempt: gone,
		LastError:   "POST https://patchwork.kernel.org/api/1.3/patches/102/checks/: 502 Bad Gateway",
		Created:     gone,
	}}
	st.Units["gh:rock-core/base-types#42@buildbot"] = &Unit{
		Change:    "gh:rock-core/base-types#42",
		Source:    "base-types",
		Target:    "buildbot",
		Status:    "waiting",
		Reason:    "base main of https://github.com/rock-core/base-types not resolved",
		FirstSeen: first,
		LastSeen:  gone,
		GoneSince: &gone,
	}
	return st
}

// openTemp opens a store in a fresh directory and closes it at the end of
// the test.
func openTemp(t *testing.T) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// compactInputs rewrites every unit's Inputs without whitespace, since the
// file stores them indented.
func compactInputs(t *testing.T, st *State) {
	t.Helper()
	for _, u := range st.Units {
		if u.Inputs == "" {
			continue
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, []byte(u.Inputs)); err != nil {
			t.Fatal(err)
		}
		u.Inputs = buf.String()
	}
}

func TestRoundTrip(t *testing.T) {
	s := openTemp(t)
	want := sample()
	if err := s.Save(want); err != nil {
		t.Fatal(err)
	}
	got, err := s.Load()
	if err != nil {
		t.Fatal(err)
	}
	compactInputs(t, got)
	if !reflect.DeepEqual(got, want) {
		g, _ := json.Marshal(got)
		w, _ := json.Marshal(want)
		t.Fatalf("round trip changed the state:\n got %s\nwant %s", g, w)
	}
}

// TestGolden pins the file format: schema, field names, sorted keys,
// indentation and the trailing newline. Saving twice writes the same bytes.
func TestGolden(t *testing.T) {
	s := openTemp(t)
	if err := s.Save(sample()); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(s.Path())
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "state.golden.json")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("state file differs from %s (run go test -update to accept):\n%s", golden, got)
	}
	if err := s.Save(sample()); err != nil {
		t.Fatal(err)
	}
	again, err := os.ReadFile(s.Path())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, got) {
		t.Fatal("saving the same state twice wrote different bytes")
	}
}

func TestSaveNormalises(t *testing.T) {
	tests := []struct {
		name string
		st   *State
	}{
		{"zero state", &State{}},
		{"old schema number, nil units", &State{Schema: 0, Units: nil}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openTemp(t)
			if err := s.Save(tt.st); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(s.Path())
			if err != nil {
				t.Fatal(err)
			}
			if want := "{\n  \"schema\": 1,\n  \"units\": {}\n}\n"; string(b) != want {
				t.Fatalf("file = %q, want %q", b, want)
			}
			fi, err := os.Stat(s.Path())
			if err != nil {
				t.Fatal(err)
			}
			if perm := fi.Mode().Perm(); perm != 0o600 {
				t.Fatalf("state file mode = %v, want 0600", perm)
			}
		})
	}
}

func TestSaveNil(t *testing.T) {
	s := openTemp(t)
	if err := s.Save(nil); err == nil {
		t.Fatal("Save(nil) succeeded")
	}
}

func TestOpenCreatesDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "var", "lib", "trawl")
	s, err := Open(filepath.Join(dir, "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm&^0o700 != 0 {
		t.Fatalf("created directory mode = %v, want at most 0700", perm)
	}
	st, err := s.Load()
	if err != nil {
		t.Fatalf("Load of a missing file: %v", err)
	}
	if !reflect.DeepEqual(st, New()) {
		t.Fatalf("Load of a missing file = %+v, want New()", st)
	}
}

func TestLoad(t *testing.T) {
	tests := []struct {
		name    string
		content string
		units   int      // when no error is wanted
		wantErr []string // substrings of the error, besides the path
	}{
		{name: "minimal", content: `{"schema":1,"units":{}}`},
		{name: "no units", content: `{"schema":1}`},
		{name: "null units", content: `{"schema":1,"units":null}`},
		{name: "unknown field", content: `{"schema":1,"units":{"u":{"change":"c","target":"t","status":"waiting","extra":1}}}`, units: 1},
		{name: "truncated", content: `{"schema":1,"units":{`, wantErr: []string{"corrupt JSON at byte offset 21 (line 1)"}},
		{name: "empty file", content: ``, wantErr: []string{"corrupt JSON at byte offset 0"}},
		{name: "garbage after", content: `{"schema":1,"units":{}}x`, wantErr: []string{"corrupt JSON at byte offset 24"}},
		{name: "bad character", content: "{\"schema\":1,\n\"units\":{\"u\":{\"change\":'c'}}}", wantErr: []string{"corrupt JSON at byte offset 37 (line 2)"}},
		{name: "units not an object", content: `{"schema":1,"units":[]}`, wantErr: []string{"bad value at byte offset"}},
		{name: "time not a time", content: `{"schema":1,"units":{"u":{"first_seen":"yesterday"}}}`, wantErr: []string{"state "}},
		{name: "schema not a number", content: `{"schema":"1"}`, wantErr: []string{"bad value at byte offset"}},
		{name: "newer schema", content: `{"schema":2,"units":{"u":["a new format"]}}`, wantErr: []string{"state file written by a newer trawl (schema 2"}},
		{name: "no schema", content: `{"units":{}}`, wantErr: []string{"not a trawl state file"}},
		{name: "schema zero", content: `{"schema":0,"units":{}}`, wantErr: []string{"invalid schema 0"}},
		{name: "null unit", content: `{"schema":1,"units":{"u1":null}}`, wantErr: []string{`unit "u1" is null`}},
		{name: "null report", content: `{"schema":1,"units":{"u1":{"reports":{"r":null}}}}`, wantErr: []string{`unit "u1": report "r" is null`}},
		{name: "null post", content: `{"schema":1,"units":{},"outbox":[null]}`, wantErr: []string{"outbox entry 0 is null"}},
		{name: "not an object", content: `[]`, wantErr: []string{"bad value at byte offset"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openTemp(t)
			if err := os.WriteFile(s.Path(), []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			st, err := s.Load()
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				if st.Schema != Schema || st.Units == nil || len(st.Units) != tt.units {
					t.Fatalf("Load = %+v, want schema %d and %d units", st, Schema, tt.units)
				}
				return
			}
			if err == nil {
				t.Fatalf("Load succeeded with %+v; want an error", st)
			}
			for _, want := range append(tt.wantErr, s.Path()) {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
		})
	}
}

// listDir returns the names in dir, sorted.
func listDir(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// TestSaveFailureKeepsOldFile checks that a failing Save leaves the previous
// file byte for byte and no temporary file behind.
func TestSaveFailureKeepsOldFile(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, s *Store) *State // returns the state to save
	}{
		{
			name: "value fails to encode",
			setup: func(t *testing.T, s *Store) *State {
				st := sample()
				st.Units["broken"] = &Unit{Change: "c", Inputs: `{"truncated":`}
				return st
			},
		},
	}
	// Every step of the write failing, injected through the file-ops seam
	// so that it fails as root too (CI runs as root, whom a read-only
	// directory does not stop): a full disk mid-write, a failed fsync, ...
	for _, step := range []string{"create", "chmod", "write", "sync", "close", "rename"} {
		tests = append(tests, struct {
			name  string
			setup func(t *testing.T, s *Store) *State
		}{
			name: step + " fails",
			setup: func(t *testing.T, s *Store) *State {
				s.fs = &recordingFS{fail: step}
				return sample()
			},
		})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openTemp(t)
			old := New()
			old.Units["old"] = &Unit{Change: "c", Target: "t", Status: "triggered", Fingerprint: "f0"}
			if err := s.Save(old); err != nil {
				t.Fatal(err)
			}
			before, err := os.ReadFile(s.Path())
			if err != nil {
				t.Fatal(err)
			}
			names := listDir(t, filepath.Dir(s.Path()))

			st := tt.setup(t, s)
			err = s.Save(st)
			if err == nil {
				t.Fatal("Save succeeded; want an error")
			}
			if !strings.Contains(err.Error(), s.Path()) {
				t.Errorf("error %q does not name %s", err, s.Path())
			}
			after, rerr := os.ReadFile(s.Path())
			if rerr != nil {
				t.Fatal(rerr)
			}
			if !bytes.Equal(after, before) {
				t.Fatalf("failed Save changed the file:\nbefore %s\nafter  %s", before, after)
			}
			if got := listDir(t, filepath.Dir(s.Path())); !slices.Equal(got, names) {
				t.Fatalf("directory after failed Save = %v, want %v", got, names)
			}
		})
	}
}

// TestSaveRenameFailureRemovesTemp makes the final rename fail (the state
// path is a non-empty directory) and checks that the written temporary file
// is removed.
func TestSaveRenameFailureRemovesTemp(t *testing.T) {
	s := openTemp(t)
	if err := os.MkdirAll(filepath.Join(s.Path(), "occupied"), 0o700); err != nil {
		t.Fatal(err)
	}
	names := listDir(t, filepath.Dir(s.Path()))
	if err := s.Save(sample()); err == nil {
		t.Fatal("Save over a directory succeeded")
	}
	if got := listDir(t, filepath.Dir(s.Path())); !slices.Equal(got, names) {
		t.Fatalf("directory after failed Save = %v, want %v", got, names)
	}
}

func TestClosedStore(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := s.Load(); err == nil {
		t.Error("Load after Close succeeded")
	}
	if err := s.Save(New()); err == nil {
		t.Error("Save after Close succeeded")
	}
	if _, err := os.Stat(s.Path()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Save after Close wrote the file (stat: %v)", err)
	}
}

// TestLockSameProcess checks that two Stores in one process conflict (flock
// locks belong to the open file, not the process) and that Close releases
// the lock.
func TestLockSameProcess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	first, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	second, err := Open(path)
	if err == nil {
		_ = second.Close()
		_ = first.Close()
		t.Fatal("second Open of a locked state succeeded")
	}
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open: %v; want ErrLocked", err)
	}
	for _, want := range []string{path + ".lock", "pid " + strconv.Itoa(os.Getpid())} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	third, err := Open(path)
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	if err := third.Close(); err != nil {
		t.Fatal(err)
	}
}

// lockHolderEnv, when set, makes TestLockHolderProcess hold the lock on the
// named state file until its stdin closes.
const lockHolderEnv = "TRAWL_STATE_TEST_LOCK_HOLDER"

// TestLockHolderProcess is not a test: it is the child process of
// TestLockOtherProcess.
func TestLockHolderProcess(t *testing.T) {
	path := os.Getenv(lockHolderEnv)
	if path == "" {
		t.Skip("helper process for TestLockOtherProcess; runs only as its child")
	}
	s, err := Open(path)
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Println("locked")
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
	_ = s.Close()
	os.Exit(0)
}

func TestLockOtherProcess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	// The deadline only stops a wedged child from hanging the test run.
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestLockHolderProcess$")
	cmd.Env = append(os.Environ(), lockHolderEnv+"="+path)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Wait() }()
	defer stdin.Close()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "locked\n" {
		t.Fatalf("child did not take the lock: %q, %v", line, err)
	}

	s, err := Open(path)
	if err == nil {
		_ = s.Close()
		t.Fatal("Open succeeded while another process holds the lock")
	}
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("Open: %v; want ErrLocked", err)
	}
	for _, want := range []string{path + ".lock", "pid " + strconv.Itoa(cmd.Process.Pid)} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}

	if err := stdin.Close(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v", err)
	}
	s, err = Open(path)
	if err != nil {
		t.Fatalf("Open after the other process released the lock: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// FuzzDecode checks that decoding never panics and that whatever decodes
// survives a save and a load unchanged.
func FuzzDecode(f *testing.F) {
	golden, err := os.ReadFile(filepath.Join("testdata", "state.golden.json"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(golden)
	f.Add([]byte(`{"schema":1,"units":{}}`))
	f.Add([]byte(`{"schema":1,"units":{"u":null}}`))
	f.Add([]byte(`{"schema":2}`))
	f.Add([]byte(`{"schema":1,"units":{"u":{"inputs":[1,2],"job":{"id":"x"},"triggered_at":"2025-01-01T00:00:00Z"}}}`))
	f.Add([]byte(`{"schema":1,"units":{`))
	dir := f.TempDir()
	s, err := Open(filepath.Join(dir, "state.json"))
	if err != nil {
		f.Fatal(err)
	}
	defer s.Close()
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := decode("fuzz.json", b)
		if err != nil {
			if !strings.Contains(err.Error(), "fuzz.json") {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		if err := s.Save(st); err != nil {
			// Only values JSON cannot write back fail here; decode
			// accepted them, so that is a bug.
			t.Fatalf("Save of a decoded state: %v", err)
		}
		again, err := s.Load()
		if err != nil {
			t.Fatalf("Load of a saved state: %v", err)
		}
		compactInputs(t, st)
		compactInputs(t, again)
		a, _ := json.Marshal(st)
		c, _ := json.Marshal(again)
		if !bytes.Equal(a, c) {
			t.Fatalf("save and load changed the state:\nbefore %s\nafter  %s", a, c)
		}
	})
}

// bench10000 is a store holding 10,000 triggered units, saved once.
func bench10000(b *testing.B) (*Store, *State) {
	b.Helper()
	s, err := Open(filepath.Join(b.TempDir(), "state.json"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	st := New()
	now := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	for i := range 10000 {
		change := fmt.Sprintf("pw:patchwork.kernel.org/netdevbpf/series/%d", 800000+i)
		st.Units[change+"@kernelci"] = &Unit{
			Change:      change,
			Target:      "kernelci",
			Status:      "triggered",
			Fingerprint: fmt.Sprintf("%064x", i),
			Inputs:      fmt.Sprintf(`{"version":1,"target":"kernelci","base":{"url":"https://git.kernel.org/netdev/net-next.git","branch":"main"},"patches":["%040x","%040x"]}`, i, i+1),
			Job:         &targets.Job{Target: "kernelci", ID: fmt.Sprintf("%024x", i)},
			BaseCommit:  fmt.Sprintf("%040x", i),
			FirstSeen:   now,
			LastSeen:    now,
			TriggeredAt: &now,
		}
	}
	if err := s.Save(st); err != nil {
		b.Fatal(err)
	}
	return s, st
}

// BenchmarkSave10000Units measures a Save of 10,000 units: "unchanged"
// is an idle cycle's (the state equal to the last written), "changed"
// one with a unit changed, which encodes and writes the file.
func BenchmarkSave10000Units(b *testing.B) {
	b.Run("unchanged", func(b *testing.B) {
		s, st := bench10000(b)
		b.ReportAllocs()
		for b.Loop() {
			if err := s.Save(st); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("changed", func(b *testing.B) {
		s, st := bench10000(b)
		u := st.Units["pw:patchwork.kernel.org/netdevbpf/series/800000@kernelci"]
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			u.Attempt = i + 1
			if err := s.Save(st); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkLoad10000Units measures a Load of 10,000 units: "unchanged"
// finds the file as the store's last Save wrote it (a daemon's next
// cycle), "decode" reads a file some other process wrote.
func BenchmarkLoad10000Units(b *testing.B) {
	b.Run("unchanged", func(b *testing.B) {
		s, _ := bench10000(b)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.Load(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decode", func(b *testing.B) {
		s, _ := bench10000(b)
		ro := ReadOnly(s.Path())
		b.ReportAllocs()
		for b.Loop() {
			if _, err := ro.Load(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func TestReadOnlyReadsBesideTheLockHolderAndNeverWrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	st := New()
	st.Units["u"] = &Unit{Change: "pw:x/series/1", Target: "kci", Source: "netdev", Fingerprint: "f"}
	if err := s.Save(st); err != nil {
		t.Fatal(err)
	}
	ro := ReadOnly(path)
	got, err := ro.Load()
	if err != nil {
		t.Fatalf("read-only Load beside the lock holder: %v", err)
	}
	if u := got.Units["u"]; u == nil || u.Fingerprint != "f" || u.Source != "netdev" {
		t.Fatalf("read-only Load = %+v", got.Units)
	}
	before, _ := os.ReadFile(path)
	if err := ro.Save(New()); err == nil {
		t.Fatal("read-only Save succeeded")
	}
	after, _ := os.ReadFile(path)
	if string(before) != string(after) {
		t.Fatal("read-only Save changed the file")
	}
}
