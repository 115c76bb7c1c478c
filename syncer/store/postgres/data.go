package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/backlogd/backlogd/backlog"
	"github.com/backlogd/backlogd/syncer/store"
	"github.com/jackc/pgx/v5"
)

// Items are stored as jsonb, which follows backlog.Item as it grows, and
// whose equality is by content: storing an item whose content did not
// change is recognised by the database itself. The columns beside it are
// what the store reads: the id and its number, the version, the update
// time.

// NextItemID allocates a fresh canonical id. The sequence row only grows,
// and PutItem moves it past any id stored directly, so an id is never
// handed out twice; only an id allocated in a transaction that rolled
// back, which nothing ever saw, may come again. Two transactions
// allocating at once take turns on the row (the later one may fail with
// store.ErrStale and is retried).
func (t *tx) NextItemID(ctx context.Context) (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var n int64
	_, err := t.run(ctx, "next item id", "UPDATE sequences SET value = value + 1 WHERE name = 'item' RETURNING value", nil,
		func(r pgx.Rows) error { return r.Scan(&n) })
	if err != nil {
		return "", err
	}
	if n == 0 {
		return "", fmt.Errorf("postgres: next item id: the sequence row is missing")
	}
	return fmt.Sprintf("%s-%d", t.s.prefix, n), nil
}

const itemCols = "id, version, updated, data"

func scanItem(r pgx.Rows) (backlog.Item, error) {
	var (
		it      backlog.Item
		id      string
		version int64
		updated *time.Time
		data    []byte
	)
	if err := r.Scan(&id, &version, &updated, &data); err != nil {
		return backlog.Item{}, err
	}
	if err := json.Unmarshal(data, &it); err != nil {
		return backlog.Item{}, fmt.Errorf("item %s: %w", id, err)
	}
	it.ID, it.Version, it.Updated = id, version, utc(updated)
	return it, nil
}

// Item reads one item; store.ErrNotFound if absent.
func (t *tx) Item(ctx context.Context, id string) (backlog.Item, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var it backlog.Item
	found := false
	_, err := t.run(ctx, "read item "+id, "SELECT "+itemCols+" FROM items WHERE id = $1", []any{id},
		func(r pgx.Rows) (err error) { it, err = scanItem(r); found = true; return err })
	switch {
	case err != nil:
		return backlog.Item{}, err
	case !found:
		return backlog.Item{}, fmt.Errorf("postgres: item %s: %w", id, store.ErrNotFound)
	}
	return it, nil
}

// Items lists every item, ordered by id number (BL-2 before BL-10).
func (t *tx) Items(ctx context.Context) ([]backlog.Item, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var items []backlog.Item
	_, err := t.run(ctx, "list items", "SELECT "+itemCols+" FROM items ORDER BY num, id", nil, func(r pgx.Rows) error {
		if len(items)%1024 == 1023 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		it, err := scanItem(r)
		items = append(items, it)
		return err
	})
	if err != nil {
		return nil, err
	}
	return items, nil
}

