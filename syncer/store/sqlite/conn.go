package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// stmtID names one of the statements every connection prepares once.
type stmtID int

const (
	stBeginRead stmtID = iota
	stBeginWrite
	stCommit
	stRollback
	stDataVersion

	stItem
	stItems
	stInsertItem
	stUpdateItem
	stNextID
	stRaiseID

	stLink
	stLinkByRemote
	stLinks
	stAllLinks
	stLinkCounts
	stPutLink
	stRefreshLink

	stCursor
	stPutCursor

	stAddIntent
	stDeleteIntent
	stIntents
	stAllIntents
	stIntentsOf

	stPutConflict
	stConflicts
	stConflictsOf
	stConflict
	stDeleteConflict

	stSeeDelivery
	stPruneDeliveries

	stTableVersions

	nStmts
)

var stmtSQL = [nStmts]string{
	stBeginRead:   "BEGIN DEFERRED",
	stBeginWrite:  "BEGIN IMMEDIATE",
	stCommit:      "COMMIT",
	stRollback:    "ROLLBACK",
	stDataVersion: "PRAGMA data_version",

	stItem:       "SELECT id, version, updated, data FROM items WHERE id = ?",
	stItems:      "SELECT id, version, updated, data FROM items ORDER BY num, id",
	stInsertItem: "INSERT INTO items (id, num, version, updated, data) VALUES (?, ?, ?, ?, ?)",
	stUpdateItem: "UPDATE items SET version = ?, updated = ?, data = ? WHERE id = ?",
	stNextID:     "UPDATE sequences SET value = value + 1 WHERE name = 'item' RETURNING value",
	stRaiseID:    "UPDATE sequences SET value = ? WHERE name = 'item' AND value < ?",

	stLink:         "SELECT " + linkCols + " FROM links WHERE target = ? AND item_id = ?",
	stLinkByRemote: "SELECT " + linkCols + " FROM links WHERE target = ? AND remote_id = ? ORDER BY state = 'active' DESC, synced_at DESC, item_num, item_id LIMIT 1",
	stLinks:        "SELECT " + linkCols + " FROM links WHERE target = ? ORDER BY item_num, item_id",
	stAllLinks:     "SELECT " + linkCols + " FROM links ORDER BY target, item_num, item_id",
	stLinkCounts:   "SELECT target, state, count(*) FROM links GROUP BY target, state",
	stPutLink: `INSERT INTO links (` + linkCols + `, item_num) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (target, item_id) DO UPDATE SET remote_id = excluded.remote_id, remote_key = excluded.remote_key,
		url = excluded.url, state = excluded.state, base = excluded.base, comments = excluded.comments,
		remote_version = excluded.remote_version, remote_updated = excluded.remote_updated,
		synced_at = excluded.synced_at, last_error = excluded.last_error`,
	// stRefreshLink rewrites a link whose record and state stay the same,
	// the common case (a reconcile storing its new base). SQLite rewrites
	// the entries of every index that has a column in the SET list, so
	// leaving remote_id and state out spares the two remote-id indexes:
	// two fewer pages in the WAL per commit.
	stRefreshLink: `UPDATE links SET remote_key = ?, url = ?, base = ?, comments = ?, remote_version = ?,
		remote_updated = ?, synced_at = ?, last_error = ?
		WHERE target = ? AND item_id = ? AND remote_id = ? AND state = ?`,

	stCursor:    "SELECT cursor FROM cursors WHERE target = ?",
	stPutCursor: "INSERT INTO cursors (target, cursor) VALUES (?, ?) ON CONFLICT (target) DO UPDATE SET cursor = excluded.cursor",

	stAddIntent:    "INSERT INTO intents (target, item_id, op, created) VALUES (?, ?, ?, ?) RETURNING id",
	stDeleteIntent: "DELETE FROM intents WHERE id = ?",
	stIntents:      "SELECT " + intentCols + " FROM intents WHERE target = ? ORDER BY created, id",
	stAllIntents:   "SELECT " + intentCols + " FROM intents ORDER BY created, id",
	stIntentsOf:    "SELECT " + intentCols + " FROM intents WHERE target = ? AND item_id = ? ORDER BY created, id",

	stPutConflict: `INSERT INTO conflicts (target, client, item_id, field, base, canonical, remote, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (target, item_id, field) DO UPDATE SET client = excluded.client, base = excluded.base,
		canonical = excluded.canonical, remote = excluded.remote, created = excluded.created
		RETURNING id`,
	stConflicts:      "SELECT " + conflictCols + " FROM conflicts ORDER BY created, id",
	stConflictsOf:    "SELECT " + conflictCols + " FROM conflicts WHERE target = ? AND item_id = ? ORDER BY created, id",
	stConflict:       "SELECT " + conflictCols + " FROM conflicts WHERE id = ?",
	stDeleteConflict: "DELETE FROM conflicts WHERE id = ?",

	stSeeDelivery: `INSERT INTO deliveries (target, delivery_id, seen_at) VALUES (?, ?, ?)
		ON CONFLICT (target, delivery_id) DO UPDATE SET seen_at = excluded.seen_at WHERE deliveries.seen_at < ?`,
	stPruneDeliveries: "DELETE FROM deliveries WHERE seen_at < ?",

	stTableVersions: "SELECT coalesce(max(version) FILTER (WHERE name = 'conflicts'), 0), coalesce(max(version) FILTER (WHERE name = 'intents'), 0) FROM table_versions",
}

