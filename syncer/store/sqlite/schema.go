package sqlite

import (
	"context"
	"fmt"
	"time"
)

// applicationID marks a backlogd database in the SQLite header ("blgd"),
// so that `file` and Open recognise one.
const applicationID = 0x626c6764

// migration is one step of the schema. Steps are never edited once
// released: a change is a new step, appended.
type migration struct {
	version int
	name    string
	sql     string
}

// migrations are applied in order; len(migrations) is the schema version
// this binary writes.
//
// There are no foreign keys: the syncer may record a link or a conflict
// of an item in the transaction that stores it or in a later one, and a
// missing row is never a reason to refuse a write.
var migrations = []migration{
	{1, "initial schema", `
CREATE TABLE sequences (
	name  TEXT PRIMARY KEY,
	value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO sequences (name, value) VALUES ('item', 0);

CREATE TABLE items (
	id      TEXT PRIMARY KEY,
	num     INTEGER NOT NULL,  -- the id's number, for ordering BL-2 before BL-10
	version INTEGER NOT NULL,
	updated INTEGER,           -- Unix nanoseconds, UTC
	data    BLOB NOT NULL      -- the item as JSON, without version and updated
);
CREATE INDEX items_by_num ON items (num, id);

CREATE TABLE links (
	target         TEXT NOT NULL,
	item_id        TEXT NOT NULL,
	item_num       INTEGER NOT NULL,
	remote_id      TEXT NOT NULL,
	remote_key     TEXT NOT NULL,
	url            TEXT NOT NULL,
	state          TEXT NOT NULL,
	base           BLOB NOT NULL,  -- codec.go: encodeFields
	comments       BLOB,           -- codec.go: encodeComments
	remote_version TEXT NOT NULL,
	remote_updated INTEGER,
	synced_at      INTEGER,
	last_error     TEXT NOT NULL,
	PRIMARY KEY (target, item_id)
);
CREATE INDEX links_by_remote ON links (target, remote_id);

CREATE TABLE cursors (
	target TEXT PRIMARY KEY,
	cursor TEXT NOT NULL
) WITHOUT ROWID;

-- AUTOINCREMENT: an id is never handed out twice, so a late
-- acknowledgement can never delete a newer intent.
CREATE TABLE intents (
	id      INTEGER PRIMARY KEY AUTOINCREMENT,
	target  TEXT NOT NULL,
	item_id TEXT NOT NULL,
	op      TEXT NOT NULL,
	created INTEGER
);
CREATE INDEX intents_by_target ON intents (target, created, id);

CREATE TABLE conflicts (
	id        INTEGER PRIMARY KEY AUTOINCREMENT,
	target    TEXT NOT NULL,
	client    TEXT NOT NULL,
	item_id   TEXT NOT NULL,
	field     TEXT NOT NULL,
	base      TEXT NOT NULL,
	canonical TEXT NOT NULL,
	remote    TEXT NOT NULL,
	created   INTEGER,
	UNIQUE (target, item_id, field)
);

CREATE TABLE deliveries (
	target      TEXT NOT NULL,
	delivery_id TEXT NOT NULL,
	seen_at     INTEGER NOT NULL,
	PRIMARY KEY (target, delivery_id)
) WITHOUT ROWID;
CREATE INDEX deliveries_by_time ON deliveries (seen_at);
`},
	{2, "table versions for the conflict and outbox caches", `
-- Every change to conflicts or intents, by any connection or program,
-- bumps its table's version in the same transaction; a committed version
-- therefore names one content, which is what lets readers reuse a list
-- they already decoded (cache.go).
CREATE TABLE table_versions (
	name    TEXT PRIMARY KEY,
	version INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO table_versions (name, version) VALUES ('conflicts', 0), ('intents', 0);
CREATE TRIGGER conflicts_inserted AFTER INSERT ON conflicts BEGIN
	UPDATE table_versions SET version = version + 1 WHERE name = 'conflicts'; END;
CREATE TRIGGER conflicts_updated AFTER UPDATE ON conflicts BEGIN
	UPDATE table_versions SET version = version + 1 WHERE name = 'conflicts'; END;
CREATE TRIGGER conflicts_deleted AFTER DELETE ON conflicts BEGIN
	UPDATE table_versions SET version = version + 1 WHERE name = 'conflicts'; END;
CREATE TRIGGER intents_inserted AFTER INSERT ON intents BEGIN
	UPDATE table_versions SET version = version + 1 WHERE name = 'intents'; END;
CREATE TRIGGER intents_updated AFTER UPDATE ON intents BEGIN
	UPDATE table_versions SET version = version + 1 WHERE name = 'intents'; END;
CREATE TRIGGER intents_deleted AFTER DELETE ON intents BEGIN
	UPDATE table_versions SET version = version + 1 WHERE name = 'intents'; END;
`},
	{3, "one active link per record", `
-- A record belongs to one canonical item: two active links to it are two
-- canonical items (one record adopted twice), each copied to every other
-- target. Earlier versions could store that when a webhook and a poll
-- adopted the same record at once. The link LinkByRemote was returning
-- keeps the record; the others are marked gone, which writes nothing to
-- any tracker, and say why in last_error for status.
UPDATE links SET state = 'gone',
	last_error = 'record ' || remote_id || ' was also linked to another item (adopted twice by an earlier backlogd); this item no longer syncs with it: cancel it if it is a duplicate'
WHERE state = 'active' AND (target, item_id) IN (
	SELECT target, item_id FROM (
		SELECT target, item_id, row_number() OVER (
			PARTITION BY target, remote_id ORDER BY synced_at DESC, item_num, item_id) AS n
		FROM links WHERE state = 'active'
	) AS ranked WHERE n > 1
);
CREATE UNIQUE INDEX links_active_remote ON links (target, remote_id) WHERE state = 'active';
`},
	{4, "intents by key", `
-- A reconcile reads its own key's intents (IntentsOf); conflicts are
-- found by key through their UNIQUE (target, item_id, field) index.
CREATE INDEX intents_by_key ON intents (target, item_id, created, id);
`},
	{5, "one index on intents", `
-- Every push adds an intent and deletes it: each index is one more page
-- in the WAL, twice per push. The table holds only writes in flight, so
-- listing a target's intents (at start-up) reads intents_by_key's target
-- prefix and sorts those few rows.
DROP INDEX intents_by_target;
`},
}

