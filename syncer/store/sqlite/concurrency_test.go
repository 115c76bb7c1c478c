package sqlite_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	"github.com/backlogd/backlogd/backlog"
	"github.com/backlogd/backlogd/syncer/store"
	"github.com/backlogd/backlogd/syncer/store/sqlite"
)

func link(target, item, version string) store.Link {
	return store.Link{Target: target, ItemID: item, RemoteID: item, State: store.LinkActive, RemoteVersion: version, Base: backlog.Fields{}}
}

func readLink(t *testing.T, st store.Store, target, item string) store.Link {
	t.Helper()
	var l store.Link
	if err := st.Tx(t.Context(), func(tx store.Tx) (err error) { l, err = tx.Link(t.Context(), target, item); return err }); err != nil {
		t.Fatal(err)
	}
	return l
}

// A transaction reads on a snapshot and only then writes. What another
// transaction commits in between decides whether the write may go on.
func TestAWriteAfterAConcurrentCommitIsStaleOnlyIfWhatWasReadChanged(t *testing.T) {
	for _, c := range []struct {
		name        string
		otherStore  bool   // the other writer is another process on the same file
		otherWrites string // the link the other writer changes
		swallow     bool   // fn drops the error of its write and returns nil
		wantStale   bool
	}{
		{"the same link, changed by this process", false, "BL-1", false, true},
		{"the same link, changed by another process", true, "BL-1", false, true},
		{"the same link, and fn drops the error", false, "BL-1", true, true},
		{"another link, changed by this process", false, "BL-2", false, false},
		{"another link, changed by another process", true, "BL-2", false, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "backlogd.db")
			st := open(t, path)
			other := st
			if c.otherStore {
				other = open(t, path)
			}
			ctx := t.Context()
			if err := st.Tx(ctx, func(tx store.Tx) error {
				if err := tx.PutLink(ctx, link("jira", "BL-1", "0")); err != nil {
					return err
				}
				return tx.PutLink(ctx, link("jira", "BL-2", "0"))
			}); err != nil {
				t.Fatal(err)
			}

			err := st.Tx(ctx, func(tx store.Tx) error {
				l, err := tx.Link(ctx, "jira", "BL-1")
				if err != nil {
					return err
				}
				// Another writer commits between our read and our write.
				done := make(chan error)
				go func() {
					done <- other.Tx(ctx, func(tx store.Tx) error { return tx.PutLink(ctx, link("jira", c.otherWrites, "other")) })
				}()
				if err := <-done; err != nil {
					return fmt.Errorf("the other writer: %w", err)
				}
				l.RemoteVersion = "ours"
				err = tx.PutLink(ctx, l)
				if c.swallow {
					return nil
				}
				return err
			})
			if got := errors.Is(err, store.ErrStale); got != c.wantStale {
				t.Fatalf("Tx returned %v; stale = %v, want %v", err, got, c.wantStale)
			}
			want := map[string]string{"BL-1": "ours", "BL-2": "0"}
			if c.wantStale {
				want["BL-1"] = "other"
			} else {
				want[c.otherWrites] = "other"
				want["BL-1"] = "ours"
			}
			for item, v := range want {
				if got := readLink(t, st, "jira", item).RemoteVersion; got != v {
					t.Errorf("link %s has version %q, want %q", item, got, v)
				}
			}
		})
	}
}

