// Package synctest drives the canonical side of a syncer in tests, as
// the product owner would: edits stored and scheduled, what the store
// holds, a sync run to the end. The syncer's own tests and the
// connectors' two-way sync tests share it, so a world in any package
// reads the same.
package synctest

import (
	"context"
	"testing"

	"github.com/backlogd/backlogd/backlog"
	"github.com/backlogd/backlogd/syncer"
	"github.com/backlogd/backlogd/syncer/store"
)

// Backlog is a syncer with its store; every method fails the test on an
// error.
type Backlog struct {
	T      testing.TB
	Store  store.Store
	Syncer *syncer.Syncer
}

// Put stores canonical items as the product owner's edits (an item
// without an id gets the next one) and schedules them everywhere.
func (b Backlog) Put(items ...backlog.Item) []string {
	b.T.Helper()
	ids, err := store.PutItems(context.Background(), b.Store, items...)
	if err != nil {
		b.T.Fatalf("put: %v", err)
	}
	for _, id := range ids {
		b.Syncer.Enqueue(id)
	}
	return ids
}

// Edit changes one canonical item, as the product owner would.
func (b Backlog) Edit(id string, f func(*backlog.Item)) {
	b.T.Helper()
	it := b.Item(id)
	f(&it)
	b.Put(it)
}

// Item reads one canonical item.
func (b Backlog) Item(id string) backlog.Item {
	b.T.Helper()
	it, err := store.Read(context.Background(), b.Store, func(tx store.Tx) (backlog.Item, error) { return tx.Item(context.Background(), id) })
	if err != nil {
		b.T.Fatalf("item %s: %v", id, err)
	}
	return it
}

// Items reads every canonical item.
func (b Backlog) Items() []backlog.Item {
	b.T.Helper()
	items, err := store.Read(context.Background(), b.Store, func(tx store.Tx) ([]backlog.Item, error) { return tx.Items(context.Background()) })
	if err != nil {
		b.T.Fatal(err)
	}
	return items
}

// Sync runs one SyncOnce: every target polled, every key reconciled.
func (b Backlog) Sync() {
	b.T.Helper()
	if err := b.Syncer.SyncOnce(context.Background()); err != nil {
		b.T.Fatalf("SyncOnce: %v", err)
	}
}
