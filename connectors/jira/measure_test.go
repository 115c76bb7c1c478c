package jira

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/backlogd/backlogd/connectors/jira/jirafake"
)

// TestMeasureRequests counts, on the fake, what the syncer's use of the
// connector costs in requests per class: an import of 150 issues (list
// the changes, then read each record as reconcile does), an idle cycle,
// a cycle after 5 issues changed, a status change that needs two
// transitions, and a create that may be a retry (FindByMarker, then
// Create). Read the figures with -v; the bounds asserted are the ones a
// quota depends on.
func TestMeasureRequests(t *testing.T) {
	ctx := context.Background()
	flavors(t, func(t *testing.T, fl jirafake.Flavor) {
		c, srv := newFake(t, jirafake.Options{Flavor: fl, Now: fixedClock()})
		for i := range 150 {
			key := srv.AddIssue(jirafake.Issue{Summary: fmt.Sprintf("Issue %d", i), Labels: []string{"phase-build"},
				Description: jiraBody(srv, "Some *text* for issue "+fmt.Sprint(i))})
			if i%5 == 0 {
				srv.AddComment(key, srv.UserID(jirafake.Alice), jiraBody(srv, "feedback"), nil)
			}
			if i%10 == 0 {
				srv.Advance(time.Minute)
			}
		}
		srv.Advance(time.Minute)
		report := func(what string, records int) jirafake.Stats {
			st := srv.Stats()
			t.Logf("%-10s %-42s records=%-4d requests=%-4d reads=%-4d writes=%-3d %s", fl, what, records, st.Requests, st.Reads, st.Writes, classes(st))
			srv.ResetStats()
			return st
		}
		cycle := func(what, cursor string) (string, jirafake.Stats) {
			ids, next := drain(t, c, cursor)
			for _, id := range ids {
				if _, err := c.Get(ctx, id); err != nil {
					t.Fatal(err)
				}
			}
			return next, report(what, len(ids))
		}
		if err := c.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
		report("start (site, fields, workflow)", 0)
		cur, st := cycle("import of 150 issues", "")
		if st.ByClass["search"] != 2 || st.ByClass["get_issue"] != 150 {
			t.Errorf("the import cost %v", st.ByClass)
		}
		cur, _ = cycle("first cycle after the import", cur)
		cur, st = cycle("idle cycle", cur)
		if st.Requests != 1 {
			t.Errorf("an idle cycle cost %d requests", st.Requests)
		}
		edited := 0
		for _, is := range srv.Issues() {
			if is.ID%7 == 0 && edited < 5 {
				srv.Advance(time.Second)
				srv.Edit(is.Key, func(is *jirafake.Issue) { is.Summary += " (edited)" })
				edited++
			}
		}
		srv.Advance(time.Minute)
		cur, st = cycle("5 changed issues", cur)
		if st.ByClass["search"] != 1 || st.ByClass["get_issue"] != 5 {
			t.Errorf("5 changes cost %v", st.ByClass)
		}
		cycle("idle cycle after the change", cur)

		r, err := c.Create(ctx, "BL-1", fields(FieldSummary, "New story"))
		if err != nil {
			t.Fatal(err)
		}
		report("create (no status)", 1)
		if _, err := c.Update(ctx, r.ID, r.Version, fields(FieldStatus, "Code Review"), ""); err != nil {
			t.Fatal(err)
		}
		st = report("status change needing two transitions", 1)
		if st.ByClass["transition"] != 2 || st.Requests != 5 {
			t.Errorf("two transitions cost %v", st.ByClass)
		}
		if _, err := c.Update(ctx, r.ID, "", fields(FieldSummary, "New story"), ""); err != nil {
			t.Fatal(err)
		}
		report("update that changes nothing", 1)
		if _, err := c.Update(ctx, r.ID, "", fields(FieldSummary, "Renamed story"), ""); err != nil {
			t.Fatal(err)
		}
		report("update of one field", 1)
		// Adoption: an issue a person filed gets the defaults it lacks and
		// the marker. The marker label rides in the PUT of the fields; the
		// entity property has an endpoint of its own.
		filed := srv.AddIssue(jirafake.Issue{Summary: "Filed by a person"})
		srv.ResetStats()
		if _, err := c.Update(ctx, filed, "", fields(FieldSummary, "Filed by a person, adopted"), "BL-77"); err != nil {
			t.Fatal(err)
		}
		if st := report("adoption: one field and the marker", 1); st.Writes != 2 || st.Reads != 2 {
			t.Errorf("adoption made %d reads and %d writes, want 2 and 2 (read, fields and label, property, read back)", st.Reads, st.Writes)
		}
		if is, _ := srv.Issue(filed); is.Summary != "Filed by a person, adopted" || !slices.Contains(is.Labels, "backlogd-BL-77") {
			t.Errorf("adopted issue: summary %q, labels %v; want the new summary and the marker's label", is.Summary, is.Labels)
		}
		fresh, _ := New(testConfig(srv))
		_ = fresh.Refresh(ctx)
		srv.ResetStats()
		if _, err := fresh.FindByMarker(ctx, "BL-404"); err == nil {
			t.Fatal("found a marker no issue carries")
		}
		report("FindByMarker of a create never made", 0)
	})
}

func classes(st jirafake.Stats) string {
	var ks []string
	for k, v := range st.ByClass {
		ks = append(ks, fmt.Sprintf("%s=%d", k, v))
	}
	slices.Sort(ks)
	return strings.Join(ks, " ")
}

// BenchmarkIdleChanges measures an idle poll against the fake.
func BenchmarkIdleChanges(b *testing.B) {
	c, srv := newFake(b, jirafake.Options{Flavor: jirafake.Cloud})
	for range 20 {
		srv.AddIssue(jirafake.Issue{Summary: "x"})
	}
	_, cursor := drain(b, c, "")
	b.ResetTimer()
	for b.Loop() {
		if _, err := c.Changes(context.Background(), cursor); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGet measures reading one record with its comments.
func BenchmarkGet(b *testing.B) {
	for _, fl := range []jirafake.Flavor{jirafake.Cloud, jirafake.DataCenter} {
		b.Run(string(fl), func(b *testing.B) {
			c, srv := newFake(b, jirafake.Options{Flavor: fl})
			key := srv.AddIssue(jirafake.Issue{Summary: "x", Description: jiraBody(srv, "# Title\n\n- a\n- b\n\n```go\nx := 1\n```")})
			for range 5 {
				srv.AddComment(key, srv.UserID(jirafake.Alice), jiraBody(srv, "a *comment*"), nil)
			}
			b.ResetTimer()
			for b.Loop() {
				if _, err := c.Get(context.Background(), key); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
