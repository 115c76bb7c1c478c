package storetest

import (
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/backlogd/backlogd/backlog"
	"github.com/backlogd/backlogd/syncer/store"
)

// cet is a zone other than UTC: the suite writes times in it and expects
// them back in UTC.
var cet = time.FixedZone("CET", 3600)

// at returns a time in cet, k minutes after a fixed instant, with a
// microsecond part: every store must keep microseconds (PostgreSQL keeps
// no more).
func at(k int) time.Time {
	return time.Date(2026, 3, 14, 9, 26, 53, 589793000, cet).Add(time.Duration(k) * time.Minute)
}

// fullItem is an item with every field set. checkComplete fails the suite
// when backlog.Item grows a field this fixture leaves empty, so a store
// that would drop the new field cannot pass by accident.
func fullItem(id string) backlog.Item {
	return backlog.Item{
		ID:          id,
		Kind:        backlog.Story,
		Title:       "Export invoices as PDF",
		Description: "As an accountant I want **PDF** invoices.\n\n- one per month\n- with the logo",
		Status:      backlog.InProgress,
		Phase:       backlog.TestFeedback,
		Teams:       []string{"billing", "web"},
		Estimate: backlog.Estimate{
			Effort: 2.5,
			Points: 5,
			Cost:   backlog.Money{Amount: "12500.50", Currency: "EUR"},
		},
		Priority:   backlog.High,
		Labels:     []string{"client-request", "pdf"},
		Assignee:   "alice",
		Parent:     "BL-1",
		Due:        backlog.Date{Year: 2026, Month: time.December, Day: 1},
		Clients:    []string{"acme", "globex"},
		Acceptance: []string{"a PDF per invoice", "the logo is on every page"},
		Comments: []backlog.Comment{
			{ID: "c1", Author: "bob", Created: at(0), Body: "Can we have it before the audit?", Visibility: backlog.VisibilityClient, Deleted: true},
			{ID: "c2", Author: "alice", Created: at(5), Body: "Internal: cost checked.", Visibility: backlog.VisibilityInternal},
		},
	}
}

// fullLink is a link with every field set, times in cet.
func fullLink(target, itemID string) store.Link {
	return store.Link{
		Target:    target,
		ItemID:    itemID,
		RemoteID:  "10042",
		RemoteKey: "ACME-42",
		URL:       "https://acme.example/browse/ACME-42",
		State:     store.LinkActive,
		Base: backlog.Fields{
			backlog.FieldTitle:  "Export invoices as PDF",
			backlog.FieldStatus: "in_progress",
			backlog.FieldLabels: `["client-request","pdf"]`,
			backlog.FieldDue:    "",
		},
		Comments: []store.CommentLink{
			{CommentID: "c1", RemoteID: "900", Base: "Can we have it before the audit?"},
			{CommentID: "c3", RemoteID: "901", Base: "Yes."},
		},
		RemoteVersion: "7",
		RemoteUpdated: at(10),
		SyncedAt:      at(11),
		LastError:     "jira: transition ACME-42 to \"Done\": 400 field resolution is required",
	}
}

func fullIntent(target, itemID string, k int) store.Intent {
	return store.Intent{Target: target, ItemID: itemID, Op: store.OpUpdate, Created: at(k)}
}

func fullConflict(target, itemID string, field backlog.Field, k int) store.Conflict {
	return store.Conflict{
		Target: target, Client: "acme", ItemID: itemID, Field: field,
		Base: "todo", Canonical: "in_review", Remote: "done", Created: at(k),
	}
}

// checkComplete fails when v (a fixture) leaves an exported field zero,
// other than those named in storeSet (set by the store itself).
func checkComplete(t *testing.T, v any, storeSet ...string) {
	t.Helper()
	for _, f := range zeroFields(reflect.ValueOf(v), reflect.TypeOf(v).String(), storeSet) {
		t.Errorf("the suite's fixture leaves %s empty; give it a value in storetest so the round trip covers it", f)
	}
}

