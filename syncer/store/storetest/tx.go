package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/backlogd/backlogd/backlog"
	"github.com/backlogd/backlogd/syncer/store"
)

func (s *suite) ownWrites(t *testing.T) {
	st, ctx := s.fresh(t)
	old := newItem(t, ctx, st)
	do(t, ctx, st, func(tx store.Tx) error {
		// Read first, then write, then read again: the second read must
		// see the write even if the first one ran on a snapshot.
		if _, err := tx.Item(ctx, old.ID); err != nil {
			return err
		}
		edit := old
		edit.Title = "Written in this transaction"
		stored, err := tx.PutItem(ctx, edit)
		if err != nil {
			return err
		}
		got, err := tx.Item(ctx, old.ID)
		if err != nil {
			return err
		}
		expectSame(t, "Item after PutItem in the same transaction", stored, got)

		if err := tx.PutLink(ctx, fullLink("jira", old.ID)); err != nil {
			return err
		}
		if _, err := tx.Link(ctx, "jira", old.ID); err != nil {
			return fmt.Errorf("Link after PutLink in the same transaction: %w", err)
		}
		if _, err := tx.AddIntent(ctx, fullIntent("jira", old.ID, 0)); err != nil {
			return err
		}
		ins, err := tx.Intents(ctx, "jira")
		if err != nil {
			return err
		}
		if len(ins) != 1 {
			t.Errorf("Intents after AddIntent in the same transaction lists %d, want 1", len(ins))
		}
		return nil
	})
}

// state is everything the rollback test looks at.
type state struct {
	items     []backlog.Item
	links     []store.Link
	intents   []store.Intent
	conflicts []store.Conflict
	cursor    string
}

func readState(t *testing.T, ctx context.Context, st store.Store) state {
	t.Helper()
	var s state
	do(t, ctx, st, func(tx store.Tx) (err error) {
		if s.items, err = tx.Items(ctx); err != nil {
			return err
		}
		if s.links, err = tx.Links(ctx, ""); err != nil {
			return err
		}
		if s.intents, err = tx.Intents(ctx, ""); err != nil {
			return err
		}
		if s.conflicts, err = tx.Conflicts(ctx); err != nil {
			return err
		}
		s.cursor, err = tx.Cursor(ctx, "jira")
		return err
	})
	return s
}

