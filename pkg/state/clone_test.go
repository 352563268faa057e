package state

import (
	"bytes"
	"encoding/json"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// fill sets every field reachable from v to a non-zero value: each
// pointer to a new value, each slice and map to one element.
func fill(t *testing.T, v reflect.Value) {
	t.Helper()
	if v.Type() == reflect.TypeFor[time.Time]() {
		v.Set(reflect.ValueOf(time.Date(2025, 3, 1, 10, 0, 0, 1, time.UTC)))
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString("x")
	case reflect.Int:
		v.SetInt(7)
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Uint8:
		v.SetUint('1')
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(t, v.Elem())
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 1, 1))
		fill(t, v.Index(0))
	case reflect.Map:
		v.Set(reflect.MakeMap(v.Type()))
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		fill(t, k)
		fill(t, e)
		v.SetMapIndex(k, e)
	case reflect.Struct:
		for i := range v.NumField() {
			fill(t, v.Field(i))
		}
	default:
		t.Fatalf("fill: %s of kind %s: teach fill and clone about it", v.Type(), v.Kind())
	}
}

// shared fails when a and b (deeply equal) share a pointer, a slice's
// backing array or a map anywhere: a change through one would show in
// the other.
func shared(t *testing.T, path string, a, b reflect.Value) {
	t.Helper()
	if a.Type() == reflect.TypeFor[time.Time]() {
		return
	}
	switch a.Kind() {
	case reflect.Pointer:
		if a.Pointer() == b.Pointer() {
			t.Errorf("%s: pointer shared", path)
			return
		}
		shared(t, path, a.Elem(), b.Elem())
	case reflect.Slice:
		if a.Len() > 0 && a.Pointer() == b.Pointer() {
			t.Errorf("%s: slice shared", path)
			return
		}
		for i := range a.Len() {
			shared(t, path+"[]", a.Index(i), b.Index(i))
		}
	case reflect.Map:
		if a.Pointer() == b.Pointer() {
			t.Errorf("%s: map shared", path)
			return
		}
		for _, k := range a.MapKeys() {
			shared(t, path+"[]", a.MapIndex(k), b.MapIndex(k))
		}
	case reflect.Struct:
		for i := range a.NumField() {
			shared(t, path+"."+a.Type().Field(i).Name, a.Field(i), b.Field(i))
		}
	}
}

// TestCloneSharesNothing: the copy Load hands out is equal to the state
// it keeps and shares nothing with it, for every field (a field added to
// Unit or Post and not copied fails here), so the cycle changing a loaded
// state cannot change what the store compares the next Save with.
func TestCloneSharesNothing(t *testing.T) {
	var st State
	fill(t, reflect.ValueOf(&st).Elem())
	c := clone(&st)
	if !reflect.DeepEqual(c, &st) {
		t.Fatalf("clone differs:\n%+v\nwant\n%+v", c, &st)
	}
	shared(t, "State", reflect.ValueOf(c).Elem(), reflect.ValueOf(&st).Elem())
	empty := &State{}
	if c := clone(empty); !reflect.DeepEqual(c, empty) {
		t.Errorf("clone of an empty state = %+v, want nil units and outbox kept nil", c)
	}
}

// TestLoadReturnsTheFileAfterAnyChange: Load always returns what the file
// holds, after the caller changed what it loaded, after the file was
// replaced behind the store's back (same size), and after it was removed;
// and a Save after such an edit writes, even a state equal to the one the
// store wrote before the edit.
func TestLoadReturnsTheFileAfterAnyChange(t *testing.T) {
	s := openTemp(t)
	if err := s.Save(sample()); err != nil {
		t.Fatal(err)
	}
	want := sample()
	compactInputs(t, want)
	load := func(step string) *State {
		t.Helper()
		got, err := s.Load()
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		return got
	}
	check := func(step string, got, want *State) {
		t.Helper()
		gb, _ := json.Marshal(got)
		wb, _ := json.Marshal(want)
		if string(gb) != string(wb) {
			t.Fatalf("%s: loaded\n%s\nwant\n%s", step, gb, wb)
		}
	}
	first := load("first")
	check("first", first, want)
	// The caller changes everything it can reach, without saving.
	for _, u := range first.Units {
		u.Status = "gone"
		if len(u.Inputs) > 0 {
			u.Inputs = "[" + u.Inputs[1:]
		}
		if u.Job != nil {
			u.Job.ID = "changed"
		}
		if u.TriggeredAt != nil {
			*u.TriggeredAt = time.Time{}
		}
		for _, r := range u.Reports {
			r.Posted = "changed"
		}
	}
	for _, p := range first.Outbox {
		p.Items = append(p.Items[:0], "changed")
	}
	check("after the caller changed its copy", load("again"), want)

	// The same bytes but one, written behind the store's back.
	b, err := os.ReadFile(s.Path())
	if err != nil {
		t.Fatal(err)
	}
	edited := slices.Clone(b)
	i := slices.Index(edited, '9') // in the first unit's fingerprint
	edited[i] = '8'
	if err := os.WriteFile(s.Path(), edited, 0o600); err != nil {
		t.Fatal(err)
	}
	got := load("edited")
	var fromFile State
	if err := json.Unmarshal(edited, &fromFile); err != nil {
		t.Fatal(err)
	}
	check("edited behind the store's back", got, &fromFile)
	if reflect.DeepEqual(got, want) {
		t.Fatal("the edit did not change the state: the test proves nothing")
	}

	// A Save of the state as loaded must write it back over the edit.
	if err := s.Save(want); err != nil {
		t.Fatal(err)
	}
	check("after a Save over the edit", load("saved"), want)

	if err := os.Remove(s.Path()); err != nil {
		t.Fatal(err)
	}
	if got := load("removed"); len(got.Units) != 0 {
		t.Fatalf("after the file was removed Load = %d units, want none", len(got.Units))
	}
}

