package mapping

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/backlogd/backlogd/backlog"
	"gopkg.in/yaml.v3"
)

var clientIDRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)

// client decodes one client file; stem (the file name without extension)
// is the default id.
func (r *reader) client(doc *yaml.Node, stem string) *Client {
	c := defaultClient()
	c.File = r.file
	c.ID = stem
	m := r.mapping(doc, "the client file",
		"client", "target", "scope", "private", "internal_comments", "policy", "adopt",
		"on_scope_exit", "on_remote_delete", "close_status", "users", "fields")
	if m == nil {
		return nil
	}
	if e, ok := m["client"]; ok {
		c.idLine = e.val.Line
		if s, ok := r.str(e.val, "client"); ok && s != "" {
			c.ID = s
		}
	}
	if !clientIDRE.MatchString(c.ID) {
		r.errorf(m["client"].val, "client id %q must be lower-case letters, digits, - or _ (items list it in their clients field); set `client:` or rename the file", c.ID)
	}
	if e, ok := m["target"]; ok {
		c.targetLine = e.val.Line
		c.Target, _ = r.str(e.val, "target")
	}
	if c.Target == "" {
		r.errorf(doc, "no target; add `target: NAME` naming one of the targets of the daemon file")
	}
	if e, ok := m["scope"]; ok {
		c.Scope = r.expr(e.val, "scope")
	} else {
		r.errorf(doc, "no scope; add `scope: clients has %q` to show the client its own items, or `scope: all`", c.ID)
	}
	if e, ok := m["private"]; ok {
		c.Private = nil
		names, nodes := r.strList(e.val, "private")
		for i, name := range names {
			if !backlog.IsField(name) {
				r.errorf(nodes[i], "private: unknown canonical field %q; %s", name, suggestField(name))
				continue
			}
			c.Private = append(c.Private, backlog.Field(name))
		}
	}
	c.InternalComments = r.boolean(m, "internal_comments", "internal_comments")
	if e, ok := m["internal_comments"]; ok {
		c.internalLine = e.val.Line
	}
	c.Policy = Policy(r.oneOf(m, "policy", "policy", string(c.Policy),
		string(CanonicalWins), string(TrackerWins), string(LatestWins), string(Manual)))
	c.OnScopeExit = ScopeExit(r.oneOf(m, "on_scope_exit", "on_scope_exit", string(c.OnScopeExit),
		string(ExitUnlink), string(ExitClose), string(ExitDelete)))
	c.OnRemoteDelete = RemoteDelete(r.oneOf(m, "on_remote_delete", "on_remote_delete", string(c.OnRemoteDelete),
		string(DeleteUnlink), string(DeleteRecreate)))
	c.CloseStatus = backlog.Status(r.oneOf(m, "close_status", "close_status", string(c.CloseStatus), strs(backlog.Statuses)...))
	if e, ok := m["adopt"]; ok {
		r.adopt(e.val, &c)
	}
	if e, ok := m["users"]; ok {
		r.users(e.val, &c)
	}
	if e, ok := m["fields"]; ok {
		r.fields(e.val, &c)
	} else {
		r.errorf(doc, "no fields; add a `fields:` mapping (canonical field: native field), or `fields: identity` for a tracker that uses the canonical names")
	}
	return &c
}

// expr compiles an expression value, reporting errors at its line.
func (r *reader) expr(n *yaml.Node, what string) *Expr {
	s, ok := r.str(n, what)
	if !ok {
		return nil
	}
	x, err := ParseExpr(s)
	if err != nil {
		r.errorf(n, "%s %q: %v", what, s, err)
		return nil
	}
	return x
}

var adoptModes = []string{string(AdoptNew), string(AdoptAll), string(AdoptNone)}