func (s *suite) rollback(t *testing.T) {
	st, ctx := s.fresh(t)
	old := newItem(t, ctx, st)
	var intent, conflict int64
	do(t, ctx, st, func(tx store.Tx) (err error) {
		if err = tx.PutLink(ctx, fullLink("jira", old.ID)); err != nil {
			return err
		}
		if err = tx.PutCursor(ctx, "jira", "before"); err != nil {
			return err
		}
		if intent, err = tx.AddIntent(ctx, fullIntent("jira", old.ID, 0)); err != nil {
			return err
		}
		conflict, err = tx.PutConflict(ctx, fullConflict("jira", old.ID, backlog.FieldTitle, 0))
		return err
	})
	before := readState(t, ctx, st)

	boom := errors.New("boom")
	var newID string
	err := st.Tx(ctx, func(tx store.Tx) error {
		var err error
		if newID, err = tx.NextItemID(ctx); err != nil {
			return err
		}
		if _, err := tx.PutItem(ctx, fullItem(newID)); err != nil {
			return err
		}
		edit := old
		edit.Title = "Never committed"
		if _, err := tx.PutItem(ctx, edit); err != nil {
			return err
		}
		l := fullLink("jira", old.ID)
		l.RemoteVersion = "never"
		if err := tx.PutLink(ctx, l); err != nil {
			return err
		}
		if err := tx.PutLink(ctx, fullLink("github", newID)); err != nil {
			return err
		}
		if err := tx.PutCursor(ctx, "jira", "after"); err != nil {
			return err
		}
		if _, err := tx.AddIntent(ctx, fullIntent("github", newID, 1)); err != nil {
			return err
		}
		if err := tx.DeleteIntent(ctx, intent); err != nil {
			return err
		}
		if _, err := tx.PutConflict(ctx, fullConflict("github", newID, backlog.FieldStatus, 1)); err != nil {
			return err
		}
		if err := tx.DeleteConflict(ctx, conflict); err != nil {
			return err
		}
		if _, err := tx.SeeDelivery(ctx, "github", "rolled-back", at(0)); err != nil {
			return err
		}
		return fmt.Errorf("the caller gave up: %w", boom)
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Tx whose function failed returned %v, want the function's error", err)
	}
	after := readState(t, ctx, st)
	expectSame(t, "items after a rolled back transaction", before.items, after.items)
	expectSame(t, "links after a rolled back transaction", before.links, after.links)
	expectSame(t, "intents after a rolled back transaction", before.intents, after.intents)
	expectSame(t, "conflicts after a rolled back transaction", before.conflicts, after.conflicts)
	if after.cursor != before.cursor {
		t.Errorf("cursor after a rolled back transaction is %q, want %q", after.cursor, before.cursor)
	}
	var seen bool
	do(t, ctx, st, func(tx store.Tx) (err error) {
		seen, err = tx.SeeDelivery(ctx, "github", "rolled-back", at(0))
		return err
	})
	if seen {
		t.Errorf("a delivery recorded in a rolled back transaction is reported as seen")
	}
}

func (s *suite) cancelled(t *testing.T) {
	st, ctx := s.fresh(t)
	it := newItem(t, ctx, st)
	before := readState(t, ctx, st)

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	called := false
	err := st.Tx(cctx, func(tx store.Tx) error {
		called = true
		edit := it
		edit.Title = "Written with a cancelled context"
		if _, err := tx.PutItem(cctx, edit); err != nil {
			return err
		}
		return tx.PutCursor(cctx, "jira", "cancelled")
	})
	if err == nil {
		t.Errorf("Tx with a cancelled context returned no error (function called: %v)", called)
	}
	// Cancelled during the transaction: the next operation fails.
	cctx, cancel = context.WithCancel(ctx)
	err = st.Tx(cctx, func(tx store.Tx) error {
		if err := tx.PutCursor(cctx, "jira", "cancelled"); err != nil {
			return err
		}
		cancel()
		edit := it
		edit.Title = "Written after the cancel"
		_, err := tx.PutItem(cctx, edit)
		return err
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Tx cancelled half way returned %v, want context.Canceled", err)
	}
	after := readState(t, ctx, st)
	expectSame(t, "items after cancelled transactions", before.items, after.items)
	if after.cursor != before.cursor {
		t.Errorf("cursor after cancelled transactions is %q, want %q", after.cursor, before.cursor)
	}
}

func (s *suite) concurrentKeys(t *testing.T) {
	st, ctx := s.fresh(t)
	// The syncer's shape: several targets, several workers each, every
	// worker reading a key's view and then recording intents and links.
	targets := []string{"jira", "github", "redmine"}
	const items, rounds = 6, 5
	ids := make([]string, items)
	for i := range ids {
		ids[i] = newItem(t, ctx, st).ID
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(targets)*items)
	for _, target := range targets {
		for _, id := range ids {
			wg.Go(func() {
				for round := 1; round <= rounds; round++ {
					if err := syncKey(ctx, st, target, id, round); err != nil {
						errs <- fmt.Errorf("%s/%s round %d: %w", target, id, round, err)
						return
					}
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	links := listLinks(t, ctx, st, "")
	if len(links) != len(targets)*items {
		t.Errorf("Links lists %d links, want %d (one per target and item)", len(links), len(targets)*items)
	}
	for _, l := range links {
		if l.RemoteVersion != fmt.Sprint(rounds) {
			t.Errorf("link %s/%s has remote version %s, want %d (its last round)", l.Target, l.ItemID, l.RemoteVersion, rounds)
		}
	}
	if ins := listIntents(t, ctx, st, ""); len(ins) != 0 {
		t.Errorf("every intent was acknowledged but Intents lists %s", intentIDs(ins))
	}
	for _, id := range ids {
		if got := getItem(t, ctx, st, id); got.Version != int64(1+len(targets)*rounds) {
			t.Errorf("item %s has version %d after %d pulls, want %d", id, got.Version, len(targets)*rounds, 1+len(targets)*rounds)
		}
	}
}

// syncKey does what one reconcile of (target, id) does to the store.
func syncKey(ctx context.Context, st store.Store, target, id string, round int) error {
	var item backlog.Item
	var link store.Link
	hasLink := false
	err := st.Tx(ctx, func(tx store.Tx) error {
		var err error
		if item, err = tx.Item(ctx, id); err != nil {
			return err
		}
		switch link, err = tx.Link(ctx, target, id); {
		case err == nil:
			hasLink = true
		case !errors.Is(err, store.ErrNotFound):
			return err
		}
		if _, err := tx.ConflictsOf(ctx, target, id); err != nil {
			return err
		}
		_, err = tx.IntentsOf(ctx, target, id)
		return err
	})
	if err != nil {
		return err
	}
	// Pull: a read-modify-write of the item, raced by the other targets.
	err = retry(ctx, st, func(tx store.Tx) error {
		cur, err := tx.Item(ctx, id)
		if err != nil {
			return err
		}
		cur.Labels = append(cur.Labels, fmt.Sprintf("%s-%d", target, round))
		_, err = tx.PutItem(ctx, cur)
		return err
	})
	if err != nil {
		return err
	}
	var intent int64
	if err := st.Tx(ctx, func(tx store.Tx) (err error) {
		intent, err = tx.AddIntent(ctx, store.Intent{Target: target, ItemID: id, Op: store.OpUpdate, Created: at(round)})
		return err
	}); err != nil {
		return err
	}
	if !hasLink {
		link = store.Link{Target: target, ItemID: id, RemoteID: target + "-" + id, State: store.LinkActive}
	}
	link.RemoteVersion = fmt.Sprint(round)
	link.Base = item.Project(backlog.FieldTitle, backlog.FieldStatus)
	return st.Tx(ctx, func(tx store.Tx) error {
		if err := tx.PutLink(ctx, link); err != nil {
			return err
		}
		return tx.DeleteIntent(ctx, intent)
	})
}
