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
	"github.com/backlogd/backlogd/connectors"
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

// IdlePoll lists conn's changes from the cursor the store holds for
// target and stores the new cursor, as the daemon's poll loop does every
// poll interval; it fails the test if anything is listed. It is what a
// poll costs when nothing changed.
func (b Backlog) IdlePoll(target string, conn connectors.Connector) {
	b.T.Helper()
	ctx := context.Background()
	cur, err := store.Read(ctx, b.Store, func(tx store.Tx) (string, error) { return tx.Cursor(ctx, target) })
	if err != nil {
		b.T.Fatal(err)
	}
	for {
		p, err := conn.Changes(ctx, cur)
		if err != nil {
			b.T.Fatal(err)
		}
		if len(p.Records) > 0 {
			b.T.Fatalf("an idle poll of %s listed %d records", target, len(p.Records))
		}
		if p.Cursor != cur {
			cur = p.Cursor
			if err := b.Store.Tx(ctx, func(tx store.Tx) error { return tx.PutCursor(ctx, target, cur) }); err != nil {
				b.T.Fatal(err)
			}
		}
		if !p.More {
			return
		}
	}
}

// Converged fails the test for every drift Verify finds: each target's
// records hold what the canonical backlog and the client's mapping say.
func (b Backlog) Converged() {
	b.T.Helper()
	drift, err := b.Syncer.Verify(context.Background())
	if err != nil {
		b.T.Fatalf("Verify: %v", err)
	}
	for _, d := range drift {
		b.T.Errorf("drift: %s", d)
	}
}
