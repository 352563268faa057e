package jenkins

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/trawl-ci/trawl/pkg/safetext"
	"github.com/trawl-ci/trawl/pkg/targets"
)

// The JSON shapes trawl reads, as Jenkins exports them (jenkinsfake's
// package documentation names the sources).

// param is one parameter value of a ParametersAction.
type param struct {
	Name  string `json:"name"`
	Value any    `json:"value"` // a string for string parameters; others vary
}

// action is one entry of an `actions` array; only a ParametersAction has
// parameters, the others decode empty.
type action struct {
	Parameters []param `json:"parameters"`
}

// executable is a queue item's build once it has started.
type executable struct {
	Number int    `json:"number"`
	URL    string `json:"url"`
}

// queueItem is /queue/item/N/api/json, or one of /queue/api/json's items.
type queueItem struct {
	ID         int64       `json:"id"`
	Why        *string     `json:"why"`
	Blocked    bool        `json:"blocked"`
	Buildable  bool        `json:"buildable"`
	Cancelled  bool        `json:"cancelled"`
	Executable *executable `json:"executable"`
	Actions    []action    `json:"actions"`
	Task       struct {
		URL string `json:"url"`
	} `json:"task"`
}

// build is a build's api/json, or one of a job's builds.
type build struct {
	Number   int      `json:"number"`
	URL      string   `json:"url"`
	Building bool     `json:"building"`
	Result   *string  `json:"result"`
	Actions  []action `json:"actions"`
}

// jobInfo is the job's api/json with the tree trawl asks.
type jobInfo struct {
	Property []struct {
		ParameterDefinitions []struct {
			Name string `json:"name"`
		} `json:"parameterDefinitions"`
	} `json:"property"`
	Builds []build `json:"builds"`
}

// params collects the string parameters of a list of actions.
func params(actions []action) map[string]string {
	m := map[string]string{}
	for _, a := range actions {
		for _, p := range a.Parameters {
			if s, ok := p.Value.(string); ok {
				m[p.Name] = s
			}
		}
	}
	return m
}

// attemptOf is the targets.AttemptID of the build attempt the parameters
// name, or "" when they name none.
func attemptOf(p map[string]string) string {
	unit, fp := p[ParamUnit], p[ParamFingerprint]
	attempt, err := strconv.Atoi(p[ParamAttempt])
	if unit == "" || fp == "" || err != nil || attempt < 0 {
		return ""
	}
	return targets.AttemptID(unit, fp, attempt)
}

// buildResult summarises a build's JSON:
//
//	building             pending
//	SUCCESS              success
//	UNSTABLE             warning  (built, tests unstable)
//	FAILURE              fail
//	ABORTED              infra-error (stopped by a person or a timeout:
//	                     says nothing about the change)
//	NOT_BUILT            infra-error (the build did not run its steps)
//	no result yet        pending  (Jenkins sets the result as it ends)
//
// Any other result is an error: a newer Jenkins word must not be taken
// for a verdict.
func buildResult(body []byte, url string) (targets.Result, error) {
	var b build
	if err := json.Unmarshal(body, &b); err != nil {
		return targets.Result{}, fmt.Errorf("decode build: %w", err)
	}
	res := targets.Result{URL: url}
	name := fmt.Sprintf("Jenkins build #%d", b.Number)
	if b.Building || b.Result == nil {
		res.State, res.Summary, res.Builds.Running = targets.StatePending, name+" running", 1
		return res, nil
	}
	switch *b.Result {
	case "SUCCESS":
		res.State, res.Builds.Pass = targets.StateSuccess, 1
	case "UNSTABLE":
		res.State, res.Builds.Pass = targets.StateWarning, 1
	case "FAILURE":
		res.State, res.Builds.Fail = targets.StateFail, 1
	case "ABORTED", "NOT_BUILT":
		res.State, res.Builds.Error = targets.StateInfra, 1
	default:
		return targets.Result{}, fmt.Errorf("build #%d: unknown result %q", b.Number, safetext.Line(*b.Result))
	}
	res.Summary = name + ": " + *b.Result
	return res, nil
}

// queueResult summarises a queue item that has no build yet: cancelled is
// an infrastructure error (the change was never built), anything else is
// pending, and says why it waits.
func queueResult(q queueItem, url string) targets.Result {
	if q.Cancelled {
		return targets.Result{State: targets.StateInfra, Summary: fmt.Sprintf("Jenkins queue item %d was cancelled", q.ID),
			URL: url, Builds: targets.Tally{Error: 1}}
	}
	s := fmt.Sprintf("Jenkins queue item %d waiting", q.ID)
	if q.Why != nil && *q.Why != "" {
		w := *q.Why
		if len(w) > 200 {
			w = w[:200] + "…"
		}
		s += ": " + safetext.Line(w)
	}
	return targets.Result{State: targets.StatePending, Summary: s, URL: url, Builds: targets.Tally{Running: 1}}
}
