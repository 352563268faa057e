package fill

import (
	"reflect"
	"testing"
	"time"
)

type node struct {
	Name   string
	N      int64
	U      uint8
	On     bool
	At     time.Time
	Stamp  struct{ time.Time }
	Tags   []string
	Next   *node
	hidden string
}

// TestFillSetsEveryField: every exported field down to the depth is set,
// to values that differ between fields; the depth stops a type that
// points back at itself.
func TestFillSetsEveryField(t *testing.T) {
	var n node
	Fill(reflect.ValueOf(&n).Elem(), "n", 2)
	for i, v := range []*node{&n, n.Next} {
		if v == nil {
			t.Fatalf("level %d not filled", i)
		}
		if v.Name == "" || v.N == 0 || v.U == 0 || !v.On || v.At.IsZero() || v.Stamp.IsZero() || len(v.Tags) != 1 || v.Tags[0] == "" {
			t.Errorf("level %d: a field is left zero: %+v", i, *v)
		}
		if v.hidden != "" {
			t.Errorf("level %d: unexported field set", i)
		}
	}
	if n.Next.Next == nil || n.Next.Next.Next != nil {
		t.Error("not filled down to the depth, or below it")
	}
	if n.Name == n.Next.Name || n.At.Equal(n.Stamp.Time) {
		t.Errorf("fields share a value: %q, %v", n.Name, n.At)
	}
}
