package mapping

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/backlogd/backlogd/backlog"
	"github.com/backlogd/backlogd/connectors"
	"gopkg.in/yaml.v3"
	"pgregory.net/rapid"
)

// The currency of generated costs: no other generated value contains
// capital letters, so finding it in a native value means a leak.
const leakCurrency = "QZX"

func genWord(t *rapid.T, label string) string {
	return rapid.StringMatching(`[a-z][a-z0-9-]{0,6}`).Draw(t, label)
}

func genItem(t *rapid.T) backlog.Item {
	words := func(label string) []string {
		return rapid.SliceOfN(rapid.Custom(func(t *rapid.T) string { return genWord(t, label) }), 0, 3).Draw(t, label)
	}
	it := backlog.Item{
		ID:          "BL-1",
		Kind:        rapid.SampledFrom(backlog.Kinds).Draw(t, "kind"),
		Title:       rapid.StringMatching(`[a-z][a-z ]{0,12}`).Draw(t, "title"),
		Description: rapid.StringMatching(`[a-z *\n]{0,20}`).Draw(t, "description"),
		Status:      rapid.SampledFrom(backlog.Statuses).Draw(t, "status"),
		Phase:       rapid.SampledFrom(append([]backlog.Phase{""}, backlog.Phases...)).Draw(t, "phase"),
		Priority:    rapid.SampledFrom(append([]backlog.Priority{""}, backlog.Priorities...)).Draw(t, "priority"),
		Teams:       words("teams"),
		Labels:      words("labels"),
		Clients:     rapid.SliceOfDistinct(rapid.SampledFrom([]string{"acme", "globex", "initech"}), rapid.ID[string]).Draw(t, "clients"),
		Acceptance:  words("acceptance"),
		Assignee:    rapid.SampledFrom([]string{"", "alice", "bob", "carol"}).Draw(t, "assignee"),
		Estimate: backlog.Estimate{
			Points: float64(rapid.IntRange(0, 40).Draw(t, "points")) / 2,
			Cost:   backlog.Money{Amount: fmt.Sprint(rapid.IntRange(1, 99999).Draw(t, "cost")), Currency: leakCurrency},
		},
	}
	// Round-trip through the setters so list fields hold what Get encodes.
	var norm backlog.Item
	_ = norm.Apply(it.Project())
	norm.ID = it.ID
	return norm
}

// genValues draws a value map for an enumerated field: injective (a
// rename of some values, possibly onto canonical names of others, as a
// permutation) or lossy (several values onto one).
func genValues(t *rapid.T, f backlog.Field, injective bool) map[string]string {
	dom := enumDomain(f)
	m := map[string]string{}
	if injective {
		perm := rapid.Permutation(dom).Draw(t, string(f)+" permutation")
		upper := rapid.Bool().Draw(t, string(f)+" renamed")
		for i, v := range dom {
			if upper {
				m[v] = "N-" + v
			} else {
				m[v] = perm[i]
			}
		}
		return m
	}
	targets := []string{"open", "closed"}
	for _, v := range dom {
		if rapid.Bool().Draw(t, string(f)+" maps "+v) {
			m[v] = rapid.SampledFrom(targets).Draw(t, string(f)+" target of "+v)
		}
	}
	// Make it lossy for sure: two values onto one.
	m[dom[0]], m[dom[1]] = "open", "open"
	return m
}

// genAliases draws, for some canonical values a value map maps, further
// tracker values that read back as them (`done: [Resolved, Closed]`):
// each unique, as Load requires of every value listed after the first.
func genAliases(t *rapid.T, f backlog.Field, values map[string]string) map[string][]string {
	out := map[string][]string{}
	for _, v := range enumDomain(f) {
		if _, mapped := values[v]; !mapped {
			continue
		}
		for i := range rapid.IntRange(0, 2).Draw(t, string(f)+" aliases of "+v) {
			out[v] = append(out[v], fmt.Sprintf("Also-%s-%d", v, i+1))
		}
	}
	return out
}

