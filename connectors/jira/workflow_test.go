package jira

import (
	"context"
	"strings"
	"testing"

	"github.com/backlogd/backlogd/connectors"
	"github.com/backlogd/backlogd/connectors/jira/jirafake"
)

// The fake's workflow: Backlog → In Progress → Code Review → Done
// (Approve needs a resolution), back steps, Reopen from Done and Won't Do,
// and Won't do from anywhere (a resolution and a comment).

func TestWorkflowTransitions(t *testing.T) {
	ctx := context.Background()
	flavors(t, func(t *testing.T, fl jirafake.Flavor) {
		t.Run("a status two transitions away is reached by both, re-reading in between", func(t *testing.T) {
			c, srv := newFake(t, jirafake.Options{Flavor: fl})
			r, err := c.Create(ctx, "BL-1", fields(FieldSummary, "x"))
			if err != nil {
				t.Fatal(err)
			}
			srv.ResetStats()
			got, err := c.Update(ctx, r.ID, r.Version, fields(FieldStatus, "Code Review"), "")
			if err != nil {
				t.Fatal(err)
			}
			st := srv.Stats().ByClass
			if got.Fields.Get(FieldStatus) != "Code Review" || st["transition"] != 2 || st["transitions"] != 1 {
				t.Errorf("status %q after %v", got.Fields.Get(FieldStatus), st)
			}
		})
		t.Run("Done needs three transitions and the resolution transition_fields gives", func(t *testing.T) {
			c, _ := newFake(t, jirafake.Options{Flavor: fl})
			r, err := c.Create(ctx, "BL-1", fields(FieldSummary, "x", FieldStatus, "Done"))
			if err != nil {
				t.Fatal(err)
			}
			if r.Fields.Get(FieldStatus) != "Done" || r.Fields.Get(FieldResolution) != "Done" {
				t.Errorf("created as %q / %q", r.Fields.Get(FieldStatus), r.Fields.Get(FieldResolution))
			}
		})
		t.Run("a resolution the mapping sends wins over the settings", func(t *testing.T) {
			c, _ := newFake(t, jirafake.Options{Flavor: fl})
			r, err := c.Create(ctx, "BL-1", fields(FieldSummary, "x", FieldStatus, "Done", FieldResolution, "Duplicate"))
			if err != nil {
				t.Fatal(err)
			}
			if r.Fields.Get(FieldResolution) != "Duplicate" {
				t.Errorf("resolution %q", r.Fields.Get(FieldResolution))
			}
		})
		t.Run("exploring never resolves an issue on the way", func(t *testing.T) {
			c, srv := newFake(t, jirafake.Options{Flavor: fl})
			r, _ := c.Create(ctx, "BL-1", fields(FieldSummary, "x"))
			if _, err := c.Update(ctx, r.ID, "", fields(FieldStatus, "Done"), ""); err != nil {
				t.Fatal(err)
			}
			is, _ := srv.Issue(r.ID)
			for _, cm := range is.Comments {
				t.Errorf("a transition on the way left comment %s", cm.Body)
			}
			if is.Resolution != "Done" {
				t.Errorf("resolution %q", is.Resolution)
			}
		})
		t.Run("the learned workflow takes a second issue straight there", func(t *testing.T) {
			c, srv := newFake(t, jirafake.Options{Flavor: fl})
			a, _ := c.Create(ctx, "BL-1", fields(FieldSummary, "a"))
			b, _ := c.Create(ctx, "BL-2", fields(FieldSummary, "b"))
			if _, err := c.Update(ctx, a.ID, "", fields(FieldStatus, "Done"), ""); err != nil {
				t.Fatal(err)
			}
			// Back to Backlog and on to Done again: the plan is known.
			if _, err := c.Update(ctx, a.ID, "", fields(FieldStatus, "Backlog"), ""); err != nil {
				t.Fatal(err)
			}
			srv.ResetStats()
			if _, err := c.Update(ctx, b.ID, "", fields(FieldStatus, "Done"), ""); err != nil {
				t.Fatal(err)
			}
			if n := srv.Stats().ByClass["transition"]; n != 3 {
				t.Errorf("%d transitions for a three-step path", n)
			}
		})
	})
}

