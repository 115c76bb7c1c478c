package syncer_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/backlogd/backlogd/backlog"
	"github.com/backlogd/backlogd/connectors"
	"github.com/backlogd/backlogd/connectors/memory"
	"github.com/backlogd/backlogd/syncer"
	"github.com/backlogd/backlogd/syncer/store"
)

func TestInitialProjection(t *testing.T) {
	w := newWorld(t, worldOptions{})
	w.seed()

	t.Run("each tracker gets exactly the items in its client's scope", func(t *testing.T) {
		for name, want := range map[string][]string{
			"home":   {"BL-1", "BL-2", "BL-3", "BL-4", "BL-5"},
			"acme":   {"BL-1", "BL-2"},
			"globex": {"BL-2", "BL-3"},
		} {
			if got := w.markers(name); !slices.Equal(got, want) {
				t.Errorf("%s holds %v, want %v", name, got, want)
			}
		}
	})
	t.Run("fields arrive under the client's own names and values", func(t *testing.T) {
		r := w.record("acme", "BL-2")
		for name, want := range map[string][]string{
			"type": {"Story"}, "summary": {"Pay by card"}, "state": {"Open"},
			"labels": {"checkout", "phase/build"}, "points": {"5"}, "assignee": {"alice-acme"},
		} {
			got := slices.Clone(r.Fields[name])
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Errorf("acme BL-2 %s = %q, want %q", name, got, want)
			}
		}
	})
	t.Run("a private cost never reaches a client, the home backlog has it", func(t *testing.T) {
		for _, name := range []string{"acme", "globex"} {
			for _, r := range w.trackers[name].Records() {
				for f, vs := range r.Fields {
					if strings.Contains(strings.Join(vs, " "), "EUR") || strings.Contains(f, "cost") {
						t.Errorf("%s %s: %s = %q carries the cost", name, r.Marker, f, vs)
					}
				}
			}
		}
		if got := w.record("home", "BL-2").Fields.Get("estimate.cost"); got != "4200 EUR" {
			t.Errorf("home BL-2 cost = %q, want 4200 EUR", got)
		}
	})
	t.Run("a story's parent is its epic's record on that tracker", func(t *testing.T) {
		epic, story := w.record("acme", "BL-1"), w.record("acme", "BL-2")
		if got := story.Fields.Get("parent"); got != epic.ID {
			t.Errorf("acme BL-2 parent = %q, want the epic's record %q", got, epic.ID)
		}
		// Globex does not see BL-1: the story has no parent there, and the
		// canonical parent is kept.
		if got := w.record("globex", "BL-2").Fields.Get("parent"); got != "" {
			t.Errorf("globex BL-2 parent = %q, want none (BL-1 is out of its scope)", got)
		}
		if got := w.item("BL-2").Parent; got != "BL-1" {
			t.Errorf("canonical parent = %q after sync, want BL-1", got)
		}
	})
	w.converged()
}

