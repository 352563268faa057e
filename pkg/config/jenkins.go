package config

import (
	"strings"
	"time"

	"github.com/trawl-ci/trawl/pkg/secret"
)

// TargetJenkins starts a parameterized Jenkins job per unit.
const TargetJenkins = "jenkins"

// Jenkins configures a Jenkins target.
type Jenkins struct {
	// URL is the Jenkins root URL, with its context path.
	URL string `yaml:"url" json:"url"`
	// Job is the job's full name, folders separated by "/".
	Job string `yaml:"job" json:"job"`
	// User owns the API token.
	User string `yaml:"user" json:"user"`
	// Token is where the user's API token lives.
	Token secret.Source `yaml:"token" json:"token"`
	// QuietPeriod is the delay asked for each build; 0 starts it at once.
	QuietPeriod Duration `yaml:"quiet_period" json:"quiet_period"`
	// QueueWait bounds how long a trigger waits for its build to start, so
	// that the state holds the build rather than the queue item; 0 does
	// not wait.
	QueueWait Duration `yaml:"queue_wait" json:"queue_wait"`
	// QueuePoll is how often the queue item is read during that wait.
	QueuePoll Duration `yaml:"queue_poll" json:"queue_poll"`
}

// Defaults and bounds of a Jenkins target.
const (
	DefaultJenkinsQueueWait  = Duration(5 * time.Second)
	DefaultJenkinsQueuePoll  = Duration(time.Second)
	MaxJenkinsQueueWait      = Duration(5 * time.Minute)
	DefaultMaxRunningJenkins = 20
)

// jenkins reads a target's jenkins block.
func (l *loader) jenkins(f field) *Jenkins {
	o := l.object(f, "url", "job", "user", "token_file", "token_env", "quiet_period", "queue_wait", "queue_poll")
	j := &Jenkins{
		URL:         l.httpURL(o.get("url"), true),
		Job:         l.required(o.get("job")),
		User:        l.required(o.get("user")),
		Token:       l.secretPair(o, "token_file", "token_env", "API token", true),
		QuietPeriod: l.durationOrZero(o.get("quiet_period"), 0, 0),
		QueueWait:   l.durationOrZero(o.get("queue_wait"), DefaultJenkinsQueueWait, MaxJenkinsQueueWait),
		QueuePoll:   l.duration(o.get("queue_poll"), DefaultJenkinsQueuePoll),
	}
	if j.Job != "" {
		for _, n := range strings.Split(j.Job, "/") {
			if n == "" || n == "." || n == ".." {
				l.errorf(o.get("job"), "%s is not a job's full name such as folder/job", quote(j.Job))
				break
			}
		}
	}
	if strings.Contains(j.User, ":") {
		l.errorf(o.get("user"), "a user name cannot hold ':' (HTTP basic auth)")
	}
	return j
}

// durationOrZero returns the duration f, which may be zero and at most
// maxD (0: no bound), or def when absent.
func (l *loader) durationOrZero(f field, def, maxD Duration) Duration {
	s, ok := l.scalar(f)
	if !ok {
		return def
	}
	d, err := ParseDuration(s)
	switch {
	case err != nil:
		l.errorf(f, "%v", err)
		return def
	case d < 0:
		l.errorf(f, "must not be negative")
		return def
	case maxD > 0 && d > maxD:
		l.errorf(f, "%s is longer than %s", quote(s), time.Duration(maxD))
		return def
	}
	return d
}
