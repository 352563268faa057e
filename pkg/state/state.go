// Package state is trawl's fingerprint store: one JSON file that remembers,
// per unit, the last decision taken, the fingerprint of the last successful
// trigger and the job it created.
//
// The file is a cache of decisions, not of the world (DESIGN.md, rule 3):
// deleting it only causes re-adoption or re-triggering. It is therefore
// written atomically (temp file, fsync, rename, fsync of the directory) so a
// crash leaves either the old or the new content, and it is never silently
// reset when it cannot be read: an unreadable file stops trawl with an error
// naming it, because starting from empty would re-trigger every unit.
//
// A Store holds an exclusive lock on the file's ".lock" companion from Open to
// Close, so two trawl processes cannot share one state file. Open removes the
// temporary files an interrupted Save left, once it holds the lock.
//
// The file format is this package's own (record.go): the state keeps
// targets.Job, targets.Result and report.Message in memory, but writes and
// reads them as records of its own, so changing those types cannot change
// the file.
package state

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/trawl-ci/trawl/pkg/report"
	"github.com/trawl-ci/trawl/pkg/secret"
	"github.com/trawl-ci/trawl/pkg/targets"
)

// Schema is the version of the file format this package writes. Load refuses
// files written with a newer one.
const Schema = 1

// ErrLocked reports that another process (or another Store in this process)
// holds the state file's lock.
var ErrLocked = errors.New("state file is in use by another trawl process")

// Unit is what trawl remembers about one unit between ticks.
type Unit struct {
	// Change is the change key.
	Change string
	Target string
	// Source is the configured source that yields the change; a unit is
	// declared gone only by a complete fetch of its own source.
	Source string
	// Status is the last decision taken for the unit ("triggered",
	// "waiting", "blocked", "unknown", "gone"); the cycle owns its values.
	Status string
	Reason string
	// Fingerprint is the fingerprint of the last successful trigger or
	// adoption.
	Fingerprint string
	// Inputs is the fingerprint input behind Fingerprint, encoded in JSON,
	// kept to explain what changed when the unit triggers again. A
	// string, so that the copies of a state share it (at 10k units, 5 MB
	// a copy).
	Inputs string
	Job    *targets.Job
	// BaseCommit is the pinned base commit, fixed when the unit is first
	// seen.
	BaseCommit  string
	FirstSeen   time.Time
	LastSeen    time.Time
	TriggeredAt *time.Time
	GoneSince   *time.Time
	// WaitingSince is when the unit started waiting (for its base, say);
	// nil when it does not wait.
	WaitingSince *time.Time
	// Attempt counts the retries of Fingerprint after infrastructure
	// errors; PreviousJobs are the jobs those retries replaced.
	Attempt      int
	PreviousJobs []string
	// Result is the last polled result of Job.
	Result *targets.Result
	// ResultAt is when Result was polled.
	ResultAt *time.Time
	// Reports records, by reporter name, what was last reported for the
	// unit.
	Reports map[string]*Reported
	// TriggerReason is why the last trigger happened ("new", "changed",
	// "retry"); empty in files written before it was recorded.
	TriggerReason string
	// Current is the unit's fingerprint as last computed, triggered or
	// not: a unit queued behind its target's max_running has a Current
	// that is not its Fingerprint yet.
	Current string
	// CurrentSince is when Current was first computed. A target's queue
	// is ordered by it, oldest first, so the order survives restarts.
	CurrentSince *time.Time
	// RetriggerRequested, set by `trawl retrigger`, builds the unit again
	// on its next cycle even if its fingerprint is unchanged; the cycle
	// clears it once the new job is triggered.
	RetriggerRequested *time.Time
}

// Reported is what one reporter last wrote for a unit.
type Reported struct {
	Fingerprint string
	State       targets.State
	// Posted is the state in the reporter's own words (a Patchwork check
	// state, a commit status).
	Posted string
	At     time.Time
	// Failed, when set, is why the report was refused for good (a 403, a
	// validation error); it is not retried.
	Failed string
	// Found is true when the report was found already there on every
	// item (looking before posting), so trawl posted nothing.
	Found bool
}

// Post is a report waiting to be written: the outbox survives restarts,
// so a report is posted at least once, and the cycle's checks make it at
// most once per state.
type Post struct {
	Reporter string
	Message  report.Message
	// Posted is the state in the reporter's own words.
	Posted string
	// Items are what the report is posted on (each patch of a series, a
	// head commit); Done lists those already posted.
	Items []string
	Done  []string
	// Started lists the items whose posting began (recorded before the
	// post): one not in Done may have been posted by a run that ended
	// before it recorded so, and is looked up before it is posted again.
	Started     []string
	Attempts    int
	NextAttempt time.Time
	LastError   string
	Created     time.Time
}

