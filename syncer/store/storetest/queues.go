package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/backlogd/backlogd/backlog"
	"github.com/backlogd/backlogd/syncer/store"
)

func listIntents(t *testing.T, ctx context.Context, st store.Store, target string) []store.Intent {
	t.Helper()
	var ins []store.Intent
	do(t, ctx, st, func(tx store.Tx) (err error) { ins, err = tx.Intents(ctx, target); return err })
	return ins
}

func listConflicts(t *testing.T, ctx context.Context, st store.Store) []store.Conflict {
	t.Helper()
	var cs []store.Conflict
	do(t, ctx, st, func(tx store.Tx) (err error) { cs, err = tx.Conflicts(ctx); return err })
	return cs
}

func addIntents(t *testing.T, ctx context.Context, st store.Store, ins ...store.Intent) []store.Intent {
	t.Helper()
	do(t, ctx, st, func(tx store.Tx) error {
		for i := range ins {
			id, err := tx.AddIntent(ctx, ins[i])
			if err != nil {
				return err
			}
			ins[i].ID = id
		}
		return nil
	})
	return ins
}

// intentIDs renders intents for messages, in order.
func intentIDs(ins []store.Intent) string {
	s := ""
	for _, in := range ins {
		s += fmt.Sprintf(" %d:%s/%s@%s", in.ID, in.Target, in.ItemID, in.Created.UTC().Format(time.TimeOnly))
	}
	return "[" + s + " ]"
}

func (s *suite) intents(t *testing.T) {
	st, ctx := s.fresh(t)
	checkComplete(t, fullIntent("jira", "BL-1", 0), "ID")
	// Added out of time order, as a copy of an outbox would be.
	added := addIntents(t, ctx, st,
		fullIntent("jira", "BL-1", 20),
		fullIntent("github", "BL-2", 10),
		fullIntent("jira", "BL-3", 0),
		fullIntent("jira", "BL-4", 20), // same time as the first: added later, so listed later
	)
	ids := map[int64]bool{}
	for _, in := range added {
		if in.ID == 0 || ids[in.ID] {
			t.Errorf("AddIntent returned id %d, want a non-zero id of its own (ids so far %v)", in.ID, ids)
		}
		ids[in.ID] = true
	}
	oldestFirst := []store.Intent{added[2], added[1], added[0], added[3]}
	got := listIntents(t, ctx, st, "")
	if len(got) != len(oldestFirst) {
		t.Fatalf("Intents(\"\") lists %s, want %s", intentIDs(got), intentIDs(oldestFirst))
	}
	expectSame(t, "Intents(\"\")", oldestFirst, got)
	expectSame(t, "Intents(jira)", []store.Intent{added[2], added[0], added[3]}, listIntents(t, ctx, st, "jira"))
	if got := listIntents(t, ctx, st, "redmine"); len(got) != 0 {
		t.Errorf("Intents(redmine) lists %s, want none", intentIDs(got))
	}

	do(t, ctx, st, func(tx store.Tx) error { return tx.DeleteIntent(ctx, added[0].ID) })
	expectSame(t, "Intents(jira) after a delete", []store.Intent{added[2], added[3]}, listIntents(t, ctx, st, "jira"))
	if err := st.Tx(ctx, func(tx store.Tx) error { return tx.DeleteIntent(ctx, added[0].ID) }); err != nil {
		t.Errorf("deleting an intent already gone returned %v, want no error (an acknowledgement may come twice)", err)
	}
	if err := st.Tx(ctx, func(tx store.Tx) error { return tx.DeleteIntent(ctx, 1<<40) }); err != nil {
		t.Errorf("deleting an intent never added returned %v, want no error", err)
	}

	// An id is never handed out again, so a late acknowledgement cannot
	// delete a newer intent.
	more := addIntents(t, ctx, st, fullIntent("jira", "BL-5", 30))
	if ids[more[0].ID] {
		t.Errorf("AddIntent returned id %d again after it was deleted", more[0].ID)
	}
}

func (s *suite) conflictRoundTrip(t *testing.T) {
	st, ctx := s.fresh(t)
	first := fullConflict("jira", "BL-1", backlog.FieldStatus, 10)
	checkComplete(t, first, "ID")
	second := fullConflict("github", "BL-2", backlog.FieldTitle, 0) // older, added later
	second.Client, second.Base, second.Canonical, second.Remote = "globex", "Old title", "Canonical title", "Tracker title"
	do(t, ctx, st, func(tx store.Tx) (err error) {
		if first.ID, err = tx.PutConflict(ctx, first); err != nil {
			return err
		}
		second.ID, err = tx.PutConflict(ctx, second)
		return err
	})
	if first.ID == 0 || second.ID == 0 || first.ID == second.ID {
		t.Fatalf("PutConflict returned ids %d and %d, want two distinct non-zero ids", first.ID, second.ID)
	}
	for _, want := range []store.Conflict{first, second} {
		var got store.Conflict
		do(t, ctx, st, func(tx store.Tx) (err error) { got, err = tx.Conflict(ctx, want.ID); return err })
		expectSame(t, fmt.Sprintf("Conflict(%d)", want.ID), want, got)
	}
	expectSame(t, "Conflicts", []store.Conflict{second, first}, listConflicts(t, ctx, st))
}

