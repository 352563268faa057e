package state

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// recordingFS is fileOps on the real file system that records every call
// in order and fails the step named fail (with ENOSPC, as a full disk
// would). A failing write first writes half of its bytes, as a disk that
// fills up mid-write does.
type recordingFS struct {
	fail  string
	calls []string
}

var _ fileOps = (*recordingFS)(nil)

var errInjected = syscall.ENOSPC

func (r *recordingFS) step(name string) error {
	r.calls = append(r.calls, name)
	if r.fail == name {
		return errInjected
	}
	return nil
}

func (r *recordingFS) CreateTemp(dir, pattern string) (tempFile, error) {
	if err := r.step("create"); err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return nil, err
	}
	return &recordingFile{File: f, fs: r}, nil
}

func (r *recordingFS) Rename(oldpath, newpath string) error {
	if err := r.step("rename"); err != nil {
		return err
	}
	return os.Rename(oldpath, newpath)
}

func (r *recordingFS) SyncDir(dir string) error {
	if err := r.step("sync-dir"); err != nil {
		return err
	}
	return osFS{}.SyncDir(dir)
}

func (r *recordingFS) Remove(name string) error {
	r.calls = append(r.calls, "remove")
	return os.Remove(name)
}

// recordingFile records the calls on the temporary file.
type recordingFile struct {
	*os.File
	fs *recordingFS
}

func (f *recordingFile) Chmod(mode os.FileMode) error {
	if err := f.fs.step("chmod"); err != nil {
		return err
	}
	return f.File.Chmod(mode)
}

func (f *recordingFile) Write(b []byte) (int, error) {
	if err := f.fs.step("write"); err != nil {
		n, _ := f.File.Write(b[:len(b)/2])
		return n, err
	}
	return f.File.Write(b)
}

func (f *recordingFile) Sync() error {
	if err := f.fs.step("sync"); err != nil {
		return err
	}
	return f.File.Sync()
}

func (f *recordingFile) Close() error {
	err := f.File.Close()
	if serr := f.fs.step("close"); serr != nil {
		return serr
	}
	return err
}

// TestSaveSyncsTempThenRenamesThenSyncsDir pins the order that makes Save
// crash-safe: the temporary file's content is on disk (fsync) before the
// rename makes it the state file, and the rename is on disk (fsync of the
// directory) before Save returns.
func TestSaveSyncsTempThenRenamesThenSyncsDir(t *testing.T) {
	s := openTemp(t)
	fs := &recordingFS{}
	s.fs = fs
	if err := s.Save(sample()); err != nil {
		t.Fatal(err)
	}
	want := []string{"create", "chmod", "write", "sync", "close", "rename", "sync-dir"}
	if !slices.Equal(fs.calls, want) {
		t.Fatalf("Save made calls %v, want %v", fs.calls, want)
	}
	if got := listDir(t, filepath.Dir(s.Path())); !slices.Equal(got, []string{"state.json", "state.json.lock"}) {
		t.Fatalf("directory after Save = %v", got)
	}
}