// State is the content of the state file, in memory. The file holds it as
// the records of record.go, which define the format; json.Marshal and
// json.Unmarshal of a State go through them too.
type State struct {
	// Schema is the schema of the file the state was read from; Save
	// always writes the current one.
	Schema int
	// Units holds every remembered unit by unit key (change.UnitKey).
	Units map[string]*Unit
	// Outbox holds the reports not written yet, oldest first.
	Outbox []*Post
}

// New returns an empty state of the current schema.
func New() *State {
	return &State{Schema: Schema, Units: map[string]*Unit{}}
}

// Store reads and writes one state file while holding its lock. Its methods
// may be called from several goroutines; they run one at a time.
type Store struct {
	path string
	fs   fileOps

	mu   sync.Mutex
	lock *os.File // nil once closed
	// wrote is the SHA-256 of the file's bytes as the last Save wrote
	// them, while the file still holds them: a Save that encodes the
	// same bytes leaves the file alone. Nobody else writes the file while
	// the lock is held; a Load that finds other bytes there (an edit by
	// hand) forgets it.
	wrote *[sha256.Size]byte
	// saved is a copy (clone) of the state the last Save wrote, under the
	// same condition: a Save of a state deeply equal to it would encode
	// the same bytes, so it is skipped without encoding; and a Load that
	// finds the file still holding those bytes returns a copy of it
	// instead of decoding the file.
	saved *State
}

// Open locks the state file at path for this process and returns its store.
// It creates the parent directory (mode 0700) if needed. The lock is an
// exclusive flock on path+".lock", taken without waiting and held until
// Close; if another process holds it, the error wraps ErrLocked and names
// the lock file and, when recorded, the holder's pid. Once it holds the
// lock it removes the temporary files of a Save that was interrupted (a
// crash, a kill): before the lock is held nothing in the directory is
// touched, since they may be the holder's.
func Open(path string) (*Store, error) {
	if path == "" {
		return nil, errors.New("state: no state file path")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("state %s: create directory: %w", path, err)
	}
	lockPath := path + ".lock"
	f, err := os.OpenFile(lockPath, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("state %s: open lock: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		pid := holderPid(f)
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			if pid > 0 {
				return nil, fmt.Errorf("state: lock %s is held by pid %d: %w", lockPath, pid, ErrLocked)
			}
			return nil, fmt.Errorf("state: lock %s is held by another process: %w", lockPath, ErrLocked)
		}
		return nil, fmt.Errorf("state: lock %s: %w", lockPath, err)
	}
	if err := recordPid(f); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("state: lock %s: record pid: %w", lockPath, err)
	}
	s := &Store{path: path, fs: osFS{}, lock: f}
	if _, err := removeTemps(s.fs, path); err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("state %s: remove temporary files of an interrupted save: %w", path, err)
	}
	return s, nil
}

// holderPid reads the pid the lock's holder recorded, or 0 if there is none
// yet (the holder writes it just after taking the lock).
func holderPid(f *os.File) int {
	b := make([]byte, 32)
	n, _ := f.ReadAt(b, 0)
	pid, err := strconv.Atoi(string(bytes.TrimSpace(b[:n])))
	if err != nil || pid <= 0 {
		return 0
	}
	return pid
}

// recordPid replaces the lock file's content with this process's pid.
func recordPid(f *os.File) error {
	if err := f.Truncate(0); err != nil {
		return err
	}
	_, err := f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return err
}

// Path returns the state file's path.
func (s *Store) Path() string { return s.path }

// Load reads the state file. A missing file is an empty state. A file that
// is not valid JSON, is not a state, or was written by a newer trawl is an
// error naming the file (and, for bad JSON, the byte offset): the caller
// must not carry on from an empty state, which would re-trigger every unit.
//
// When the file still holds the bytes this store's last Save wrote, Load
// returns a copy of the state that Save encoded instead of decoding them.
// Load also notices a file changed behind the store's back (its bytes are
// not the ones the last Save wrote), so that the next Save writes it.
func (s *Store) Load() (*State, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lock == nil {
		return nil, fmt.Errorf("state %s: load: store is closed", s.path)
	}
	if s.saved != nil && s.wrote != nil {
		same, err := s.holdsWritten()
		if err != nil {
			return nil, fmt.Errorf("state %s: load: %w", s.path, err)
		}
		if same {
			// The file holds what the last Save wrote, and saved is a
			// copy of what it encoded: decoding 10k units again would
			// cost a third of an idle tick's CPU and as much garbage as
			// the file is large.
			st := clone(s.saved)
			st.Schema = Schema
			return st, nil
		}
	}
	b, err := os.ReadFile(s.path)
	if errors.Is(err, os.ErrNotExist) {
		s.forget()
		return New(), nil
	}
	if err != nil {
		return nil, fmt.Errorf("state %s: load: %w", s.path, err)
	}
	if s.wrote != nil && *s.wrote != sha256.Sum256(b) {
		// Changed behind the store's back (by hand, say): the next Save
		// must write even a state equal to the one it wrote last.
		s.forget()
	}
	return decode(s.path, b)
}

