package exec

import (
	"path/filepath"
	"strings"

	"github.com/trawl-ci/trawl/pkg/retention"
)

// PruneRecords bounds the job records and logs of the exec target name
// under stateDir: a record and its log go together, by age and then by
// size (retention.Prune), except the jobs keep names (those the state
// still refers to: removing one would run its unit again on a lost state,
// and lose its result). Deleting a record is what makes a unit runnable
// again for its fingerprint, so only records of units long done go.
func PruneRecords(stateDir, name string, p retention.Policy, keep func(jobID string) bool) (retention.Stats, error) {
	return retention.Prune(filepath.Join(stateDir, "exec", name), p, retention.Options{
		Group: func(rel string) string { return strings.TrimSuffix(rel, filepath.Ext(rel)) },
		Keep:  keep,
	})
}
