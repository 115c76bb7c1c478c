package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"time"

	"github.com/backlogd/backlogd/backlog"
	"github.com/backlogd/backlogd/syncer/store"
)

// AddIntent records a write about to happen and returns its id; in.ID is
// ignored.
func (t *tx) AddIntent(ctx context.Context, in store.Intent) (int64, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	fail := func(err error) (int64, error) {
		return 0, fmt.Errorf("sqlite: add %s intent for %s/%s: %w", in.Op, in.Target, in.ItemID, err)
	}
	created, err := timeValue("created", in.Created)
	if err != nil {
		return fail(err)
	}
	c, err := t.use(ctx, true)
	if err != nil {
		return fail(err)
	}
	row, err := c.queryRow(stAddIntent, in.Target, in.ItemID, string(in.Op), created)
	var id int64
	if err == nil {
		err = row.Scan(&id)
	}
	if err != nil {
		return fail(err)
	}
	return id, nil
}

// DeleteIntent acknowledges a write (no error if already gone).
func (t *tx) DeleteIntent(ctx context.Context, id int64) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	c, err := t.use(ctx, true)
	if err == nil {
		_, err = c.exec(stDeleteIntent, id)
	}
	if err != nil {
		return fmt.Errorf("sqlite: delete intent %d: %w", id, err)
	}
	return nil
}

// Intents lists pending intents of a target ("" for all), oldest first.
func (t *tx) Intents(ctx context.Context, target string) ([]store.Intent, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	fail := func(err error) ([]store.Intent, error) {
		return nil, fmt.Errorf("sqlite: list intents of %q: %w", target, err)
	}
	c, err := t.use(ctx, false)
	if err != nil {
		return fail(err)
	}
	if t.wrote {
		id, args := stAllIntents, []any(nil)
		if target != "" {
			id, args = stIntents, []any{target}
		}
		ins, err := scanIntents(c, id, args...)
		if err != nil {
			return fail(err)
		}
		return ins, nil
	}
	_, version, err := t.tableVersions(c)
	if err != nil {
		return fail(err)
	}
	all, ok := t.s.intents.get(version)
	if !ok {
		if all, err = scanIntents(c, stAllIntents); err != nil {
			return fail(err)
		}
		t.s.intents.put(version, all)
	}
	if target == "" {
		return all, nil
	}
	var ins []store.Intent
	for _, in := range all {
		if in.Target == target {
			ins = append(ins, in)
		}
	}
	return ins, nil
}

// IntentsOf lists the pending intents of one key, oldest first, with one
// indexed read (schema step 4): the outbox cache would cost a list of
// every intent whenever any changed.
func (t *tx) IntentsOf(ctx context.Context, target, itemID string) ([]store.Intent, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	c, err := t.use(ctx, false)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list intents of %s/%s: %w", target, itemID, err)
	}
	args := []any{target, itemID}
	t.record(c, stIntentsOf, args)
	ins, err := scanIntents(c, stIntentsOf, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list intents of %s/%s: %w", target, itemID, err)
	}
	return ins, nil
}

func scanIntents(c *conn, id stmtID, args ...any) ([]store.Intent, error) {
	rows, err := c.query(id, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ins []store.Intent
	for rows.Next() {
		var in store.Intent
		var op string
		var created timeScan
		if err := rows.Scan(&in.ID, &in.Target, &in.ItemID, &op, &created); err != nil {
			return nil, err
		}
		in.Op, in.Created = store.IntentOp(op), created.t
		ins = append(ins, in)
	}
	return ins, rows.Err()
}

// PutConflict records a conflict, replacing the open one on the same
// (target, item, field), which keeps its id; it returns the conflict's
// id. c.ID is ignored.
func (t *tx) PutConflict(ctx context.Context, cf store.Conflict) (int64, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	fail := func(err error) (int64, error) {
		return 0, fmt.Errorf("sqlite: put conflict on %s %s/%s: %w", cf.Field, cf.Target, cf.ItemID, err)
	}
	created, err := timeValue("created", cf.Created)
	if err != nil {
		return fail(err)
	}
	c, err := t.use(ctx, true)
	if err != nil {
		return fail(err)
	}
	row, err := c.queryRow(stPutConflict, cf.Target, cf.Client, cf.ItemID, string(cf.Field), cf.Base, cf.Canonical, cf.Remote, created)
	var id int64
	if err == nil {
		err = row.Scan(&id)
	}
	if err != nil {
		return fail(err)
	}
	return id, nil
}

// Conflicts lists open conflicts, oldest first.
func (t *tx) Conflicts(ctx context.Context) ([]store.Conflict, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	c, err := t.use(ctx, false)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list conflicts: %w", err)
	}
	if t.wrote {
		cs, err := scanConflicts(c, stConflicts)
		if err != nil {
			return nil, fmt.Errorf("sqlite: list conflicts: %w", err)
		}
		return cs, nil
	}
	version, _, err := t.tableVersions(c)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list conflicts: %w", err)
	}
	if cs, ok := t.s.conflicts.get(version); ok {
		return cs, nil
	}
	cs, err := scanConflicts(c, stConflicts)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list conflicts: %w", err)
	}
	t.s.conflicts.put(version, cs)
	return cs, nil
}

