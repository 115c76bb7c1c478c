package store_test

import (
	"context"
	"path/filepath"
	"slices"
	"testing"

	"github.com/backlogd/backlogd/backlog"
	"github.com/backlogd/backlogd/syncer/store"
	"github.com/backlogd/backlogd/syncer/store/sqlite"
)

func TestPutItemsAndRead(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ids, err := store.PutItems(ctx, st,
		backlog.Item{Kind: backlog.Story, Title: "one", Status: backlog.Todo},
		backlog.Item{Kind: backlog.Bug, Title: "two", Status: backlog.Todo})
	if err != nil || !slices.Equal(ids, []string{"BL-1", "BL-2"}) {
		t.Fatalf("PutItems = %v, %v; want new ids BL-1 and BL-2", ids, err)
	}
	// An edit of a stored item is written over its stored version.
	if _, err := store.PutItems(ctx, st, backlog.Item{ID: "BL-1", Kind: backlog.Story, Title: "one, edited", Status: backlog.Done}); err != nil {
		t.Fatalf("edit: %v", err)
	}
	// An invalid item writes nothing, not even the valid one beside it.
	if _, err := store.PutItems(ctx, st, backlog.Item{Kind: backlog.Task, Title: "three", Status: backlog.Todo}, backlog.Item{Title: "no kind"}); err == nil {
		t.Fatal("an invalid item was stored")
	}
	items, err := store.Read(ctx, st, func(tx store.Tx) ([]backlog.Item, error) { return tx.Items(ctx) })
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 2 || items[0].Title != "one, edited" || items[0].Version != 2 {
		t.Errorf("items = %+v, want BL-1 edited at version 2 and BL-2, nothing more", items)
	}
}
