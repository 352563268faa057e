package config

import (
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// DefaultSchedule is the schedule of a source that sets none.
const DefaultSchedule = "@every 5m"

// ParseSchedule turns a source's schedule into a cron.Schedule. It is the
// one parser of schedules: validation uses it, and so must the daemon.
//
// It accepts what cron.ParseStandard accepts, except that "@every" takes a
// Duration (so "@every 1d" works) of at least one second, the resolution of
// the cron scheduler.
func ParseSchedule(spec string) (cron.Schedule, error) {
	if every, ok := strings.CutPrefix(spec, "@every "); ok {
		d, err := ParseDuration(strings.TrimSpace(every))
		if err != nil {
			return nil, err
		}
		if time.Duration(d) < time.Second {
			return nil, fmt.Errorf("@every interval %s is shorter than 1s", d)
		}
		return cron.Every(time.Duration(d)), nil
	}
	// cron's parser slices out of range on a time zone prefix with
	// nothing after it.
	if (strings.HasPrefix(spec, "TZ=") || strings.HasPrefix(spec, "CRON_TZ=")) && !strings.Contains(spec, " ") {
		return nil, fmt.Errorf("time zone prefix %s is not followed by a schedule", quote(spec))
	}
	// Standard 5-field specs (minute hour day-of-month month day-of-week,
	// with an optional TZ= or CRON_TZ= prefix) and the descriptors
	// @yearly, @monthly, @weekly, @daily, @hourly.
	p := cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)
	s, err := p.Parse(spec)
	if err != nil {
		return nil, fmt.Errorf("%s is not a cron schedule (5 fields, or a descriptor such as @hourly or @every 5m): %w", quote(spec), err)
	}
	return s, nil
}
