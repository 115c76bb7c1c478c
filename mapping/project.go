package mapping

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/backlogd/backlogd/backlog"
	"github.com/backlogd/backlogd/connectors"
)

// How a client's field maps lay out in native fields.
//
// Each FieldMap of a canonical field is a route into one native field. A
// native field that several routes share, that a template writes into, or
// that receives a list is multi-valued, and its values are divided
// between the routes by ownership:
//
//  1. a template route owns the values matching its pattern (the longest
//     prefix+suffix wins);
//  2. a plain route of an enumerated field (kind, status, phase,
//     priority) owns exactly the native values it can render or read
//     back (the other values a value map lists, see FieldMap.Aliases);
//  3. the plain route of a free field (labels: labels) owns the rest.
//
// Values nobody owns are foreign (a label a person added) and ToRecord
// keeps them. Routes of private fields own their values too, so a private
// field's native values are neither read as another field's nor dropped.

// route is one canonical field → native field mapping.
type route struct {
	f      backlog.Field
	m      FieldMap
	native *nativeField
	// prefix and suffix split the template around {value}.
	prefix, suffix string
	// reads holds every native value a plain enum route writes or reads
	// back: the renderings of its domain and their aliases.
	reads   map[string]bool
	private bool
}

// nativeField is one native field and the routes writing into it.
type nativeField struct {
	name   string
	routes []*route
	// writing lists the routes ToRecord renders (route.writes).
	writing []*route
	multi   bool
}

// layout is a client's routes grouped by native field, and the fields
// it syncs. A layout is never modified once built, so callers on any
// goroutine may share it.
type layout struct {
	natives []*nativeField
	byField map[backlog.Field][]*route
	synced  []backlog.Field
}

// layout returns the client's routes. Building them takes microseconds
// and a hundred allocations, and the syncer asks twice per reconcile, so
// layouts are cached per client (see layoutCache): a Client still needs
// no hidden state, can be built or edited by hand, and is never served a
// layout of what it held before an edit.
func (c *Client) layout() *layout {
	if l := layouts.get(c); l != nil {
		return l
	}
	in := snapshotLayoutInputs(c)
	// Built from the private copy, so that no route shares a value map
	// with the client, which might edit it later.
	l := (&Client{Fields: in.fields, Private: in.private, Users: in.users}).buildLayout()
	layouts.put(c, &cachedLayout{in: in, l: l})
	return l
}

// buildLayout computes the client's routes.
func (c *Client) buildLayout() *layout {
	l := &layout{byField: map[backlog.Field][]*route{}, synced: c.Synced()}
	idx := map[string]*nativeField{}
	for _, f := range backlog.AllFields {
		for _, m := range c.Fields[f] {
			nf, ok := idx[m.Field]
			if !ok {
				nf = &nativeField{name: m.Field}
				idx[m.Field] = nf
				l.natives = append(l.natives, nf)
			}
			r := &route{f: f, m: m, native: nf, private: slices.Contains(c.Private, f)}
			if m.Template != "" {
				r.prefix, r.suffix, _ = strings.Cut(m.Template, "{value}")
			}
			nf.routes = append(nf.routes, r)
			l.byField[f] = append(l.byField[f], r)
		}
	}
	for _, nf := range l.natives {
		nf.multi = len(nf.routes) > 1
		for _, r := range nf.routes {
			if r.m.Template != "" || r.f.IsList() {
				nf.multi = true
			}
			if dom := enumDomain(r.f); dom != nil && r.m.Template == "" {
				r.reads = map[string]bool{}
				for _, v := range dom {
					for _, y := range c.accepts(r, v) {
						r.reads[y] = true
					}
				}
			}
			if r.writes() {
				nf.writing = append(nf.writing, r)
			}
		}
	}
	return l
}

// layoutCache holds each client's layout with a private copy of the
// client fields it was built from: the field maps, the private fields and
// the user map (enum routes render their values through it). A hit is
// compared field by field with that copy, so a client edited in place
// only costs a rebuild. Bounded: a process that keeps making clients (a
// property test, a daemon reloaded many times) empties it now and then;
// the daemon holds a few dozen clients at most.
type layoutCache struct {
	mu sync.RWMutex
	m  map[*Client]*cachedLayout
}

const maxCachedLayouts = 512

