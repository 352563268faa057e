package config

import (
	"testing"
	"time"
)

func TestParseSchedule(t *testing.T) {
	from := time.Date(2026, 11, 21, 4, 46, 51, 0, time.UTC)
	tests := []struct {
		spec    string
		next    time.Time // from 'from'; zero when wantErr
		wantErr bool
	}{
		{spec: "@every 5m", next: from.Add(5 * time.Minute)},
		{spec: "@every 1d", next: from.Add(24 * time.Hour)},
		{spec: "@every 1s", next: from.Add(time.Second)},
		{spec: "CRON_TZ=UTC */10 * * * *", next: time.Date(2026, 11, 21, 4, 50, 0, 0, time.UTC)},
		{spec: "TZ=UTC 0 3 * * *", next: time.Date(2026, 11, 22, 3, 0, 0, 0, time.UTC)},
		{spec: "CRON_TZ=UTC @hourly", next: time.Date(2026, 11, 21, 5, 0, 0, 0, time.UTC)},
		{spec: "", wantErr: true},
		{spec: "every 5 minutes", wantErr: true},
		{spec: "* * * * * *", wantErr: true},
		{spec: "61 * * * *", wantErr: true},
		{spec: "@fortnightly", wantErr: true},
		{spec: "@every", wantErr: true},
		{spec: "@every 0s", wantErr: true},
		{spec: "@every 500ms", wantErr: true},
		{spec: "@every -5m", wantErr: true},
		{spec: "@every five minutes", wantErr: true},
		{spec: "TZ=UTC", wantErr: true},
		{spec: "CRON_TZ=Nowhere/City * * * * *", wantErr: true},
	}
	for _, tt := range tests {
		s, err := ParseSchedule(tt.spec)
		if tt.wantErr {
			if err == nil {
				t.Errorf("ParseSchedule(%q) succeeded, want an error", tt.spec)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseSchedule(%q): %v", tt.spec, err)
			continue
		}
		if got := s.Next(from); !got.Equal(tt.next) {
			t.Errorf("ParseSchedule(%q).Next(%v) = %v, want %v", tt.spec, from, got, tt.next)
		}
	}
}