// adopt reads `adopt: new` or `adopt: {mode, filter, defaults}`.
func (r *reader) adopt(n *yaml.Node, c *Client) {
	n = resolve(n)
	if isNull(n) {
		return
	}
	if n.Kind == yaml.ScalarNode {
		if !slices.Contains(adoptModes, n.Value) {
			r.errorf(n, "adopt %q is not valid; use one of %s", n.Value, strings.Join(adoptModes, ", "))
			return
		}
		c.Adopt = AdoptMode(n.Value)
		return
	}
	m := r.mapping(n, "adopt", "mode", "filter", "defaults")
	if m == nil {
		return
	}
	c.Adopt = AdoptMode(r.oneOf(m, "mode", "adopt.mode", string(c.Adopt), adoptModes...))
	if e, ok := m["filter"]; ok {
		c.AdoptFilter = r.expr(e.val, "adopt.filter")
	}
	if e, ok := m["defaults"]; ok {
		c.AdoptDefaults = backlog.Fields{}
		for _, p := range r.pairs(e.val, "adopt.defaults") {
			if !backlog.IsField(p.key.Value) {
				r.errorf(p.key, "adopt.defaults: unknown canonical field %q; %s", p.key.Value, suggestField(p.key.Value))
				continue
			}
			f := backlog.Field(p.key.Value)
			var vals []string
			var nodes []*yaml.Node
			if v := resolve(p.val); v != nil && v.Kind == yaml.SequenceNode {
				if !f.IsList() {
					r.errorf(v, "adopt.defaults.%s holds one value, not a list", f)
					continue
				}
				vals, nodes = r.strList(v, "adopt.defaults."+string(f))
			} else if s, ok := r.str(p.val, "adopt.defaults."+string(f)); ok {
				vals, nodes = []string{s}, []*yaml.Node{resolve(p.val)}
			}
			bad := false
			for i, v := range vals {
				if _, err := canonicalValue(f, v); err != nil {
					r.errorf(nodes[i], "adopt.defaults.%s: %v", f, err)
					bad = true
				}
			}
			if bad {
				continue
			}
			enc := strings.Join(vals, "")
			if f.IsList() {
				enc = backlog.EncodeList(f, vals)
			} else if len(vals) == 1 {
				enc, _ = canonicalValue(f, vals[0])
			}
			c.AdoptDefaults[f] = enc
		}
	}
}

// users reads the canonical user → tracker user map.
func (r *reader) users(n *yaml.Node, c *Client) {
	c.Users = map[string]string{}
	seen := map[string]string{}
	for _, p := range r.pairs(n, "users") {
		s, ok := r.str(p.val, "users."+p.key.Value)
		if !ok {
			continue
		}
		if s == "" {
			r.errorf(p.key, "users.%s has no tracker user name; write `%s: their-login` or remove the line", p.key.Value, p.key.Value)
			continue
		}
		if other, dup := seen[s]; dup {
			r.errorf(p.val, "users %s and %s both map to %q; each tracker user must stand for one person, or comments and assignees read back as the wrong one", other, p.key.Value, s)
			continue
		}
		seen[s] = p.key.Value
		c.Users[p.key.Value] = s
	}
}

// fields reads the field maps: `identity`, or canonical field → native.
func (r *reader) fields(n *yaml.Node, c *Client) {
	n = resolve(n)
	c.Fields = map[backlog.Field][]FieldMap{}
	if isNull(n) {
		r.errorf(n, "fields is empty; map at least one canonical field, e.g. `title: summary`")
		return
	}
	if n.Kind == yaml.ScalarNode {
		if n.Value != "identity" {
			r.errorf(n, "fields %q is not valid; write `fields: identity` (every canonical field under its own name) or a mapping of canonical field to native field", n.Value)
			return
		}
		for _, f := range backlog.AllFields {
			c.Fields[f] = []FieldMap{{Field: string(f), Direction: Both, Line: n.Line}}
		}
		return
	}
	for _, p := range r.pairs(n, "fields") {
		if !backlog.IsField(p.key.Value) {
			r.errorf(p.key, "fields: unknown canonical field %q; %s", p.key.Value, suggestField(p.key.Value))
			continue
		}
		f := backlog.Field(p.key.Value)
		v := resolve(p.val)
		var items []*yaml.Node
		if v != nil && v.Kind == yaml.SequenceNode {
			items = v.Content
			if len(items) == 0 {
				r.errorf(v, "fields.%s is an empty list; map it to at least one native field or remove it", f)
			}
		} else {
			items = []*yaml.Node{p.val}
		}
		for _, it := range items {
			if fm, ok := r.fieldMap(it, f); ok {
				c.Fields[f] = append(c.Fields[f], fm)
			}
		}
	}
	checkLayout(r, c)
}