// The daemon and the CLI (`backlogd conflicts resolve`) are two processes
// on one file; here two stores stand for them.
func TestTwoStoresOnOneFileLoseNoUpdate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "backlogd.db")
	stores := []*sqlite.Store{open(t, path), open(t, path)}
	ctx := t.Context()
	var itemID string
	if err := stores[0].Tx(ctx, func(tx store.Tx) error {
		id, err := tx.NextItemID(ctx)
		if err != nil {
			return err
		}
		itemID = id
		if _, err := tx.PutItem(ctx, backlog.Item{ID: id, Kind: backlog.Task, Title: "Counter", Status: backlog.Todo}); err != nil {
			return err
		}
		return tx.PutLink(ctx, link("jira", id, "0"))
	}); err != nil {
		t.Fatal(err)
	}
	const perStore, each = 4, 10
	var wg sync.WaitGroup
	errs := make(chan error, 2*perStore)
	for _, st := range stores {
		for range perStore {
			wg.Go(func() {
				for range each {
					err := retry(ctx, st, func(tx store.Tx) error {
						it, err := tx.Item(ctx, itemID)
						if err != nil {
							return err
						}
						l, err := tx.Link(ctx, "jira", itemID)
						if err != nil {
							return err
						}
						n, _ := strconv.Atoi(l.RemoteVersion)
						l.RemoteVersion = strconv.Itoa(n + 1)
						it.Estimate.Points++
						if _, err := tx.PutItem(ctx, it); err != nil {
							return err
						}
						return tx.PutLink(ctx, l)
					})
					if err != nil {
						errs <- err
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
	const total = 2 * perStore * each
	if got := readLink(t, stores[1], "jira", itemID).RemoteVersion; got != strconv.Itoa(total) {
		t.Errorf("the link counter is %s after %d increments from two stores, want %d", got, total, total)
	}
	var it backlog.Item
	if err := stores[0].Tx(ctx, func(tx store.Tx) (err error) { it, err = tx.Item(ctx, itemID); return err }); err != nil {
		t.Fatal(err)
	}
	if it.Estimate.Points != total || it.Version != total+1 {
		t.Errorf("the item has %v points at version %d after %d increments, want %d at version %d", it.Estimate.Points, it.Version, total, total, total+1)
	}
}

func retry(ctx context.Context, st store.Store, fn func(store.Tx) error) error {
	for {
		if err := st.Tx(ctx, fn); !errors.Is(err, store.ErrStale) {
			return err
		}
	}
}

// Conflicts and intents are listed from a cache keyed by their table's
// version; changes by another process, by hand, or rolled back must all
// show (or not) as in the database.
func TestListsFollowEveryChangeToTheirTables(t *testing.T) {
	path := filepath.Join(t.TempDir(), "backlogd.db")
	st, other := open(t, path), open(t, path)
	ctx := t.Context()
	count := func() (conflicts, intents int) {
		t.Helper()
		if err := st.Tx(ctx, func(tx store.Tx) error {
			cs, err := tx.Conflicts(ctx)
			if err != nil {
				return err
			}
			ins, err := tx.Intents(ctx, "jira")
			conflicts, intents = len(cs), len(ins)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return conflicts, intents
	}
	expect := func(when string, conflicts, intents int) {
		t.Helper()
		if c, i := count(); c != conflicts || i != intents {
			t.Errorf("%s: %d conflicts and %d jira intents listed, want %d and %d", when, c, i, conflicts, intents)
		}
	}
	expect("at first", 0, 0)
	add := func(tx store.Tx, n int) error {
		if _, err := tx.PutConflict(ctx, store.Conflict{Target: "jira", ItemID: "BL-" + strconv.Itoa(n), Field: backlog.FieldTitle}); err != nil {
			return err
		}
		_, err := tx.AddIntent(ctx, store.Intent{Target: "jira", ItemID: "BL-" + strconv.Itoa(n), Op: store.OpUpdate})
		return err
	}
	if err := st.Tx(ctx, func(tx store.Tx) error { return add(tx, 1) }); err != nil {
		t.Fatal(err)
	}
	expect("after this store added one of each", 1, 1)
	if err := other.Tx(ctx, func(tx store.Tx) error { return add(tx, 2) }); err != nil {
		t.Fatal(err)
	}
	expect("after another process added one of each", 2, 2)
	errBoom := errors.New("boom")
	err := st.Tx(ctx, func(tx store.Tx) error {
		if err := add(tx, 3); err != nil {
			return err
		}
		cs, err := tx.Conflicts(ctx)
		if err != nil {
			return err
		}
		if len(cs) != 3 {
			t.Errorf("inside the transaction that added one, %d conflicts are listed, want 3", len(cs))
		}
		return errBoom
	})
	if !errors.Is(err, errBoom) {
		t.Fatal(err)
	}
	expect("after a rolled back addition", 2, 2)
	db := raw(t, path)
	exec(t, db, "DELETE FROM conflicts WHERE item_id = 'BL-1'")
	exec(t, db, "DELETE FROM intents WHERE item_id = 'BL-1'")
	expect("after rows were deleted by hand", 1, 1)
}
