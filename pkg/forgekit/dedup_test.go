package forgekit

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trawl-ci/trawl/pkg/change"
)

func TestOnceLooksUpEachKeyOnce(t *testing.T) {
	down := errors.New("server down")
	tests := []struct {
		name string
		asks []string
		// fails are the look-ups (by key, in order of calls) that fail.
		fails     map[string]int
		wantCalls map[string]int
		wantErrs  int
	}{
		{"distinct keys", []string{"a", "b", "c"}, nil, map[string]int{"a": 1, "b": 1, "c": 1}, 0},
		{"repeated keys", []string{"a", "a", "b", "a", "b"}, nil, map[string]int{"a": 1, "b": 1}, 0},
		{"a failure is asked again", []string{"a", "a", "a"}, map[string]int{"a": 1}, map[string]int{"a": 2}, 1},
		{"a failure of one key keeps the others", []string{"a", "b", "a", "b"}, map[string]int{"a": 1}, map[string]int{"a": 2, "b": 1}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var o Once[string, string]
			calls := map[string]int{}
			errs := 0
			for _, k := range tt.asks {
				v, err := o.Do(t.Context(), k, func(context.Context) (string, error) {
					calls[k]++
					if calls[k] <= tt.fails[k] {
						return "", down
					}
					return "state of " + k, nil
				})
				switch {
				case errors.Is(err, down):
					errs++
				case err != nil:
					t.Fatal(err)
				case v != "state of "+k:
					t.Errorf("Do(%q) = %q", k, v)
				}
			}
			if fmt.Sprint(calls) != fmt.Sprint(tt.wantCalls) {
				t.Errorf("look-ups %v, want %v", calls, tt.wantCalls)
			}
			if errs != tt.wantErrs {
				t.Errorf("%d errors, want %d", errs, tt.wantErrs)
			}
		})
	}
}

// TestOnceConcurrent asks one key from many goroutines while its look-up
// runs: one look-up, one answer for all.
func TestOnceConcurrent(t *testing.T) {
	var (
		o       Once[int, int]
		calls   atomic.Int32
		release = make(chan struct{})
		wg      sync.WaitGroup
	)
	got := make([]int, 20)
	errs := make([]error, len(got))
	for i := range got {
		wg.Go(func() {
			got[i], errs[i] = o.Do(t.Context(), 7, func(context.Context) (int, error) {
				calls.Add(1)
				select {
				case <-release:
				case <-time.After(5 * time.Second):
				}
				return 49, nil
			})
		})
	}
	time.Sleep(20 * time.Millisecond) // let them all ask while the look-up runs
	close(release)
	wg.Wait()
	if c := calls.Load(); c != 1 {
		t.Errorf("%d look-ups, want 1", c)
	}
	for i := range got {
		if errs[i] != nil || got[i] != 49 {
			t.Errorf("caller %d got %d, %v", i, got[i], errs[i])
		}
	}
}

// TestOnceWaiterKeepsItsDeadline checks that a caller waiting for another
// caller's look-up stops when its own context ends.
func TestOnceWaiterKeepsItsDeadline(t *testing.T) {
	var o Once[string, int]
	started, release := make(chan struct{}), make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = o.Do(context.Background(), "k", func(context.Context) (int, error) {
			close(started)
			<-release
			return 1, nil
		})
	}()
	<-started
	// The look-up ends after a second: a waiter that ignored its own
	// deadline would get its answer then, not an error.
	timer := time.AfterFunc(time.Second, func() { close(release) })
	defer timer.Stop()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	if _, err := o.Do(ctx, "k", func(context.Context) (int, error) { return 2, nil }); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("waiting caller got %v, want its deadline", err)
	}
	<-done
}

func TestRefsWithoutDuplicates(t *testing.T) {
	a := change.Key("gh:o/r#1")
	b := change.Key("gl:gitlab.com/g/p!2")
	tests := []struct {
		name string
		in   []change.Ref
		want []change.Ref
	}{
		{"none", nil, nil},
		{"distinct keys", []change.Ref{{Raw: "x", Key: a}, {Raw: "y", Key: b}}, []change.Ref{{Raw: "x", Key: a}, {Raw: "y", Key: b}}},
		{"same key, other words: the first is kept",
			[]change.Ref{{Raw: "o/r#1", Key: a}, {Raw: "https://github.com/o/r/pull/1", Key: a}},
			[]change.Ref{{Raw: "o/r#1", Key: a}}},
		{"no key, same words", []change.Ref{{Raw: "<m@x>"}, {Raw: "<m@x>"}}, []change.Ref{{Raw: "<m@x>"}}},
		{"no key, other words", []change.Ref{{Raw: "<m@x>"}, {Raw: "<n@x>"}}, []change.Ref{{Raw: "<m@x>"}, {Raw: "<n@x>"}}},
		{"a key and no key with the same words are two",
			[]change.Ref{{Raw: "z", Key: a}, {Raw: "z"}},
			[]change.Ref{{Raw: "z", Key: a}, {Raw: "z"}}},
		{"order of first sight",
			[]change.Ref{{Raw: "2", Key: b}, {Raw: "1", Key: a}, {Raw: "2'", Key: b}},
			[]change.Ref{{Raw: "2", Key: b}, {Raw: "1", Key: a}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r Refs
			var added []bool
			for _, ref := range tt.in {
				added = append(added, r.Add(ref))
			}
			if got := r.List(); !slices.Equal(got, tt.want) {
				t.Errorf("List() = %v, want %v", got, tt.want)
			}
			if n := len(slices.DeleteFunc(added, func(b bool) bool { return !b })); n != len(tt.want) {
				t.Errorf("Add reported %d added, want %d", n, len(tt.want))
			}
		})
	}
}
