package jira

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"

	"github.com/backlogd/backlogd/connectors"
	"github.com/backlogd/backlogd/connectors/jira/jirafake"
)

func TestFindByMarker(t *testing.T) {
	ctx := context.Background()
	flavors(t, func(t *testing.T, fl jirafake.Flavor) {
		t.Run("a create whose answer was lost is found by a fresh connector despite the index lag", func(t *testing.T) {
			o := jirafake.Options{Flavor: fl, IndexLag: 5}
			c, srv := newFake(t, o)
			for i := range 3 {
				srv.AddIssue(jirafake.Issue{Summary: "older"})
				_ = i
			}
			srv.CrashAfterNextCreate()
			if _, err := c.Create(ctx, "BL-9", fields(FieldSummary, "lost")); err == nil || connectors.IsTerminal(err) {
				t.Fatalf("the lost create: %v", err)
			}
			// A restarted daemon knows nothing; search does not see the
			// issue yet.
			fresh, err := New(testConfig(srv))
			if err != nil {
				t.Fatal(err)
			}
			got, err := fresh.FindByMarker(ctx, "BL-9")
			if err != nil || got.Fields.Get(FieldSummary) != "lost" || got.Marker != "BL-9" {
				t.Fatalf("FindByMarker: %+v, %v", got, err)
			}
			if n := len(srv.Issues()); n != 4 {
				t.Errorf("%d issues; the lost create happened once", n)
			}
		})
		t.Run("an issue whose label a person removed is found by its property", func(t *testing.T) {
			c, srv := newFake(t, jirafake.Options{Flavor: fl})
			r, err := c.Create(ctx, "BL-3", fields(FieldSummary, "x"))
			if err != nil {
				t.Fatal(err)
			}
			srv.Edit(r.ID, func(is *jirafake.Issue) { is.Labels = nil })
			srv.AddIssue(jirafake.Issue{Summary: "newer, by someone else"})
			fresh, _ := New(testConfig(srv))
			got, err := fresh.FindByMarker(ctx, "BL-3")
			if err != nil || got.ID != r.ID {
				t.Fatalf("FindByMarker: %+v, %v", got, err)
			}
		})
		t.Run("an adopted issue is found by its label alone", func(t *testing.T) {
			c, srv := newFake(t, jirafake.Options{Flavor: fl})
			key := srv.AddIssue(jirafake.Issue{Summary: "reported by the client", Labels: []string{"backlogd-BL-5", "bug"}})
			got, err := c.FindByMarker(ctx, "BL-5")
			if err != nil || got.Key != key || got.Marker != "BL-5" || !slices.Equal(got.Fields[FieldLabels], []string{"bug"}) {
				t.Fatalf("FindByMarker: %+v, %v", got, err)
			}
		})
		t.Run("a marker no issue carries is not found, and the property is never searched", func(t *testing.T) {
			c, srv := newFake(t, jirafake.Options{Flavor: fl})
			srv.AddIssue(jirafake.Issue{Summary: "x", Properties: map[string]json.RawMessage{"backlogd": json.RawMessage(`{"id":"BL-7"}`)}})
			_, err := c.FindByMarker(ctx, "BL-8")
			if !errors.Is(err, connectors.ErrNotFound) {
				t.Errorf("got %v", err)
			}
		})
	})
}

func TestMarkerLabelOff(t *testing.T) {
	ctx := context.Background()
	off := false
	c, srv := newFake(t, jirafake.Options{Flavor: jirafake.Cloud, IndexLag: 3}, func(cfg *Config) { cfg.MarkerLabel = &off })
	r, err := c.Create(ctx, "BL-1", fields(FieldSummary, "x"))
	if err != nil {
		t.Fatal(err)
	}
	if is, _ := srv.Issue(r.ID); len(is.Labels) != 0 || string(is.Properties["backlogd"]) != `{"id":"BL-1"}` {
		t.Errorf("stored %v / %s", is.Labels, is.Properties["backlogd"])
	}
	fresh, _ := New(testConfig(srv))
	fresh.cfg.MarkerLabel = &off
	if got, err := fresh.FindByMarker(ctx, "BL-1"); err != nil || got.ID != r.ID {
		t.Errorf("FindByMarker without labels: %+v, %v", got, err)
	}
}