// SchemaVersion is the schema version this build of backlogd writes.
func SchemaVersion() int { return len(migrations) }

// migrate brings the schema up to date in one transaction, so a failed
// step leaves the database as it was. Opening an up-to-date database
// writes nothing.
func (s *Store) migrate(ctx context.Context, w *conn) (err error) {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("sqlite: migrate %s: "+format, append([]any{s.path}, args...)...)
	}
	if _, err := w.c.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return fail("%w", err)
	}
	defer func() {
		if err != nil {
			_, _ = w.c.ExecContext(context.Background(), "ROLLBACK")
		}
	}()
	var appID int64
	if err := w.c.QueryRowContext(ctx, "PRAGMA application_id").Scan(&appID); err != nil {
		return fail("%w", err)
	}
	var tracked, tables int
	err = w.c.QueryRowContext(ctx, `SELECT
		count(*) FILTER (WHERE name = 'schema_migrations'),
		count(*) FILTER (WHERE name NOT LIKE 'sqlite_%')
		FROM sqlite_schema WHERE type = 'table'`).Scan(&tracked, &tables)
	if err != nil {
		return fail("%w", err)
	}
	if (appID != 0 && appID != applicationID) || (tracked == 0 && tables > 0) {
		return fmt.Errorf("sqlite: %s is not a backlogd state store (it holds another program's tables); point store.path at a new file", s.path)
	}
	if tracked == 0 {
		_, err := w.c.ExecContext(ctx, `CREATE TABLE schema_migrations (
			version    INTEGER PRIMARY KEY,
			name       TEXT NOT NULL,
			applied_at TEXT NOT NULL
		)`)
		if err != nil {
			return fail("%w", err)
		}
		if _, err := w.c.ExecContext(ctx, fmt.Sprintf("PRAGMA application_id=%d", applicationID)); err != nil {
			return fail("%w", err)
		}
	}
	var current int
	if err := w.c.QueryRowContext(ctx, "SELECT coalesce(max(version), 0) FROM schema_migrations").Scan(&current); err != nil {
		return fail("%w", err)
	}
	if current > len(migrations) {
		return fmt.Errorf("sqlite: %s has schema version %d, but this backlogd knows versions up to %d: "+
			"the database was written by a newer backlogd; run that version (or a newer one) again, "+
			"or restore a backup taken before the upgrade", s.path, current, len(migrations))
	}
	for _, m := range migrations[current:] {
		if _, err := w.c.ExecContext(ctx, m.sql); err != nil {
			return fail("step %d (%s): %w", m.version, m.name, err)
		}
		_, err := w.c.ExecContext(ctx, "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
			m.version, m.name, time.Now().UTC().Format(time.RFC3339))
		if err != nil {
			return fail("record step %d: %w", m.version, err)
		}
	}
	if current < len(migrations) {
		// For tools that read the header (sqlite3 db 'PRAGMA user_version').
		if _, err := w.c.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version=%d", len(migrations))); err != nil {
			return fail("%w", err)
		}
	}
	if _, err := w.c.ExecContext(ctx, "COMMIT"); err != nil {
		return fail("%w", err)
	}
	return nil
}