// PutItem stores it if its Version is the stored one (0 for a new item),
// else store.ErrStale. When the content changed it returns the item with
// Version bumped and Updated set to now (UTC, to the microsecond
// PostgreSQL keeps); otherwise the item as stored, Version and Updated
// untouched. A changed item costs one statement, an unchanged one two.
func (t *tx) PutItem(ctx context.Context, it backlog.Item) (backlog.Item, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if it.ID == "" {
		return backlog.Item{}, errors.New("postgres: put item: the item has no id; allocate one with NextItemID")
	}
	op := "put item " + it.ID
	out := normalizeItem(it)
	out.Version, out.Updated = 0, time.Time{}
	data, err := json.Marshal(out)
	if err != nil {
		return backlog.Item{}, fmt.Errorf("postgres: %s: %w", op, err)
	}
	now := t.s.now().UTC().Truncate(time.Microsecond)
	if it.Version == 0 {
		var inserted int
		// Raising the sequence in the same statement keeps NextItemID
		// from ever handing this id out.
		_, err := t.run(ctx, op, `WITH ins AS (
				INSERT INTO items (id, num, version, updated, data) VALUES ($1, $2, 1, $3, $4::jsonb)
				ON CONFLICT (id) DO NOTHING RETURNING num
			), raise AS (
				UPDATE sequences SET value = ins.num FROM ins
				WHERE sequences.name = 'item' AND sequences.value < ins.num RETURNING 1
			)
			SELECT count(*) FROM ins`, []any{it.ID, idNumber(it.ID), now, string(data)},
			func(r pgx.Rows) error { return r.Scan(&inserted) })
		if err != nil {
			return backlog.Item{}, err
		}
		if inserted == 0 {
			return backlog.Item{}, fmt.Errorf("postgres: %s: it has version 0 (a new item) but an item is stored under its id: %w", op, store.ErrStale)
		}
		out.Version, out.Updated = 1, now
		return out, nil
	}
	var version int64
	tag, err := t.run(ctx, op, `UPDATE items SET version = version + 1, updated = $2, data = $3::jsonb
		WHERE id = $1 AND version = $4 AND data <> $3::jsonb RETURNING version`,
		[]any{it.ID, now, string(data), it.Version}, func(r pgx.Rows) error { return r.Scan(&version) })
	if err != nil {
		return backlog.Item{}, err
	}
	if tag.RowsAffected() == 1 {
		out.Version, out.Updated = version, now
		return out, nil
	}
	// Unchanged, stale or missing: the stored row says which.
	var stored *time.Time
	found := false
	_, err = t.run(ctx, op, "SELECT version, updated FROM items WHERE id = $1", []any{it.ID},
		func(r pgx.Rows) error { found = true; return r.Scan(&version, &stored) })
	switch {
	case err != nil:
		return backlog.Item{}, err
	case !found:
		return backlog.Item{}, fmt.Errorf("postgres: %s: it has version %d but is not stored (a new item has version 0): %w", op, it.Version, store.ErrStale)
	case version != it.Version:
		return backlog.Item{}, fmt.Errorf("postgres: %s: it has version %d but the stored one is at %d: %w", op, it.Version, version, store.ErrStale)
	}
	out.Version, out.Updated = version, utc(stored)
	return out, nil
}

// normalizeItem returns a copy of it as it is stored: comment times in
// UTC.
func normalizeItem(it backlog.Item) backlog.Item {
	it.Comments = slices.Clone(it.Comments)
	for i := range it.Comments {
		if !it.Comments[i].Created.IsZero() {
			it.Comments[i].Created = it.Comments[i].Created.UTC()
		}
	}
	return it
}

// idNumber is the number an id ends with (42 for BL-42), which orders
// items; 0 when there is none.
func idNumber(id string) int64 {
	i := strings.LastIndexByte(id, '-')
	n, err := strconv.ParseInt(id[i+1:], 10, 64)
	if err != nil || n < 0 {
		return 0
	}
	return n
}

const linkCols = "target, item_id, remote_id, remote_key, url, state, base, comments, remote_version, remote_updated, synced_at, last_error"

func scanLink(r pgx.Rows) (store.Link, error) {
	var (
		l                       store.Link
		state                   string
		base, comments          []byte
		remoteUpdated, syncedAt *time.Time
	)
	err := r.Scan(&l.Target, &l.ItemID, &l.RemoteID, &l.RemoteKey, &l.URL, &state, &base, &comments,
		&l.RemoteVersion, &remoteUpdated, &syncedAt, &l.LastError)
	if err != nil {
		return store.Link{}, err
	}
	l.State = store.LinkState(state)
	l.RemoteUpdated, l.SyncedAt = utc(remoteUpdated), utc(syncedAt)
	if base != nil {
		// NULL is no agreed state; {} an agreed state of empty fields.
		l.Base = backlog.Fields{}
		if err := json.Unmarshal(base, &l.Base); err != nil {
			return store.Link{}, fmt.Errorf("link %s/%s: base: %w", l.Target, l.ItemID, err)
		}
	}
	if comments != nil {
		if err := json.Unmarshal(comments, &l.Comments); err != nil {
			return store.Link{}, fmt.Errorf("link %s/%s: comment links: %w", l.Target, l.ItemID, err)
		}
	}
	return l, nil
}

func (t *tx) links(ctx context.Context, op, sql string, args ...any) ([]store.Link, error) {
	var links []store.Link
	_, err := t.run(ctx, op, sql, args, func(r pgx.Rows) error {
		if len(links)%1024 == 1023 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		l, err := scanLink(r)
		links = append(links, l)
		return err
	})
	return links, err
}

