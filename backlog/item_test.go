package backlog

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"
)

func validItem() Item {
	return Item{ID: "BL-1", Kind: Story, Title: "Pay by card", Status: Todo}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Item)
		want []string // substrings of the problems, in order; none means valid
	}{
		{name: "a minimal item is valid", edit: func(*Item) {}},
		{name: "a new item may have no id yet", edit: func(it *Item) { it.ID = "" }},
		{name: "an id must look like BL-42", edit: func(it *Item) { it.ID = "bl42" }, want: []string{`id "bl42" must look like BL-42`}},
		{name: "an unknown kind names the valid ones", edit: func(it *Item) { it.Kind = "feature" }, want: []string{`kind "feature" is not one of epic, story, bug, task`}},
		{name: "a blank title is refused", edit: func(it *Item) { it.Title = "  " }, want: []string{"title is empty"}},
		{name: "an unknown status names the valid ones", edit: func(it *Item) { it.Status = "open" }, want: []string{`status "open" is not one of todo, in_progress, in_review, done, cancelled`}},
		{name: "an unknown phase is refused", edit: func(it *Item) { it.Phase = "qa" }, want: []string{`phase "qa" is not one of kickoff`}},
		{name: "an unknown priority is refused", edit: func(it *Item) { it.Priority = "urgent" }, want: []string{`priority "urgent" is not one of lowest`}},
		{name: "negative estimates are refused", edit: func(it *Item) { it.Estimate.Points = -1 }, want: []string{"must not be negative"}},
		{name: "a cost needs an ISO currency", edit: func(it *Item) { it.Estimate.Cost = Money{Amount: "12", Currency: "euro"} }, want: []string{`currency "euro" is not a three-letter ISO 4217 code`}},
		{name: "a cost amount is a decimal", edit: func(it *Item) { it.Estimate.Cost = Money{Amount: "12,5", Currency: "EUR"} }, want: []string{`amount "12,5" is not a decimal number`}},
		{name: "a parent is a canonical id", edit: func(it *Item) { it.Parent = "#12" }, want: []string{`parent "#12" must be a canonical id`}},
		{name: "an item is not its own parent", edit: func(it *Item) { it.Parent = "BL-1" }, want: []string{"parent is the item itself"}},
		{name: "a label with a comma is refused", edit: func(it *Item) { it.Labels = []string{"a,b"} }, want: []string{`label "a,b" is empty or contains a comma`}},
		{name: "comments need ids, unique ones", edit: func(it *Item) {
			it.Comments = []Comment{{ID: "c1", Visibility: VisibilityClient}, {ID: "c1", Visibility: VisibilityClient}, {Visibility: VisibilityInternal}}
		}, want: []string{`comments[1] repeats id "c1"`, "comments[2] has no id"}},
		{name: "a comment visibility is client or internal", edit: func(it *Item) { it.Comments = []Comment{{ID: "c1", Visibility: "public"}} }, want: []string{`visibility "public" is not client or internal`}},
		{name: "every problem is reported at once", edit: func(it *Item) { it.Kind, it.Title, it.Status = "", "", "" }, want: []string{"kind", "title is empty", "status"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			it := validItem()
			tc.edit(&it)
			err := it.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("Validate() = %v, want a *ValidationError", err)
			}
			if len(ve.Problems) != len(tc.want) {
				t.Fatalf("problems = %q, want %d of them", ve.Problems, len(tc.want))
			}
			for i, w := range tc.want {
				if !strings.Contains(ve.Problems[i], w) {
					t.Errorf("problem %d = %q, want it to contain %q", i, ve.Problems[i], w)
				}
			}
			if it.ID != "" && !strings.HasPrefix(err.Error(), it.ID+": ") {
				t.Errorf("error %q does not start with the item id", err)
			}
		})
	}
}