// fieldMap reads `native` or `{field, values, template, users, direction}`.
func (r *reader) fieldMap(n *yaml.Node, f backlog.Field) (FieldMap, bool) {
	n = resolve(n)
	what := "fields." + string(f)
	fm := FieldMap{Direction: Both}
	if n == nil || isNull(n) {
		r.errorf(n, "%s has no native field; write `%s: native_name`", what, f)
		return fm, false
	}
	fm.Line = n.Line
	if n.Kind == yaml.ScalarNode {
		fm.Field = n.Value
		if fm.Field == "" {
			r.errorf(n, "%s has an empty native field name", what)
			return fm, false
		}
		return fm, true
	}
	m := r.mapping(n, what, "field", "values", "template", "users", "direction")
	if m == nil {
		return fm, false
	}
	ok := true
	if e, has := m["field"]; has {
		fm.Field, _ = r.str(e.val, what+".field")
	}
	if fm.Field == "" {
		r.errorf(n, "%s has no native field; add `field: NAME`", what)
		ok = false
	}
	if e, has := m["values"]; has {
		var good bool
		fm.Values, fm.Aliases, good = r.valueMap(e.val, f, what)
		ok = ok && good
	}
	if e, has := m["template"]; has {
		s, _ := r.str(e.val, what+".template")
		switch {
		case strings.Count(s, "{value}") != 1:
			r.errorf(e.val, "%s.template %q must contain {value} exactly once; write it like \"phase/{value}\"", what, s)
			ok = false
		case s == "{value}":
			r.errorf(e.val, "%s.template \"{value}\" changes nothing; remove it", what)
			ok = false
		default:
			fm.Template = s
		}
	}
	fm.Users = r.boolean(m, "users", what+".users")
	fm.Direction = Direction(r.oneOf(m, "direction", what+".direction", string(Both),
		string(Both), string(ToTracker), string(FromTracker)))
	return fm, ok
}

// valueMap reads `values:`, canonical value → the tracker's value or a
// list of them (`done: [Resolved, Closed]`): the first is the value
// written, the rest are aliases, which read back as the canonical value
// and are never written.
//
// Reading back must be unambiguous wherever it can be: a tracker value
// listed after the first stands for one canonical value, so it may
// appear nowhere else in the map, nor be what an unmapped canonical
// value passes through as. Only first values may be shared: that is a
// lossy map (todo, in_progress and in_review all written as GitHub's
// open), where FromRecord returns the last-synced value and the rest of
// the time the first in canonical order.
func (r *reader) valueMap(n *yaml.Node, f backlog.Field, what string) (map[string]string, map[string][]string, bool) {
	dom := enumDomain(f)
	vals := map[string]string{}
	var aliases map[string][]string
	ok := true
	// seen is where each tracker value was first listed.
	type listing struct {
		key   string
		line  int
		first bool
	}
	seen := map[string]listing{}
	for _, p := range r.pairs(n, what+".values") {
		k := p.key.Value
		if dom != nil && !slices.Contains(dom, k) {
			r.errorf(p.key, "%s.values: %q is not a canonical %s; use one of %s (keys are canonical values, values are the tracker's)", what, k, f, strings.Join(dom, ", "))
			ok = false
			continue
		}
		where := what + ".values." + k
		list, nodes, good := r.valueList(p.val, where, k)
		if !good {
			ok = false
			continue
		}
		for i, s := range list {
			prev, dup := seen[s]
			switch {
			case !dup:
				seen[s] = listing{key: k, line: nodes[i].Line, first: i == 0}
			case prev.key == k:
				r.errorf(nodes[i], "%s lists %q twice; remove one", where, s)
				ok = false
			case !prev.first || i > 0:
				r.errorf(nodes[i], "%s: %q is also listed under %s (line %d), so it would read back as either; list it under one of them only (canonical values may share a tracker value only as their first, written value: a lossy map)", where, s, prev.key, prev.line)
				ok = false
			}
		}
		vals[k] = list[0]
		if len(list) > 1 {
			if aliases == nil {
				aliases = map[string][]string{}
			}
			aliases[k] = list[1:]
		}
	}
	if !ok {
		return vals, aliases, false
	}
	// A canonical value the map leaves out is written as itself: an alias
	// spelt like it would read back as two values.
	for _, d := range dom {
		if _, mapped := vals[d]; mapped {
			continue
		}
		if l, dup := seen[d]; dup && !l.first {
			r.p.add(r.file, l.line, "%s.values.%s: %q is how %s is written, as it has no value of its own, so it would read back as either; map %s to a tracker value or remove %q from the list", what, l.key, d, d, d, d)
			ok = false
		}
	}
	return vals, aliases, ok
}

