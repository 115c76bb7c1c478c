package storetest

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/backlogd/backlogd/backlog"
	"github.com/backlogd/backlogd/syncer/store"
)

// newItem allocates an id and stores a full item under it.
func newItem(t *testing.T, ctx context.Context, st store.Store) backlog.Item {
	t.Helper()
	var it backlog.Item
	do(t, ctx, st, func(tx store.Tx) error {
		id, err := tx.NextItemID(ctx)
		if err != nil {
			return err
		}
		it, err = tx.PutItem(ctx, fullItem(id))
		return err
	})
	return it
}

func getItem(t *testing.T, ctx context.Context, st store.Store, id string) backlog.Item {
	t.Helper()
	var it backlog.Item
	do(t, ctx, st, func(tx store.Tx) (err error) { it, err = tx.Item(ctx, id); return err })
	return it
}

func putItem(t *testing.T, ctx context.Context, st store.Store, it backlog.Item) backlog.Item {
	t.Helper()
	do(t, ctx, st, func(tx store.Tx) (err error) { it, err = tx.PutItem(ctx, it); return err })
	return it
}

func (s *suite) itemRoundTrip(t *testing.T) {
	st, ctx := s.fresh(t)
	checkComplete(t, fullItem("BL-1"), "Version", "Updated")
	stored := newItem(t, ctx, st)
	want := fullItem(stored.ID)
	if stored.Version != 1 {
		t.Errorf("PutItem of a new item returned version %d, want 1", stored.Version)
	}
	if stored.Updated.IsZero() || stored.Updated.Location() != time.UTC {
		t.Errorf("PutItem of a new item returned Updated %v, want the time of the write in UTC", stored.Updated)
	}
	want.Version, want.Updated = 1, stored.Updated
	expectSame(t, "PutItem returned item", want, stored)
	expectSame(t, "Item", want, getItem(t, ctx, st, stored.ID))
	var items []backlog.Item
	do(t, ctx, st, func(tx store.Tx) (err error) { items, err = tx.Items(ctx); return err })
	if len(items) != 1 {
		t.Fatalf("Items lists %d items, want the 1 stored", len(items))
	}
	expectSame(t, "Items[0]", want, items[0])
}

func (s *suite) itemUnchanged(t *testing.T) {
	st, ctx := s.fresh(t)
	first := newItem(t, ctx, st)
	again := putItem(t, ctx, st, first)
	if again.Version != first.Version || !again.Updated.Equal(first.Updated) {
		t.Errorf("storing an unchanged item returned version %d updated %v, want it untouched: version %d updated %v",
			again.Version, again.Updated, first.Version, first.Updated)
	}
	got := getItem(t, ctx, st, first.ID)
	if got.Version != first.Version || !got.Updated.Equal(first.Updated) {
		t.Errorf("after storing an unchanged item, Item has version %d updated %v, want version %d updated %v",
			got.Version, got.Updated, first.Version, first.Updated)
	}

	// Nil and empty lists are the same content (both encode as "" in
	// Fields): a store must not report a change the merge cannot see.
	bare := putItem(t, ctx, st, backlog.Item{ID: nextFreeID(first.ID, 1), Kind: backlog.Task, Title: "Bare", Status: backlog.Todo})
	emptied := bare
	emptied.Teams, emptied.Labels, emptied.Clients, emptied.Acceptance = []string{}, []string{}, []string{}, []string{}
	emptied.Comments = []backlog.Comment{}
	if again := putItem(t, ctx, st, emptied); again.Version != bare.Version {
		t.Errorf("storing an item with empty lists instead of nil ones returned version %d, want it unchanged at %d", again.Version, bare.Version)
	}
}

func (s *suite) itemChanged(t *testing.T) {
	st, ctx := s.fresh(t)
	first := newItem(t, ctx, st)
	edit := first
	edit.Title = "Export invoices as PDF and CSV"
	edit.Labels = append([]string{"csv"}, first.Labels...)
	second := putItem(t, ctx, st, edit)
	if second.Version != first.Version+1 {
		t.Errorf("storing a changed item returned version %d, want %d", second.Version, first.Version+1)
	}
	if second.Updated.Before(first.Updated) || second.Updated.Location() != time.UTC {
		t.Errorf("storing a changed item returned Updated %v, want a UTC time no earlier than the previous %v", second.Updated, first.Updated)
	}
	got := getItem(t, ctx, st, first.ID)
	expectSame(t, "Item after the change", second, got)
	if got.Title != edit.Title {
		t.Errorf("Item has title %q, want the stored change %q", got.Title, edit.Title)
	}

	// A change to a comment alone is a change too.
	edit = second
	edit.Comments = append(edit.Comments, backlog.Comment{ID: "c3", Author: "carol", Created: at(30), Body: "Done on staging.", Visibility: backlog.VisibilityClient})
	third := putItem(t, ctx, st, edit)
	if third.Version != second.Version+1 {
		t.Errorf("adding a comment returned version %d, want %d", third.Version, second.Version+1)
	}
	if got := getItem(t, ctx, st, first.ID); len(got.Comments) != 3 {
		t.Errorf("Item has %d comments after one was added to 2, want 3", len(got.Comments))
	}
}