var layouts = layoutCache{m: map[*Client]*cachedLayout{}}

type cachedLayout struct {
	in layoutInputs
	l  *layout
}

// layoutInputs is a deep copy of what a layout is built from.
type layoutInputs struct {
	fields  map[backlog.Field][]FieldMap
	private []backlog.Field
	users   map[string]string
}

func (lc *layoutCache) get(c *Client) *layout {
	lc.mu.RLock()
	e := lc.m[c]
	lc.mu.RUnlock()
	if e != nil && e.in.match(c) {
		return e.l
	}
	return nil
}

func (lc *layoutCache) put(c *Client, e *cachedLayout) {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	if _, ok := lc.m[c]; !ok && len(lc.m) >= maxCachedLayouts {
		clear(lc.m)
	}
	lc.m[c] = e
}

func snapshotLayoutInputs(c *Client) layoutInputs {
	in := layoutInputs{fields: map[backlog.Field][]FieldMap{}, private: slices.Clone(c.Private), users: maps.Clone(c.Users)}
	for _, f := range backlog.AllFields {
		ms := c.Fields[f]
		if len(ms) == 0 {
			continue
		}
		cp := make([]FieldMap, len(ms))
		for i, m := range ms {
			m.Values = maps.Clone(m.Values)
			m.Aliases = cloneAliases(m.Aliases)
			cp[i] = m
		}
		in.fields[f] = cp
	}
	return in
}

// match reports whether c holds exactly the content in was copied from.
func (in *layoutInputs) match(c *Client) bool {
	if !slices.Equal(in.private, c.Private) || !maps.Equal(in.users, c.Users) {
		return false
	}
	for _, f := range backlog.AllFields {
		a, b := in.fields[f], c.Fields[f]
		if len(a) != len(b) {
			return false
		}
		for i := range a {
			x, y := a[i], b[i]
			if x.Field != y.Field || x.Template != y.Template || x.Users != y.Users || x.Direction != y.Direction ||
				x.Line != y.Line || !maps.Equal(x.Values, y.Values) || !maps.EqualFunc(x.Aliases, y.Aliases, slices.Equal) {
				return false
			}
		}
	}
	return true
}

// cloneAliases copies an alias map, lists included: a client may edit a
// list in place.
func cloneAliases(m map[string][]string) map[string][]string {
	if m == nil {
		return nil
	}
	out := make(map[string][]string, len(m))
	for k, vs := range m {
		out[k] = slices.Clone(vs)
	}
	return out
}

// matches reports whether native value v fits a template route's pattern.
func (r *route) matches(v string) bool {
	return len(v) > len(r.prefix)+len(r.suffix) && strings.HasPrefix(v, r.prefix) && strings.HasSuffix(v, r.suffix)
}

// owner returns the route owning native value v, or nil for a foreign value.
func (nf *nativeField) owner(v string) *route {
	if !nf.multi {
		return nf.routes[0]
	}
	var best *route
	for _, r := range nf.routes {
		if r.m.Template != "" && r.matches(v) && (best == nil || len(r.prefix)+len(r.suffix) > len(best.prefix)+len(best.suffix)) {
			best = r
		}
	}
	if best != nil {
		return best
	}
	for _, r := range nf.routes {
		if r.m.Template == "" && r.reads != nil && r.reads[v] {
			return r
		}
	}
	for _, r := range nf.routes {
		if r.m.Template == "" && r.reads == nil {
			return r
		}
	}
	return nil
}

// owned returns the values of a native field that route r owns, in order.
func (r *route) owned(vs []string) []string {
	var out []string
	for _, v := range vs {
		if r.native.owner(v) == r {
			out = append(out, v)
		}
	}
	return out
}

// writes reports whether ToRecord renders the route.
func (r *route) writes() bool { return !r.private && r.m.Direction != FromTracker }

// elems splits an encoded canonical value into its elements.
func elems(f backlog.Field, v string) []string {
	if f.IsList() {
		vs, err := decodeList(v)
		if err != nil {
			return nil
		}
		return vs
	}
	if v == "" {
		return nil
	}
	return []string{v}
}