// ConflictsOf lists the open conflicts of one key, oldest first, with one
// read of the (target, item, field) index.
func (t *tx) ConflictsOf(ctx context.Context, target, itemID string) ([]store.Conflict, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	c, err := t.use(ctx, false)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list conflicts of %s/%s: %w", target, itemID, err)
	}
	args := []any{target, itemID}
	t.record(c, stConflictsOf, args)
	cs, err := scanConflicts(c, stConflictsOf, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list conflicts of %s/%s: %w", target, itemID, err)
	}
	return cs, nil
}

func scanConflicts(c *conn, id stmtID, args ...any) ([]store.Conflict, error) {
	rows, err := c.query(id, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var cs []store.Conflict
	for rows.Next() {
		cf, err := scanConflict(rows)
		if err != nil {
			return nil, err
		}
		cs = append(cs, cf)
	}
	return cs, rows.Err()
}

// Conflict reads one open conflict; store.ErrNotFound if absent.
func (t *tx) Conflict(ctx context.Context, id int64) (store.Conflict, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	c, err := t.use(ctx, false)
	if err != nil {
		return store.Conflict{}, fmt.Errorf("sqlite: read conflict %d: %w", id, err)
	}
	args := []any{id}
	t.record(c, stConflict, args)
	rows, err := c.query(stConflict, args...)
	if err != nil {
		return store.Conflict{}, fmt.Errorf("sqlite: read conflict %d: %w", id, err)
	}
	var cf store.Conflict
	found, err := scanOne(rows, func(r *sql.Rows) (err error) { cf, err = scanConflict(r); return err })
	switch {
	case err != nil:
		return store.Conflict{}, fmt.Errorf("sqlite: read conflict %d: %w", id, err)
	case !found:
		return store.Conflict{}, fmt.Errorf("sqlite: conflict %d: %w", id, store.ErrNotFound)
	}
	return cf, nil
}

func scanConflict(r *sql.Rows) (store.Conflict, error) {
	var cf store.Conflict
	var field string
	var created timeScan
	err := r.Scan(&cf.ID, &cf.Target, &cf.Client, &cf.ItemID, &field, &cf.Base, &cf.Canonical, &cf.Remote, &created)
	cf.Field, cf.Created = backlog.Field(field), created.t
	return cf, err
}

// DeleteConflict closes a conflict (no error if already closed).
func (t *tx) DeleteConflict(ctx context.Context, id int64) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	c, err := t.use(ctx, true)
	if err == nil {
		_, err = c.exec(stDeleteConflict, id)
	}
	if err != nil {
		return fmt.Errorf("sqlite: delete conflict %d: %w", id, err)
	}
	return nil
}

// SeeDelivery records a webhook delivery id and reports whether it was
// already recorded. An id is remembered for seven days of the deliveries'
// own clock (at), then reads as new; an empty id is never recorded, so
// never seen.
func (t *tx) SeeDelivery(ctx context.Context, target, deliveryID string, at time.Time) (bool, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if deliveryID == "" {
		return false, nil
	}
	fail := func(err error) (bool, error) {
		return false, fmt.Errorf("sqlite: record delivery %s of %s: %w", deliveryID, target, err)
	}
	if at.IsZero() {
		at = t.s.now()
	}
	n := unixNanos(at)
	c, err := t.use(ctx, true)
	if err != nil {
		return fail(err)
	}
	cutoff := n - int64(deliveryRetention)
	if next := t.s.nextPrune.Load(); n >= next && t.s.nextPrune.CompareAndSwap(next, n+int64(pruneEvery)) {
		// Keeps the table small; it is not what makes an old id read as
		// new, which the insert below decides by itself.
		if _, err := c.exec(stPruneDeliveries, cutoff); err != nil {
			return fail(err)
		}
	}
	res, err := c.exec(stSeeDelivery, target, deliveryID, n, cutoff)
	if err != nil {
		return fail(err)
	}
	added, err := res.RowsAffected()
	if err != nil {
		return fail(err)
	}
	return added == 0, nil
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
