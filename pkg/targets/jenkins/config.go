package jenkins

import (
	"time"

	"github.com/trawl-ci/trawl/pkg/config"
	"github.com/trawl-ci/trawl/pkg/cycle"
	"github.com/trawl-ci/trawl/pkg/driver"
)

// FromConfig builds the Jenkins target t (of type config.TargetJenkins)
// configures.
func FromConfig(env driver.Env, t config.Target) (cycle.Target, error) {
	// No cache: crumbs, queue items and running builds change under the
	// same URL.
	hc, err := env.Client("jenkins "+t.Name, nil, false)
	if err != nil {
		return nil, err
	}
	j := t.Jenkins
	jt, err := New(Opts{
		Name:        t.Name,
		URL:         j.URL,
		Job:         j.Job,
		User:        j.User,
		Token:       j.Token,
		HTTP:        hc,
		QuietPeriod: time.Duration(j.QuietPeriod),
		QueueWait:   time.Duration(j.QueueWait),
		QueuePoll:   time.Duration(j.QueuePoll),
		Logger:      env.Logger,
	})
	if err != nil {
		return nil, err
	}
	return jt, nil
}
