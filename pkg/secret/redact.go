package secret

import (
	"encoding/json"
	"net/url"
	"sort"
	"strings"
	"sync"
)

// Mask replaces every registered secret in text that Redact cleans.
const Mask = "[REDACTED]"

// MinLen is the shortest value Register keeps. A shorter value would match
// inside ordinary words and turn every log line into masks; no forge issues
// tokens that short.
const MinLen = 4

// registry holds every secret value this process has loaded, and a replacer
// built from them. It only grows: a rotated token stays redacted, since an
// old token may still be echoed by a server or sit in a message.
var registry struct {
	mu       sync.RWMutex
	values   map[string]bool
	replacer *strings.Replacer
}

// Register adds v to the values Redact removes, with the forms a server or
// an encoder may echo it in (JSON-escaped, URL-escaped). Every value read
// through Source.Value is registered; code that obtains a credential any
// other way (a token minted in process) must register it before use.
// Values shorter than MinLen are ignored.
func Register(v string) {
	if len(v) < MinLen {
		return
	}
	forms := []string{v, jsonEscaped(v), url.QueryEscape(v), url.PathEscape(v)}
	registry.mu.RLock()
	known := true
	for _, f := range forms {
		known = known && registry.values[f]
	}
	registry.mu.RUnlock()
	if known {
		return
	}
	registry.mu.Lock()
	defer registry.mu.Unlock()
	if registry.values == nil {
		registry.values = map[string]bool{}
	}
	for _, f := range forms {
		if len(f) >= MinLen {
			registry.values[f] = true
		}
	}
	// Longest first, so a secret that contains another is masked whole.
	all := make([]string, 0, len(registry.values))
	for f := range registry.values {
		all = append(all, f)
	}
	sort.Slice(all, func(i, j int) bool {
		if len(all[i]) != len(all[j]) {
			return len(all[i]) > len(all[j])
		}
		return all[i] < all[j]
	})
	pairs := make([]string, 0, 2*len(all))
	for _, f := range all {
		pairs = append(pairs, f, Mask)
	}
	registry.replacer = strings.NewReplacer(pairs...)
}

// Redact returns s with every registered secret replaced by Mask. It is
// applied wherever text from outside enters trawl's output: a server's
// error message, every log line, the messages kept in the state file.
func Redact(s string) string {
	registry.mu.RLock()
	r := registry.replacer
	registry.mu.RUnlock()
	if r == nil || s == "" {
		return s
	}
	return r.Replace(s)
}

// jsonEscaped is v as it appears inside a JSON string.
func jsonEscaped(v string) string {
	b, _ := json.Marshal(v) // a string always encodes
	return string(b[1 : len(b)-1])
}