// Link reads the link of item on target; store.ErrNotFound if absent.
func (t *tx) Link(ctx context.Context, target, itemID string) (store.Link, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	ls, err := t.links(ctx, "read link "+target+"/"+itemID,
		"SELECT "+linkCols+" FROM links WHERE target = $1 AND item_id = $2", target, itemID)
	switch {
	case err != nil:
		return store.Link{}, err
	case len(ls) == 0:
		return store.Link{}, fmt.Errorf("postgres: link %s/%s: %w", target, itemID, store.ErrNotFound)
	}
	return ls[0], nil
}

// LinkByRemote finds the link of a record; store.ErrNotFound if absent.
// Should several items have been linked to the record over time, the
// active link wins, then the one synced last.
func (t *tx) LinkByRemote(ctx context.Context, target, remoteID string) (store.Link, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	ls, err := t.links(ctx, "find link of record "+remoteID+" on "+target,
		"SELECT "+linkCols+` FROM links WHERE target = $1 AND remote_id = $2
		ORDER BY state = 'active' DESC, synced_at DESC NULLS LAST, item_num, item_id LIMIT 1`, target, remoteID)
	switch {
	case err != nil:
		return store.Link{}, err
	case len(ls) == 0:
		return store.Link{}, fmt.Errorf("postgres: link of record %s on %s: %w", remoteID, target, store.ErrNotFound)
	}
	return ls[0], nil
}

// Links lists a target's links ("" for every target), by target and then
// by item id number.
func (t *tx) Links(ctx context.Context, target string) ([]store.Link, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if target == "" {
		return t.links(ctx, "list links", "SELECT "+linkCols+" FROM links ORDER BY target, item_num, item_id")
	}
	return t.links(ctx, "list links of "+target,
		"SELECT "+linkCols+" FROM links WHERE target = $1 ORDER BY item_num, item_id", target)
}

// LinkCounts counts the links of every target by state, without reading
// them.
func (t *tx) LinkCounts(ctx context.Context) (map[string]map[store.LinkState]int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := map[string]map[store.LinkState]int{}
	_, err := t.run(ctx, "count links", "SELECT target, state, count(*) FROM links GROUP BY target, state", nil,
		func(r pgx.Rows) error {
			var target, state string
			var n int
			if err := r.Scan(&target, &state, &n); err != nil {
				return err
			}
			if out[target] == nil {
				out[target] = map[store.LinkState]int{}
			}
			out[target][store.LinkState(state)] = n
			return nil
		})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// PutLink creates or replaces the link (target, item); a second active
// link to one record fails the transaction with store.ErrStale.
func (t *tx) PutLink(ctx context.Context, l store.Link) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if l.Target == "" || l.ItemID == "" {
		return fmt.Errorf("postgres: put link %q/%q: a link needs a target and an item id", l.Target, l.ItemID)
	}
	op := "put link " + l.Target + "/" + l.ItemID
	var base, comments any
	if l.Base != nil {
		b, err := json.Marshal(l.Base)
		if err != nil {
			return fmt.Errorf("postgres: %s: %w", op, err)
		}
		base = string(b)
	}
	if len(l.Comments) > 0 {
		b, err := json.Marshal(l.Comments)
		if err != nil {
			return fmt.Errorf("postgres: %s: %w", op, err)
		}
		comments = string(b)
	}
	_, err := t.run(ctx, op, `INSERT INTO links (`+linkCols+`, item_num)
		VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8::jsonb, $9, $10, $11, $12, $13)
		ON CONFLICT (target, item_id) DO UPDATE SET remote_id = excluded.remote_id, remote_key = excluded.remote_key,
		url = excluded.url, state = excluded.state, base = excluded.base, comments = excluded.comments,
		remote_version = excluded.remote_version, remote_updated = excluded.remote_updated,
		synced_at = excluded.synced_at, last_error = excluded.last_error`,
		[]any{l.Target, l.ItemID, l.RemoteID, l.RemoteKey, l.URL, string(l.State), base, comments,
			l.RemoteVersion, timeArg(l.RemoteUpdated), timeArg(l.SyncedAt), l.LastError, idNumber(l.ItemID)}, nil)
	return err
}