const (
	linkCols     = "target, item_id, remote_id, remote_key, url, state, base, comments, remote_version, remote_updated, synced_at, last_error"
	intentCols   = "id, target, item_id, op, created"
	conflictCols = "id, target, client, item_id, field, base, canonical, remote, created"
)

// conn is one connection kept for the store's lifetime, with the
// statements prepared on it so far. Each has a database/sql pool of its
// own: connections are taken once and kept (a pool that closed and
// reopened them would drop their prepared statements and, for Memory, the
// data), and read connections sharing one pool would contend for its
// lock on every statement.
type conn struct {
	db    *sql.DB
	c     *sql.Conn
	write bool
	stmts [nStmts]*sql.Stmt
}

func (s *Store) newConn(ctx context.Context, write bool) (*conn, error) {
	db, err := sql.Open("sqlite", s.dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", s.path, err)
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	c, err := db.Conn(ctx)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", s.path, err)
	}
	cn := &conn{db: db, c: c, write: write}
	if !write {
		// A read connection never writes, even by mistake.
		for _, p := range []string{"PRAGMA query_only=1", "PRAGMA cache_size=-8192"} {
			if _, err := c.ExecContext(ctx, p); err != nil {
				cn.close()
				return nil, fmt.Errorf("sqlite: open %s: %s: %w", s.path, p, err)
			}
		}
	}
	return cn, nil
}

// stmt returns the prepared statement id, preparing it on first use.
func (c *conn) stmt(id stmtID) (*sql.Stmt, error) {
	if st := c.stmts[id]; st != nil {
		return st, nil
	}
	st, err := c.c.PrepareContext(context.Background(), stmtSQL[id])
	if err != nil {
		return nil, err
	}
	c.stmts[id] = st
	return st, nil
}

// Statements run with a context that is never cancelled: every store
// method checks the caller's context first, statements are short, and a
// cancellable context costs two goroutines per statement (one in
// database/sql, one in the driver).
var bg = context.Background()

func (c *conn) exec(id stmtID, args ...any) (sql.Result, error) {
	st, err := c.stmt(id)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(bg, args...)
}

func (c *conn) query(id stmtID, args ...any) (*sql.Rows, error) {
	st, err := c.stmt(id)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(bg, args...)
}

func (c *conn) queryRow(id stmtID, args ...any) (*sql.Row, error) {
	st, err := c.stmt(id)
	if err != nil {
		return nil, err
	}
	return st.QueryRowContext(bg, args...), nil
}

func (c *conn) close() error {
	var errs []error
	for i, st := range c.stmts {
		if st != nil {
			errs = append(errs, st.Close())
			c.stmts[i] = nil
		}
	}
	errs = append(errs, c.c.Close(), c.db.Close())
	return errors.Join(errs...)
}