func (s *suite) conflictReplace(t *testing.T) {
	st, ctx := s.fresh(t)
	put := func(c store.Conflict) int64 {
		t.Helper()
		var id int64
		do(t, ctx, st, func(tx store.Tx) (err error) { id, err = tx.PutConflict(ctx, c); return err })
		return id
	}
	first := fullConflict("jira", "BL-1", backlog.FieldStatus, 0)
	first.ID = put(first)
	again := first
	again.ID = 0
	again.Canonical, again.Remote, again.Created = "cancelled", "in_review", at(5)
	if id := put(again); id != first.ID {
		t.Errorf("PutConflict on the same target, item and field returned id %d, want the open conflict's %d", id, first.ID)
	}
	again.ID = first.ID
	expectSame(t, "Conflicts after a replace", []store.Conflict{again}, listConflicts(t, ctx, st))

	otherField := fullConflict("jira", "BL-1", backlog.FieldTitle, 6)
	otherTarget := fullConflict("github", "BL-1", backlog.FieldStatus, 7)
	otherItem := fullConflict("jira", "BL-2", backlog.FieldStatus, 8)
	ids := map[int64]bool{first.ID: true}
	for _, c := range []store.Conflict{otherField, otherTarget, otherItem} {
		id := put(c)
		if ids[id] {
			t.Errorf("PutConflict on %s %s/%s returned id %d, already the id of another conflict", c.Field, c.Target, c.ItemID, id)
		}
		ids[id] = true
	}
	if got := listConflicts(t, ctx, st); len(got) != 4 {
		t.Errorf("Conflicts lists %d conflicts, want 4 (one per target, item and field)", len(got))
	}
}

func (s *suite) conflictDelete(t *testing.T) {
	st, ctx := s.fresh(t)
	var keep, drop int64
	do(t, ctx, st, func(tx store.Tx) (err error) {
		if keep, err = tx.PutConflict(ctx, fullConflict("jira", "BL-1", backlog.FieldStatus, 0)); err != nil {
			return err
		}
		drop, err = tx.PutConflict(ctx, fullConflict("jira", "BL-2", backlog.FieldStatus, 1))
		return err
	})
	do(t, ctx, st, func(tx store.Tx) error { return tx.DeleteConflict(ctx, drop) })
	err := st.Tx(ctx, func(tx store.Tx) error { _, err := tx.Conflict(ctx, drop); return err })
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Conflict of a closed conflict returned %v, want ErrNotFound", err)
	}
	err = st.Tx(ctx, func(tx store.Tx) error { _, err := tx.Conflict(ctx, 1<<40); return err })
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Conflict of an id never used returned %v, want ErrNotFound", err)
	}
	if err := st.Tx(ctx, func(tx store.Tx) error { return tx.DeleteConflict(ctx, drop) }); err != nil {
		t.Errorf("closing a conflict already closed returned %v, want no error (the CLI and the syncer may both close it)", err)
	}
	got := listConflicts(t, ctx, st)
	if len(got) != 1 || got[0].ID != keep {
		t.Errorf("Conflicts after closing %d lists %v, want only %d", drop, got, keep)
	}
	// A conflict opened again on the same key after it was closed is a
	// new one: an id never names two different conflicts.
	var id int64
	do(t, ctx, st, func(tx store.Tx) (err error) {
		id, err = tx.PutConflict(ctx, fullConflict("jira", "BL-2", backlog.FieldStatus, 2))
		return err
	})
	if id == drop || id == keep {
		t.Errorf("a conflict opened after %d was closed got id %d, want a new id", drop, id)
	}
}

func (s *suite) deliveries(t *testing.T) {
	st, ctx := s.fresh(t)
	see := func(target, id string, k int) bool {
		t.Helper()
		var seen bool
		do(t, ctx, st, func(tx store.Tx) (err error) { seen, err = tx.SeeDelivery(ctx, target, id, at(k)); return err })
		return seen
	}
	for _, c := range []struct {
		target, id string
		want       bool
		why        string
	}{
		{"github", "d-1", false, "a first delivery"},
		{"github", "d-1", true, "the same delivery again"},
		{"github", "d-2", false, "another delivery"},
		{"jira", "d-1", false, "the same id on another target"},
		{"github", "d-1", true, "the first delivery a third time"},
		{"github", "", false, "a delivery without an id"},
		{"github", "", false, "a second delivery without an id"},
	} {
		if got := see(c.target, c.id, 1); got != c.want {
			t.Errorf("SeeDelivery(%s, %q) for %s reported seen=%v, want %v", c.target, c.id, c.why, got, c.want)
		}
	}
}