// Cursor reads a target's polling cursor ("" when none).
func (t *tx) Cursor(ctx context.Context, target string) (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var c string
	_, err := t.run(ctx, "read cursor of "+target, "SELECT cursor FROM cursors WHERE target = $1", []any{target},
		func(r pgx.Rows) error { return r.Scan(&c) })
	return c, err
}

// PutCursor stores a target's polling cursor.
func (t *tx) PutCursor(ctx context.Context, target, cursor string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	_, err := t.run(ctx, "put cursor of "+target, `INSERT INTO cursors (target, cursor) VALUES ($1, $2)
		ON CONFLICT (target) DO UPDATE SET cursor = excluded.cursor`, []any{target, cursor}, nil)
	return err
}

// AddIntent records a write about to happen and returns its id; in.ID is
// ignored.
func (t *tx) AddIntent(ctx context.Context, in store.Intent) (int64, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var id int64
	_, err := t.run(ctx, fmt.Sprintf("add %s intent for %s/%s", in.Op, in.Target, in.ItemID),
		"INSERT INTO intents (target, item_id, op, created) VALUES ($1, $2, $3, $4) RETURNING id",
		[]any{in.Target, in.ItemID, string(in.Op), timeArg(in.Created)}, func(r pgx.Rows) error { return r.Scan(&id) })
	return id, err
}

// DeleteIntent acknowledges a write (no error if already gone).
func (t *tx) DeleteIntent(ctx context.Context, id int64) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	_, err := t.run(ctx, fmt.Sprintf("delete intent %d", id), "DELETE FROM intents WHERE id = $1", []any{id}, nil)
	return err
}

// Intents lists pending intents of a target ("" for all), oldest first.
func (t *tx) Intents(ctx context.Context, target string) ([]store.Intent, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	sql, args := "SELECT id, target, item_id, op, created FROM intents ORDER BY created NULLS FIRST, id", []any(nil)
	if target != "" {
		sql, args = "SELECT id, target, item_id, op, created FROM intents WHERE target = $1 ORDER BY created NULLS FIRST, id", []any{target}
	}
	return t.intents(ctx, fmt.Sprintf("list intents of %q", target), sql, args)
}

// IntentsOf lists the pending intents of one key, oldest first, through
// the intents_by_key index (schema step 4).
func (t *tx) IntentsOf(ctx context.Context, target, itemID string) ([]store.Intent, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.intents(ctx, "list intents of "+target+"/"+itemID,
		"SELECT id, target, item_id, op, created FROM intents WHERE target = $1 AND item_id = $2 ORDER BY created NULLS FIRST, id",
		[]any{target, itemID})
}