// TestSaveAfterAChangeToTheSavedStateWrites: a Save of a state equal to
// the one last written is skipped without encoding it, but the store's
// copy is its own: changing, in place, anything the caller passed to the
// last Save (a report, a job, the inputs' bytes, an outbox item) makes
// the next Save write, and the file then holds the change.
func TestSaveAfterAChangeToTheSavedStateWrites(t *testing.T) {
	changes := map[string]func(*State){
		"status":      func(st *State) { sampleUnit(st).Status = "gone" },
		"report":      func(st *State) { sampleUnit(st).Reports["patchwork"].Found = true },
		"job":         func(st *State) { sampleUnit(st).Job.ID = "other" },
		"inputs":      func(st *State) { u := sampleUnit(st); u.Inputs = strings.Replace(u.Inputs, "a1", "a3", 1) },
		"time":        func(st *State) { *sampleUnit(st).TriggeredAt = sampleUnit(st).TriggeredAt.Add(time.Second) },
		"outbox item": func(st *State) { st.Outbox[0].Items[0] = "103" },
	}
	for name, change := range changes {
		t.Run(name, func(t *testing.T) {
			s := openTemp(t)
			fs := &recordingFS{}
			s.fs = fs
			st := sample()
			if err := s.Save(st); err != nil {
				t.Fatal(err)
			}
			fs.calls = nil
			if err := s.Save(st); err != nil || len(fs.calls) != 0 {
				t.Fatalf("unchanged Save: %v, calls %v, want none", err, fs.calls)
			}
			change(st)
			if err := s.Save(st); err != nil {
				t.Fatal(err)
			}
			if len(fs.calls) == 0 {
				t.Fatal("Save after the change wrote nothing")
			}
			got, err := s.Load()
			if err != nil {
				t.Fatal(err)
			}
			compactInputs(t, st)
			gb, _ := json.Marshal(got)
			wb, _ := json.Marshal(st)
			if string(gb) != string(wb) {
				t.Fatalf("loaded\n%s\nwant\n%s", gb, wb)
			}
		})
	}
}

// sampleUnit returns the sample's Patchwork unit, the one using every field.
func sampleUnit(st *State) *Unit {
	return st.Units["pw:patchwork.kernel.org/netdevbpf/series/812345@kernelci"]
}

// leaves calls change once for every field reachable from v (and for the
// nil-ness of every pointer, slice and map), with a function that changes
// it and one that puts it back.
func leaves(t *testing.T, path string, v reflect.Value, visit func(path string, change, undo func())) {
	t.Helper()
	if v.Type() == reflect.TypeFor[time.Time]() {
		old := v.Interface().(time.Time)
		visit(path, func() { v.Set(reflect.ValueOf(old.Add(time.Nanosecond))) }, func() { v.Set(reflect.ValueOf(old)) })
		return
	}
	switch v.Kind() {
	case reflect.String:
		old := v.String()
		visit(path, func() { v.SetString(old + "y") }, func() { v.SetString(old) })
	case reflect.Int:
		old := v.Int()
		visit(path, func() { v.SetInt(old + 1) }, func() { v.SetInt(old) })
	case reflect.Bool:
		old := v.Bool()
		visit(path, func() { v.SetBool(!old) }, func() { v.SetBool(old) })
	case reflect.Uint8:
		old := v.Uint()
		visit(path, func() { v.SetUint(old + 1) }, func() { v.SetUint(old) })
	case reflect.Pointer, reflect.Slice, reflect.Map:
		old := reflect.New(v.Type()).Elem()
		old.Set(v)
		zero := reflect.Zero(v.Type())
		visit(path+" (nil)", func() { v.Set(zero) }, func() { v.Set(old) })
		if v.Kind() == reflect.Slice {
			empty := reflect.MakeSlice(v.Type(), 0, 0)
			visit(path+" (empty)", func() { v.Set(empty) }, func() { v.Set(old) })
		}
		switch v.Kind() {
		case reflect.Pointer:
			leaves(t, path, v.Elem(), visit)
		case reflect.Slice:
			for i := range v.Len() {
				leaves(t, path+"[]", v.Index(i), visit)
			}
		case reflect.Map:
			for _, k := range v.MapKeys() {
				e := reflect.New(v.Type().Elem()).Elem()
				e.Set(v.MapIndex(k))
				leaves(t, path+"[]", e, func(p string, change, undo func()) {
					visit(p, func() { change(); v.SetMapIndex(k, e) }, func() { undo(); v.SetMapIndex(k, e) })
				})
			}
		}
	case reflect.Struct:
		for i := range v.NumField() {
			leaves(t, path+"."+v.Type().Field(i).Name, v.Field(i), visit)
		}
	default:
		t.Fatalf("leaves: %s of kind %s: teach leaves and equal about it", v.Type(), v.Kind())
	}
}

