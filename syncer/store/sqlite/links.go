package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/backlogd/backlogd/syncer/store"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Link reads the link of item on target; store.ErrNotFound if absent.
func (t *tx) Link(ctx context.Context, target, itemID string) (store.Link, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	l, err := t.oneLink(ctx, stLink, target, itemID)
	switch {
	case err != nil:
		return store.Link{}, fmt.Errorf("sqlite: read link %s/%s: %w", target, itemID, err)
	case l == nil:
		return store.Link{}, fmt.Errorf("sqlite: link %s/%s: %w", target, itemID, store.ErrNotFound)
	}
	return *l, nil
}

// LinkByRemote finds the link of a record; store.ErrNotFound if absent.
// Should several items have been linked to the record over time, the
// active link wins, then the one synced last.
func (t *tx) LinkByRemote(ctx context.Context, target, remoteID string) (store.Link, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	l, err := t.oneLink(ctx, stLinkByRemote, target, remoteID)
	switch {
	case err != nil:
		return store.Link{}, fmt.Errorf("sqlite: find link of record %s on %s: %w", remoteID, target, err)
	case l == nil:
		return store.Link{}, fmt.Errorf("sqlite: link of record %s on %s: %w", remoteID, target, store.ErrNotFound)
	}
	return *l, nil
}

func (t *tx) oneLink(ctx context.Context, id stmtID, a, b string) (*store.Link, error) {
	c, err := t.use(ctx, false)
	if err != nil {
		return nil, err
	}
	args := []any{a, b}
	t.record(c, id, args)
	rows, err := c.query(id, args...)
	if err != nil {
		return nil, err
	}
	var l store.Link
	found, err := scanOne(rows, func(r *sql.Rows) (err error) { l, err = scanLink(r); return err })
	if err != nil || !found {
		return nil, err
	}
	return &l, nil
}

// Links lists a target's links ("" for every target), by target and then
// by item id number.
func (t *tx) Links(ctx context.Context, target string) ([]store.Link, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	fail := func(err error) ([]store.Link, error) {
		if target == "" {
			return nil, fmt.Errorf("sqlite: list links: %w", err)
		}
		return nil, fmt.Errorf("sqlite: list links of %s: %w", target, err)
	}
	c, err := t.use(ctx, false)
	if err != nil {
		return fail(err)
	}
	id, args := stAllLinks, []any(nil)
	if target != "" {
		id, args = stLinks, []any{target}
	}
	t.record(c, id, args)
	rows, err := c.query(id, args...)
	if err != nil {
		return fail(err)
	}
	defer rows.Close()
	var links []store.Link
	for rows.Next() {
		if len(links)%1024 == 1023 {
			if err := ctx.Err(); err != nil {
				return fail(err)
			}
		}
		l, err := scanLink(rows)
		if err != nil {
			return fail(err)
		}
		links = append(links, l)
	}
	if err := rows.Err(); err != nil {
		return fail(err)
	}
	return links, nil
}

// LinkCounts counts the links of every target by state.
func (t *tx) LinkCounts(ctx context.Context) (map[string]map[store.LinkState]int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	c, err := t.use(ctx, false)
	if err != nil {
		return nil, fmt.Errorf("sqlite: count links: %w", err)
	}
	t.record(c, stLinkCounts, nil)
	rows, err := c.query(stLinkCounts)
	if err != nil {
		return nil, fmt.Errorf("sqlite: count links: %w", err)
	}
	defer rows.Close()
	out := map[string]map[store.LinkState]int{}
	for rows.Next() {
		var target, state string
		var n int
		if err := rows.Scan(&target, &state, &n); err != nil {
			return nil, fmt.Errorf("sqlite: count links: %w", err)
		}
		if out[target] == nil {
			out[target] = map[store.LinkState]int{}
		}
		out[target][store.LinkState(state)] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: count links: %w", err)
	}
	return out, nil
}