func (s *suite) intentsOfKey(t *testing.T) {
	st, ctx := s.fresh(t)
	added := addIntents(t, ctx, st,
		fullIntent("jira", "BL-1", 20),
		fullIntent("jira", "BL-2", 10),
		fullIntent("github", "BL-1", 5),
		fullIntent("jira", "BL-1", 0),
		fullIntent("jira", "BL-10", 1), // a prefix of nothing: BL-1 is not BL-10
	)
	of := func(target, item string) []store.Intent {
		t.Helper()
		var ins []store.Intent
		do(t, ctx, st, func(tx store.Tx) (err error) { ins, err = tx.IntentsOf(ctx, target, item); return err })
		return ins
	}
	expectSame(t, "IntentsOf(jira, BL-1)", []store.Intent{added[3], added[0]}, of("jira", "BL-1"))
	expectSame(t, "IntentsOf(github, BL-1)", []store.Intent{added[2]}, of("github", "BL-1"))
	if got := of("redmine", "BL-1"); len(got) != 0 {
		t.Errorf("IntentsOf(redmine, BL-1) lists %s, want none", intentIDs(got))
	}
	do(t, ctx, st, func(tx store.Tx) error { return tx.DeleteIntent(ctx, added[3].ID) })
	expectSame(t, "IntentsOf(jira, BL-1) after a delete", []store.Intent{added[0]}, of("jira", "BL-1"))
	// Inside a transaction, its own writes count.
	do(t, ctx, st, func(tx store.Tx) error {
		id, err := tx.AddIntent(ctx, fullIntent("jira", "BL-1", 30))
		if err != nil {
			return err
		}
		ins, err := tx.IntentsOf(ctx, "jira", "BL-1")
		if err != nil {
			return err
		}
		if len(ins) != 2 || ins[1].ID != id {
			t.Errorf("IntentsOf after AddIntent in the same transaction lists %s, want the new one last", intentIDs(ins))
		}
		return nil
	})
}

func (s *suite) conflictsOfKey(t *testing.T) {
	st, ctx := s.fresh(t)
	var ids []int64
	do(t, ctx, st, func(tx store.Tx) error {
		for _, c := range []store.Conflict{
			fullConflict("jira", "BL-1", backlog.FieldTitle, 20),
			fullConflict("jira", "BL-2", backlog.FieldTitle, 10),
			fullConflict("github", "BL-1", backlog.FieldTitle, 5),
			fullConflict("jira", "BL-1", backlog.FieldStatus, 0),
			fullConflict("jira", "BL-10", backlog.FieldStatus, 1),
		} {
			id, err := tx.PutConflict(ctx, c)
			if err != nil {
				return err
			}
			ids = append(ids, id)
		}
		return nil
	})
	of := func(target, item string) []int64 {
		t.Helper()
		var cs []store.Conflict
		do(t, ctx, st, func(tx store.Tx) (err error) { cs, err = tx.ConflictsOf(ctx, target, item); return err })
		var got []int64
		for _, c := range cs {
			if c.Target != target || c.ItemID != item {
				t.Errorf("ConflictsOf(%s, %s) lists conflict %d of %s/%s", target, item, c.ID, c.Target, c.ItemID)
			}
			got = append(got, c.ID)
		}
		return got
	}
	if got, want := of("jira", "BL-1"), []int64{ids[3], ids[0]}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("ConflictsOf(jira, BL-1) lists %v, want %v, oldest first", got, want)
	}
	if got := of("github", "BL-1"); fmt.Sprint(got) != fmt.Sprint([]int64{ids[2]}) {
		t.Errorf("ConflictsOf(github, BL-1) lists %v, want [%d]", got, ids[2])
	}
	if got := of("redmine", "BL-1"); len(got) != 0 {
		t.Errorf("ConflictsOf(redmine, BL-1) lists %v, want none", got)
	}
	var full []store.Conflict
	do(t, ctx, st, func(tx store.Tx) (err error) { full, err = tx.ConflictsOf(ctx, "github", "BL-1"); return err })
	want := fullConflict("github", "BL-1", backlog.FieldTitle, 5)
	want.ID = ids[2]
	expectSame(t, "ConflictsOf(github, BL-1)", []store.Conflict{want}, full)
	do(t, ctx, st, func(tx store.Tx) error { return tx.DeleteConflict(ctx, ids[0]) })
	if got := of("jira", "BL-1"); fmt.Sprint(got) != fmt.Sprint([]int64{ids[3]}) {
		t.Errorf("ConflictsOf(jira, BL-1) after closing %d lists %v, want [%d]", ids[0], got, ids[3])
	}
	do(t, ctx, st, func(tx store.Tx) error {
		id, err := tx.PutConflict(ctx, fullConflict("jira", "BL-1", backlog.FieldPriority, 30))
		if err != nil {
			return err
		}
		cs, err := tx.ConflictsOf(ctx, "jira", "BL-1")
		if err != nil {
			return err
		}
		if len(cs) != 2 || cs[1].ID != id {
			t.Errorf("ConflictsOf after PutConflict in the same transaction lists %v, want the new one last", cs)
		}
		return nil
	})
}