// intents runs a query of intents; callers hold t.mu.
func (t *tx) intents(ctx context.Context, op, sql string, args []any) ([]store.Intent, error) {
	var ins []store.Intent
	_, err := t.run(ctx, op, sql, args, func(r pgx.Rows) error {
		var in store.Intent
		var op string
		var created *time.Time
		if err := r.Scan(&in.ID, &in.Target, &in.ItemID, &op, &created); err != nil {
			return err
		}
		in.Op, in.Created = store.IntentOp(op), utc(created)
		ins = append(ins, in)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return ins, nil
}

const conflictCols = "id, target, client, item_id, field, base, canonical, remote, created"

func scanConflict(r pgx.Rows) (store.Conflict, error) {
	var cf store.Conflict
	var field string
	var created *time.Time
	err := r.Scan(&cf.ID, &cf.Target, &cf.Client, &cf.ItemID, &field, &cf.Base, &cf.Canonical, &cf.Remote, &created)
	cf.Field, cf.Created = backlog.Field(field), utc(created)
	return cf, err
}

// PutConflict records a conflict, replacing the open one on the same
// (target, item, field), which keeps its id; it returns the conflict's
// id. c.ID is ignored.
func (t *tx) PutConflict(ctx context.Context, cf store.Conflict) (int64, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var id int64
	_, err := t.run(ctx, fmt.Sprintf("put conflict on %s %s/%s", cf.Field, cf.Target, cf.ItemID),
		`INSERT INTO conflicts (target, client, item_id, field, base, canonical, remote, created)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT (target, item_id, field) DO UPDATE SET client = excluded.client, base = excluded.base,
		canonical = excluded.canonical, remote = excluded.remote, created = excluded.created
		RETURNING id`,
		[]any{cf.Target, cf.Client, cf.ItemID, string(cf.Field), cf.Base, cf.Canonical, cf.Remote, timeArg(cf.Created)},
		func(r pgx.Rows) error { return r.Scan(&id) })
	return id, err
}

// Conflicts lists open conflicts, oldest first.
func (t *tx) Conflicts(ctx context.Context) ([]store.Conflict, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.conflicts(ctx, "list conflicts", "SELECT "+conflictCols+" FROM conflicts ORDER BY created NULLS FIRST, id", nil)
}

// ConflictsOf lists the open conflicts of one key, oldest first, through
// the (target, item_id, field) unique index.
func (t *tx) ConflictsOf(ctx context.Context, target, itemID string) ([]store.Conflict, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.conflicts(ctx, "list conflicts of "+target+"/"+itemID,
		"SELECT "+conflictCols+" FROM conflicts WHERE target = $1 AND item_id = $2 ORDER BY created NULLS FIRST, id",
		[]any{target, itemID})
}

// conflicts runs a query of conflicts; callers hold t.mu.
func (t *tx) conflicts(ctx context.Context, op, sql string, args []any) ([]store.Conflict, error) {
	var cs []store.Conflict
	_, err := t.run(ctx, op, sql, args,
		func(r pgx.Rows) error {
			cf, err := scanConflict(r)
			cs = append(cs, cf)
			return err
		})
	if err != nil {
		return nil, err
	}
	return cs, nil
}

// Conflict reads one open conflict; store.ErrNotFound if absent.
func (t *tx) Conflict(ctx context.Context, id int64) (store.Conflict, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var cf store.Conflict
	found := false
	_, err := t.run(ctx, fmt.Sprintf("read conflict %d", id), "SELECT "+conflictCols+" FROM conflicts WHERE id = $1", []any{id},
		func(r pgx.Rows) (err error) { cf, err = scanConflict(r); found = true; return err })
	switch {
	case err != nil:
		return store.Conflict{}, err
	case !found:
		return store.Conflict{}, fmt.Errorf("postgres: conflict %d: %w", id, store.ErrNotFound)
	}
	return cf, nil
}

// DeleteConflict closes a conflict (no error if already closed).
func (t *tx) DeleteConflict(ctx context.Context, id int64) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	_, err := t.run(ctx, fmt.Sprintf("delete conflict %d", id), "DELETE FROM conflicts WHERE id = $1", []any{id}, nil)
	return err
}

// SeeDelivery records a webhook delivery id and reports whether it was
// already recorded. An id is remembered for seven days of the deliveries'
// own clock (at), then reads as new; an empty id is never recorded, so
// never seen. Every replica shares the record, so a delivery repeated to
// another replica is seen too.
func (t *tx) SeeDelivery(ctx context.Context, target, deliveryID string, at time.Time) (bool, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if deliveryID == "" {
		return false, nil
	}
	op := "record delivery " + deliveryID + " of " + target
	if at.IsZero() {
		at = t.s.now()
	}
	at = at.UTC()
	cutoff := at.Add(-deliveryRetention)
	n := unixNanos(at)
	if next := t.s.nextPrune.Load(); n >= next && t.s.nextPrune.CompareAndSwap(next, n+int64(pruneEvery)) {
		// Keeps the table small; it is not what makes an old id read as
		// new, which the insert below decides by itself.
		if _, err := t.run(ctx, op, "DELETE FROM deliveries WHERE seen_at < $1", []any{cutoff}, nil); err != nil {
			return false, err
		}
	}
	tag, err := t.run(ctx, op, `INSERT INTO deliveries (target, delivery_id, seen_at) VALUES ($1, $2, $3)
		ON CONFLICT (target, delivery_id) DO UPDATE SET seen_at = excluded.seen_at WHERE deliveries.seen_at < $4`,
		[]any{target, deliveryID, at, cutoff}, nil)
	if err != nil {
		return false, err
	}
	return tag.RowsAffected() == 0, nil
}

// unixNanos is t in Unix nanoseconds, clamped to what int64 holds.
func unixNanos(t time.Time) int64 {
	switch {
	case t.Before(time.Unix(0, math.MinInt64)):
		return math.MinInt64
	case t.After(time.Unix(0, math.MaxInt64)):
		return math.MaxInt64
	}
	return t.UnixNano()
}