// holdsWritten reports whether the state file's bytes are still the ones
// the last Save wrote (their SHA-256, read through a small buffer rather
// than into one as large as the file). A file gone or changed by hand is
// not; only an error reading it is an error.
func (s *Store) holdsWritten() (bool, error) {
	f, err := os.Open(s.path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return false, err
	}
	return bytes.Equal(h.Sum(nil), s.wrote[:]), nil
}

// forget drops what the store knows of the file's content, so that the
// next Save writes it.
func (s *Store) forget() {
	s.wrote, s.saved = nil, nil
}

// load reads and decodes the state file at path; a missing file is an
// empty state.
func load(path string) (*State, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return New(), nil
	}
	if err != nil {
		return nil, fmt.Errorf("state %s: load: %w", path, err)
	}
	return decode(path, b)
}

// ReadOnlyStore reads a state file without taking its lock and refuses to
// write it. It serves `trawl plan`, which may run beside a daemon that holds
// the lock: the file is only ever replaced by an atomic rename, so a reader
// sees either the old or the new state, never a mix.
type ReadOnlyStore struct{ path string }

// ReadOnly returns a ReadOnlyStore for the state file at path.
func ReadOnly(path string) *ReadOnlyStore { return &ReadOnlyStore{path: path} }

// Load reads the state file as Store.Load does.
func (r *ReadOnlyStore) Load() (*State, error) { return load(r.path) }

// Save always fails: a read-only store never writes.
func (r *ReadOnlyStore) Save(*State) error {
	return fmt.Errorf("state %s: save: opened read-only", r.path)
}

// decode parses the content of the state file at path.
func decode(path string, b []byte) (*State, error) {
	st, err := parse(b)
	if err != nil {
		return nil, decodeError(path, b, err)
	}
	return st, nil
}

// decodeError names the file and, when JSON reports it, where in b the
// error is: the byte offset and its line.
func decodeError(path string, b []byte, err error) error {
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		return fmt.Errorf("state %s: corrupt JSON at byte offset %d (line %d): %w", path, syn.Offset, lineAt(b, syn.Offset), err)
	}
	var typ *json.UnmarshalTypeError
	if errors.As(err, &typ) {
		return fmt.Errorf("state %s: bad value at byte offset %d (line %d): %w", path, typ.Offset, lineAt(b, typ.Offset), err)
	}
	return fmt.Errorf("state %s: %w", path, err)
}

// lineAt returns the 1-based line of the byte at offset in b.
func lineAt(b []byte, offset int64) int {
	offset = min(max(offset, 0), int64(len(b)))
	return 1 + bytes.Count(b[:offset], []byte("\n"))
}

// Save replaces the state file with st, atomically: the new content goes to
// a temporary file (mode 0600) in the same directory, which is synced,
// closed and renamed over the file, and the directory is synced. On any
// error before the rename the temporary file is removed and the old file is
// left as it was. The file always records the current Schema. The messages
// the state keeps are redacted first (see secret.Redact), in st too. A Save
// of a state equal to the one the previous Save wrote touches nothing, and
// one that encodes the very bytes the file holds leaves the file as it is.
// The file is written as it is encoded, a unit at a time (see encode).
func (s *Store) Save(st *State) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lock == nil {
		return fmt.Errorf("state %s: save: store is closed", s.path)
	}
	if st == nil {
		return fmt.Errorf("state %s: save: nil state", s.path)
	}
	redactMessages(st)
	// A cycle saves twice (after its triggers, after reporting), the
	// second time often unchanged: a state equal to the one last written
	// (equal, which is stricter than equal bytes: a time's location, nil
	// against empty) encodes to the same bytes, and encoding 10k units
	// costs hundreds of ms.
	if s.saved != nil && equal(st, s.saved) {
		return nil
	}
	dir := filepath.Dir(s.path)
	h := sha256.New()
	tmp, err := writeTemp(s.fs, dir, filepath.Base(s.path)+tempInfix+"*", func(w io.Writer) error {
		return encode(io.MultiWriter(w, h), st)
	})
	if err != nil {
		return fmt.Errorf("state %s: save: %w", s.path, err)
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	if s.wrote != nil && *s.wrote == sum {
		// The very bytes the file holds: leave it as it is.
		_ = s.fs.Remove(tmp)
		return nil
	}
	s.forget()
	if err := s.fs.Rename(tmp, s.path); err != nil {
		_ = s.fs.Remove(tmp)
		return fmt.Errorf("state %s: save: %w", s.path, err)
	}
	if err := s.fs.SyncDir(dir); err != nil {
		return fmt.Errorf("state %s: save: sync directory %s: %w", s.path, dir, err)
	}
	s.wrote, s.saved = &sum, clone(st)
	return nil
}

