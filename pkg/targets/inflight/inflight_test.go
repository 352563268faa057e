package inflight

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trawl-ci/trawl/pkg/httpx"
)

var t0 = time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)

const key = "0123456789abcdef"

// TestPostedAt: what a trigger reads back from each shape of record.
func TestPostedAt(t *testing.T) {
	for _, tc := range []struct {
		name    string
		content *string // nil: no record
		mtime   time.Time
		wantAt  time.Time
		wantOK  bool
	}{
		{name: "none"},
		{name: "whole", content: ptr(t0.Add(-time.Minute).Format(time.RFC3339Nano) + "\n"), mtime: t0, wantAt: t0.Add(-time.Minute), wantOK: true},
		{name: "empty: cut short", content: ptr(""), mtime: t0.Add(-30 * time.Second), wantAt: t0.Add(-30 * time.Second), wantOK: true},
		{name: "half a time: cut short", content: ptr("2026-12-03T11:5"), mtime: t0.Add(-time.Hour), wantAt: t0.Add(-time.Hour), wantOK: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := Dir{Path: t.TempDir(), Now: func() time.Time { return t0 }}
			if tc.content != nil {
				p := filepath.Join(d.Path, key)
				if err := os.WriteFile(p, []byte(*tc.content), 0o600); err != nil {
					t.Fatal(err)
				}
				if err := os.Chtimes(p, tc.mtime, tc.mtime); err != nil {
					t.Fatal(err)
				}
			}
			at, ok := d.PostedAt(key)
			if ok != tc.wantOK || !at.Equal(tc.wantAt) {
				t.Errorf("PostedAt = %v, %v; want %v, %v", at, ok, tc.wantAt, tc.wantOK)
			}
		})
	}
}

func ptr(s string) *string { return &s }

// TestRecordWaitDone: a record makes a trigger wait for the grace from the
// instant it was written, and Done ends the wait at once.
func TestRecordWaitDone(t *testing.T) {
	now := t0
	d := Dir{Path: filepath.Join(t.TempDir(), "buildbot", "bb"), Now: func() time.Time { return now }}
	for _, step := range []struct {
		name     string
		do       func() error
		advance  time.Duration
		wantWait bool
	}{
		{name: "nothing recorded", wantWait: false},
		{name: "recorded", do: func() error { return d.Record(key) }, wantWait: true},
		{name: "within the grace", advance: 59 * time.Second, wantWait: true},
		{name: "past the grace", advance: 2 * time.Second, wantWait: false},
		{name: "recorded again", do: func() error { return d.Record(key) }, wantWait: true},
		{name: "done", do: func() error { return d.Done(key) }, wantWait: false},
		{name: "done twice", do: func() error { return d.Done(key) }, wantWait: false},
	} {
		now = now.Add(step.advance)
		if step.do != nil {
			if err := step.do(); err != nil {
				t.Fatalf("%s: %v", step.name, err)
			}
		}
		if _, wait := d.Waiting(key, time.Minute); wait != step.wantWait {
			t.Errorf("%s: waiting = %v, want %v", step.name, wait, step.wantWait)
		}
	}
	info, err := os.Stat(d.Path)
	if err != nil || info.Mode().Perm() != 0o700 {
		t.Errorf("records directory: %v %v, want mode 0700", info, err)
	}
	entries, _ := os.ReadDir(d.Path)
	if len(entries) != 0 {
		t.Errorf("left behind: %v", entries)
	}
}

// TestZeroDir: without a directory nothing is recorded and nothing waits.
func TestZeroDir(t *testing.T) {
	var d Dir
	if err := d.Record(key); err != nil {
		t.Fatal(err)
	}
	if _, ok := d.PostedAt(key); ok {
		t.Error("the zero Dir found a record")
	}
	if err := d.Done(key); err != nil {
		t.Fatal(err)
	}
}

// TestBadKeys: a key is never a path out of the directory.
func TestBadKeys(t *testing.T) {
	d := Dir{Path: t.TempDir()}
	for _, k := range []string{"", ".", "..", "../x", "a/b", `a\b`, ".tmp-x", "a\x00b"} {
		if err := d.Record(k); err == nil || !strings.Contains(err.Error(), "not a file name") {
			t.Errorf("Record(%q) = %v, want a refusal", k, err)
		}
		if err := d.Done(k); err == nil {
			t.Errorf("Done(%q) succeeded", k)
		}
		if _, ok := d.PostedAt(k); ok {
			t.Errorf("PostedAt(%q) found a record", k)
		}
	}
}

// TestPrune: records and temporary files older than the age go, younger
// ones stay; Record prunes past MaxAge.
func TestPrune(t *testing.T) {
	d := Dir{Path: t.TempDir(), Now: func() time.Time { return t0 }}
	files := map[string]time.Duration{ // name -> age
		"old":              MaxAge + time.Hour,
		"young":            time.Hour,
		tempPrefix + "a-1": MaxAge + time.Hour,
		tempPrefix + "b-2": time.Minute,
	}
	for name, age := range files {
		p := filepath.Join(d.Path, name)
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, t0.Add(-age), t0.Add(-age)); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Record(key); err != nil {
		t.Fatal(err)
	}
	var got []string
	entries, _ := os.ReadDir(d.Path)
	for _, e := range entries {
		got = append(got, e.Name())
	}
	want := []string{tempPrefix + "b-2", key, "young"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("after Record: %v, want %v", got, want)
	}
}

// TestRefused: only a server's refusal deletes a record; a failure that
// may hide a request the server still works on keeps it.
func TestRefused(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{&httpx.StatusError{Status: http.StatusBadRequest}, true},
		{&httpx.StatusError{Status: http.StatusUnauthorized}, true},
		{&httpx.StatusError{Status: http.StatusForbidden}, true},
		{&httpx.StatusError{Status: http.StatusNotFound}, true},
		{&httpx.StatusError{Status: http.StatusUnprocessableEntity}, true},
		{&httpx.StatusError{Status: http.StatusTooManyRequests}, false},
		{&httpx.StatusError{Status: http.StatusBadGateway}, false},
		{&httpx.StatusError{Status: http.StatusInternalServerError}, false},
		{fmt.Errorf("post: %w", context.Canceled), false},
		{errors.New("connection reset by peer"), false},
	} {
		if got := Refused(tc.err); got != tc.want {
			t.Errorf("Refused(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
