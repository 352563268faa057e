package githubworkflow_test

import (
	"bytes"
	"testing"

	"github.com/trawl-ci/trawl/pkg/targets/githubworkflow"
)

// FuzzCheckWorkflowFile: any text read from a repository is checked
// without a panic, and a text that passes names runs by trawl_run.
func FuzzCheckWorkflowFile(f *testing.F) {
	for _, s := range []string{workflowYAML, "", "on: push", "run-name: ${{ inputs.trawl_run }}\non: [workflow_dispatch]",
		"run-name: [1]\non: {workflow_dispatch: {inputs: []}}", "&a [*a]", "on:\n  workflow_dispatch:\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, text []byte) {
		if githubworkflow.CheckWorkflowFile(text) == nil && !bytes.Contains(text, []byte("inputs."+githubworkflow.InputRun)) {
			t.Errorf("accepted without a run-name from %s: %q", githubworkflow.InputRun, text)
		}
	})
}