// genClient draws a client config that Load would accept: each field is
// unmapped, on its own native field, or (through a template) on a labels
// field shared with the plain canonical labels.
func genClient(t *rapid.T, injective bool) *Client {
	scope, _ := ParseExpr(`clients has acme`)
	c := &Client{
		ID: "acme", File: "clients/acme.yaml", Scope: scope,
		Users:  map[string]string{"alice": "alice-t", "bob": "b.ob"},
		Fields: map[backlog.Field][]FieldMap{},
	}
	if !injective {
		// Lossy user maps are refused at load; an unknown-user passthrough
		// colliding with a mapped name is the lossy case left.
		c.Users["carol"] = "carol-t"
	}
	for i, f := range backlog.AllFields {
		line := i + 10
		dir := rapid.SampledFrom([]Direction{Both, ToTracker}).Draw(t, string(f)+" direction")
		mode := rapid.IntRange(0, 2).Draw(t, string(f)+" mode")
		fm := FieldMap{Field: "n_" + string(f), Direction: dir, Line: line}
		switch mode {
		case 0:
			continue
		case 2:
			fm.Field = "labels"
			if f != backlog.FieldLabels {
				fm.Template = string(f) + "/{value}"
			}
		}
		if f == backlog.FieldAcceptance && fm.Field == "labels" {
			fm.Template = "" // an ordered list stays on its own field
			fm.Field = "n_acceptance"
		}
		if enumDomain(f) != nil && rapid.Bool().Draw(t, string(f)+" has values") {
			fm.Values = genValues(t, f, injective)
			fm.Aliases = genAliases(t, f, fm.Values)
		}
		if f == backlog.FieldAssignee {
			fm.Users = true
		}
		c.Fields[f] = []FieldMap{fm}
		if f == backlog.FieldStatus && rapid.Bool().Draw(t, "status also as a label") && fm.Field != "labels" {
			c.Fields[f] = append(c.Fields[f], FieldMap{Field: "labels", Template: "st:{value}", Direction: dir, Line: line})
		}
	}
	if rapid.Bool().Draw(t, "cost shared") {
		c.Fields[backlog.FieldCost] = []FieldMap{{Field: "labels", Template: "cost/{value}", Line: 99}}
	}
	for _, f := range backlog.AllFields {
		if f == backlog.FieldCost || rapid.IntRange(0, 5).Draw(t, string(f)+" private") == 0 {
			c.Private = append(c.Private, f)
		}
	}
	p := &problems{}
	checkLayout(&reader{file: c.File, p: p}, c)
	if err := p.err(); err != nil {
		t.Fatalf("generator made an invalid config: %v", err)
	}
	return c
}

func TestRoundTripWithBase(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		c := genClient(t, rapid.Bool().Draw(t, "injective"))
		p := c.Project(genItem(t))
		got, err := c.FromRecord(connectors.Record{Fields: c.ToRecord(p, nil)}, p)
		if err != nil {
			t.Fatal(err)
		}
		if !got.Equal(p) {
			t.Fatalf("FromRecord(ToRecord(p), p) = %v\n want p = %v", got, p)
		}
	})
}

func TestRoundTripWithoutBaseForInjectiveMaps(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		c := genClient(t, true)
		p := c.Project(genItem(t))
		got, err := c.FromRecord(connectors.Record{Fields: c.ToRecord(p, nil)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !got.Equal(p) {
			t.Fatalf("FromRecord(ToRecord(p), nil) = %v\n want p = %v", got, p)
		}
	})
}

func TestToRecordIsStable(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		c := genClient(t, rapid.Bool().Draw(t, "injective"))
		p := c.Project(genItem(t))
		current := c.ToRecord(c.Project(genItem(t)), nil)
		if labels := rapid.SliceOfN(rapid.StringMatching(`x:[a-z]{1,4}`), 0, 3).Draw(t, "foreign"); len(labels) > 0 {
			current["labels"] = append(current["labels"], labels...)
		}
		once := c.ToRecord(p, current)
		merged := current.Clone()
		for k, v := range once {
			merged[k] = v
		}
		twice := c.ToRecord(p, merged)
		for k := range once {
			if !slices.Equal(once[k], twice[k]) {
				t.Fatalf("writing %s again changes it: %v then %v", k, once[k], twice[k])
			}
		}
		got, err := c.FromRecord(connectors.Record{Fields: merged}, p)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range c.Synced() {
			if got[f] != p[f] {
				t.Fatalf("after writing p over another record, %s reads %q; want %q", f, got[f], p[f])
			}
		}
	})
}

// withAliases is ToRecord(p, nil) with each value written for a
// canonical element that has aliases replaced by one of them (or left),
// as drawn: the record of an item someone set to Closed in a tracker
// whose map lists done: [Resolved, Closed].
func withAliases(t *rapid.T, c *Client, p backlog.Fields) connectors.Fields {
	rec := c.ToRecord(p, nil)
	for _, nf := range c.layout().natives {
		for _, r := range nf.writing {
			for _, x := range elems(r.f, p[r.f]) {
				alts := c.accepts(r, x)
				if len(alts) < 2 {
					continue
				}
				pick := rapid.SampledFrom(alts).Draw(t, string(r.f)+" in "+nf.name)
				if i := slices.Index(rec[nf.name], alts[0]); i >= 0 {
					rec[nf.name][i] = pick
				}
			}
		}
	}
	return rec
}