func zeroFields(v reflect.Value, path string, skip []string) []string {
	if v.Type() == reflect.TypeFor[time.Time]() {
		if v.Interface().(time.Time).IsZero() {
			return []string{path}
		}
		return nil
	}
	switch v.Kind() {
	case reflect.Struct:
		var out []string
		for i := range v.NumField() {
			f := v.Type().Field(i)
			if !f.IsExported() || slices.Contains(skip, f.Name) {
				continue
			}
			out = append(out, zeroFields(v.Field(i), path+"."+f.Name, nil)...)
		}
		return out
	case reflect.Slice:
		if v.Len() == 0 {
			return []string{path}
		}
		var out []string
		for i := range v.Len() {
			out = append(out, zeroFields(v.Index(i), fmt.Sprintf("%s[%d]", path, i), nil)...)
		}
		// A field is covered when one element sets it.
		return commonZeros(out, v.Len(), path)
	case reflect.Map:
		if v.Len() == 0 {
			return []string{path}
		}
		return nil
	}
	if v.IsZero() {
		return []string{path}
	}
	return nil
}

// commonZeros keeps the fields zero in every one of n slice elements.
func commonZeros(zeros []string, n int, path string) []string {
	count := map[string]int{}
	var order []string
	for _, z := range zeros {
		// strip "path[i]" to "path[]"
		rest := z[len(path):]
		j := 1
		for j < len(rest) && rest[j] != ']' {
			j++
		}
		key := path + "[]" + rest[min(j+1, len(rest)):]
		if count[key] == 0 {
			order = append(order, key)
		}
		count[key]++
	}
	var out []string
	for _, k := range order {
		if count[k] == n {
			out = append(out, k)
		}
	}
	return out
}

// diff describes how got differs from want: times compare as instants
// and must come back in UTC, nil and empty slices and maps are equal.
func diff(want, got any) []string {
	var out []string
	walkDiff(&out, "", reflect.ValueOf(want), reflect.ValueOf(got))
	return out
}

func walkDiff(out *[]string, path string, w, g reflect.Value) {
	if w.Type() == reflect.TypeFor[time.Time]() {
		wt, gt := w.Interface().(time.Time), g.Interface().(time.Time)
		switch {
		case !wt.Equal(gt):
			*out = append(*out, fmt.Sprintf("%s: got %s, want %s", path, fmtTime(gt), fmtTime(wt)))
		case !gt.IsZero() && gt.Location() != time.UTC:
			*out = append(*out, fmt.Sprintf("%s: got %s in %s, want it in UTC", path, fmtTime(gt), gt.Location()))
		}
		return
	}
	switch w.Kind() {
	case reflect.Struct:
		for i := range w.NumField() {
			if w.Type().Field(i).IsExported() {
				walkDiff(out, path+"."+w.Type().Field(i).Name, w.Field(i), g.Field(i))
			}
		}
	case reflect.Slice:
		if w.Len() != g.Len() {
			*out = append(*out, fmt.Sprintf("%s: got %d elements %v, want %d %v", path, g.Len(), g, w.Len(), w))
			return
		}
		for i := range w.Len() {
			walkDiff(out, fmt.Sprintf("%s[%d]", path, i), w.Index(i), g.Index(i))
		}
	case reflect.Map:
		if w.Len() != g.Len() {
			*out = append(*out, fmt.Sprintf("%s: got %v, want %v", path, g, w))
			return
		}
		for _, k := range w.MapKeys() {
			gv := g.MapIndex(k)
			if !gv.IsValid() {
				*out = append(*out, fmt.Sprintf("%s[%v]: missing, want %v", path, k, w.MapIndex(k)))
				continue
			}
			walkDiff(out, fmt.Sprintf("%s[%v]", path, k), w.MapIndex(k), gv)
		}
	default:
		if !reflect.DeepEqual(w.Interface(), g.Interface()) {
			*out = append(*out, fmt.Sprintf("%s: got %#v, want %#v", path, g.Interface(), w.Interface()))
		}
	}
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "the zero time"
	}
	return t.Format(time.RFC3339Nano)
}

// expectSame fails t with every difference between want and got.
func expectSame(t *testing.T, what string, want, got any) {
	t.Helper()
	for _, d := range diff(want, got) {
		t.Errorf("%s%s", what, d)
	}
}
