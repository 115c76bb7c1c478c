package store

import (
	"context"

	"github.com/backlogd/backlogd/backlog"
)

// Read runs f in a transaction of its own and returns what it read: the
// one-shot reads of the API handlers, the CLI and tests.
//
//	items, err := store.Read(ctx, st, func(tx store.Tx) ([]backlog.Item, error) { return tx.Items(ctx) })
func Read[T any](ctx context.Context, st Store, f func(Tx) (T, error)) (T, error) {
	var v T
	err := st.Tx(ctx, func(tx Tx) error {
		var err error
		v, err = f(tx)
		return err
	})
	return v, err
}

// PutItems stores items in one transaction as the product owner's edits:
// an item without an id gets the next one, an existing item is written
// over its stored version, and every item must be valid. It returns the
// ids in order.
func PutItems(ctx context.Context, st Store, items ...backlog.Item) ([]string, error) {
	var ids []string
	err := st.Tx(ctx, func(tx Tx) error {
		ids = ids[:0]
		for _, it := range items {
			if it.ID == "" {
				id, err := tx.NextItemID(ctx)
				if err != nil {
					return err
				}
				it.ID = id
			} else if cur, err := tx.Item(ctx, it.ID); err == nil {
				it.Version = cur.Version
			}
			if err := it.Validate(); err != nil {
				return err
			}
			if _, err := tx.PutItem(ctx, it); err != nil {
				return err
			}
			ids = append(ids, it.ID)
		}
		return nil
	})
	return ids, err
}