// A record holding aliases reads as the record holding the first values
// would: FromRecord(r, p) == p, and FromRecord(r, nil) == p for an
// injective map.
func TestAliasesReadBack(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		injective := rapid.Bool().Draw(t, "injective")
		c := genClient(t, injective)
		p := c.Project(genItem(t))
		rec := connectors.Record{Fields: withAliases(t, c, p)}
		got, err := c.FromRecord(rec, p)
		if err != nil {
			t.Fatal(err)
		}
		if !got.Equal(p) {
			t.Fatalf("FromRecord(%v, p) = %v\n want p = %v", rec.Fields, got, p)
		}
		if !injective {
			return
		}
		if got, err = c.FromRecord(rec, nil); err != nil {
			t.Fatal(err)
		}
		if !got.Equal(p) {
			t.Fatalf("FromRecord(%v, nil) = %v\n want p = %v", rec.Fields, got, p)
		}
	})
}

// ToRecord(p, r) == r for a record r that reads as p through aliases:
// nothing is written back, so an alias set in the tracker is no edit to
// echo and no cause for churn.
func TestAliasesAreKept(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		c := genClient(t, rapid.Bool().Draw(t, "injective"))
		p := c.Project(genItem(t))
		rec := withAliases(t, c, p)
		got := c.ToRecord(p, rec)
		for name, vs := range got {
			if !slices.Equal(vs, rec[name]) {
				t.Fatalf("ToRecord rewrites %s: %v, the record holds %v", name, vs, rec[name])
			}
		}
	})
}

func TestPrivateFieldsNeverLeave(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		c := genClient(t, rapid.Bool().Draw(t, "injective"))
		it := genItem(t)
		// A caller that passes the whole item, not a projection, still
		// sends nothing private.
		native := c.ToRecord(it.Project(), nil)
		for name, vs := range native {
			for _, v := range vs {
				if strings.Contains(v, leakCurrency) {
					t.Fatalf("native field %s carries the private cost: %q", name, v)
				}
			}
		}
		for _, f := range c.Private {
			if _, ok := c.Project(it)[f]; ok {
				t.Fatalf("Project returned private field %s", f)
			}
		}
	})
}

func TestForeignValuesSurvive(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		c := genClient(t, true)
		delete(c.Fields, backlog.FieldLabels) // nothing owns plain labels
		p := c.Project(genItem(t))
		foreign := rapid.SliceOfNDistinct(rapid.StringMatching(`[a-z]{1,5}`), 1, 3, rapid.ID[string]).Draw(t, "foreign")
		got := c.ToRecord(p, connectors.Fields{"labels": foreign})
		if _, written := got["labels"]; !written {
			return // no field writes labels: the record keeps them by not being touched
		}
		for _, l := range foreign {
			if !slices.Contains(got["labels"], l) {
				t.Fatalf("label %q a person added was dropped: %v", l, got["labels"])
			}
		}
	})
}

func TestScopeSeesOnlyTheClientsItems(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		c := genClient(t, true)
		it := genItem(t)
		if c.InScope(it) != it.HasClient("acme") {
			t.Fatalf("InScope = %v for clients %v", c.InScope(it), it.Clients)
		}
	})
}

// What Load accepts of a value map with lists reads back unambiguously:
// every value listed after the first reads as its canonical value alone,
// a first value as its canonical value among others (a lossy map), and a
// canonical value the map leaves out as itself. The tracker values are
// drawn from a few names, canonical ones among them, so that maps which
// share values, and which Load must refuse, come up often.
func TestAcceptedValueListsReadBackUnambiguously(t *testing.T) {
	f := backlog.FieldStatus
	dom := enumDomain(f)
	pool := []string{"Open", "Closed", "Resolved", "todo", "done"}
	rapid.Check(t, func(t *rapid.T) {
		var entries []string
		for _, v := range dom {
			if rapid.Bool().Draw(t, "maps "+v) {
				list := rapid.SliceOfN(rapid.SampledFrom(pool), 1, 3).Draw(t, "values of "+v)
				entries = append(entries, fmt.Sprintf("%s: [%s]", v, strings.Join(list, ", ")))
			}
		}
		var n yaml.Node
		if err := yaml.Unmarshal([]byte("{"+strings.Join(entries, ", ")+"}"), &n); err != nil {
			t.Fatal(err)
		}
		p := &problems{}
		values, aliases, ok := (&reader{file: "clients/acme.yaml", p: p}).valueMap(&n, f, "fields.status")
		if ok != (p.err() == nil) {
			t.Fatalf("valueMap ok = %v with problems %v", ok, p.err())
		}
		if !ok {
			return
		}
		c := &Client{Fields: map[backlog.Field][]FieldMap{f: {{Field: "status", Values: values, Aliases: aliases, Direction: Both}}}}
		rt := c.layout().byField[f][0]
		for _, v := range dom {
			listed := c.accepts(rt, v)
			for i, y := range listed {
				got := c.unrender1(rt, y)
				if !slices.Contains(got, v) || i > 0 && len(got) != 1 {
					t.Fatalf("map %v, aliases %v: %q, listed for %s, reads back as %v", values, aliases, y, v, got)
				}
			}
		}
	})
}
