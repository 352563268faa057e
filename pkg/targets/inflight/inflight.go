// Package inflight records on disk the requests that create a job while
// they are on the wire, so that a trawl killed before the server answered
// does not create the job a second time.
//
// A target that creates its job with one request and finds it again with
// another (a listing) has a window the listing cannot close: trawl is
// killed while its request is on the wire, and the next trawl lists the
// jobs before the server has made the one asked for, finds nothing and
// asks again. With a record written before the request is sent and
// deleted once the job is found (or the server refused it), the next
// trigger that finds no job but a record younger than a grace period
// waits (targets.ErrWaiting) instead of asking again; past the grace it
// asks again.
//
// A record is a file named by the job key (a targets.AttemptID) in one
// directory per target under the state directory, holding the instant the
// request was about to be sent. It is written atomically (a synced
// temporary file renamed into place, then the directory synced), so a
// reader sees a whole record or none; one cut short all the same (a
// crash of the machine before the data reached the disk) is read as a
// request that may be in flight, sent when the file was last modified.
// What the records cannot cover: a state directory deleted with the state
// file, or a second trawl process on another state directory.
package inflight

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/trawl-ci/trawl/pkg/httpx"
)

// MaxAge is the age past which Record deletes the records of units that
// were never triggered again.
const MaxAge = 7 * 24 * time.Hour

// tempPrefix starts the names of records being written.
const tempPrefix = ".tmp-"

// Dir is one target's records. The zero Dir (no path) records nothing:
// Record and Done do nothing and PostedAt finds nothing. Its methods may be
// called concurrently for different keys.
type Dir struct {
	// Path is the directory; it is made on the first Record.
	Path string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

func (d Dir) now() time.Time {
	if d.Now == nil {
		return time.Now()
	}
	return d.Now()
}

// checkKey refuses a key that is not one plain file name.
func checkKey(key string) error {
	if key == "" || strings.HasPrefix(key, ".") || strings.ContainsAny(key, `/\`+"\x00") {
		return fmt.Errorf("request key %q is not a file name", key)
	}
	return nil
}

// Record records that the request of key is about to be sent, and deletes
// the records older than MaxAge. It returns once the record is on disk:
// send the request only when it returned nil.
func (d Dir) Record(key string) error {
	if d.Path == "" {
		return nil
	}
	if err := checkKey(key); err != nil {
		return err
	}
	if err := os.MkdirAll(d.Path, 0o700); err != nil {
		return fmt.Errorf("record request %s: %w", key, err)
	}
	d.Prune(MaxAge)
	if err := d.write(key, []byte(d.now().UTC().Format(time.RFC3339Nano)+"\n")); err != nil {
		return fmt.Errorf("record request %s in %s: %w", key, d.Path, err)
	}
	return nil
}

// write replaces the record of key with b atomically.
func (d Dir) write(key string, b []byte) error {
	f, err := os.CreateTemp(d.Path, tempPrefix+key+"-*")
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), filepath.Join(d.Path, key))
	}
	if err != nil {
		_ = os.Remove(f.Name())
		return err
	}
	dir, err := os.Open(d.Path)
	if err != nil {
		return err
	}
	err = dir.Sync()
	if cerr := dir.Close(); err == nil {
		err = cerr
	}
	return err
}

// Done deletes the record of key: its job is found, or the server refused
// the request. A record that is not there is no error.
func (d Dir) Done(key string) error {
	if d.Path == "" {
		return nil
	}
	if err := checkKey(key); err != nil {
		return err
	}
	if err := os.Remove(filepath.Join(d.Path, key)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete the record of request %s: %w", key, err)
	}
	return nil
}

// PostedAt returns when the request of key was recorded, and whether a
// record is there. A record that cannot be parsed (cut short) counts as
// sent when its file was last modified; one that cannot be read at all,
// as sent now: its request may be in flight.
func (d Dir) PostedAt(key string) (time.Time, bool) {
	if d.Path == "" || checkKey(key) != nil {
		return time.Time{}, false
	}
	path := filepath.Join(d.Path, key)
	info, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return time.Time{}, false
	}
	b, rerr := os.ReadFile(path)
	if errors.Is(rerr, fs.ErrNotExist) {
		return time.Time{}, false
	}
	if rerr == nil {
		if at, perr := time.Parse(time.RFC3339Nano, strings.TrimSpace(string(b))); perr == nil {
			return at, true
		}
	}
	if err == nil {
		return info.ModTime(), true
	}
	return d.now(), true
}

// Refused reports whether err is a server's refusal of the request (a 4xx
// other than 429): the server made no job, so its record is Done. Any
// other failure (a 5xx a proxy may answer while the server still works, a
// transport error, a cancelled context) leaves the record in place.
func Refused(err error) bool {
	return errors.Is(err, httpx.ErrBadRequest) || errors.Is(err, httpx.ErrForbidden) || errors.Is(err, httpx.ErrNotFound)
}

// Waiting returns when the request of key was recorded, and whether that
// is less than grace ago: whether a trigger that finds no job for key
// should wait for the one that request may still be making.
func (d Dir) Waiting(key string, grace time.Duration) (time.Time, bool) {
	at, ok := d.PostedAt(key)
	return at, ok && d.now().Before(at.Add(grace))
}

// Prune deletes the records, and the temporary files of writers killed
// mid-write, last modified more than age ago.
func (d Dir) Prune(age time.Duration) {
	if d.Path == "" {
		return
	}
	entries, err := os.ReadDir(d.Path)
	if err != nil {
		return
	}
	for _, e := range entries {
		if info, err := e.Info(); err == nil && info.Mode().IsRegular() && d.now().Sub(info.ModTime()) > age {
			_ = os.Remove(filepath.Join(d.Path, e.Name()))
		}
	}
}
