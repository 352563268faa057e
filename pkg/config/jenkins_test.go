package config

import (
	"reflect"
	"testing"
	"time"

	"github.com/trawl-ci/trawl/pkg/secret"
)

func TestJenkinsTarget(t *testing.T) {
	const doc = `
targets:
  - name: ci
    type: jenkins
    jenkins:
      url: https://ci.example.org/jenkins/
      job: kernel/check
      user: trawl-bot
      token_env: JENKINS_TOKEN
  - name: slow
    type: jenkins
    max_running: 3
    jenkins:
      url: https://ci.example.org
      job: check
      user: bot
      token_env: JENKINS_TOKEN
      quiet_period: 30s
      queue_wait: 0s
      queue_poll: 2s
sources:
  - name: netdev
    type: patchwork
    targets: [ci, slow]
    base: {tree: net-next, url: https://git.example.org/net-next.git, branch: main}
    patchwork: {url: https://patchwork.kernel.org, project: netdevbpf}
`
	c, err := Load([]byte(doc), "jenkins.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := []Target{
		{Name: "ci", Type: TargetJenkins, MaxRunning: DefaultMaxRunningJenkins, Jenkins: &Jenkins{
			URL: "https://ci.example.org/jenkins", Job: "kernel/check", User: "trawl-bot", Token: secret.Source{Env: "JENKINS_TOKEN"},
			QueueWait: DefaultJenkinsQueueWait, QueuePoll: DefaultJenkinsQueuePoll,
		}},
		{Name: "slow", Type: TargetJenkins, MaxRunning: 3, Jenkins: &Jenkins{
			URL: "https://ci.example.org", Job: "check", User: "bot", Token: secret.Source{Env: "JENKINS_TOKEN"},
			QuietPeriod: Duration(30 * time.Second), QueueWait: 0, QueuePoll: Duration(2 * time.Second),
		}},
	}
	if !reflect.DeepEqual(c.Targets, want) {
		t.Fatalf("targets\n got %s\nwant %s", dump(c.Targets), dump(want))
	}
}
