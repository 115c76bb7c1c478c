package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

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
// As in the SQLite store there are no foreign keys: the syncer may record
// a link or a conflict of an item in the transaction that stores it or in
// a later one, and a missing row is never a reason to refuse a write.
var migrations = []migration{
	{1, "initial schema", `
CREATE TABLE sequences (
	name  text PRIMARY KEY,
	value bigint NOT NULL
);
INSERT INTO sequences (name, value) VALUES ('item', 0);

CREATE TABLE items (
	id      text PRIMARY KEY,
	num     bigint NOT NULL,   -- the id's number, for ordering BL-2 before BL-10
	version bigint NOT NULL,
	updated timestamptz,
	data    jsonb NOT NULL     -- the item, without version and updated
);
CREATE INDEX items_by_num ON items (num, id);

CREATE TABLE links (
	target         text NOT NULL,
	item_id        text NOT NULL,
	item_num       bigint NOT NULL,
	remote_id      text NOT NULL,
	remote_key     text NOT NULL,
	url            text NOT NULL,
	state          text NOT NULL,
	base           jsonb,      -- NULL: no agreed state yet; {} an agreed empty one
	comments       jsonb,
	remote_version text NOT NULL,
	remote_updated timestamptz,
	synced_at      timestamptz,
	last_error     text NOT NULL,
	PRIMARY KEY (target, item_id)
);
CREATE INDEX links_by_remote ON links (target, remote_id);

CREATE TABLE cursors (
	target text PRIMARY KEY,
	cursor text NOT NULL
);

-- Identity columns come from sequences, which never hand a value out
-- twice, so a late acknowledgement can never delete a newer intent.
CREATE TABLE intents (
	id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	target  text NOT NULL,
	item_id text NOT NULL,
	op      text NOT NULL,
	created timestamptz
);
CREATE INDEX intents_by_target ON intents (target, created, id);

CREATE TABLE conflicts (
	id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	target    text NOT NULL,
	client    text NOT NULL,
	item_id   text NOT NULL,
	field     text NOT NULL,
	base      text NOT NULL,
	canonical text NOT NULL,
	remote    text NOT NULL,
	created   timestamptz,
	UNIQUE (target, item_id, field)
);

CREATE TABLE deliveries (
	target      text NOT NULL,
	delivery_id text NOT NULL,
	seen_at     timestamptz NOT NULL,
	PRIMARY KEY (target, delivery_id)
);
CREATE INDEX deliveries_by_time ON deliveries (seen_at);
`},
	{2, "replicas, leases with fencing tokens, wake-ups", `
CREATE TABLE replicas (
	id         text PRIMARY KEY,
	host       text NOT NULL,
	started_at timestamptz NOT NULL,
	seen_at    timestamptz NOT NULL,
	expires_at timestamptz NOT NULL
);

-- One row per target, never deleted, so a token only ever grows.
CREATE TABLE leases (
	target      text PRIMARY KEY,
	holder      text NOT NULL,
	token       bigint NOT NULL,
	acquired_at timestamptz NOT NULL,
	renewed_at  timestamptz NOT NULL,
	expires_at  timestamptz NOT NULL
);
-- The token is a key column: a takeover, which changes it, needs the
-- FOR UPDATE row lock and so waits for every fenced transaction holding
-- FOR KEY SHARE on the row (backlogd_fence); a renewal, which changes no
-- key column, takes FOR NO KEY UPDATE and waits for none of them.
CREATE UNIQUE INDEX leases_fence ON leases (target, token);

-- Queue keys recorded for a target by a replica that does not own it.
CREATE TABLE wakeups (
	target   text NOT NULL,
	key      text NOT NULL,
	added_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (target, key)
);

-- backlogd_fence fails the transaction unless p_holder holds the lease on
-- p_target with token p_token and at least p_margin_us microseconds left,
-- and keeps the lease from changing hands until the transaction ends.
CREATE FUNCTION backlogd_fence(p_target text, p_holder text, p_token bigint, p_margin_us bigint)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	PERFORM 1 FROM leases
	WHERE target = p_target AND holder = p_holder AND token = p_token
	  AND expires_at > now() + p_margin_us * interval '1 microsecond'
	FOR KEY SHARE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'the lease on target % is no longer held by replica % with token %', p_target, p_holder, p_token
			USING ERRCODE = 'BLF01';
	END IF;
END
$$;
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
			PARTITION BY target, remote_id ORDER BY synced_at DESC NULLS LAST, item_num, item_id) AS n
		FROM links WHERE state = 'active'
	) AS ranked WHERE n > 1
);
-- A second active link waits for the first's transaction and then fails
-- with a unique violation, which the store reports as ErrStale: the
-- caller reads again and finds the first.
CREATE UNIQUE INDEX links_active_remote ON links (target, remote_id) WHERE state = 'active';
`},
	{4, "intents by key", `
-- A reconcile reads its own key's intents (IntentsOf); conflicts are
-- found by key through their UNIQUE (target, item_id, field) index.
CREATE INDEX intents_by_key ON intents (target, item_id, created, id);
`},
}

