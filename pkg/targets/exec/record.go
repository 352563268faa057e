package exec

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// record is the job record of one run, as stored in <job id>.json.
type record struct {
	ID          string    `json:"id"`
	Unit        string    `json:"unit"`
	Fingerprint string    `json:"fingerprint"`
	Started     time.Time `json:"started"`
	// PID is the process (and process group) id; 0 until the command has
	// started.
	PID int `json:"pid,omitempty"`
	// Supervisor is the pid of the supervisor process that waits for the
	// command and records its outcome.
	Supervisor int `json:"supervisor,omitempty"`
	// Done reports that the outcome below is recorded.
	Done     bool       `json:"done"`
	Finished *time.Time `json:"finished,omitempty"`
	// ExitCode is the exit status, -1 when the command did not exit by
	// itself (Error says why).
	ExitCode int `json:"exit_code"`
	// Error says why a run ended without an exit status of its own: timed
	// out, killed by a signal, stopped by Close.
	Error string `json:"error,omitempty"`
	// LastLine is the last non-empty line of output.
	LastLine string `json:"last_line,omitempty"`
	// Log is the file holding the last MiB of output, once the run ended.
	Log string `json:"log"`
}

// tempPrefix starts the names of the temporary files of atomic writes.
const tempPrefix = ".tmp-"

// path is the file of job id with the given extension.
func (t *Target) path(id, ext string) string {
	return filepath.Join(t.records, id+ext)
}

// validID reports whether id can be a job id (and so a file name).
func validID(id string) bool {
	if len(id) != 64 {
		return false
	}
	for _, c := range id {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// read loads the record of job id. A missing record is an error wrapping
// fs.ErrNotExist.
func (t *Target) read(id string) (*record, error) {
	return readRecord(t.path(id, ".json"))
}

// readRecord loads the job record at p.
func readRecord(p string) (*record, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("read job record: %w", err)
	}
	var rec record
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, fmt.Errorf("job record %s: %w", p, err)
	}
	return &rec, nil
}

// writeRecord replaces the job record at p with rec, atomically.
func writeRecord(p string, rec *record) error {
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return fmt.Errorf("encode job record: %w", err)
	}
	if err := writeAtomic(p, append(b, '\n')); err != nil {
		return fmt.Errorf("write job record: %w", err)
	}
	return nil
}

// createRecord creates the job record at p with rec, unless it exists
// (an error wrapping fs.ErrExist): a synced temporary file is hard linked
// to p, which no other process can have done, and the directory synced.
func createRecord(p string, rec *record) error {
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return fmt.Errorf("encode job record: %w", err)
	}
	dir := filepath.Dir(p)
	tmp, err := writeTemp(dir, append(b, '\n'))
	if err != nil {
		return fmt.Errorf("create job record: %w", err)
	}
	err = os.Link(tmp, p)
	_ = os.Remove(tmp)
	if err != nil {
		return fmt.Errorf("create job record: %w", err)
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("create job record: %w", err)
	}
	return nil
}

// writeTemp writes b to a new temporary file in dir, syncs and closes it,
// and returns its name. On error the file is removed.
func writeTemp(dir string, b []byte) (string, error) {
	f, err := os.CreateTemp(dir, tempPrefix+strconv.Itoa(os.Getpid())+"-*")
	if err != nil {
		return "", err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}

// syncDir makes the renames and links in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// writeAtomic replaces the file at path with b: it writes a temporary
// file (mode 0600) in the same directory, syncs it, renames it over path
// and syncs the directory. On error the temporary file is removed. The
// temporary file's name holds the writer's pid ("<tempPrefix><pid>-..."),
// since supervisors of other trawl processes write in the same directory.
func writeAtomic(path string, b []byte) error {
	tmp, err := writeTemp(filepath.Dir(path), b)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return syncDir(filepath.Dir(path))
}

// removeTemps removes the temporary files that writers killed mid-write
// left in dir: those whose writer's pid is gone. The files of a live
// writer (a supervisor recording an outcome right now) are left alone.
func removeTemps(dir string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), tempPrefix)
		if !ok {
			continue
		}
		pid, _, _ := strings.Cut(rest, "-")
		if n, err := strconv.Atoi(pid); err == nil && n > 0 && alive(n) {
			continue
		}
		_ = os.Remove(filepath.Join(dir, e.Name()))
	}
}
