package webhook

import (
	"github.com/trawl-ci/trawl/pkg/config"
	"github.com/trawl-ci/trawl/pkg/cycle"
	"github.com/trawl-ci/trawl/pkg/driver"
)

// FromConfig builds the webhook target t (of type config.TargetWebhook)
// configures.
func FromConfig(env driver.Env, t config.Target) (cycle.Target, error) {
	hc, err := env.Client("webhook "+t.Name, nil, false)
	if err != nil {
		return nil, err
	}
	wt, err := New(Opts{
		Name:   t.Name,
		URL:    t.Webhook.URL,
		Secret: t.Webhook.Secret,
		Header: t.Webhook.Header,
		HTTP:   hc,
		Logger: env.Logger,
	})
	if err != nil {
		return nil, err
	}
	return wt, nil
}
