package httpx

import "github.com/trawl-ci/trawl/pkg/retention"

// PruneCache bounds a disk cache (Options.CacheDir, or a directory of
// several) by the age of each entry's last write and by size, oldest first
// (retention.Prune). An entry pruned is fetched again when next needed:
// the cache is never the only copy of anything.
func PruneCache(dir string, p retention.Policy) (retention.Stats, error) {
	return retention.Prune(dir, p, retention.Options{})
}
