package jenkinsfake

import (
	"fmt"
	"strconv"
	"strings"
)

// The `tree` query parameter of Jenkins' remote access API
// (https://www.jenkins.io/doc/book/using/remote-access-api/, "Controlling
// the amount of data you fetch"): a comma-separated list of the properties
// to keep, each optionally followed by [sub,tree] for the properties of
// its value and by {M,N} (or {M,} or {,N} or {N}) to keep a range of an
// array. The `_class` property is always kept, as Jenkins does.

// treeNode is one property of a parsed tree.
type treeNode struct {
	name     string
	children []treeNode // nil: the whole value
	from, to int        // array range; to < 0: to the end
	ranged   bool
}

// parseTree parses a tree expression.
func parseTree(s string) ([]treeNode, error) {
	nodes, rest, err := parseTreeList(s)
	if err != nil {
		return nil, err
	}
	if rest != "" {
		return nil, fmt.Errorf("tree: unexpected %q", rest)
	}
	return nodes, nil
}

func parseTreeList(s string) ([]treeNode, string, error) {
	var nodes []treeNode
	for {
		i := strings.IndexAny(s, ",[]{")
		if i < 0 {
			i = len(s)
		}
		n := treeNode{name: strings.TrimSpace(s[:i])}
		if n.name == "" {
			return nil, s, fmt.Errorf("tree: empty property name at %q", s)
		}
		s = s[i:]
		if strings.HasPrefix(s, "[") {
			children, rest, err := parseTreeList(s[1:])
			if err != nil {
				return nil, s, err
			}
			if !strings.HasPrefix(rest, "]") {
				return nil, rest, fmt.Errorf("tree: missing ]")
			}
			n.children, s = children, rest[1:]
		}
		if strings.HasPrefix(s, "{") {
			end := strings.IndexByte(s, '}')
			if end < 0 {
				return nil, s, fmt.Errorf("tree: missing }")
			}
			from, to, err := parseRange(s[1:end])
			if err != nil {
				return nil, s, err
			}
			n.from, n.to, n.ranged = from, to, true
			s = s[end+1:]
		}
		nodes = append(nodes, n)
		if !strings.HasPrefix(s, ",") {
			return nodes, s, nil
		}
		s = s[1:]
	}
}

// parseRange reads the inside of {M,N}: M,N / M, / ,N / N (exactly the
// N-th element).
func parseRange(s string) (from, to int, err error) {
	num := func(v string, def int) (int, error) {
		if v == "" {
			return def, nil
		}
		return strconv.Atoi(v)
	}
	a, b, comma := strings.Cut(s, ",")
	if from, err = num(a, 0); err != nil {
		return 0, 0, fmt.Errorf("tree: range {%s}: %w", s, err)
	}
	if !comma {
		return from, from + 1, nil
	}
	if to, err = num(b, -1); err != nil {
		return 0, 0, fmt.Errorf("tree: range {%s}: %w", s, err)
	}
	return from, to, nil
}

// filterTree keeps of v what the tree names.
func filterTree(v any, tree []treeNode) any {
	switch v := v.(type) {
	case map[string]any:
		out := map[string]any{}
		if c, ok := v["_class"]; ok {
			out["_class"] = c
		}
		for _, n := range tree {
			x, ok := v[n.name]
			if !ok {
				continue
			}
			if arr, isArr := x.([]any); isArr && n.ranged {
				from, to := min(n.from, len(arr)), n.to
				if to < 0 || to > len(arr) {
					to = len(arr)
				}
				x = arr[from:max(from, to)]
			}
			if n.children != nil {
				x = filterTree(x, n.children)
			}
			out[n.name] = x
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = filterTree(e, tree)
		}
		return out
	}
	return v
}
