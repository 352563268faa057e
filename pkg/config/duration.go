package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// day is the length of the "d" unit: a fixed 24 hours, no calendar.
const day = 24 * time.Hour

// Duration is a time.Duration written the way operators write them: Go
// duration syntax ("30s", "10m", "1h30m") plus a leading whole number of
// days ("7d", "1d12h"). It reads and writes as text, so a dump of the
// Config shows "7d" rather than nanoseconds.
type Duration time.Duration

// ParseDuration parses Go duration syntax optionally preceded by a whole
// number of days: "30s", "10m", "7d", "1d12h". A sign is allowed only
// without days.
func ParseDuration(s string) (Duration, error) {
	days, rest, hasDays := strings.Cut(s, "d")
	if !hasDays {
		d, err := time.ParseDuration(s)
		if err != nil {
			return 0, durationError(s)
		}
		return Duration(d), nil
	}
	if days == "" || strings.Trim(days, "0123456789") != "" {
		return 0, durationError(s)
	}
	n, err := strconv.ParseInt(days, 10, 64)
	if err != nil || n > math.MaxInt64/int64(day) {
		return 0, fmt.Errorf("duration %s is too long", quote(s))
	}
	total := time.Duration(n) * day
	if rest != "" {
		if rest[0] == '-' || rest[0] == '+' {
			return 0, durationError(s)
		}
		r, err := time.ParseDuration(rest)
		if err != nil {
			return 0, durationError(s)
		}
		if r > math.MaxInt64-total {
			return 0, fmt.Errorf("duration %s is too long", quote(s))
		}
		total += r
	}
	return Duration(total), nil
}

// durationError is the message of every malformed duration.
func durationError(s string) error {
	return fmt.Errorf("%s is not a duration (examples: 30s, 10m, 1h30m, 7d, 1d12h)", quote(s))
}

// Duration returns d as a time.Duration.
func (d Duration) Duration() time.Duration { return time.Duration(d) }

// String writes d in the form ParseDuration reads, without zero units:
// "7d", "1d12h", "10m", "1h30m", "30s".
func (d Duration) String() string {
	td := time.Duration(d)
	var s string
	if td >= day {
		s = strconv.FormatInt(int64(td/day), 10) + "d"
		td %= day
		if td == 0 {
			return s
		}
	}
	r := td.String()
	if strings.HasSuffix(r, "m0s") {
		r = r[:len(r)-2]
	}
	if strings.HasSuffix(r, "h0m") {
		r = r[:len(r)-2]
	}
	return s + r
}

// MarshalText writes d as String does.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText reads d as ParseDuration does.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}
