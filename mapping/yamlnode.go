package mapping

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// reader decodes yaml.v3 nodes of one file strictly, by hand, so that
// every problem carries the line it is on and none stops the others from
// being found.
type reader struct {
	file string
	p    *problems
}

// entry is one key of a YAML mapping with its value.
type entry struct {
	key, val *yaml.Node
}

func (r *reader) errorf(n *yaml.Node, format string, args ...any) {
	line := 0
	if n != nil {
		line = n.Line
	}
	r.p.add(r.file, line, format, args...)
}

// resolve follows aliases and unwraps documents.
func resolve(n *yaml.Node) *yaml.Node {
	for n != nil {
		switch n.Kind {
		case yaml.AliasNode:
			n = n.Alias
		case yaml.DocumentNode:
			if len(n.Content) == 0 {
				return nil
			}
			n = n.Content[0]
		default:
			return n
		}
	}
	return nil
}

// isNull reports whether n is absent or an explicit null (`key:` with no
// value, or `~`).
func isNull(n *yaml.Node) bool {
	n = resolve(n)
	return n == nil || (n.Kind == yaml.ScalarNode && n.Tag == "!!null")
}

// kindName names a node kind for error messages.
func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("the value %q", n.Value)
	}
	return "something else"
}

// mapping reads the keys of a mapping node, reporting unknown ones with
// the list of known keys (and the closest one, for typos). It returns nil
// when n is not a mapping, after reporting it.
func (r *reader) mapping(n *yaml.Node, what string, known ...string) map[string]entry {
	n = resolve(n)
	if n == nil {
		return map[string]entry{}
	}
	if n.Kind != yaml.MappingNode {
		r.errorf(n, "%s must be a mapping of keys to values, not %s", what, kindName(n))
		return nil
	}
	out := make(map[string]entry, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			r.errorf(k, "%s has a key that is not a plain name; write keys as `name: value`", what)
			continue
		}
		if known != nil && !slices.Contains(known, k.Value) {
			r.errorf(k, "unknown key %q in %s; %s", k.Value, what, suggest(k.Value, known))
			continue
		}
		if first, dup := out[k.Value]; dup {
			r.errorf(k, "key %q is repeated in %s (first at line %d); keep one", k.Value, what, first.key.Line)
			continue
		}
		out[k.Value] = entry{key: k, val: v}
	}
	return out
}

// pairs returns the keys of a mapping node in file order (for maps whose
// keys are data: users, values, fields).
func (r *reader) pairs(n *yaml.Node, what string) []entry {
	n = resolve(n)
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		r.errorf(n, "%s must be a mapping, not %s", what, kindName(n))
		return nil
	}
	var out []entry
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if k.Kind != yaml.ScalarNode {
			r.errorf(k, "%s has a key that is not a plain name", what)
			continue
		}
		if line, dup := seen[k.Value]; dup {
			r.errorf(k, "key %q is repeated in %s (first at line %d); keep one", k.Value, what, line)
			continue
		}
		seen[k.Value] = k.Line
		out = append(out, entry{key: k, val: n.Content[i+1]})
	}
	return out
}

// str reads a scalar as a string; ok is false (after reporting) when the
// node is a list or a mapping. A null reads as "".
func (r *reader) str(n *yaml.Node, what string) (string, bool) {
	n = resolve(n)
	if isNull(n) {
		return "", true
	}
	if n.Kind != yaml.ScalarNode {
		r.errorf(n, "%s must be a single value, not %s", what, kindName(n))
		return "", false
	}
	return n.Value, true
}

// oneOf reads a scalar that must be one of the allowed values; def is
// returned when the key is absent.
func (r *reader) oneOf(m map[string]entry, key, what, def string, allowed ...string) string {
	e, ok := m[key]
	if !ok || isNull(e.val) {
		return def
	}
	s, ok := r.str(e.val, what)
	if !ok {
		return def
	}
	if !slices.Contains(allowed, s) {
		r.errorf(e.val, "%s %q is not valid; use one of %s", what, s, strings.Join(allowed, ", "))
		return def
	}
	return s
}

// boolean reads true/false.
func (r *reader) boolean(m map[string]entry, key, what string) bool {
	e, ok := m[key]
	if !ok || isNull(e.val) {
		return false
	}
	s, ok := r.str(e.val, what)
	if !ok {
		return false
	}
	b, err := strconv.ParseBool(s)
	if err != nil || resolve(e.val).Tag != "!!bool" {
		r.errorf(e.val, "%s %q must be true or false", what, s)
		return false
	}
	return b
}

// duration reads a positive Go duration ("30s", "5m"); def when absent.
func (r *reader) duration(m map[string]entry, key, what string, def time.Duration) time.Duration {
	e, ok := m[key]
	if !ok || isNull(e.val) {
		return def
	}
	s, ok := r.str(e.val, what)
	if !ok {
		return def
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		r.errorf(e.val, "%s %q is not a duration; write it like 30s, 5m or 1h", what, s)
		return def
	}
	if d <= 0 {
		r.errorf(e.val, "%s %q must be positive; write it like 30s, 5m or 1h", what, s)
		return def
	}
	return d
}

// positiveInt reads an integer ≥ 1; def when absent.
func (r *reader) positiveInt(m map[string]entry, key, what string, def int) int {
	e, ok := m[key]
	if !ok || isNull(e.val) {
		return def
	}
	s, ok := r.str(e.val, what)
	if !ok {
		return def
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < 1 {
		r.errorf(e.val, "%s %q must be a whole number of at least 1", what, s)
		return def
	}
	return v
}

// strList reads a list of scalars (a single scalar is not accepted: a
// list is always written as a list).
func (r *reader) strList(n *yaml.Node, what string) ([]string, []*yaml.Node) {
	n = resolve(n)
	if isNull(n) {
		return nil, nil
	}
	if n.Kind != yaml.SequenceNode {
		r.errorf(n, "%s must be a list like [a, b], not %s", what, kindName(n))
		return nil, nil
	}
	var out []string
	var nodes []*yaml.Node
	for _, c := range n.Content {
		s, ok := r.str(c, what+" entry")
		if !ok {
			continue
		}
		out = append(out, s)
		nodes = append(nodes, resolve(c))
	}
	return out, nodes
}

// isSecretRef reports whether s has the form of a secret reference.
func isSecretRef(s string) bool {
	kind, name, ok := strings.Cut(s, ":")
	return ok && (kind == "env" || kind == "file") && strings.TrimSpace(name) != ""
}

// secretRef reads a value that must be a secret reference. The value is
// never echoed: it may be a pasted credential.
func (r *reader) secretRef(m map[string]entry, key, what string) string {
	e, ok := m[key]
	if !ok || isNull(e.val) {
		return ""
	}
	s, ok := r.str(e.val, what)
	if !ok {
		return ""
	}
	if !isSecretRef(s) {
		r.errorf(e.val, "%s looks like a literal secret; write a reference such as env:NAME or file:/run/secrets/name (credentials never go in config files)", what)
		return ""
	}
	return s
}

// suggest lists the known keys and names the closest one to a typo.
func suggest(got string, known []string) string {
	best, bestD := "", 3
	for _, k := range known {
		if d := editDistance(got, k); d < bestD {
			best, bestD = k, d
		}
	}
	if best != "" {
		return fmt.Sprintf("did you mean %q? (known keys: %s)", best, strings.Join(known, ", "))
	}
	return "known keys: " + strings.Join(known, ", ")
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
