package setup

// The registry: one table per kind maps each type a configuration may name
// to the constructor that builds it. setup.New looks every configured
// source, target and reporter up here; nothing else in pkg/setup knows a
// type by name.
//
// Adding a type (say a target type "buildbot") touches three places:
//
//  1. pkg/config: a new file buildbot.go with the type constant
//     (TargetBuildbot = "buildbot"), the section's struct and its reader
//     (func (l *loader) buildbot(f field) *Buildbot), one field in
//     config.Target (Buildbot *Buildbot `yaml:"buildbot,omitempty" ...`)
//     and one row in config's targetTypes table (targets.go) naming the
//     reader and the default max_running.
//  2. The driver's package, e.g. pkg/targets/buildbot: a file config.go
//     with FromConfig(env driver.Env, t config.Target) (cycle.Target,
//     error), which builds the target from t.Buildbot, taking its HTTP
//     clients from env.Client, its logger from env.Logger (and
//     env.Closers.Add for what must stop with the app).
//  3. This file: one line in targetTypes below,
//     config.TargetBuildbot: buildbot.FromConfig.
//
// Sources and reporters work the same way: a source's FromConfig returns
// a driver.Source (the source, and its optional reporter and relay); a
// reporter's returns a cycle.Reporter. TestRegistryCoversEveryType fails
// until a type known to config has a row here, and a row here names a
// type config knows.

import (
	"github.com/trawl-ci/trawl/forges/github"
	"github.com/trawl-ci/trawl/forges/gitlab"
	"github.com/trawl-ci/trawl/forges/patchwork"
	"github.com/trawl-ci/trawl/pkg/config"
	"github.com/trawl-ci/trawl/pkg/cycle"
	"github.com/trawl-ci/trawl/pkg/driver"
	"github.com/trawl-ci/trawl/pkg/reporters/resultsdb"
	"github.com/trawl-ci/trawl/pkg/targets/buildbot"
	"github.com/trawl-ci/trawl/pkg/targets/exec"
	"github.com/trawl-ci/trawl/pkg/targets/githubworkflow"
	"github.com/trawl-ci/trawl/pkg/targets/gitlabpipeline"
	"github.com/trawl-ci/trawl/pkg/targets/jenkins"
	"github.com/trawl-ci/trawl/pkg/targets/kernelci"
	"github.com/trawl-ci/trawl/pkg/targets/webhook"
)

// sourceFunc builds a source from its configuration.
type sourceFunc func(driver.Env, config.Source) (driver.Source, error)

// targetFunc builds a target from its configuration.
type targetFunc func(driver.Env, config.Target) (cycle.Target, error)

// reporterFunc builds a results store from its configuration.
type reporterFunc func(driver.Env, config.Reporter) (cycle.Reporter, error)

// sourceTypes maps each source type to its constructor.
var sourceTypes = map[string]sourceFunc{
	config.SourcePatchwork: patchwork.FromConfig,
	config.SourceGitHub:    github.FromConfig,
	config.SourceGitLab:    gitlab.FromConfig,
}

// targetTypes maps each target type to its constructor.
var targetTypes = map[string]targetFunc{
	config.TargetKernelCI:       kernelci.FromConfig,
	config.TargetExec:           exec.FromConfig,
	config.TargetWebhook:        webhook.FromConfig,
	config.TargetBuildbot:       buildbot.FromConfig,
	config.TargetJenkins:        jenkins.FromConfig,
	config.TargetGitLabPipeline: gitlabpipeline.FromConfig,
	config.TargetGitHubWorkflow: githubworkflow.FromConfig,
}

// reporterTypes maps each reporter type to its constructor.
var reporterTypes = map[string]reporterFunc{
	config.ReporterResultsDB: resultsdb.FromConfig,
}
