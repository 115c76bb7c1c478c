package storetest

import (
	"errors"
	"testing"

	"github.com/backlogd/backlogd/backlog"
	"github.com/backlogd/backlogd/syncer/store"
)

func (s *suite) reopen(t *testing.T, st store.Store) store.Store {
	t.Helper()
	st = s.h.Reopen(t, st)
	if st == nil {
		t.Fatal("storetest: the harness's Reopen returned nil")
	}
	return st
}

func (s *suite) intentsSurviveCrash(t *testing.T) {
	st, ctx := s.fresh(t)
	// The syncer announced three writes and stopped before acknowledging
	// two of them.
	added := addIntents(t, ctx, st,
		store.Intent{Target: "jira", ItemID: "BL-1", Op: store.OpCreate, Created: at(2)},
		store.Intent{Target: "github", ItemID: "BL-1", Op: store.OpUpdate, Created: at(1)},
		store.Intent{Target: "jira", ItemID: "BL-2", Op: store.OpClose, Created: at(3)},
	)
	do(t, ctx, st, func(tx store.Tx) error { return tx.DeleteIntent(ctx, added[2].ID) })
	st = s.reopen(t, st)
	expectSame(t, "Intents after a reopen", []store.Intent{added[1], added[0]}, listIntents(t, ctx, st, ""))
	// Replaying them acknowledges them for good.
	do(t, ctx, st, func(tx store.Tx) error {
		for _, in := range added[:2] {
			if err := tx.DeleteIntent(ctx, in.ID); err != nil {
				return err
			}
		}
		return nil
	})
	st = s.reopen(t, st)
	if ins := listIntents(t, ctx, st, ""); len(ins) != 0 {
		t.Errorf("after the replay and another reopen Intents lists %s, want none", intentIDs(ins))
	}
}

func (s *suite) persistence(t *testing.T) {
	st, ctx := s.fresh(t)
	it := newItem(t, ctx, st)
	edit := it
	edit.Status = backlog.Done
	it = putItem(t, ctx, st, edit) // version 2
	link := fullLink("jira", it.ID)
	putLink(t, ctx, st, link)
	var cf store.Conflict
	var allocated []string
	do(t, ctx, st, func(tx store.Tx) (err error) {
		cf = fullConflict("jira", it.ID, backlog.FieldTitle, 0)
		if cf.ID, err = tx.PutConflict(ctx, cf); err != nil {
			return err
		}
		if err := tx.PutCursor(ctx, "jira", "cursor-1"); err != nil {
			return err
		}
		if _, err := tx.SeeDelivery(ctx, "github", "d-1", at(0)); err != nil {
			return err
		}
		for range 3 {
			id, err := tx.NextItemID(ctx)
			if err != nil {
				return err
			}
			allocated = append(allocated, id) // allocated, never stored
		}
		return nil
	})

	st = s.reopen(t, st)
	expectSame(t, "Item after a reopen", it, getItem(t, ctx, st, it.ID))
	expectSame(t, "Link after a reopen", link, getLink(t, ctx, st, link.Target, link.ItemID))
	expectSame(t, "Conflicts after a reopen", []store.Conflict{cf}, listConflicts(t, ctx, st))
	do(t, ctx, st, func(tx store.Tx) error {
		c, err := tx.Cursor(ctx, "jira")
		if err != nil {
			return err
		}
		if c != "cursor-1" {
			t.Errorf("Cursor after a reopen is %q, want cursor-1", c)
		}
		seen, err := tx.SeeDelivery(ctx, "github", "d-1", at(1))
		if err != nil {
			return err
		}
		if !seen {
			t.Errorf("a delivery seen before the reopen is not seen after it")
		}
		used := map[string]bool{it.ID: true}
		for _, id := range allocated {
			used[id] = true
		}
		for range 3 {
			id, err := tx.NextItemID(ctx)
			if err != nil {
				return err
			}
			if used[id] {
				t.Errorf("NextItemID after a reopen returned %s, handed out before it", id)
			}
			used[id] = true
		}
		return nil
	})
	// The stored version still guards writes after a reopen.
	stale := it
	stale.Version = 1
	stale.Title = "Stale after a reopen"
	err := st.Tx(ctx, func(tx store.Tx) error { _, err := tx.PutItem(ctx, stale); return err })
	if !errors.Is(err, store.ErrStale) {
		t.Errorf("PutItem with version 1 after a reopen, when 2 is stored, returned %v; want ErrStale", err)
	}
}