// decodeList is backlog.DecodeList without encoding/json for what
// EncodeList writes of plain strings, ["a","b"] with no escapes; anything
// else goes to DecodeList. Rendering decodes every list field of both
// sides on every reconcile.
func decodeList(v string) ([]string, error) {
	if len(v) < 4 || v[:2] != `["` || v[len(v)-2:] != `"]` || strings.IndexByte(v, '\\') >= 0 || !utf8.ValidString(v) {
		return backlog.DecodeList(v)
	}
	parts := strings.Split(v[2:len(v)-2], `","`)
	for _, p := range parts {
		for i := 0; i < len(p); i++ {
			if p[i] == '"' || p[i] < 0x20 {
				return backlog.DecodeList(v)
			}
		}
	}
	return parts, nil
}

// render1 renders one canonical element: users, then values, then template.
func (c *Client) render1(r *route, x string) string {
	if r.m.Users {
		if u, ok := c.Users[x]; ok {
			x = u
		}
	}
	if v, ok := r.m.Values[x]; ok {
		x = v
	}
	if r.m.Template != "" && x != "" {
		x = r.prefix + x + r.suffix
	}
	return x
}

// accepts returns the native values that read back as canonical element
// x: what render1 writes, then the aliases the value map lists for it.
func (c *Client) accepts(r *route, x string) []string {
	out := []string{c.render1(r, x)}
	if len(r.m.Aliases) == 0 {
		return out
	}
	k := x
	if r.m.Users {
		if u, ok := c.Users[x]; ok {
			k = u
		}
	}
	for _, a := range r.m.Aliases[k] {
		if a == "" {
			continue
		}
		if r.m.Template != "" {
			a = r.prefix + a + r.suffix
		}
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}

// render renders an encoded canonical value into the route's native values.
func (c *Client) render(r *route, v string) []string { return c.renderKeeping(r, v, nil) }

// renderKeeping is render, except that an element whose rendering cur
// lacks, but which cur holds as one of its aliases, keeps that alias: a
// Redmine issue someone set to Closed, which reads as done, is not set
// back to Resolved (the first value) while the item stays done. cur is
// the record's values of the route's native field.
func (c *Client) renderKeeping(r *route, v string, cur []string) []string {
	keep := len(cur) > 0 && len(r.m.Aliases) > 0
	xs := elems(r.f, v)
	var written []string // what the elements are written as
	if keep {
		for _, x := range xs {
			written = append(written, c.render1(r, x))
		}
	}
	var out []string
	for _, x := range xs {
		y := c.render1(r, x)
		if y == "" {
			continue
		}
		if keep && !slices.Contains(cur, y) {
			for _, a := range c.accepts(r, x)[1:] {
				// Owned by r: on a shared native field another route's
				// value that happens to be spelt alike is not ours; and
				// not what another element is written as (labels bug and
				// defect, defect also listed under bug).
				if slices.Contains(cur, a) && r.native.owner(a) == r && !slices.Contains(written, a) {
					y = a
					break
				}
			}
		}
		if r.f != backlog.FieldAcceptance && slices.Contains(out, y) {
			continue // two canonical values rendered alike (a lossy map)
		}
		out = append(out, y)
	}
	return out
}

// unrender1 returns the canonical elements that render to native value y,
// in canonical order; empty when none does.
func (c *Client) unrender1(r *route, y string) []string {
	x := y
	if r.m.Template != "" {
		if !r.matches(y) {
			return nil
		}
		x = y[len(r.prefix) : len(y)-len(r.suffix)]
	}
	cands := reverse(r.m.Values, r.m.Aliases, x, enumDomain(r.f))
	if r.m.Users {
		var us []string
		for _, cand := range cands {
			us = append(us, reverse(c.Users, nil, cand, nil)...)
		}
		cands = us
	}
	if dom := enumDomain(r.f); dom != nil {
		cands = slices.DeleteFunc(cands, func(s string) bool { return !slices.Contains(dom, s) })
	}
	return compact(cands)
}

// reverse returns the keys of m mapping to y or listing y among their
// aliases (in domain order, else sorted), then y itself when y is not a
// key (values missing from a map pass through unchanged).
func reverse(m map[string]string, aliases map[string][]string, y string, domain []string) []string {
	var out []string
	keys := domain
	if keys == nil {
		keys = slices.Sorted(maps.Keys(m))
		for k := range aliases {
			if _, ok := m[k]; !ok {
				keys = append(keys, k)
			}
		}
		if len(keys) > len(m) {
			slices.Sort(keys)
		}
	}
	for _, k := range keys {
		if v, ok := m[k]; ok && v == y || slices.Contains(aliases[k], y) {
			out = append(out, k)
		}
	}
	if _, isKey := m[y]; !isKey {
		out = append(out, y)
	}
	return out
}

// compact removes repeated values, keeping the first of each.
func compact(vs []string) []string {
	var out []string
	for _, v := range vs {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// hasSigil reports whether a text value holds @ or #: without one it
// holds no mention or reference (see comments.go), and mapping its
// tokens would return it unchanged, after scanning it and the record's
// current text for nothing.
func hasSigil(vals []string) bool {
	for _, v := range vals {
		if strings.ContainsAny(v, "@#") {
			return true
		}
	}
	return false
}

// sameValues compares native parts: as ordered lists for acceptance
// criteria, as sets otherwise.
func sameValues(f backlog.Field, a, b []string) bool {
	if f == backlog.FieldAcceptance {
		return slices.Equal(a, b)
	}
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}

// InScope reports whether the client sees the item. The scope is
// evaluated on every canonical field, private ones included: privacy
// governs what is sent, not what is selected. A client without a scope
// sees nothing.
func (c *Client) InScope(it backlog.Item) bool {
	if c.Scope == nil || c.Scope.root == nil {
		return false
	}
	// Only the fields the scope names are projected: a projection of
	// every field encodes four lists as JSON, per key and target.
	f := backlog.Fields{}
	if !projectScope(c.Scope.root, it, f) {
		f = it.Project()
	}
	return c.Scope.Match(f)
}

// projectScope sets in f the item's values of the fields expression n
// reads. It returns false on a node it does not know, whose fields the
// caller then gets by projecting them all.
func projectScope(n exprNode, it backlog.Item, f backlog.Fields) bool {
	switch n := n.(type) {
	case allNode:
		return true
	case notNode:
		return projectScope(n.x, it, f)
	case andNode:
		return projectScope(n.l, it, f) && projectScope(n.r, it, f)
	case orNode:
		return projectScope(n.l, it, f) && projectScope(n.r, it, f)
	case eqNode:
		f[n.field] = it.Get(n.field)
		return true
	case hasNode:
		f[n.field] = it.Get(n.field)
		return true
	case inNode:
		f[n.field] = it.Get(n.field)
		return true
	}
	return false
}

// Synced lists the canonical fields this client syncs: mapped and not
// private, in backlog.AllFields order.
func (c *Client) Synced() []backlog.Field {
	var out []backlog.Field
	for _, f := range backlog.AllFields {
		if c.Syncs(f) {
			out = append(out, f)
		}
	}
	return out
}

// Syncs reports whether f is one of the Synced fields.
func (c *Client) Syncs(f backlog.Field) bool {
	return len(c.Fields[f]) > 0 && !slices.Contains(c.Private, f)
}

// DirectionOf returns the direction of a synced field (Both when the
// mapping leaves it unset; every mapping of one field shares it).
func (c *Client) DirectionOf(f backlog.Field) Direction {
	if ms := c.Fields[f]; len(ms) > 0 && ms[0].Direction != "" {
		return ms[0].Direction
	}
	return Both
}

// Project returns the item's values of the Synced fields, encoded as
// backlog.Item.Get does. Private fields never appear.
func (c *Client) Project(it backlog.Item) backlog.Fields {
	synced := c.layout().synced
	if len(synced) == 0 {
		// backlog.Item.Project reads "no fields" as "all fields".
		return backlog.Fields{}
	}
	return it.Project(synced...)
}

// ToRecord renders canonical values (a Project result) as native fields.
// current is the record's present native fields (nil on create): values
// of a multi-valued native field that no mapped canonical field owns (a
// label a person added in the tracker) are kept. It returns every native
// field the mapping writes, complete.
//
// Only Synced fields are rendered, whatever f holds, and from-tracker
// fields are never written. Mentions and #123 references in Markdown
// fields are mapped or neutralised, except those current already holds
// (see comments.go). Kept values stay in their place and new ones
// are appended, so a record whose connector orders values its own way
// does not read as different on every pass. A value current holds that
// reads as the value being written (an alias: Closed where the map
// lists done: [Resolved, Closed]) is kept too; the first listed value is
// written only when the canonical value changed or on create.
func (c *Client) ToRecord(f backlog.Fields, current connectors.Fields) connectors.Fields {
	l := c.layout()
	out := connectors.Fields{}
	for _, nf := range l.natives {
		writing := nf.writing
		if len(writing) == 0 {
			continue
		}
		if !nf.multi {
			vals := c.renderKeeping(writing[0], f[writing[0].f], current[nf.name])
			if isMarkup(writing[0].f) && hasSigil(vals) {
				vals = c.toTexts(vals, current[nf.name])
			}
			out[nf.name] = vals
			continue
		}
		want := map[*route][]string{}
		rebuild := map[*route]bool{}
		cur := current[nf.name]
		for _, r := range writing {
			want[r] = c.renderKeeping(r, f[r.f], cur)
			if isMarkup(r.f) && hasSigil(want[r]) {
				want[r] = c.toTexts(want[r], cur)
			}
			// An ordered list whose order changed is written afresh.
			if r.f == backlog.FieldAcceptance && !slices.Equal(r.owned(cur), want[r]) {
				rebuild[r] = true
			}
		}
		var vals []string
		emitted := map[string]bool{}
		for _, v := range cur {
			o := nf.owner(v)
			keep := o == nil || !o.writes() || (!rebuild[o] && slices.Contains(want[o], v))
			if keep && (!emitted[v] || o != nil && o.f == backlog.FieldAcceptance) {
				vals = append(vals, v)
				emitted[v] = true
			}
		}
		for _, r := range writing {
			for _, v := range want[r] {
				if !emitted[v] || r.f == backlog.FieldAcceptance && rebuild[r] {
					vals = append(vals, v)
					emitted[v] = true
				}
			}
		}
		out[nf.name] = vals
	}
	return out
}

// FromRecord reads the Synced fields back from a record. base is the
// last-synced projection (nil when there is none): for each field whose
// native rendering of base equals the record's native value, the base
// value is returned unchanged, so a lossy value map (three statuses on
// GitHub's "open") never reads as a remote change. Values the map cannot
// translate are errors naming the client file, field and value.
//
// When a native value maps back to several canonical ones, the base value
// is preferred if it is among them, else the first in canonical order
// (backlog.Statuses, ...). A field mapped to several native fields is
// read from the ones that changed, narrowed by all of them.
//
// Any value a value map lists for a canonical value reads as it, the
// first (the one ToRecord writes) and its aliases alike.
//
// Laws, for the fields ToRecord writes: FromRecord(ToRecord(p, nil), p)
// == p, and for an injective map FromRecord(ToRecord(p, nil), nil) == p.
// They hold as well for a record r that holds aliases in place of first
// values, which moreover is left as it is: ToRecord(p, r) == r.
func (c *Client) FromRecord(r connectors.Record, base backlog.Fields) (backlog.Fields, error) {
	l := c.layout()
	out := backlog.Fields{}
	var errs []error
	for _, f := range l.synced {
		routes := l.byField[f]
		parts := make([][]string, len(routes))
		same := make([]bool, len(routes))
		allSame := base != nil
		for i, rt := range routes {
			parts[i] = rt.owned(r.Fields[rt.native.name])
			if isMarkup(f) && hasSigil(parts[i]) {
				parts[i] = c.fromTexts(parts[i])
			}
			// A record holding an alias of the base value (Closed for
			// done, whose first value is Resolved) still holds the base.
			same[i] = base != nil && sameValues(f, parts[i], c.renderKeeping(rt, base[f], parts[i]))
			allSame = allSame && same[i]
		}
		if allSame {
			out[f] = base[f]
			continue
		}
		var v string
		var err error
		if f.IsList() {
			v, err = c.readList(routes, parts, same, base)
		} else {
			v, err = c.readScalar(routes, parts, same, base)
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out[f] = v
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// readScalar decodes a one-value field from its routes' native parts.
func (c *Client) readScalar(routes []*route, parts [][]string, same []bool, base backlog.Fields) (string, error) {
	f := routes[0].f
	cands := make([][]string, len(routes))
	// A route holding no value says nothing when another route holds one
	// (a status label removed while the state is still "open"): only
	// when every route is empty is the field empty.
	informed := make([]bool, len(routes))
	anyInformed := false
	for i, rt := range routes {
		vals := parts[i]
		if len(vals) > 1 && base != nil {
			// Two values in a slot for one (a second phase label added
			// next to the old one): the new one is the edit. The old
			// one may be an alias of the base value.
			var old []string
			for _, x := range elems(f, base[f]) {
				old = append(old, c.accepts(rt, x)...)
			}
			if fresh := slices.DeleteFunc(slices.Clone(vals), func(v string) bool { return slices.Contains(old, v) }); len(fresh) > 0 {
				vals = fresh
			}
		}
		if len(vals) == 0 {
			cands[i] = []string{""}
			continue
		}
		informed[i], anyInformed = true, true
		for _, y := range vals {
			xs := c.unrender1(rt, y)
			if len(xs) == 0 && enumDomain(f) == nil {
				xs = []string{y}
			}
			if len(xs) == 0 {
				return "", c.unknownValue(rt, y)
			}
			for _, x := range xs {
				norm, err := canonicalValue(f, x)
				if err != nil {
					return "", fmt.Errorf("%s: field %s: native %s value %q: %w; fix the record or the mapping", c.File, f, rt.native.name, y, err)
				}
				cands[i] = append(cands[i], norm)
			}
		}
		cands[i] = compact(cands[i])
	}
	use := func(i int) bool { return informed[i] || !anyInformed }
	set := intersect(cands, use)
	if len(set) == 0 {
		set = intersect(cands, func(i int) bool { return use(i) && !same[i] })
	}
	if len(set) == 0 {
		for i := range routes {
			if use(i) && !same[i] {
				set = cands[i]
				break
			}
		}
	}
	if len(set) == 0 {
		set = cands[0]
	}
	if base != nil && slices.Contains(set, base[f]) {
		return base[f], nil
	}
	return set[0], nil
}

// intersect returns the values common to the candidate lists selected by
// use, in the order of the first selected list.
func intersect(cands [][]string, use func(int) bool) []string {
	var out []string
	first := true
	for i, cs := range cands {
		if !use(i) {
			continue
		}
		if first {
			out = slices.Clone(cs)
			first = false
			continue
		}
		out = slices.DeleteFunc(out, func(v string) bool { return !slices.Contains(cs, v) })
	}
	return out
}

// readList decodes a list field from the first route that changed.
func (c *Client) readList(routes []*route, parts [][]string, same []bool, base backlog.Fields) (string, error) {
	f := routes[0].f
	i := slices.Index(same, false)
	if i < 0 {
		i = 0
	}
	rt := routes[i]
	var old []string
	if base != nil {
		old = elems(f, base[f])
	}
	var out []string
	for _, y := range parts[i] {
		xs := c.unrender1(rt, y)
		if len(xs) == 0 {
			xs = []string{y}
		}
		x := xs[0]
		for _, cand := range xs {
			if slices.Contains(old, cand) {
				x = cand
				break
			}
		}
		// A value that is also another's alias (labels bug and defect,
		// with defect listed under bug) reads as itself when the base
		// holds it as itself: else removing bug in the tracker would
		// read as no change.
		for _, cand := range xs {
			if slices.Contains(old, cand) && c.render1(rt, cand) == y {
				x = cand
				break
			}
		}
		out = append(out, x)
	}
	return backlog.EncodeList(f, out), nil
}

// unknownValue explains a native value no value map knows. The hint
// names the value as the map holds it (without the template) and shows
// the forms to add it in, not a canonical value: which one it means only
// a person knows (a guess like todo: [New, Closed] reads Closed as todo).
func (c *Client) unknownValue(rt *route, y string) error {
	dom := enumDomain(rt.f)
	x := y
	if rt.m.Template != "" && rt.matches(y) {
		x = y[len(rt.prefix) : len(y)-len(rt.suffix)]
	}
	hint := fmt.Sprintf("`<canonical>: %q`", x)
	if len(rt.m.Values) > 0 {
		hint += fmt.Sprintf(", or after the value already written for it, `<canonical>: [<its value>, %q]`", x)
	}
	return fmt.Errorf("%s:%d: field %s: native %s value %q maps to no canonical %s; add it to the value map under the %s it means, as %s (canonical values: %s)",
		c.File, rt.m.Line, rt.f, rt.native.name, y, rt.f, rt.f, hint, strings.Join(dom, ", "))
}
