package config

import (
	"encoding/json"
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr bool
	}{
		{in: "30s", want: 30 * time.Second},
		{in: "10m", want: 10 * time.Minute},
		{in: "1h30m", want: 90 * time.Minute},
		{in: "1.5h", want: 90 * time.Minute},
		{in: "7d", want: 7 * 24 * time.Hour},
		{in: "1d12h", want: 36 * time.Hour},
		{in: "0d", want: 0},
		{in: "2d30m15s", want: 48*time.Hour + 30*time.Minute + 15*time.Second},
		{in: "-5m", want: -5 * time.Minute},
		{in: "", wantErr: true},
		{in: "30", wantErr: true},
		{in: "d", wantErr: true},
		{in: "d12h", wantErr: true},
		{in: "1.5d", wantErr: true},
		{in: "-1d", wantErr: true},
		{in: "+1d", wantErr: true},
		{in: "1d-3h", wantErr: true},
		{in: "1d1d", wantErr: true},
		{in: "1 day", wantErr: true},
		{in: "10 minutes", wantErr: true},
		{in: "99999999d", wantErr: true},
		{in: "106751d23h59m", wantErr: true},
	}
	for _, tt := range tests {
		got, err := ParseDuration(tt.in)
		if tt.wantErr {
			if err == nil {
				t.Errorf("ParseDuration(%q) = %v, want an error", tt.in, time.Duration(got))
			}
			continue
		}
		if err != nil || got.Duration() != tt.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", tt.in, time.Duration(got), err, tt.want)
		}
	}
}

func TestDurationString(t *testing.T) {
	tests := []struct {
		in   time.Duration
		want string
	}{
		{0, "0s"},
		{30 * time.Second, "30s"},
		{10 * time.Minute, "10m"},
		{time.Hour, "1h"},
		{90 * time.Minute, "1h30m"},
		{time.Hour + time.Second, "1h0m1s"},
		{1500 * time.Millisecond, "1.5s"},
		{24 * time.Hour, "1d"},
		{7 * 24 * time.Hour, "7d"},
		{36 * time.Hour, "1d12h"},
		{24*time.Hour + 5*time.Minute, "1d5m"},
		{-36 * time.Hour, "-36h"},
	}
	for _, tt := range tests {
		got := Duration(tt.in).String()
		if got != tt.want {
			t.Errorf("Duration(%v).String() = %q, want %q", tt.in, got, tt.want)
		}
		back, err := ParseDuration(got)
		if err != nil || time.Duration(back) != tt.in {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", got, time.Duration(back), err, tt.in)
		}
	}
}

func TestDurationText(t *testing.T) {
	type doc struct {
		D Duration `json:"d"`
	}
	b, err := json.Marshal(doc{D: Duration(36 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"d":"1d12h"}` {
		t.Errorf("json.Marshal = %s, want {\"d\":\"1d12h\"}", b)
	}
	var got doc
	if err := json.Unmarshal([]byte(`{"d":"7d"}`), &got); err != nil || got.D != Duration(7*24*time.Hour) {
		t.Errorf("json.Unmarshal 7d = %v, %v", got.D, err)
	}
	if err := json.Unmarshal([]byte(`{"d":"seven days"}`), &got); err == nil {
		t.Errorf("json.Unmarshal of a bad duration succeeded")
	}
}