// SchemaVersion is the schema version this build of backlogd writes.
func SchemaVersion() int { return len(migrations) }

// migrate brings the schema up to date in one transaction holding a
// transaction-level advisory lock: replicas that start together take
// turns, the first applies the missing steps and the others find none
// missing. A failed step leaves the database as it was.
func (s *Store) migrate(ctx context.Context) (err error) {
	where := "the database"
	if s.schema != "" {
		where = "schema " + s.schema
	}
	fail := func(format string, args ...any) error {
		return fmt.Errorf("postgres: migrate %s: "+format, append([]any{where}, args...)...)
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return s.wrap("migrate "+where, err)
	}
	defer conn.Release()
	c := conn.Conn()
	s.roundTrips.Add(1)
	tx, err := c.Begin(ctx)
	if err != nil {
		return s.wrap("migrate "+where, err)
	}
	defer func() {
		if err != nil {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), endTimeout)
			defer cancel()
			_ = tx.Rollback(rctx)
		}
	}()
	step := func(sql string, args ...any) error {
		s.roundTrips.Add(1)
		_, err := tx.Exec(ctx, sql, args...)
		return err
	}
	if err := step("SELECT pg_advisory_xact_lock($1)", s.lockKey()); err != nil {
		return fail("take the migration lock: %w", s.wrap("lock", err))
	}
	if s.schema != "" {
		if err := step("CREATE SCHEMA IF NOT EXISTS " + pgx.Identifier{s.schema}.Sanitize()); err != nil {
			return fail("%w", s.wrap("create schema", err))
		}
	}
	// What the search path's first schema holds: our bookkeeping table,
	// and whether it holds anything else.
	var tracked, tables int
	s.roundTrips.Add(1)
	err = tx.QueryRow(ctx, `SELECT
		count(*) FILTER (WHERE table_name = 'schema_migrations'),
		count(*)
		FROM information_schema.tables WHERE table_schema = current_schema()`).Scan(&tracked, &tables)
	if err != nil {
		return fail("%w", s.wrap("read", err))
	}
	if tracked == 0 && tables > 0 {
		return fmt.Errorf("postgres: %s already holds %d tables of another program and no backlogd schema_migrations; "+
			"point store.dsn at an empty database, or give backlogd its own schema", where, tables)
	}
	if tracked == 0 {
		if err := step(`CREATE TABLE schema_migrations (
			version    integer PRIMARY KEY,
			name       text NOT NULL,
			applied_at timestamptz NOT NULL DEFAULT now()
		)`); err != nil {
			return fail("%w", s.wrap("create schema_migrations", err))
		}
	}
	var current int
	s.roundTrips.Add(1)
	if err := tx.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM schema_migrations").Scan(&current); err != nil {
		return fail("%w", s.wrap("read version", err))
	}
	if current > len(migrations) {
		return fmt.Errorf("postgres: %s has schema version %d, but this backlogd knows versions up to %d: "+
			"the database was written by a newer backlogd; run that version (or a newer one) again, "+
			"or restore a backup taken before the upgrade", where, current, len(migrations))
	}
	for _, m := range migrations[current:] {
		if err := step(m.sql); err != nil {
			return fail("step %d (%s): %w", m.version, m.name, s.wrap("apply", err))
		}
		if err := step("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", m.version, m.name); err != nil {
			return fail("record step %d: %w", m.version, s.wrap("record", err))
		}
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), endTimeout)
	defer cancel()
	s.roundTrips.Add(1)
	if err := tx.Commit(cctx); err != nil {
		return fail("%w", s.wrap("commit", err))
	}
	return nil
}

// appliedAt is for tests: when each step was applied.
func (s *Store) appliedAt(ctx context.Context) (map[int]time.Time, error) {
	out := map[int]time.Time{}
	err := s.query(ctx, "read schema_migrations", "SELECT version, applied_at FROM schema_migrations", nil, func(r pgx.Rows) error {
		var v int
		var at time.Time
		if err := r.Scan(&v, &at); err != nil {
			return err
		}
		out[v] = at
		return nil
	})
	return out, err
}