func scanLink(r *sql.Rows) (store.Link, error) {
	var (
		l                       store.Link
		state                   string
		base, comments          sql.RawBytes
		remoteUpdated, syncedAt timeScan
	)
	err := r.Scan(&l.Target, &l.ItemID, &l.RemoteID, &l.RemoteKey, &l.URL, &state, &base, &comments,
		&l.RemoteVersion, &remoteUpdated, &syncedAt, &l.LastError)
	if err != nil {
		return store.Link{}, err
	}
	l.State = store.LinkState(state)
	l.RemoteUpdated, l.SyncedAt = remoteUpdated.t, syncedAt.t
	if l.Base, err = decodeFields(base); err != nil {
		return store.Link{}, fmt.Errorf("link %s/%s: %w", l.Target, l.ItemID, err)
	}
	if l.Comments, err = decodeComments(comments); err != nil {
		return store.Link{}, fmt.Errorf("link %s/%s: %w", l.Target, l.ItemID, err)
	}
	return l, nil
}

// PutLink creates or replaces the link (target, item); a second active
// link to one record fails the transaction with store.ErrStale.
func (t *tx) PutLink(ctx context.Context, l store.Link) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if l.Target == "" || l.ItemID == "" {
		return fmt.Errorf("sqlite: put link %q/%q: a link needs a target and an item id", l.Target, l.ItemID)
	}
	fail := func(err error) error { return fmt.Errorf("sqlite: put link %s/%s: %w", l.Target, l.ItemID, err) }
	remoteUpdated, err := timeValue("remote_updated", l.RemoteUpdated)
	if err != nil {
		return fail(err)
	}
	syncedAt, err := timeValue("synced_at", l.SyncedAt)
	if err != nil {
		return fail(err)
	}
	c, err := t.use(ctx, true)
	if err != nil {
		return fail(err)
	}
	base, comments := encodeFields(l.Base), encodeComments(l.Comments)
	res, err := c.exec(stRefreshLink, l.RemoteKey, l.URL, base, comments, l.RemoteVersion, remoteUpdated, syncedAt,
		l.LastError, l.Target, l.ItemID, l.RemoteID, string(l.State))
	if err != nil {
		return fail(err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 1 {
		return nil
	}
	// A new link, or one whose record or state changes.
	_, err = c.exec(stPutLink, l.Target, l.ItemID, l.RemoteID, l.RemoteKey, l.URL, string(l.State),
		base, comments, l.RemoteVersion, remoteUpdated, syncedAt, l.LastError, idNumber(l.ItemID))
	if isUniqueViolation(err) {
		// Another item's active link has the record (schema step 3): the
		// caller decided on a state that is gone, or never was. Failing the
		// whole transaction, even if fn drops the error, keeps the record
		// one item's.
		t.err = fail(fmt.Errorf("record %s on %s is linked to another item already: %w", l.RemoteID, l.Target, store.ErrStale))
		return t.err
	}
	if err != nil {
		return fail(err)
	}
	return nil
}

// isUniqueViolation reports whether err is SQLite refusing a row that a
// unique index already holds.
func isUniqueViolation(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE
}

// Cursor reads a target's polling cursor ("" when none).
func (t *tx) Cursor(ctx context.Context, target string) (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	c, err := t.use(ctx, false)
	if err != nil {
		return "", fmt.Errorf("sqlite: read cursor of %s: %w", target, err)
	}
	args := []any{target}
	t.record(c, stCursor, args)
	row, err := c.queryRow(stCursor, args...)
	var cursor string
	if err == nil {
		err = row.Scan(&cursor)
	}
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return "", nil
	case err != nil:
		return "", fmt.Errorf("sqlite: read cursor of %s: %w", target, err)
	}
	return cursor, nil
}

// PutCursor stores a target's polling cursor.
func (t *tx) PutCursor(ctx context.Context, target, cursor string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	c, err := t.use(ctx, true)
	if err == nil {
		_, err = c.exec(stPutCursor, target, cursor)
	}
	if err != nil {
		return fmt.Errorf("sqlite: put cursor of %s: %w", target, err)
	}
	return nil
}
