package retention

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

var now = time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)

// put writes a file of size bytes below dir, last written age ago.
func put(t *testing.T, dir, rel string, size int, age time.Duration) {
	t.Helper()
	p := filepath.Join(dir, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, make([]byte, size), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, now.Add(-age), now.Add(-age)); err != nil {
		t.Fatal(err)
	}
}

func left(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

func TestPrune(t *testing.T) {
	day := 24 * time.Hour
	byJob := func(rel string) string { return strings.TrimSuffix(strings.TrimSuffix(rel, ".json"), ".log") }
	for _, tc := range []struct {
		name   string
		policy Policy
		keep   []string
		want   []string
	}{
		{"no bound keeps all", Policy{}, nil, []string{".tmp-1", "a.json", "a.log", "b.json", "c.json", "d.json"}},
		{"by age, a record and its log together", Policy{MaxAge: 10 * day}, nil, []string{".tmp-1", "c.json", "d.json"}},
		{"by age, but the state refers to a", Policy{MaxAge: 10 * day}, []string{"a"}, []string{".tmp-1", "a.json", "a.log", "c.json", "d.json"}},
		{"by size, oldest first", Policy{MaxBytes: 200}, nil, []string{".tmp-1", "c.json", "d.json"}},
		{"by size, never younger than MinAge", Policy{MaxBytes: 1}, nil, []string{".tmp-1", "d.json"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			put(t, dir, "a.json", 100, 40*day)
			put(t, dir, "a.log", 100, 30*day)
			put(t, dir, "b.json", 50, 20*day)
			put(t, dir, "c.json", 100, 2*day)
			put(t, dir, "d.json", 100, time.Minute) // just written
			put(t, dir, ".tmp-1", 100, 90*day)      // a write in progress is never touched
			_, err := Prune(dir, tc.policy, Options{Group: byJob, Keep: func(g string) bool { return slices.Contains(tc.keep, g) },
				Now: func() time.Time { return now }})
			if err != nil {
				t.Fatal(err)
			}
			if got := left(t, dir); !slices.Equal(got, tc.want) {
				t.Fatalf("left %v, want %v", got, tc.want)
			}
		})
	}
}

func TestPruneNestedAndMissing(t *testing.T) {
	dir := t.TempDir()
	put(t, dir, "client1/part/old", 10, 100*24*time.Hour)
	put(t, dir, "client2/part/new", 10, 2*time.Hour)
	st, err := Prune(dir, Policy{MaxAge: 24 * time.Hour}, Options{Now: func() time.Time { return now }})
	if err != nil || st.Removed != 1 || st.Freed != 10 || st.Kept != 1 {
		t.Fatalf("Prune = %+v, %v", st, err)
	}
	if got := left(t, dir); !slices.Equal(got, []string{"client2/part/new"}) {
		t.Fatalf("left %v", got)
	}
	if _, err := Prune(filepath.Join(dir, "nosuch"), Policy{MaxAge: time.Hour}, Options{}); err != nil {
		t.Fatalf("Prune of a missing directory: %v", err)
	}
}
