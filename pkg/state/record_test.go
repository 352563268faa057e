package state

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/trawl-ci/trawl/pkg/report"
)

// TestEncodeIsTheIndentedRecord: the file Save streams a unit at a time is
// byte for byte what encoding the whole record with json.MarshalIndent
// gives: keys sorted and escaped as encoding/json does, empty units and
// outbox as it writes them, every field of a unit and a post. An older
// trawl and `trawl status` read the file with encoding/json, and Load
// compares its bytes with what Save wrote.
func TestEncodeIsTheIndentedRecord(t *testing.T) {
	var full State
	fill(t, reflect.ValueOf(&full).Elem())
	for _, u := range full.Units {
		u.Inputs = `{"b": [1, 2], "a": "x"}`
	}
	now := time.Date(2026, 12, 3, 17, 0, 0, 0, time.FixedZone("x", 3600))
	unit := func(change string) *Unit {
		return &Unit{Change: change, Target: "kci", Status: "triggered", FirstSeen: now, LastSeen: now,
			Reason: "a <b> & \u2028 \"quoted\""}
	}
	tests := []struct {
		name string
		st   *State
	}{
		{"empty", New()},
		{"nil units", &State{}},
		{"every field", &full},
		{"keys sorted and escaped", &State{Units: map[string]*Unit{
			"pw:z@kci": unit("z"), "pw:a@kci": unit("a"), "gh:<a&b>@kci": unit("<a&b>"),
			"gl:é\u2028@kci": unit("é"), "pw:A@kci": unit("A"),
		}}},
		{"outbox only", &State{Outbox: []*Post{{Reporter: "pw", Items: []string{"1", "2"}, Created: now,
			Message: report.Message{Unit: "u", Summary: "<ok>"}}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want, err := json.MarshalIndent(recordOf(tt.st), "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			want = append(want, '\n')
			var got bytes.Buffer
			if err := encode(&got, tt.st); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Bytes(), want) {
				t.Fatalf("encode wrote:\n%s\nwant:\n%s", got.Bytes(), want)
			}
		})
	}
}
