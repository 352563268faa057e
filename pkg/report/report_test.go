package report

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/trawl-ci/trawl/pkg/httpx"
	"github.com/trawl-ci/trawl/pkg/targets"
)

func TestDescription(t *testing.T) {
	for _, tt := range []struct {
		summary, fp string
		limit       int
		want        string
	}{
		{"build and boot passed", "0123456789abcdef", 200, "build and boot passed [trawl 0123456789ab]"},
		{"  two\nlines\tand  spaces ", "0123", 200, "two lines and spaces [trawl 0123]"},
		{"", "0123456789abcdef", 200, "[trawl 0123456789ab]"},
		{strings.Repeat("é", 150), "0123456789abcdef", 140, strings.Repeat("é", 118) + "… [trawl 0123456789ab]"},
		{strings.Repeat("x", 500), "f", 200, strings.Repeat("x", 189) + "… [trawl f]"},
	} {
		got := Description(Message{Summary: tt.summary, Fingerprint: tt.fp}, tt.limit)
		if got != tt.want {
			t.Errorf("Description(%.20q, %d) = %q, want %q", tt.summary, tt.limit, got, tt.want)
		}
		if utf8.RuneCountInString(got) > tt.limit || strings.TrimSpace(got) != got {
			t.Errorf("Description(%.20q) = %q: longer than %d characters or not trimmed", tt.summary, got, tt.limit)
		}
	}
}

func TestStates(t *testing.T) {
	defaults := States{targets.StatePending: "pending", targets.StateInfra: "warning"}
	valid := func(v string) bool { return v == "pending" || v == "fail" || v == "warning" }
	s, err := defaults.WithOverrides(map[targets.State]string{targets.StateInfra: "fail", targets.StatePending: ""}, valid)
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := s.Map(targets.StateInfra); v != "fail" || !ok {
		t.Errorf("override: %q %v", v, ok)
	}
	if _, ok := s.Map(targets.StatePending); ok {
		t.Error(`a state mapped to "" is posted`)
	}
	if v, _ := defaults.Map(targets.StateInfra); v != "warning" {
		t.Error("WithOverrides changed the defaults")
	}
	if _, err := defaults.WithOverrides(map[targets.State]string{targets.StateFail: "Failure"}, valid); err == nil {
		t.Error("an invalid override was accepted")
	}
}

func TestPermanent(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{&httpx.StatusError{Status: 400}, true},
		{&httpx.StatusError{Status: 403}, true},
		{&httpx.StatusError{Status: 404}, true},
		{&httpx.StatusError{Status: 429}, false},
		{&httpx.StatusError{Status: 502}, false},
		{errors.New("connection reset"), false},
		// A rate limit answered with 403, a conflict answered with 409.
		{fmt.Errorf("post: %w", &WaitError{Err: &httpx.StatusError{Status: 403}}), false},
		{&WaitError{Err: &httpx.StatusError{Status: 409}, Until: time.Unix(1, 0)}, false},
	} {
		if got := Permanent(tc.err); got != tc.want {
			t.Errorf("Permanent(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

func TestRetryAt(t *testing.T) {
	at := time.Date(2026, 12, 3, 11, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		err  error
		want time.Time
		ok   bool
	}{
		{fmt.Errorf("post: %w", &WaitError{Err: errors.New("limited"), Until: at}), at, true},
		{&WaitError{Err: errors.New("in progress")}, time.Time{}, false},
		{&httpx.StatusError{Status: 429}, time.Time{}, false},
	} {
		got, ok := RetryAt(tc.err)
		if !got.Equal(tc.want) || ok != tc.ok {
			t.Errorf("RetryAt(%v) = %v, %v; want %v, %v", tc.err, got, ok, tc.want, tc.ok)
		}
	}
}