// TestUpdateRepairsTheMarker: an Update with a marker writes the entity
// property and the marker label, drops a backlogd label of another
// marker, and writes nothing again once the issue carries it, whether
// fields go with it or not.
func TestUpdateRepairsTheMarker(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		name   string
		fields connectors.Fields
	}{
		{"the marker alone", nil},
		{"the marker with a field", fields(FieldSummary, "adopted, then synced")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, srv := newFake(t, jirafake.Options{Flavor: jirafake.DataCenter})
			key := srv.AddIssue(jirafake.Issue{Summary: "adopted", Labels: []string{"backlogd-BL-1", "keep"}})
			if _, err := c.Update(ctx, key, "", tt.fields.Clone(), "BL-2"); err != nil {
				t.Fatal(err)
			}
			is, _ := srv.Issue(key)
			if !slices.Equal(is.Labels, []string{"backlogd-BL-2", "keep"}) || string(is.Properties["backlogd"]) != `{"id":"BL-2"}` {
				t.Errorf("labels %v, property %s", is.Labels, is.Properties["backlogd"])
			}
			srv.ResetStats()
			if _, err := c.Update(ctx, key, "", tt.fields.Clone(), "BL-2"); err != nil {
				t.Fatal(err)
			}
			if w := srv.Stats().Writes; w != 0 {
				t.Errorf("writing the marker (and fields) an issue carries wrote %d times", w)
			}
		})
	}
}

// TestFindByMarkerPrefersTheOriginalToAClone: Jira's Clone copies labels,
// so a clone carries the marker label of the issue it was cloned from but
// not its entity property. The issue the marker was written on (the
// property, then the lowest id) is the one the syncer must find.
func TestFindByMarkerPrefersTheOriginalToAClone(t *testing.T) {
	ctx := context.Background()
	flavors(t, func(t *testing.T, fl jirafake.Flavor) {
		clone := func(t *testing.T, srv *jirafake.Server, marker string) string {
			return srv.AddIssue(jirafake.Issue{Summary: "CLONE - x", Labels: []string{"backlogd-" + marker}})
		}
		t.Run("after a listing read the clone last", func(t *testing.T) {
			c, srv := newFake(t, jirafake.Options{Flavor: fl})
			r, err := c.Create(ctx, "BL-1", fields(FieldSummary, "x"))
			if err != nil {
				t.Fatal(err)
			}
			clone(t, srv, "BL-1")
			drain(t, c, "")
			got, err := c.FindByMarker(ctx, "BL-1")
			if err != nil || got.ID != r.ID {
				t.Fatalf("FindByMarker(BL-1) = %s, %v; want the original %s", got.ID, err, r.ID)
			}
		})
		t.Run("when a person removed the original's label", func(t *testing.T) {
			c, srv := newFake(t, jirafake.Options{Flavor: fl})
			r, err := c.Create(ctx, "BL-2", fields(FieldSummary, "x"))
			if err != nil {
				t.Fatal(err)
			}
			clone(t, srv, "BL-2")
			srv.Edit(r.ID, func(is *jirafake.Issue) { is.Labels = nil })
			fresh, _ := New(testConfig(srv))
			got, err := fresh.FindByMarker(ctx, "BL-2")
			if err != nil || got.ID != r.ID {
				t.Fatalf("FindByMarker(BL-2) = %s, %v; want the original %s, which holds the property", got.ID, err, r.ID)
			}
		})
		t.Run("between two issues with the label only, the older", func(t *testing.T) {
			c, srv := newFake(t, jirafake.Options{Flavor: fl})
			first := clone(t, srv, "BL-3")
			clone(t, srv, "BL-3")
			drain(t, c, "")
			got, err := c.FindByMarker(ctx, "BL-3")
			if err != nil || got.Key != first {
				t.Fatalf("FindByMarker(BL-3) = %s, %v; want %s", got.Key, err, first)
			}
		})
	})
}
