package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/backlogd/backlogd/backlog"
	"github.com/backlogd/backlogd/syncer/store"
)

// Items are stored as JSON, which follows backlog.Item as it grows; the
// columns beside it are what the store itself reads: the id and its
// number for lookups and order, the version and the update time.

// NextItemID allocates a fresh canonical id. The sequence only grows, and
// PutItem moves it past any id stored directly, so an id is never handed
// out twice; only an id allocated in a transaction that rolled back, which
// nothing ever saw, may come again.
func (t *tx) NextItemID(ctx context.Context) (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	c, err := t.use(ctx, true)
	if err != nil {
		return "", fmt.Errorf("sqlite: next item id: %w", err)
	}
	row, err := c.queryRow(stNextID)
	var n int64
	if err == nil {
		err = row.Scan(&n)
	}
	if err != nil {
		return "", fmt.Errorf("sqlite: next item id: %w", err)
	}
	return fmt.Sprintf("%s-%d", t.s.prefix, n), nil
}

// Item reads one item; store.ErrNotFound if absent.
func (t *tx) Item(ctx context.Context, id string) (backlog.Item, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	c, err := t.use(ctx, false)
	if err != nil {
		return backlog.Item{}, fmt.Errorf("sqlite: read item %s: %w", id, err)
	}
	args := []any{id}
	t.record(c, stItem, args)
	rows, err := c.query(stItem, args...)
	if err != nil {
		return backlog.Item{}, fmt.Errorf("sqlite: read item %s: %w", id, err)
	}
	var it backlog.Item
	found, err := scanOne(rows, func(r *sql.Rows) (err error) { it, err = t.s.scanItem(r, true); return err })
	switch {
	case err != nil:
		return backlog.Item{}, fmt.Errorf("sqlite: read item %s: %w", id, err)
	case !found:
		return backlog.Item{}, fmt.Errorf("sqlite: item %s: %w", id, store.ErrNotFound)
	}
	return it, nil
}

// Items lists every item, ordered by id number (BL-2 before BL-10).
func (t *tx) Items(ctx context.Context) ([]backlog.Item, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	c, err := t.use(ctx, false)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list items: %w", err)
	}
	t.record(c, stItems, nil)
	rows, err := c.query(stItems)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list items: %w", err)
	}
	defer rows.Close()
	var items []backlog.Item
	for rows.Next() {
		if len(items)%1024 == 1023 {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("sqlite: list items: %w", err)
			}
		}
		it, err := t.s.scanItem(rows, false)
		if err != nil {
			return nil, fmt.Errorf("sqlite: list items: %w", err)
		}
		items = append(items, it)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list items: %w", err)
	}
	return items, nil
}

// scanItem reads a row of stItem or stItems; remember adds a decoded item
// to the cache (a full listing only uses it, so as not to flush it).
func (s *Store) scanItem(r *sql.Rows, remember bool) (backlog.Item, error) {
	var (
		id      string
		version int64
		updated timeScan
		data    sql.RawBytes
	)
	if err := r.Scan(&id, &version, &updated, &data); err != nil {
		return backlog.Item{}, err
	}
	it, ok := s.items.get(id, data)
	if !ok {
		if err := json.Unmarshal(data, &it); err != nil {
			return backlog.Item{}, fmt.Errorf("item %s: %w", id, err)
		}
		if remember {
			s.items.put(id, bytes.Clone(data), it.Clone())
		}
	}
	it.ID, it.Version, it.Updated = id, version, updated.t
	return it, nil
}

// PutItem stores it if its Version is the stored one (0 for a new item),
// else store.ErrStale. When the content changed it returns the item with
// Version bumped and Updated set to now (UTC); otherwise it returns the
// item as stored, with its Version and Updated untouched.
func (t *tx) PutItem(ctx context.Context, it backlog.Item) (backlog.Item, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if it.ID == "" {
		return backlog.Item{}, errors.New("sqlite: put item: the item has no id; allocate one with NextItemID")
	}
	fail := func(err error) (backlog.Item, error) {
		return backlog.Item{}, fmt.Errorf("sqlite: put item %s: %w", it.ID, err)
	}
	c, err := t.use(ctx, true)
	if err != nil {
		return fail(err)
	}
	out := normalizeItem(it)
	out.Version, out.Updated = 0, time.Time{}
	data, err := json.Marshal(out)
	if err != nil {
		return fail(err)
	}

	rows, err := c.query(stItem, it.ID)
	if err != nil {
		return fail(err)
	}
	var stored backlog.Item
	var storedData []byte
	found, err := scanOne(rows, func(r *sql.Rows) error {
		var updated timeScan
		err := r.Scan(&stored.ID, &stored.Version, &updated, &storedData)
		stored.Updated = updated.t
		return err
	})
	if err != nil {
		return fail(err)
	}
	switch {
	case !found && it.Version != 0:
		return fail(fmt.Errorf("it has version %d but is not stored (a new item has version 0): %w", it.Version, store.ErrStale))
	case found && it.Version != stored.Version:
		return fail(fmt.Errorf("it has version %d but the stored one is at %d: %w", it.Version, stored.Version, store.ErrStale))
	case found && bytes.Equal(data, storedData):
		out.Version, out.Updated = stored.Version, stored.Updated
		return out, nil
	}

	now := t.s.now().UTC()
	updated, err := timeValue("updated", now)
	if err != nil {
		return fail(err)
	}
	if found {
		out.Version = stored.Version + 1
		_, err = c.exec(stUpdateItem, out.Version, updated, data, it.ID)
	} else {
		out.Version = 1
		n := idNumber(it.ID)
		if _, err = c.exec(stInsertItem, it.ID, n, out.Version, updated, data); err == nil && n > 0 {
			_, err = c.exec(stRaiseID, n, n)
		}
	}
	if err != nil {
		return fail(err)
	}
	// The next read of the item finds it decoded.
	cached := out
	cached.Version, cached.Updated = 0, time.Time{}
	t.s.items.put(it.ID, data, cached.Clone())
	out.Updated = now
	return out, nil
}