func TestParseMoney(t *testing.T) {
	tests := []struct {
		in      string
		want    Money
		wantErr string
	}{
		{in: "", want: Money{}},
		{in: "12500.50 EUR", want: Money{"12500.50", "EUR"}},
		{in: " 7 USD ", want: Money{"7", "USD"}},
		{in: "12500", wantErr: `want "<amount> <ISO currency>"`},
		{in: "12.5.1 EUR", wantErr: "is not a decimal"},
		{in: "12 eur", wantErr: "three-letter ISO 4217"},
	}
	for _, tc := range tests {
		got, err := ParseMoney(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ParseMoney(%q) error = %v, want %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseMoney(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
		if got.String() != strings.TrimSpace(tc.in) {
			t.Errorf("ParseMoney(%q).String() = %q", tc.in, got.String())
		}
	}
}

func TestParseDate(t *testing.T) {
	d, err := ParseDate("2026-12-01")
	if err != nil || d != (Date{2026, time.December, 1}) || d.String() != "2026-12-01" {
		t.Fatalf("ParseDate = %v, %v", d, err)
	}
	if _, err := ParseDate("01/12/2026"); err == nil || !strings.Contains(err.Error(), "want YYYY-MM-DD") {
		t.Errorf("a day-first date was accepted or badly explained: %v", err)
	}
	if d, err := ParseDate(""); err != nil || !d.IsZero() || d.String() != "" {
		t.Errorf("the empty date = %v, %v; want zero", d, err)
	}
}

func TestSetsReadTheSameInAnyOrder(t *testing.T) {
	a, b := validItem(), validItem()
	a.Labels = []string{"b", "a", "a"}
	b.Labels = []string{"a", "b"}
	if a.Get(FieldLabels) != b.Get(FieldLabels) {
		t.Errorf("labels %q and %q read as different", a.Get(FieldLabels), b.Get(FieldLabels))
	}
	// Acceptance criteria are ordered: the order is part of the value.
	a.Acceptance, b.Acceptance = []string{"x", "y"}, []string{"y", "x"}
	if a.Get(FieldAcceptance) == b.Get(FieldAcceptance) {
		t.Error("reordered acceptance criteria read as equal")
	}
}

func TestSetRejectsBadEncodings(t *testing.T) {
	it := validItem()
	for f, v := range map[Field]string{
		FieldEffort: "three", FieldCost: "12", FieldDue: "tomorrow", FieldLabels: "a,b", FieldAcceptance: "[1]",
	} {
		if err := it.Set(f, v); err == nil || !strings.HasPrefix(err.Error(), string(f)+": ") {
			t.Errorf("Set(%s, %q) = %v, want an error naming the field", f, v, err)
		}
	}
	if err := it.Set("cost", "1 EUR"); err == nil {
		t.Error("Set of an unknown field succeeded")
	}
}

// genItem draws a valid item.
func genItem(t *rapid.T) Item {
	word := rapid.StringMatching(`[a-z][a-z0-9-]{0,8}`)
	it := Item{
		ID:          "BL-" + rapid.StringMatching(`[1-9][0-9]{0,3}`).Draw(t, "id"),
		Kind:        rapid.SampledFrom(Kinds).Draw(t, "kind"),
		Title:       rapid.StringMatching(`[A-Za-z][A-Za-z0-9 ]{0,30}`).Draw(t, "title"),
		Description: rapid.String().Draw(t, "description"),
		Status:      rapid.SampledFrom(Statuses).Draw(t, "status"),
		Phase:       rapid.SampledFrom(append([]Phase{""}, Phases...)).Draw(t, "phase"),
		Teams:       rapid.SliceOf(word).Draw(t, "teams"),
		Priority:    rapid.SampledFrom(append([]Priority{""}, Priorities...)).Draw(t, "priority"),
		Labels:      rapid.SliceOf(word).Draw(t, "labels"),
		Assignee:    rapid.SampledFrom([]string{"", "alice", "bob"}).Draw(t, "assignee"),
		Clients:     rapid.SliceOf(rapid.SampledFrom([]string{"acme", "globex", "initech"})).Draw(t, "clients"),
		Acceptance:  rapid.SliceOf(rapid.String()).Draw(t, "acceptance"),
	}
	it.Estimate.Effort = float64(rapid.IntRange(0, 400).Draw(t, "effort")) / 4
	it.Estimate.Points = float64(rapid.IntRange(0, 40).Draw(t, "points"))
	if rapid.Bool().Draw(t, "costed") {
		it.Estimate.Cost = Money{Amount: rapid.StringMatching(`[0-9]{1,6}(\.[0-9]{2})?`).Draw(t, "amount"), Currency: rapid.SampledFrom([]string{"EUR", "USD", "CHF"}).Draw(t, "currency")}
	}
	if rapid.Bool().Draw(t, "dated") {
		it.Due = Date{2026, time.Month(rapid.IntRange(1, 12).Draw(t, "month")), rapid.IntRange(1, 28).Draw(t, "day")}
	}
	return it
}

// TestProjectApplyRoundTrip checks the law the 3-way merge rests on:
// writing an item's projection into an empty item gives the same
// projection back, so equal strings always mean equal values.
func TestProjectApplyRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		it := genItem(t)
		if err := it.Validate(); err != nil {
			t.Fatalf("generated an invalid item: %v", err)
		}
		var back Item
		if err := back.Apply(it.Project()); err != nil {
			t.Fatalf("Apply(Project()) = %v", err)
		}
		if got, want := back.Project(), it.Project(); !got.Equal(want) {
			t.Fatalf("round trip changed the item:\n got %v\nwant %v", got, want)
		}
		if err := back.Validate(); err != nil {
			t.Fatalf("round trip made the item invalid: %v", err)
		}
	})
}

func TestCloneDoesNotAlias(t *testing.T) {
	it := validItem()
	it.Labels = []string{"a"}
	it.Comments = []Comment{{ID: "c1", Body: "x", Visibility: VisibilityClient}}
	c := it.Clone()
	c.Labels[0] = "b"
	c.Comments[0].Body = "y"
	if it.Labels[0] != "a" || it.Comments[0].Body != "x" {
		t.Error("editing a clone changed the original")
	}
}

func TestNextCommentID(t *testing.T) {
	it := validItem()
	if got := it.NextCommentID(); got != "c1" {
		t.Errorf("first comment id = %q, want c1", got)
	}
	it.Comments = []Comment{{ID: "c2"}, {ID: "c7"}, {ID: "x"}}
	if got := it.NextCommentID(); got != "c8" {
		t.Errorf("next comment id = %q, want c8 (never reuse an id)", got)
	}
}

func TestCompareIDs(t *testing.T) {
	ids := []string{"BL-10", "BL-2", "AB-3", "BL-1"}
	slices.SortFunc(ids, CompareIDs)
	if want := []string{"AB-3", "BL-1", "BL-2", "BL-10"}; !slices.Equal(ids, want) {
		t.Errorf("sorted = %v, want %v", ids, want)
	}
}