func TestWorkflowFailuresAreTerminal(t *testing.T) {
	ctx := context.Background()
	t.Run("a required resolution no one supplies names the issue, the transition and the field", func(t *testing.T) {
		c, srv := newFake(t, jirafake.Options{Flavor: jirafake.DataCenter}, func(cfg *Config) { cfg.TransitionFields = nil })
		r, _ := c.Create(ctx, "BL-1", fields(FieldSummary, "x"))
		_, err := c.Update(ctx, r.ID, "", fields(FieldStatus, "Done"), "")
		if !connectors.IsTerminal(err) {
			t.Fatalf("got %v; want a terminal error", err)
		}
		for _, want := range []string{r.Key, `"Approve"`, `"Resolution"`, "transition_fields", "allowed: Done, Won't Do, Duplicate"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("the error does not name %s: %v", want, err)
			}
		}
		// The syncer tries again later: the learned path fails before
		// moving the issue, and nothing is retried in a loop.
		srv.ResetStats()
		if _, err := c.Update(ctx, r.ID, "", fields(FieldStatus, "Done"), ""); !connectors.IsTerminal(err) {
			t.Fatalf("the second attempt: %v", err)
		}
		if n := srv.Stats().ByClass["transition"]; n != 0 {
			t.Errorf("the second attempt took %d transitions toward a status it cannot reach", n)
		}
	})
	t.Run("a required comment is named too", func(t *testing.T) {
		c, _ := newFake(t, jirafake.Options{Flavor: jirafake.Cloud}, func(cfg *Config) {
			cfg.TransitionFields = map[string]map[string]string{"Won't Do": {"resolution": "Won't Do"}}
		})
		r, _ := c.Create(ctx, "BL-1", fields(FieldSummary, "x"))
		_, err := c.Update(ctx, r.ID, "", fields(FieldStatus, "Won't Do"), "")
		if !connectors.IsTerminal(err) || !strings.Contains(err.Error(), `"Won't do"`) || !strings.Contains(err.Error(), `"Comment"`) {
			t.Errorf("got %v", err)
		}
	})
	t.Run("a comment from transition_fields goes in the product's markup", func(t *testing.T) {
		c, srv := newFake(t, jirafake.Options{Flavor: jirafake.Cloud})
		r, _ := c.Create(ctx, "BL-1", fields(FieldSummary, "x"))
		if _, err := c.Update(ctx, r.ID, "", fields(FieldStatus, "Won't Do"), ""); err != nil {
			t.Fatal(err)
		}
		is, _ := srv.Issue(r.ID)
		if len(is.Comments) != 1 || !strings.Contains(string(is.Comments[0].Body), `"type":"doc"`) {
			t.Errorf("comments %+v", is.Comments)
		}
	})
	t.Run("a transition Jira refuses is terminal and names it", func(t *testing.T) {
		c, _ := newFake(t, jirafake.Options{Flavor: jirafake.DataCenter}, func(cfg *Config) {
			cfg.TransitionFields = map[string]map[string]string{"Done": {"resolution": "Fixed"}}
		})
		r, _ := c.Create(ctx, "BL-1", fields(FieldSummary, "x"))
		_, err := c.Update(ctx, r.ID, "", fields(FieldStatus, "Done"), "")
		if !connectors.IsTerminal(err) || !strings.Contains(err.Error(), `transition "Approve"`) || !strings.Contains(err.Error(), "valid resolution") {
			t.Errorf("got %v", err)
		}
	})
	t.Run("a status the project does not have is refused before any transition", func(t *testing.T) {
		c, srv := newFake(t, jirafake.Options{Flavor: jirafake.DataCenter})
		r, _ := c.Create(ctx, "BL-1", fields(FieldSummary, "x"))
		srv.ResetStats()
		_, err := c.Update(ctx, r.ID, "", fields(FieldStatus, "Shipped"), "")
		if !connectors.IsTerminal(err) || !strings.Contains(err.Error(), `status "Shipped" does not exist`) || srv.Stats().ByClass["transition"] != 0 {
			t.Errorf("got %v", err)
		}
	})
}

func TestPlanAvoidsDetoursThroughOtherDoneStatuses(t *testing.T) {
	m := &meta{category: map[string]string{"Backlog": "new", "In Progress": "indeterminate", "Done": "done", "Won't Do": "done"}}
	c := &Connector{graph: map[string]map[string][]edge{}}
	tr := func(id, to string) transition {
		var t transition
		t.ID, t.Name, t.To.Name = id, id, to
		return t
	}
	c.learn("Story", "Done", []transition{tr("wontdo", "Won't Do"), tr("reopen-progress", "In Progress")})
	c.learn("Story", "Won't Do", []transition{tr("reopen", "Backlog")})
	c.learn("Story", "In Progress", []transition{tr("stop", "Backlog")})
	p := c.plan(m, "Story", "Done", "Backlog")
	if len(p) != 2 || p[0].ID != "reopen-progress" {
		t.Errorf("plan %+v; want through In Progress, not Won't Do", p)
	}
}
