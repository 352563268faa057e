// Package fill sets every field of a value, for tests that must notice a
// field a function reads and a copy of the value drops: fill an API
// object, trim it, and compare what the function makes of both.
package fill

import (
	"reflect"
	"time"
)

// Fill sets every exported field reachable from v, down to depth levels
// of pointers and slices (API types point back at themselves), to a value
// that is not the zero one and differs between fields: a string names its
// path from root ("pr.Head.Ref"), an integer is that path's length, a
// bool is true, a time.Time is that many seconds into 2026-12-03, a slice
// holds one element. Maps and other kinds are left as they are.
func Fill(v reflect.Value, root string, depth int) {
	switch v.Kind() {
	case reflect.Pointer:
		if depth == 0 {
			return
		}
		v.Set(reflect.New(v.Type().Elem()))
		Fill(v.Elem(), root, depth-1)
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			v.Set(reflect.ValueOf(time.Date(2026, 12, 3, 0, 0, len(root), 0, time.UTC)))
			return
		}
		for i := range v.NumField() {
			if f := v.Type().Field(i); f.IsExported() {
				Fill(v.Field(i), root+"."+f.Name, depth)
			}
		}
	case reflect.String:
		v.SetString(root)
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(int64(len(root)))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(uint64(len(root)))
	case reflect.Slice:
		if depth > 0 {
			v.Set(reflect.MakeSlice(v.Type(), 1, 1))
			Fill(v.Index(0), root+"[]", depth-1)
		}
	}
}
