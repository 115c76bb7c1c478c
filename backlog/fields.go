package backlog

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Field names an item attribute that the syncer merges on its own. The
// mapping projects items into Fields keyed by these names, and the 3-way
// merge compares one field at a time.
type Field string

// The canonical fields. Comments and links are not fields: comments are
// merged by id, and links belong to the syncer.
const (
	FieldKind        Field = "kind"
	FieldTitle       Field = "title"
	FieldDescription Field = "description"
	FieldStatus      Field = "status"
	FieldPhase       Field = "phase"
	FieldTeams       Field = "teams"
	FieldEffort      Field = "estimate.effort"
	FieldPoints      Field = "estimate.points"
	FieldCost        Field = "estimate.cost"
	FieldPriority    Field = "priority"
	FieldLabels      Field = "labels"
	FieldAssignee    Field = "assignee"
	FieldParent      Field = "parent"
	FieldDue         Field = "due"
	FieldClients     Field = "clients"
	FieldAcceptance  Field = "acceptance"
)

// AllFields lists every canonical field in a stable order.
var AllFields = []Field{
	FieldKind, FieldTitle, FieldDescription, FieldStatus, FieldPhase, FieldTeams,
	FieldEffort, FieldPoints, FieldCost, FieldPriority, FieldLabels, FieldAssignee,
	FieldParent, FieldDue, FieldClients, FieldAcceptance,
}

// IsField reports whether name is a canonical field.
func IsField(name string) bool { return slices.Contains(AllFields, Field(name)) }

// setFields hold unordered sets: their values are sorted and de-duplicated
// so that order never reads as a change.
var setFields = map[Field]bool{FieldTeams: true, FieldLabels: true, FieldClients: true}

// IsList reports whether f holds several values (a set or, for
// acceptance criteria, an ordered list).
func (f Field) IsList() bool { return setFields[f] || f == FieldAcceptance }

// Fields is a projection of an item: canonical field name to its value
// encoded as one string (see EncodeList for list fields). Equal strings
// mean equal values, which is all the 3-way merge needs. An absent key
// and "" both mean "empty".
type Fields map[Field]string

// Clone returns a copy of f.
func (f Fields) Clone() Fields { return maps.Clone(f) }

// Equal reports whether f and g hold the same values, treating a missing
// key as "".
func (f Fields) Equal(g Fields) bool {
	for k, v := range f {
		if g[k] != v {
			return false
		}
	}
	for k, v := range g {
		if f[k] != v {
			return false
		}
	}
	return true
}

// Names returns the fields present in f, sorted.
func (f Fields) Names() []Field {
	ns := slices.Collect(maps.Keys(f))
	slices.Sort(ns)
	return ns
}

// EncodeList encodes a list value: "" for an empty list, else a JSON
// array. Set fields are sorted and de-duplicated first.
func EncodeList(f Field, vs []string) string {
	if len(vs) == 0 {
		return ""
	}
	vs = slices.Clone(vs)
	if setFields[f] {
		sort.Strings(vs)
		vs = slices.Compact(vs)
	}
	b, _ := json.Marshal(vs) // []string always marshals
	return string(b)
}

// DecodeList decodes a value written by EncodeList.
func DecodeList(s string) ([]string, error) {
	if s == "" {
		return nil, nil
	}
	var vs []string
	if err := json.Unmarshal([]byte(s), &vs); err != nil {
		return nil, fmt.Errorf("list value %q is not a JSON array of strings", s)
	}
	return vs, nil
}

func formatNumber(v float64) string {
	if v == 0 {
		return ""
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

func parseNumber(f Field, s string) (float64, error) {
	if s == "" {
		return 0, nil
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil {
		return 0, fmt.Errorf("%s: %q is not a number", f, s)
	}
	return v, nil
}

// Get returns the encoded value of one field of the item.
func (it Item) Get(f Field) string {
	switch f {
	case FieldKind:
		return string(it.Kind)
	case FieldTitle:
		return it.Title
	case FieldDescription:
		return it.Description
	case FieldStatus:
		return string(it.Status)
	case FieldPhase:
		return string(it.Phase)
	case FieldTeams:
		return EncodeList(f, it.Teams)
	case FieldEffort:
		return formatNumber(it.Estimate.Effort)
	case FieldPoints:
		return formatNumber(it.Estimate.Points)
	case FieldCost:
		return it.Estimate.Cost.String()
	case FieldPriority:
		return string(it.Priority)
	case FieldLabels:
		return EncodeList(f, it.Labels)
	case FieldAssignee:
		return it.Assignee
	case FieldParent:
		return it.Parent
	case FieldDue:
		return it.Due.String()
	case FieldClients:
		return EncodeList(f, it.Clients)
	case FieldAcceptance:
		return EncodeList(f, it.Acceptance)
	}
	return ""
}

// Set stores an encoded value into one field. It checks the encoding, not
// the item as a whole: call Validate after a batch of Sets.
func (it *Item) Set(f Field, v string) error {
	var err error
	switch f {
	case FieldKind:
		it.Kind = Kind(v)
	case FieldTitle:
		it.Title = v
	case FieldDescription:
		it.Description = v
	case FieldStatus:
		it.Status = Status(v)
	case FieldPhase:
		it.Phase = Phase(v)
	case FieldTeams:
		it.Teams, err = decodeSet(f, v)
	case FieldEffort:
		it.Estimate.Effort, err = parseNumber(f, v)
	case FieldPoints:
		it.Estimate.Points, err = parseNumber(f, v)
	case FieldCost:
		it.Estimate.Cost, err = ParseMoney(v)
	case FieldPriority:
		it.Priority = Priority(v)
	case FieldLabels:
		it.Labels, err = decodeSet(f, v)
	case FieldAssignee:
		it.Assignee = v
	case FieldParent:
		it.Parent = v
	case FieldDue:
		it.Due, err = ParseDate(v)
	case FieldClients:
		it.Clients, err = decodeSet(f, v)
	case FieldAcceptance:
		it.Acceptance, err = DecodeList(v)
	default:
		return fmt.Errorf("unknown field %q", f)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", f, err)
	}
	return nil
}

func decodeSet(f Field, v string) ([]string, error) {
	vs, err := DecodeList(v)
	if err != nil {
		return nil, err
	}
	if len(vs) == 0 {
		return nil, nil
	}
	sort.Strings(vs)
	return slices.Compact(vs), nil
}

// Project returns the item's values for the given fields (all fields when
// none are named).
func (it Item) Project(fs ...Field) Fields {
	if len(fs) == 0 {
		fs = AllFields
	}
	out := make(Fields, len(fs))
	for _, f := range fs {
		out[f] = it.Get(f)
	}
	return out
}

// Apply sets every field in fs on the item.
func (it *Item) Apply(fs Fields) error {
	for _, f := range fs.Names() {
		if err := it.Set(f, fs[f]); err != nil {
			return err
		}
	}
	return nil
}