func TestChangesFlowBothWays(t *testing.T) {
	t.Run("a tracker edit is pulled and fans out to the other trackers", func(t *testing.T) {
		w := newWorld(t, worldOptions{})
		w.seed()
		acme := w.trackers["acme"]
		r := w.record("acme", "BL-2")
		acme.Edit(r.ID, connectors.Fields{"summary": {"Pay by card in one step"}})
		w.sync()
		if got := w.item("BL-2").Title; got != "Pay by card in one step" {
			t.Fatalf("canonical title = %q", got)
		}
		for _, name := range []string{"home", "globex"} {
			f := "title"
			if got := w.record(name, "BL-2").Fields.Get(f); got != "Pay by card in one step" {
				t.Errorf("%s title = %q, want the edit", name, got)
			}
		}
		w.converged()
	})
	t.Run("a canonical edit is pushed, writing only the fields that changed", func(t *testing.T) {
		w := newWorld(t, worldOptions{})
		w.seed()
		w.resetCalls()
		w.edit("BL-2", func(it *backlog.Item) { it.Estimate.Points = 8 })
		w.sync()
		r := w.record("acme", "BL-2")
		if got := r.Fields.Get("points"); got != "8" {
			t.Errorf("acme points = %q, want 8", got)
		}
		if c := w.calls("acme"); c.Update != 1 || c.Create != 0 {
			t.Errorf("acme calls = %+v, want exactly one update", c)
		}
		// Globex does not map points: nothing to write there.
		if c := w.calls("globex"); c.Writes() != 0 {
			t.Errorf("globex writes = %d, want 0 (points are not mapped there)", c.Writes())
		}
		w.converged()
	})
	t.Run("our own write coming back changes nothing", func(t *testing.T) {
		w := newWorld(t, worldOptions{webhooks: true})
		w.seed()
		w.deliver() // the creates' own deliveries
		w.edit("BL-2", func(it *backlog.Item) { it.Title = "Pay by card, fast" })
		if err := w.s.Drain(context.Background()); err != nil {
			t.Fatal(err)
		}
		w.resetCalls()
		w.deliver() // the update's echo, from every tracker written
		for name := range w.trackers {
			if c := w.calls(name); c.Writes() != 0 {
				t.Errorf("%s: the echo of our write caused %d writes", name, c.Writes())
			}
		}
		if got := w.item("BL-2").Title; got != "Pay by card, fast" {
			t.Errorf("title = %q after the echo", got)
		}
	})
	t.Run("a poll that lists our own write back reads nothing more", func(t *testing.T) {
		w := newWorld(t, worldOptions{})
		w.seed()
		w.edit("BL-2", func(it *backlog.Item) { it.Title = "Pay by card, fast" })
		if err := w.s.Drain(context.Background()); err != nil {
			t.Fatal(err)
		}
		w.resetCalls()
		for _, name := range []string{"home", "acme", "globex"} {
			if err := w.s.PollByName(context.Background(), name); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.s.Drain(context.Background()); err != nil {
			t.Fatal(err)
		}
		for name := range w.trackers {
			if c := w.calls(name); c.Get != 0 || c.Writes() != 0 {
				t.Errorf("%s: polling our own write back made %d reads and %d writes, want none", name, c.Get, c.Writes())
			}
		}
	})
	t.Run("an idle sweep reads each record once and writes nothing", func(t *testing.T) {
		w := newWorld(t, worldOptions{})
		w.seed()
		w.resetCalls()
		w.sync()
		for name, linked := range map[string]int64{"home": 5, "acme": 2, "globex": 2} {
			c := w.calls(name)
			if c.Writes() != 0 || c.Get != linked {
				t.Errorf("%s: idle sweep made %d gets and %d writes, want %d and 0", name, c.Get, c.Writes(), linked)
			}
		}
	})
	t.Run("a lossy value map does not read as an edit", func(t *testing.T) {
		w := newWorld(t, worldOptions{})
		w.seed()
		// in_progress and todo are both Open on acme.
		w.edit("BL-2", func(it *backlog.Item) { it.Status = backlog.InProgress })
		w.sync()
		w.sync()
		if got := w.item("BL-2").Status; got != backlog.InProgress {
			t.Errorf("status = %s, want in_progress kept though acme shows Open", got)
		}
		w.converged()
	})
}

func TestConflictPolicies(t *testing.T) {
	both := func(w *world) {
		r := w.record("acme", "BL-2")
		w.trackers["acme"].Edit(r.ID, connectors.Fields{"summary": {"tracker title"}})
		w.edit("BL-2", func(it *backlog.Item) { it.Title = "canonical title" })
	}
	for _, tc := range []struct {
		policy, want string
	}{
		{"canonical-wins", "canonical title"},
		{"tracker-wins", "tracker title"},
	} {
		t.Run("under "+tc.policy+" the "+strings.TrimSuffix(tc.policy, "-wins")+" side wins", func(t *testing.T) {
			w := newWorld(t, worldOptions{acmePolicy: tc.policy})
			w.seed()
			both(w)
			w.sync()
			if got := w.item("BL-2").Title; got != tc.want {
				t.Errorf("canonical title = %q, want %q", got, tc.want)
			}
			if got := w.record("acme", "BL-2").Fields.Get("summary"); got != tc.want {
				t.Errorf("acme title = %q, want %q", got, tc.want)
			}
			if n := len(w.conflicts()); n != 0 {
				t.Errorf("%d conflicts parked, want none", n)
			}
			w.converged()
		})
	}
	t.Run("under latest-wins the later edit wins", func(t *testing.T) {
		now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
		clock := func() time.Time { return now }
		w := newWorld(t, worldOptions{acmePolicy: "latest-wins", tracker: func(string) memory.Options { return memory.Options{Now: clock} }})
		w.seed()
		// The canonical edit is stored now (real time, after the fake
		// clock); the tracker edit an hour later still.
		w.edit("BL-2", func(it *backlog.Item) { it.Title = "canonical title" })
		now = time.Now().Add(time.Hour)
		r := w.record("acme", "BL-2")
		w.trackers["acme"].Edit(r.ID, connectors.Fields{"summary": {"tracker title"}})
		w.sync()
		if got := w.item("BL-2").Title; got != "tracker title" {
			t.Errorf("canonical title = %q, want the later tracker edit", got)
		}
	})
	t.Run("under manual the field is parked until a person resolves it", func(t *testing.T) {
		w := newWorld(t, worldOptions{})
		w.seed()
		r := w.record("globex", "BL-3")
		w.trackers["globex"].Edit(r.ID, connectors.Fields{"title": {"globex title"}})
		w.edit("BL-3", func(it *backlog.Item) { it.Title = "canonical title"; it.Teams = []string{"backend", "qa"} })
		w.sync()
		cs := w.conflicts()
		if len(cs) != 1 || cs[0].ItemID != "BL-3" || cs[0].Field != backlog.FieldTitle || cs[0].Canonical != "canonical title" || cs[0].Remote != "globex title" {
			t.Fatalf("conflicts = %+v, want one on BL-3 title", cs)
		}
		// The other field of the same item still flows.
		if got := w.record("globex", "BL-3").Fields["teams"]; !slices.Equal(got, []string{"backend", "qa"}) {
			t.Errorf("globex teams = %v: a parked title must not hold back other fields", got)
		}
		w.sync()
		if got := w.record("globex", "BL-3").Fields.Get("title"); got != "globex title" {
			t.Errorf("while parked, globex title = %q, want it untouched", got)
		}
		if got := w.item("BL-3").Title; got != "canonical title" {
			t.Errorf("while parked, canonical title = %q, want it untouched", got)
		}
		for _, st := range w.s.Status() {
			if want := map[string]int{"globex": 1}[st.Target]; st.Conflicts != want {
				t.Errorf("status of %s shows %d conflicts, want %d", st.Target, st.Conflicts, want)
			}
		}
		if _, err := syncer.ResolveConflict(context.Background(), w.st, cs[0].ID, "tracker"); err != nil {
			t.Fatal(err)
		}
		w.sync()
		if got := w.item("BL-3").Title; got != "globex title" {
			t.Errorf("after taking the tracker's value, canonical title = %q", got)
		}
		if got := w.record("home", "BL-3").Fields.Get("title"); got != "globex title" {
			t.Errorf("the resolution did not fan out: home title = %q", got)
		}
		if n := len(w.conflicts()); n != 0 {
			t.Errorf("%d conflicts left after resolving", n)
		}
		w.converged()
	})
	t.Run("a parked conflict shows the latest values, and resolving takes them", func(t *testing.T) {
		w := newWorld(t, worldOptions{})
		w.seed()
		r := w.record("globex", "BL-3")
		w.trackers["globex"].Edit(r.ID, connectors.Fields{"title": {"globex 1"}})
		w.edit("BL-3", func(it *backlog.Item) { it.Title = "canonical 1" })
		w.sync()
		// Both sides move on while the conflict waits for a person.
		w.trackers["globex"].Edit(r.ID, connectors.Fields{"title": {"globex 2"}})
		w.edit("BL-3", func(it *backlog.Item) { it.Title = "canonical 2" })
		w.sync()
		cs := w.conflicts()
		if len(cs) != 1 || cs[0].Canonical != "canonical 2" || cs[0].Remote != "globex 2" {
			t.Fatalf("conflicts = %+v, want one showing canonical 2 against globex 2", cs)
		}
		if _, err := syncer.ResolveConflict(context.Background(), w.st, cs[0].ID, "canonical"); err != nil {
			t.Fatal(err)
		}
		w.sync()
		if got := w.record("globex", "BL-3").Fields.Get("title"); got != "canonical 2" {
			t.Errorf("after taking the canonical value, globex title = %q", got)
		}
		if n := len(w.conflicts()); n != 0 {
			t.Errorf("%d conflicts after resolving: the resolution was stale and re-parked", n)
		}
		w.converged()
	})
	t.Run("a parked conflict closes itself when the sides agree again", func(t *testing.T) {
		w := newWorld(t, worldOptions{})
		w.seed()
		r := w.record("globex", "BL-3")
		w.trackers["globex"].Edit(r.ID, connectors.Fields{"title": {"one"}})
		w.edit("BL-3", func(it *backlog.Item) { it.Title = "two" })
		w.sync()
		w.trackers["globex"].Edit(r.ID, connectors.Fields{"title": {"two"}})
		w.sync()
		if n := len(w.conflicts()); n != 0 {
			t.Errorf("%d conflicts open after both sides agreed", n)
		}
	})
	t.Run("resolving a conflict that does not exist says how to list them", func(t *testing.T) {
		w := newWorld(t, worldOptions{})
		_, err := syncer.ResolveConflict(context.Background(), w.st, 99, "tracker")
		if err == nil || !strings.Contains(err.Error(), "backlogd conflicts") {
			t.Errorf("error = %v", err)
		}
	})
}

func TestComments(t *testing.T) {
	w := newWorld(t, worldOptions{})
	w.seed()
	at := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	w.edit("BL-2", func(it *backlog.Item) {
		it.Comments = append(it.Comments,
			backlog.Comment{ID: "c1", Author: "alice", Created: at, Body: "Please retest, @alice.", Visibility: backlog.VisibilityClient},
			backlog.Comment{ID: "c2", Author: "alice", Created: at, Body: "our margin is thin", Visibility: backlog.VisibilityInternal})
	})
	w.sync()
	bodies := func(r connectors.Record) []string {
		var out []string
		for _, c := range r.Comments {
			out = append(out, c.Body)
		}
		return out
	}
	t.Run("a client comment reaches the clients, mentions mapped", func(t *testing.T) {
		if got := bodies(w.record("acme", "BL-2")); !slices.Equal(got, []string{"Please retest, @alice-acme."}) {
			t.Errorf("acme comments = %q", got)
		}
		if got := bodies(w.record("globex", "BL-2")); len(got) != 1 || strings.Contains(got[0], "@alice") {
			t.Errorf("globex comments = %q, want one with the mention neutralised (globex maps no users)", got)
		}
	})
	t.Run("an internal comment stays on the product owner's side", func(t *testing.T) {
		home := w.record("home", "BL-2")
		if len(home.Comments) != 2 || !slices.ContainsFunc(home.Comments, func(c connectors.Comment) bool { return c.Internal && c.Body == "our margin is thin" }) {
			t.Errorf("home comments = %+v, want both, the note internal", home.Comments)
		}
	})
	t.Run("a comment made in a tracker is pulled as client feedback and fans out", func(t *testing.T) {
		r := w.record("acme", "BL-2")
		if _, err := w.trackers["acme"].AddComment(r.ID, connectors.Comment{Author: "alice-acme", Body: "Works on iOS now."}); err != nil {
			t.Fatal(err)
		}
		w.sync()
		it := w.item("BL-2")
		i := slices.IndexFunc(it.Comments, func(c backlog.Comment) bool { return c.Body == "Works on iOS now." })
		if i < 0 || it.Comments[i].Author != "alice" || it.Comments[i].Visibility != backlog.VisibilityClient {
			t.Fatalf("canonical comments = %+v, want the feedback by alice, client-visible", it.Comments)
		}
		if !slices.Contains(bodies(w.record("globex", "BL-2")), "Works on iOS now.") {
			t.Error("the feedback did not reach globex")
		}
	})
	t.Run("an edit and a deletion flow from the side that made them", func(t *testing.T) {
		w.edit("BL-2", func(it *backlog.Item) {
			for i := range it.Comments {
				if it.Comments[i].ID == "c1" {
					it.Comments[i].Body = "Please retest on build 142."
				}
			}
		})
		w.sync()
		if got := bodies(w.record("acme", "BL-2")); !slices.Contains(got, "Please retest on build 142.") {
			t.Errorf("acme comments after a canonical edit = %q", got)
		}
		r := w.record("globex", "BL-2")
		var feedback string
		for _, c := range r.Comments {
			if c.Body == "Works on iOS now." {
				feedback = c.ID
			}
		}
		if err := w.trackers["globex"].DeleteComment(context.Background(), r.ID, feedback); err != nil {
			t.Fatal(err)
		}
		w.sync()
		it := w.item("BL-2")
		i := slices.IndexFunc(it.Comments, func(c backlog.Comment) bool { return c.Body == "Works on iOS now." })
		if i < 0 || !it.Comments[i].Deleted {
			t.Errorf("canonical comment not marked deleted: %+v", it.Comments)
		}
		if slices.Contains(bodies(w.record("acme", "BL-2")), "Works on iOS now.") {
			t.Error("the deletion did not reach acme")
		}
	})
	t.Run("a comment turned internal is taken back from the clients", func(t *testing.T) {
		w.edit("BL-2", func(it *backlog.Item) {
			for i := range it.Comments {
				if it.Comments[i].ID == "c1" {
					it.Comments[i].Visibility = backlog.VisibilityInternal
				}
			}
		})
		w.sync()
		for _, name := range []string{"acme", "globex"} {
			for _, b := range bodies(w.record(name, "BL-2")) {
				if strings.Contains(b, "build 142") {
					t.Errorf("%s still shows the comment made internal", name)
				}
			}
		}
	})
	w.converged()
}

func TestLifecycle(t *testing.T) {
	t.Run("an item leaving a scope with unlink keeps its record untouched", func(t *testing.T) {
		w := newWorld(t, worldOptions{})
		w.seed()
		w.edit("BL-2", func(it *backlog.Item) { it.Clients = []string{"globex"} })
		w.sync()
		before := w.record("acme", "BL-2")
		w.edit("BL-2", func(it *backlog.Item) { it.Title = "renamed after leaving acme" })
		w.sync()
		if got := w.record("acme", "BL-2"); got.Version != before.Version {
			t.Errorf("acme's record changed after the item left its scope: %v", got.Fields)
		}
		w.converged()
	})
	t.Run("an item leaving a scope with close is closed, never deleted", func(t *testing.T) {
		w := newWorld(t, worldOptions{})
		w.seed()
		w.edit("BL-3", func(it *backlog.Item) { it.Phase = backlog.Launch })
		w.sync()
		if got := w.record("globex", "BL-3").Fields.Get("status"); got != "cancelled" {
			t.Errorf("globex BL-3 status = %q, want cancelled (on_scope_exit: close)", got)
		}
		if got := w.item("BL-3").Status; got != backlog.Todo {
			t.Errorf("closing the remote record changed the canonical status to %s", got)
		}
		w.converged()
	})
	t.Run("an item entering a scope is created there", func(t *testing.T) {
		w := newWorld(t, worldOptions{})
		w.seed()
		w.edit("BL-4", func(it *backlog.Item) { it.Phase = backlog.Build })
		w.sync()
		w.record("globex", "BL-4")
		w.converged()
	})
	t.Run("a record deleted in a tracker unlinks it and keeps the item", func(t *testing.T) {
		w := newWorld(t, worldOptions{})
		w.seed()
		r := w.record("acme", "BL-2")
		w.trackers["acme"].Delete(r.ID)
		w.sync()
		w.sync()
		if got := w.markers("acme"); slices.Contains(got, "BL-2") {
			t.Errorf("acme records %v: the deleted record was recreated under on_remote_delete: unlink", got)
		}
		if it := w.item("BL-2"); it.Title != "Pay by card" {
			t.Errorf("item changed after its record was deleted: %+v", it)
		}
		w.converged()
	})
	t.Run("a record deleted under recreate comes back", func(t *testing.T) {
		w := newWorld(t, worldOptions{acmeExtra: "on_remote_delete: recreate"})
		w.seed()
		r := w.record("acme", "BL-2")
		w.trackers["acme"].Delete(r.ID)
		w.sync()
		if got := w.record("acme", "BL-2"); got.ID == r.ID {
			t.Errorf("recreated with the deleted id %s", got.ID)
		}
		w.converged()
	})
}

func TestAdoption(t *testing.T) {
	t.Run("a new bug filed in a client's tracker becomes a canonical item once", func(t *testing.T) {
		w := newWorld(t, worldOptions{webhooks: true})
		w.seed()
		rec := w.trackers["acme"].AddRecord("", connectors.Fields{"summary": {"Voucher accepts expired codes"}, "type": {"Bug"}})
		w.deliver()
		w.deliver() // duplicate processing must not adopt twice
		w.sync()
		var adopted []backlog.Item
		for _, it := range w.items() {
			if it.Title == "Voucher accepts expired codes" {
				adopted = append(adopted, it)
			}
		}
		if len(adopted) != 1 {
			t.Fatalf("adopted %d items, want 1", len(adopted))
		}
		it := adopted[0]
		if it.Kind != backlog.Bug || !it.HasClient("acme") || it.Status != backlog.Todo {
			t.Errorf("adopted item = %+v, want an acme bug, todo", it)
		}
		if got, _ := w.trackers["acme"].Peek(rec.ID); got.Marker != it.ID {
			t.Errorf("the record's marker = %q, want %s written back", got.Marker, it.ID)
		}
		w.record("home", it.ID) // fanned out to the PO's home backlog
		w.converged()
	})
	t.Run("adopting a record costs one write: the defaults it lacked go with the marker", func(t *testing.T) {
		tests := []struct {
			name   string
			fields connectors.Fields
		}{
			{"the record has no state: the default status is pushed", connectors.Fields{"summary": {"Coupon box overlaps"}, "type": {"Bug"}}},
			{"the record shows every default: only the marker is written", connectors.Fields{"summary": {"Coupon box overlaps"}, "type": {"Bug"}, "state": {"Open"}}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				w := newWorld(t, worldOptions{})
				w.seed()
				rec := w.trackers["acme"].AddRecord("", tt.fields)
				w.resetCalls()
				w.sync()
				got, _ := w.trackers["acme"].Peek(rec.ID)
				if got.Marker == "" || got.Fields.Get("state") != "Open" {
					t.Fatalf("adopted record = %+v, want a marker and state Open", got)
				}
				if c := w.calls("acme"); c.Writes() != 1 || c.Update != 1 {
					t.Errorf("adoption made %d writes (%d of them updates) on acme, want 1: an update carrying the marker", c.Writes(), c.Update)
				}
				w.resetCalls()
				w.sync()
				if c := w.calls("acme"); c.Writes() != 0 {
					t.Errorf("the sync after the adoption wrote %d times", c.Writes())
				}
				w.converged()
			})
		}
	})
	t.Run("a marker a person deleted is put back with one write, which is not taken for an edit", func(t *testing.T) {
		w := newWorld(t, worldOptions{})
		w.seed()
		w.sync()
		rec := w.record("acme", "BL-2")
		w.trackers["acme"].Mark(rec.ID, "")
		w.resetCalls()
		w.sync()
		if got, _ := w.trackers["acme"].Peek(rec.ID); got.Marker != "BL-2" {
			t.Fatalf("the record's marker = %q, want BL-2 back", got.Marker)
		}
		if c := w.calls("acme"); c.Writes() != 1 {
			t.Errorf("the repair made %d writes, want 1", c.Writes())
		}
		// The record changed with the repair: the link must hold the
		// version after it, or the next sync reads it again as an edit.
		if l := w.link("acme", "BL-2"); l.RemoteVersion != w.record("acme", "BL-2").Version {
			t.Errorf("the link holds version %q, the record is at %q", l.RemoteVersion, w.record("acme", "BL-2").Version)
		}
		w.converged()
	})
	t.Run("a record that does not match the adopt filter is left alone", func(t *testing.T) {
		w := newWorld(t, worldOptions{})
		w.seed()
		w.trackers["acme"].AddRecord("", connectors.Fields{"summary": {"Idea: dark mode"}, "type": {"Story"}})
		w.sync()
		if n := len(w.items()); n != 5 {
			t.Errorf("%d items, want 5: a story is not adopted under filter kind = bug", n)
		}
	})
	t.Run("records older than the connection are not adopted under mode new", func(t *testing.T) {
		w := newWorld(t, worldOptions{tracker: func(string) memory.Options {
			return memory.Options{Now: func() time.Time { return time.Now().Add(-time.Hour) }}
		}})
		w.trackers["acme"].AddRecord("", connectors.Fields{"summary": {"Old bug"}, "type": {"Bug"}})
		w.sync()
		if n := len(w.items()); n != 0 {
			t.Errorf("%d items adopted from before the client was connected", n)
		}
	})
}