func (s *suite) itemStale(t *testing.T) {
	st, ctx := s.fresh(t)
	first := newItem(t, ctx, st)
	edit := first
	edit.Title = "First edit"
	second := putItem(t, ctx, st, edit)

	late := first // a writer that read version 1 and did not see the first edit
	late.Title = "Late edit"
	err := st.Tx(ctx, func(tx store.Tx) error { _, err := tx.PutItem(ctx, late); return err })
	if !errors.Is(err, store.ErrStale) {
		t.Errorf("PutItem with version %d when %d is stored returned %v, want ErrStale", late.Version, second.Version, err)
	}
	expectSame(t, "Item after a stale write", second, getItem(t, ctx, st, first.ID))

	ahead := second
	ahead.Version = second.Version + 5
	ahead.Title = "From the future"
	err = st.Tx(ctx, func(tx store.Tx) error { _, err := tx.PutItem(ctx, ahead); return err })
	if !errors.Is(err, store.ErrStale) {
		t.Errorf("PutItem with version %d when %d is stored returned %v, want ErrStale", ahead.Version, second.Version, err)
	}

	ghost := fullItem(nextFreeID(first.ID, 100))
	ghost.Version = 3
	err = st.Tx(ctx, func(tx store.Tx) error { _, err := tx.PutItem(ctx, ghost); return err })
	if !errors.Is(err, store.ErrStale) {
		t.Errorf("PutItem of an item never stored with version 3 returned %v, want ErrStale", err)
	}
	err = st.Tx(ctx, func(tx store.Tx) error { _, err := tx.Item(ctx, ghost.ID); return err })
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("after a refused first write of %s, Item returned %v, want ErrNotFound", ghost.ID, err)
	}
}

// nextFreeID returns the id with the same prefix as id and a number k
// higher.
func nextFreeID(id string, k int) string {
	i := strings.LastIndexByte(id, '-')
	n, _ := strconv.Atoi(id[i+1:])
	return fmt.Sprintf("%s-%d", id[:i], n+k)
}

func (s *suite) itemMissing(t *testing.T) {
	st, ctx := s.fresh(t)
	for _, id := range []string{"BL-404", "", "not an id"} {
		err := st.Tx(ctx, func(tx store.Tx) error { _, err := tx.Item(ctx, id); return err })
		if !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Item(%q) in an empty store returned %v, want ErrNotFound", id, err)
		}
	}
}

func (s *suite) itemsOrder(t *testing.T) {
	st, ctx := s.fresh(t)
	do(t, ctx, st, func(tx store.Tx) error {
		for _, id := range []string{"BL-10", "BL-2", "BL-33", "BL-1", "BL-100", "BL-3"} {
			if _, err := tx.PutItem(ctx, fullItem(id)); err != nil {
				return err
			}
		}
		return nil
	})
	var items []backlog.Item
	do(t, ctx, st, func(tx store.Tx) (err error) { items, err = tx.Items(ctx); return err })
	var got []string
	for _, it := range items {
		got = append(got, it.ID)
	}
	if want := "BL-1 BL-2 BL-3 BL-10 BL-33 BL-100"; strings.Join(got, " ") != want {
		t.Errorf("Items lists %v, want %s", got, want)
	}
}

func (s *suite) nextIDUnique(t *testing.T) {
	st, ctx := s.fresh(t)
	seen := map[string]bool{}
	var ids []string
	do(t, ctx, st, func(tx store.Tx) error {
		for range 3 {
			id, err := tx.NextItemID(ctx)
			if err != nil {
				return err
			}
			ids = append(ids, id)
		}
		return nil
	})
	for _, id := range ids {
		if !backlog.ValidID(id) {
			t.Errorf("NextItemID returned %q, which is not a canonical id like BL-42", id)
		}
		if seen[id] {
			t.Errorf("NextItemID returned %s twice", id)
		}
		seen[id] = true
	}
	// An item stored under an id NextItemID has not reached yet (relinked
	// by its marker after a store was wiped) must never be handed out.
	direct := nextFreeID(ids[len(ids)-1], 2)
	putItem(t, ctx, st, fullItem(direct))
	seen[direct] = true
	do(t, ctx, st, func(tx store.Tx) error {
		for range 5 {
			id, err := tx.NextItemID(ctx)
			if err != nil {
				return err
			}
			if seen[id] {
				t.Errorf("NextItemID returned %s, which is already in use", id)
			}
			seen[id] = true
		}
		return nil
	})
}

func (s *suite) nextIDConcurrent(t *testing.T) {
	st, ctx := s.fresh(t)
	const workers, each = 8, 25
	var (
		mu   sync.Mutex
		seen = map[string]int{}
		wg   sync.WaitGroup
		errs = make(chan error, workers)
	)
	for range workers {
		wg.Go(func() {
			for range each {
				var id string
				err := retry(ctx, st, func(tx store.Tx) (err error) { id, err = tx.NextItemID(ctx); return err })
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				seen[id]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("NextItemID: %v", err)
	}
	if len(seen) != workers*each {
		t.Errorf("%d goroutines allocating %d ids each got %d distinct ids, want %d", workers, each, len(seen), workers*each)
	}
	for id, n := range seen {
		if n > 1 {
			t.Errorf("NextItemID handed out %s %d times", id, n)
		}
	}
}

func (s *suite) itemNoLostUpdate(t *testing.T) {
	st, ctx := s.fresh(t)
	it := newItem(t, ctx, st)
	const workers, each = 8, 20
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Go(func() {
			for range each {
				err := retry(ctx, st, func(tx store.Tx) error {
					cur, err := tx.Item(ctx, it.ID)
					if err != nil {
						return err
					}
					cur.Estimate.Points++
					_, err = tx.PutItem(ctx, cur)
					return err
				})
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("increment: %v", err)
	}
	got := getItem(t, ctx, st, it.ID)
	if want := it.Estimate.Points + workers*each; got.Estimate.Points != want {
		t.Errorf("after %d increments from %d goroutines, points are %v, want %v: updates were lost", workers*each, workers, got.Estimate.Points, want)
	}
	if want := it.Version + workers*each; got.Version != want {
		t.Errorf("after %d changes the version is %d, want %d", workers*each, got.Version, want)
	}
}