// TestSaveOfTheSameBytesIsSkipped: a Save of exactly what the last Save
// wrote touches nothing (an idle tick saves twice and changes nothing);
// any change, a Save after the file was set aside, and a Save after one
// that failed write the file again.
func TestSaveOfTheSameBytesIsSkipped(t *testing.T) {
	full := []string{"create", "chmod", "write", "sync", "close", "rename", "sync-dir"}
	s := openTemp(t)
	fs := &recordingFS{}
	s.fs = fs
	save := func(step string, st *State, want []string) {
		t.Helper()
		fs.calls = nil
		if err := s.Save(st); err != nil && !errors.Is(err, errInjected) {
			t.Fatal(err)
		}
		if !slices.Equal(fs.calls, want) {
			t.Fatalf("%s: Save made calls %v, want %v", step, fs.calls, want)
		}
	}
	save("first", sample(), full)
	// The file is written indented, as json.MarshalIndent writes it.
	st := sample()
	want, err := json.MarshalIndent(State{Schema: Schema, Units: st.Units, Outbox: st.Outbox}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(s.Path()); err != nil || !bytes.Equal(got, append(want, '\n')) {
		t.Fatalf("state file (%v):\n%s\nwant:\n%s", err, got, want)
	}
	save("same state", sample(), nil)
	changed := sample()
	for _, u := range changed.Units {
		u.Status = "gone"
	}
	save("changed", changed, full)
	save("changed, again", changed, nil)
	if _, err := s.SetAside(time.Now()); err != nil {
		t.Fatal(err)
	}
	fs.calls = nil
	save("after set aside", changed, full)
	fs.fail = "sync-dir"
	save("failing", sample(), full)
	fs.fail = ""
	save("after a failure", sample(), full)
	got, err := s.Load()
	if err != nil {
		t.Fatal(err)
	}
	for k, u := range got.Units {
		if want := sample().Units[k]; want == nil || u.Status != want.Status {
			t.Errorf("unit %s loaded as %q, want the last state saved", k, u.Status)
		}
	}
}

// TestSaveDirSyncFailureIsAnError: when the rename cannot be made durable
// Save says so, naming the file, instead of claiming success.
func TestSaveDirSyncFailureIsAnError(t *testing.T) {
	s := openTemp(t)
	s.fs = &recordingFS{fail: "sync-dir"}
	err := s.Save(sample())
	if !errors.Is(err, errInjected) || !strings.Contains(err.Error(), s.Path()) {
		t.Fatalf("Save = %v, want the injected error naming %s", err, s.Path())
	}
}

// TestOpenRemovesTempsOfAnInterruptedSave: a Save killed between creating
// its temporary file and the rename leaves the file behind; the next Open,
// once it holds the lock, removes it and nothing else.
func TestOpenRemovesTempsOfAnInterruptedSave(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	for name, content := range map[string]string{
		"state.json":            `{"schema": 1, "units": {}}`,
		"state.json.tmp-123456": `{"schema": 1, "uni`,
		"state.json.tmp-999":    ``,
		"other.tmp-1":           `not ours`,
		"state.json.aside-x":    `kept`,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	want := []string{"other.tmp-1", "state.json", "state.json.aside-x", "state.json.lock"}
	if got := listDir(t, dir); !slices.Equal(got, want) {
		t.Fatalf("directory after Open = %v, want %v", got, want)
	}
}

// TestRefusedOpenTouchesNothing: a second Open refused by the lock leaves
// the holder's temporary file (a Save in progress) alone.
func TestRefusedOpenTouchesNothing(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	holder, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	inFlight := filepath.Join(dir, "state.json.tmp-42")
	if err := os.WriteFile(inFlight, []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(path); !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open = %v, want ErrLocked", err)
	}
	if _, err := os.Stat(inFlight); err != nil {
		t.Fatalf("the holder's temporary file is gone after a refused Open: %v", err)
	}
}

// TestSetAside: --fresh-state keeps the old file byte for byte under a new
// name, and the store then reads empty.
func TestSetAside(t *testing.T) {
	s := openTemp(t)
	if aside, err := s.SetAside(time.Now()); err != nil || aside != "" {
		t.Fatalf("SetAside without a file = %q, %v; want nothing done", aside, err)
	}
	corrupt := []byte(`{"schema": 1, "units": {`)
	if err := os.WriteFile(s.Path(), corrupt, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(); err == nil {
		t.Fatal("corrupt file loaded")
	}
	aside, err := s.SetAside(time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	if want := s.Path() + ".aside-20261203T100000.000000000Z"; aside != want {
		t.Fatalf("aside = %q, want %q", aside, want)
	}
	if b, err := os.ReadFile(aside); err != nil || !bytes.Equal(b, corrupt) {
		t.Fatalf("aside file = %q, %v; want the old bytes", b, err)
	}
	st, err := s.Load()
	if err != nil || len(st.Units) != 0 {
		t.Fatalf("Load after SetAside = %+v, %v; want an empty state", st, err)
	}
}