func TestNoDuplicates(t *testing.T) {
	t.Run("a create whose answer was lost is found by marker, not made again", func(t *testing.T) {
		w := newWorld(t, worldOptions{})
		w.trackers["acme"].CrashAfterNextCreate()
		w.put(sampleBacklog()[0])
		w.sync() // the create succeeds remotely, then fails locally
		w.sync()
		if got := w.markers("acme"); !slices.Equal(got, []string{"BL-1"}) {
			t.Errorf("acme holds %v, want one BL-1", got)
		}
		w.converged()
	})
	t.Run("an intent a stopped run left for a write no longer wanted is settled", func(t *testing.T) {
		w := newWorld(t, worldOptions{})
		it := sampleBacklog()[0]
		it.Clients = nil // out of acme's scope by the time the daemon starts again
		w.put(it)
		ctx := context.Background()
		intents := func() []store.Intent {
			var ins []store.Intent
			if err := w.st.Tx(ctx, func(tx store.Tx) (err error) { ins, err = tx.Intents(ctx, "acme"); return err }); err != nil {
				t.Fatal(err)
			}
			return ins
		}
		// What a run killed between announcing a create and making it leaves.
		err := w.st.Tx(ctx, func(tx store.Tx) error {
			_, err := tx.AddIntent(ctx, store.Intent{Target: "acme", ItemID: "BL-1", Op: store.OpCreate, Created: time.Now()})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		w.sync()
		if ins := intents(); len(ins) != 0 {
			t.Errorf("intents left: %+v; the outbox would never drain", ins)
		}
		if got := w.markers("acme"); len(got) != 0 {
			t.Errorf("acme holds %v: settling the intent must not create the record", got)
		}
		// Killed after announcing a create, before making it: the next
		// run creates the record, once, and settles both intents.
		w.edit("BL-1", func(it *backlog.Item) { it.Clients = []string{"acme"} })
		err = w.st.Tx(ctx, func(tx store.Tx) error {
			_, err := tx.AddIntent(ctx, store.Intent{Target: "acme", ItemID: "BL-1", Op: store.OpCreate, Created: time.Now()})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		w.sync()
		if ins := intents(); len(ins) != 0 {
			t.Errorf("intents left after the create: %+v", ins)
		}
		if got := w.markers("acme"); !slices.Equal(got, []string{"BL-1"}) {
			t.Errorf("acme holds %v, want one BL-1", got)
		}
	})
	t.Run("a wiped store relinks every record by marker and writes nothing", func(t *testing.T) {
		w := newWorld(t, worldOptions{})
		w.seed()
		items := w.items()
		fresh := newWorld(t, worldOptions{})
		fresh.trackers = w.trackers
		conns := map[string]connectors.Connector{}
		for n, tr := range w.trackers {
			conns[n] = tr
		}
		s, err := syncer.New(fresh.cfg, fresh.st, conns, syncer.Options{})
		if err != nil {
			t.Fatal(err)
		}
		fresh.s = s
		for i := range items {
			items[i].Version = 0
		}
		fresh.put(items...)
		fresh.resetCalls()
		fresh.sync()
		for name := range fresh.trackers {
			if c := fresh.calls(name); c.Create != 0 || c.Update != 0 {
				t.Errorf("%s: %d creates and %d updates after relinking, want none", name, c.Create, c.Update)
			}
		}
		fresh.converged()
	})
}

func TestFailingTargetDoesNotStallOthers(t *testing.T) {
	t.Run("a rate-limited tracker pauses alone", func(t *testing.T) {
		w := newWorld(t, worldOptions{})
		w.seed()
		w.trackers["acme"].RateLimitNext(1000, 10*time.Minute)
		w.edit("BL-2", func(it *backlog.Item) { it.Title = "new title" })
		if err := w.s.SyncOnce(context.Background()); err == nil || !strings.Contains(err.Error(), "poll acme") {
			t.Errorf("SyncOnce = %v, want it to report acme's failing poll", err)
		}
		if got := w.record("globex", "BL-2").Fields.Get("title"); got != "new title" {
			t.Errorf("globex title = %q: a rate-limited acme held globex back", got)
		}
		var acme syncer.TargetStatus
		for _, st := range w.s.Status() {
			if st.Target == "acme" {
				acme = st
			}
		}
		if acme.PausedUntil.IsZero() || acme.Queue == 0 {
			t.Errorf("acme status = %+v, want paused with the key still queued", acme)
		}
	})
	t.Run("a terminal error parks the key with its reason, the rest goes on", func(t *testing.T) {
		w := newWorld(t, worldOptions{})
		w.seed()
		w.edit("BL-2", func(it *backlog.Item) { it.Title = "new title" })
		w.trackers["acme"].RejectNext(1)
		if err := w.s.Drain(context.Background()); err != nil {
			t.Fatal(err)
		}
		var parked []string
		for _, st := range w.s.Status() {
			if st.Target == "acme" {
				parked = st.Parked
			}
		}
		if len(parked) != 1 || !strings.HasPrefix(parked[0], "BL-2: ") {
			t.Errorf("acme parked = %q, want BL-2 with its reason", parked)
		}
		err := w.st.Tx(context.Background(), func(tx store.Tx) error {
			l, err := tx.Link(context.Background(), "acme", "BL-2")
			if err == nil && l.LastError == "" {
				err = errors.New("the link has no last error")
			}
			return err
		})
		if err != nil {
			t.Error(err)
		}
		if got := w.record("home", "BL-2").Fields.Get("title"); got != "new title" {
			t.Errorf("home title = %q", got)
		}
	})
}

func TestPlanWritesNothing(t *testing.T) {
	w := newWorld(t, worldOptions{})
	w.put(sampleBacklog()...)
	scratch := newWorld(t, worldOptions{})
	p, err := w.s.Plan(context.Background(), scratch.st)
	if err != nil {
		t.Fatal(err)
	}
	for name := range w.trackers {
		if c := w.calls(name); c.Writes() != 0 {
			t.Errorf("plan wrote %d times to %s", c.Writes(), name)
		}
	}
	creates := map[string]int{}
	for _, c := range p.Changes {
		if c.Op == "create" {
			creates[c.Target]++
		}
	}
	if creates["home"] != 5 || creates["acme"] != 2 || creates["globex"] != 2 {
		t.Errorf("planned creates = %v, want home 5, acme 2, globex 2\n%s", creates, p)
	}
	if n := len(w.items()); n != 5 {
		t.Errorf("plan changed the store: %d items", n)
	}
}

func TestStatusShowsTheTrackersQuota(t *testing.T) {
	quotas := &syncer.Quotas{}
	w := newWorld(t, worldOptions{})
	s, err := syncer.New(w.cfg, w.st, map[string]connectors.Connector{"home": w.trackers["home"], "acme": w.trackers["acme"], "globex": w.trackers["globex"]}, syncer.Options{Quotas: quotas})
	if err != nil {
		t.Fatal(err)
	}
	reset := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	var obs connectors.Observer = connectors.Observers{connectors.NopObserver{}, quotas}
	obs.RateLimit("acme", 4870, reset)
	obs.RateLimit("globex", -1, time.Time{}) // a tracker that does not say
	for _, st := range s.Status() {
		switch {
		case st.Target == "acme" && (st.Quota == nil || st.Quota.Remaining != 4870 || !st.Quota.Reset.Equal(reset)):
			t.Errorf("acme quota = %+v, want 4870 left until %s", st.Quota, reset)
		case st.Target != "acme" && st.Quota != nil:
			t.Errorf("%s quota = %+v, want none reported", st.Target, st.Quota)
		}
	}
}

// A record adopted from one target and projected onto others is planned
// as adopted from the target it came from, whatever the targets' names.
func TestPlanNamesTheTargetAnItemIsAdoptedFrom(t *testing.T) {
	w := newWorld(t, worldOptions{})
	f := connectors.Fields{}
	f.Set("title", "Filed in the home tracker")
	f.Set("kind", "story")
	f.Set("status", "todo")
	f.Set("clients", "acme") // so acme, whose name sorts first, gets it too
	w.trackers["home"].AddRecord("", f)
	scratch := newWorld(t, worldOptions{})
	p, err := w.s.Plan(context.Background(), scratch.st)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Adopted) != 1 || p.Adopted[0].Target != "home" {
		t.Fatalf("planned adoptions %+v, want one, from home\n%s", p.Adopted, p)
	}
	var onAcme bool
	for _, c := range p.Changes {
		onAcme = onAcme || c.Op == "create" && c.Target == "acme" && c.Item == p.Adopted[0].Item
	}
	if !onAcme {
		t.Errorf("the adopted item is not planned onto acme:\n%s", p)
	}
}
