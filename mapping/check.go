package mapping

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/backlogd/backlogd/connectors"
)

// Check validates the client against the connector's declared
// capabilities: native fields exist and are writable where pushed, mapped
// values (every value a value map lists, not only the first) are among
// the field's allowed values. Errors name file:line.
//
// A connector that declares no fields (a free-form tracker such as the
// file connector) accepts any field name.
func (c *Client) Check(caps connectors.Capabilities) error {
	var errs []error
	add := func(line int, format string, args ...any) {
		errs = append(errs, &ConfigError{File: c.File, Line: line, Msg: fmt.Sprintf(format, args...)})
	}
	if c.InternalComments && (!caps.Comments || !caps.InternalComments) {
		// Sending internal comments needs a tracker that can hide them;
		// anywhere else they would be public.
		add(c.internalLine, "internal_comments: true, but target %s cannot keep comments from the client's view; set internal_comments: false (internal comments then stay home)", c.Target)
	}
	l := c.layout()
	reported := map[*nativeField]bool{} // one "single value" error per native field
	for _, nf := range l.natives {
		for _, r := range nf.routes {
			if r.private || len(caps.Fields) == 0 {
				continue
			}
			spec, ok := caps.Field(nf.name)
			if !ok {
				names := make([]string, len(caps.Fields))
				for i, f := range caps.Fields {
					names[i] = f.Name
				}
				add(r.m.Line, "fields.%s: target %s has no field %q; use one of %s", r.f, c.Target, nf.name, strings.Join(names, ", "))
				continue
			}
			if spec.ReadOnly && r.writes() {
				add(r.m.Line, "fields.%s: %q is read-only in target %s; add `direction: from-tracker` or map another field", r.f, nf.name, c.Target)
			}
			if !spec.Multi && !reported[nf] && (r.f.IsList() || r != nf.routes[0]) {
				reported[nf] = true
				add(r.m.Line, "fields.%s: %q holds a single value in target %s but the mapping puts several values in it; map it to a multi-valued field such as labels", r.f, nf.name, c.Target)
			}
			if len(spec.Values) == 0 || !r.writes() {
				continue
			}
			for _, v := range c.listed(r) {
				if !slices.Contains(spec.Values, v) {
					add(r.m.Line, "fields.%s: target %s does not accept %q in %q; map it to one of %s", r.f, c.Target, v, nf.name, strings.Join(spec.Values, ", "))
				}
			}
		}
	}
	return errors.Join(errs...)
}

// listed lists the native values a route is known to write or read
// back: every rendering of an enumerated field's domain, else the value
// map's targets, each followed by its aliases. An alias the tracker does
// not have is a typo that would leave the records holding the real value
// unreadable, so it is checked like the value written.
func (c *Client) listed(r *route) []string {
	var out []string
	if dom := enumDomain(r.f); dom != nil {
		for _, v := range dom {
			out = append(out, c.accepts(r, v)...)
		}
		return compact(out)
	}
	keys := slices.Collect(maps.Keys(r.m.Values))
	for k := range r.m.Aliases {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range slices.Compact(keys) {
		out = append(out, c.accepts(r, k)...)
	}
	return compact(out)
}