// redactMessages removes every registered secret from the messages st
// keeps, in place: they quote servers (a refused report, a failed post, a
// job's summary), which may echo the credential they were sent.
func redactMessages(st *State) {
	for _, u := range st.Units {
		u.Reason = secret.Redact(u.Reason)
		if u.Result != nil {
			u.Result.Summary = secret.Redact(u.Result.Summary)
		}
		for _, r := range u.Reports {
			r.Failed = secret.Redact(r.Failed)
		}
	}
	for _, p := range st.Outbox {
		p.LastError = secret.Redact(p.LastError)
		p.Message.Summary = secret.Redact(p.Message.Summary)
	}
}

// writeTemp writes what write writes to a new file (mode 0600) in dir,
// syncs and closes it, and returns its name. On error the file is
// removed.
func writeTemp(fs fileOps, dir, pattern string, write func(io.Writer) error) (string, error) {
	f, err := fs.CreateTemp(dir, pattern)
	if err != nil {
		return "", err
	}
	err = f.Chmod(0o600)
	if err == nil {
		err = write(f)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = fs.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}

// tempInfix follows the state file's name in the names of Save's
// temporary files: "state.json.tmp-123456".
const tempInfix = ".tmp-"

// removeTemps removes the temporary files an interrupted Save left beside
// the state file at path, and returns their names. Only the lock holder
// may call it: another process's Save could be writing one.
func removeTemps(fs fileOps, path string) ([]string, error) {
	dir, prefix := filepath.Dir(path), filepath.Base(path)+tempInfix
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var removed []string
	for _, e := range ents {
		if !e.Type().IsRegular() || !strings.HasPrefix(e.Name(), prefix) {
			continue
		}
		name := filepath.Join(dir, e.Name())
		if err := fs.Remove(name); err != nil && !errors.Is(err, os.ErrNotExist) {
			return removed, err
		}
		removed = append(removed, name)
	}
	return removed, nil
}

// tempFile is the part of *os.File a Save writes through.
type tempFile interface {
	Name() string
	Chmod(mode os.FileMode) error
	Write(b []byte) (int, error)
	Sync() error
	Close() error
}

// fileOps is every file system call Save makes, in the order it makes
// them: create the temporary file, write and fsync it, rename it over the
// state file, fsync the directory; and remove the temporary file on error.
// Tests replace it to record the order and to fail any step.
type fileOps interface {
	CreateTemp(dir, pattern string) (tempFile, error)
	Rename(oldpath, newpath string) error
	SyncDir(dir string) error
	Remove(name string) error
}

// osFS is fileOps on the real file system.
type osFS struct{}

var _ fileOps = osFS{}

// CreateTemp calls os.CreateTemp.
func (osFS) CreateTemp(dir, pattern string) (tempFile, error) { return os.CreateTemp(dir, pattern) }

// Rename calls os.Rename.
func (osFS) Rename(oldpath, newpath string) error { return os.Rename(oldpath, newpath) }

// Remove calls os.Remove.
func (osFS) Remove(name string) error { return os.Remove(name) }

// SyncDir makes a rename in dir durable.
func (osFS) SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	if err := d.Sync(); err != nil {
		_ = d.Close()
		return err
	}
	return d.Close()
}

// SetAside renames the state file to "<path>.aside-<UTC time>" beside it
// and returns that name ("" when there is no state file): trawl then
// starts from an empty state (`--fresh-state`) while the old file is kept,
// byte for byte, for an operator to inspect or restore.
func (s *Store) SetAside(now time.Time) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lock == nil {
		return "", fmt.Errorf("state %s: set aside: store is closed", s.path)
	}
	if _, err := os.Lstat(s.path); errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	aside := s.path + ".aside-" + now.UTC().Format("20060102T150405.000000000Z")
	s.forget()
	if err := s.fs.Rename(s.path, aside); err != nil {
		return "", fmt.Errorf("state %s: set aside: %w", s.path, err)
	}
	if err := s.fs.SyncDir(filepath.Dir(s.path)); err != nil {
		return "", fmt.Errorf("state %s: set aside: sync directory: %w", s.path, err)
	}
	return aside, nil
}

// Close releases the lock. The store cannot be used afterwards; closing it
// again does nothing.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lock == nil {
		return nil
	}
	f := s.lock
	s.lock = nil
	// Forget the pid while still holding the lock, so that nobody reads a
	// stale one; closing the file releases the lock.
	terr := f.Truncate(0)
	if err := f.Close(); err != nil {
		return fmt.Errorf("state %s: release lock: %w", s.path, err)
	}
	if terr != nil {
		return fmt.Errorf("state %s: release lock: %w", s.path, terr)
	}
	return nil
}