// TestEqualSeesEveryField: Save skips a state equal to the one it last
// wrote, so equal must see a change to any field, nil against empty
// included (a field added to Unit or Post and not compared fails here).
func TestEqualSeesEveryField(t *testing.T) {
	var st State
	fill(t, reflect.ValueOf(&st).Elem())
	ref := clone(&st)
	if !equal(&st, ref) {
		t.Fatal("a state is not equal to its copy")
	}
	n := 0
	leaves(t, "State", reflect.ValueOf(&st).Elem(), func(path string, change, undo func()) {
		n++
		if path == "State.Schema" {
			return // not recorded: Save writes the current one (TestEqualIgnoresWhatTheFileDoesNotRecord)
		}
		change()
		if equal(&st, ref) || equal(ref, &st) {
			t.Errorf("equal misses a change to %s", path)
		}
		undo()
		if !equal(&st, ref) {
			t.Fatalf("undoing the change to %s did not restore the state", path)
		}
	})
	if n < 60 {
		t.Fatalf("only %d fields changed: the walk misses some", n)
	}
}

// TestEqualTellsNilFromEmpty: a nil list and an empty one can encode
// differently ("items": null against []), so equal must tell them apart.
func TestEqualTellsNilFromEmpty(t *testing.T) {
	cases := map[string]func(*State){
		"items":         func(st *State) { st.Outbox = []*Post{{Items: []string{}}} },
		"done":          func(st *State) { st.Outbox = []*Post{{Done: []string{}}} },
		"started":       func(st *State) { st.Outbox = []*Post{{Started: []string{}}} },
		"previous jobs": func(st *State) { st.Units = map[string]*Unit{"u": {PreviousJobs: []string{}}} },
		"reports":       func(st *State) { st.Units = map[string]*Unit{"u": {Reports: map[string]*Reported{}}} },
	}
	nils := map[string]func(*State){
		"items":         func(st *State) { st.Outbox = []*Post{{}} },
		"done":          func(st *State) { st.Outbox = []*Post{{}} },
		"started":       func(st *State) { st.Outbox = []*Post{{}} },
		"previous jobs": func(st *State) { st.Units = map[string]*Unit{"u": {}} },
		"inputs":        func(st *State) { st.Units = map[string]*Unit{"u": {}} },
		"reports":       func(st *State) { st.Units = map[string]*Unit{"u": {}} },
	}
	for name, empty := range cases {
		a, b := &State{Schema: Schema}, &State{Schema: Schema}
		empty(a)
		if n := nils[name]; n != nil {
			n(b)
		}
		if equal(a, b) || equal(b, a) {
			t.Errorf("%s: equal does not tell nil from empty", name)
		}
	}
}

// TestEqualIgnoresWhatTheFileDoesNotRecord: states that differ only in
// what the file does not record (the schema read, nil against empty units
// or outbox) encode to the same bytes, so equal holds and an idle cycle's
// Save is skipped; a cycle that posted every report it queued leaves an
// empty outbox where the last Save had none.
func TestEqualIgnoresWhatTheFileDoesNotRecord(t *testing.T) {
	cases := map[string]func(*State){
		"schema": func(st *State) { st.Schema = 0 },
		"units":  func(st *State) { st.Units = nil },
		"outbox": func(st *State) { st.Outbox = []*Post{} },
	}
	for name, change := range cases {
		a, b := &State{Schema: Schema, Units: map[string]*Unit{}}, &State{Schema: Schema, Units: map[string]*Unit{}}
		change(b)
		ab, err := json.Marshal(recordOf(a))
		if err != nil {
			t.Fatal(err)
		}
		bb, err := json.Marshal(recordOf(b))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(ab, bb) {
			t.Fatalf("%s: encodings differ (%s against %s): equal must tell them apart", name, ab, bb)
		}
		if !equal(a, b) || !equal(b, a) {
			t.Errorf("%s: equal tells apart states that encode the same", name)
		}
	}
}