// valueList reads one value of a value map: the tracker's value, or a
// non-empty list of them.
func (r *reader) valueList(n *yaml.Node, where, key string) ([]string, []*yaml.Node, bool) {
	v := resolve(n)
	if v != nil && v.Kind == yaml.MappingNode {
		r.errorf(v, "%s must be the tracker's value or a list of them, the one to write first ([Resolved, Closed]), not a mapping", where)
		return nil, nil, false
	}
	if v == nil || v.Kind != yaml.SequenceNode {
		s, good := r.str(n, where)
		if !good {
			return nil, nil, false
		}
		if s == "" {
			r.errorf(n, "%s is empty; give the tracker's value, or remove the line to pass %q through unchanged", where, key)
			return nil, nil, false
		}
		return []string{s}, []*yaml.Node{v}, true
	}
	if len(v.Content) == 0 {
		r.errorf(v, "%s is an empty list; list the tracker's values, the one to write first ([Resolved, Closed]), or remove the line to pass %q through unchanged", where, key)
		return nil, nil, false
	}
	var list []string
	var nodes []*yaml.Node
	ok := true
	for i, it := range v.Content {
		e := resolve(it)
		switch {
		case e == nil || isNull(e) || e.Kind == yaml.ScalarNode && e.Value == "":
			r.errorf(it, "%s: entry %d is empty; give the tracker's value or remove the entry", where, i+1)
			ok = false
		case e.Kind != yaml.ScalarNode:
			r.errorf(it, "%s: entry %d is %s, not a tracker value; write the values as one flat list like [Resolved, Closed]", where, i+1, kindName(e))
			ok = false
		default:
			list = append(list, e.Value)
			nodes = append(nodes, e)
		}
	}
	return list, nodes, ok
}

// checkLayout reports field maps that cannot be read back unambiguously:
// a canonical field mapped twice into one native field, directions that
// differ, two free fields sharing a native field without templates, and
// templates or value maps that claim the same native values.
func checkLayout(r *reader, c *Client) {
	for _, f := range backlog.AllFields {
		ms := c.Fields[f]
		for i := 1; i < len(ms); i++ {
			if ms[i].Direction != ms[0].Direction {
				r.p.add(c.File, ms[i].Line, "fields.%s: direction %s differs from %s at line %d; all native fields of one canonical field flow the same way", f, ms[i].Direction, ms[0].Direction, ms[0].Line)
			}
			for j := range i {
				if ms[j].Field == ms[i].Field {
					r.p.add(c.File, ms[i].Line, "fields.%s: native field %q is already mapped at line %d; map each native field once per canonical field", f, ms[i].Field, ms[j].Line)
				}
			}
		}
	}
	l := c.layout()
	for _, nf := range l.natives {
		var free *route
		for i, a := range nf.routes {
			if a.m.Template == "" && a.reads == nil {
				if free != nil {
					first, second := free, a
					if second.m.Line < first.m.Line {
						first, second = second, first
					}
					r.p.add(c.File, second.m.Line, "fields.%s: native field %q already receives %s (line %d) without a template; give one of them a template like \"%s/{value}\" so their values can be told apart", second.f, nf.name, first.f, first.m.Line, second.f)
				} else {
					free = a
				}
			}
			for _, b := range nf.routes[:i] {
				if clash := overlap(c, a, b); clash != "" {
					first, second := b, a
					if second.m.Line < first.m.Line {
						first, second = second, first
					}
					r.p.add(c.File, second.m.Line, "fields.%s: native field %q: %s (line %d) and %s claim the same values (%s); make the templates or value maps distinct", second.f, nf.name, first.f, first.m.Line, second.f, clash)
				}
			}
		}
	}
}

// overlap returns a native value both routes could own, or "".
func overlap(c *Client, a, b *route) string {
	switch {
	case a.m.Template != "" && b.m.Template != "":
		// Two patterns overlap when one's prefix extends the other's and
		// likewise for the suffixes.
		if (strings.HasPrefix(a.prefix, b.prefix) || strings.HasPrefix(b.prefix, a.prefix)) &&
			(strings.HasSuffix(a.suffix, b.suffix) || strings.HasSuffix(b.suffix, a.suffix)) {
			return longer(a.prefix, b.prefix) + "…" + longer(a.suffix, b.suffix)
		}
	case a.reads != nil && b.reads != nil:
		for v := range a.reads {
			if b.reads[v] {
				return fmt.Sprintf("%q", v)
			}
		}
	case a.reads != nil && b.m.Template != "":
		for v := range a.reads {
			if b.matches(v) {
				return fmt.Sprintf("%q", v)
			}
		}
	case b.reads != nil && a.m.Template != "":
		return overlap(c, b, a)
	}
	return ""
}

func longer(a, b string) string {
	if len(a) >= len(b) {
		return a
	}
	return b
}
