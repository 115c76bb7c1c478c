package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/backlogd/backlogd/syncer/store"
)

// A database written by the first release is brought up to date, keeping
// its rows, and works with the caches the later steps support.
func TestADatabaseAtSchemaVersion1IsUpgraded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "backlogd.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		"CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)",
		fmt.Sprintf("PRAGMA application_id=%d", applicationID),
		migrations[0].sql,
		"INSERT INTO schema_migrations VALUES (1, 'initial schema', '2026-01-01T00:00:00Z')",
		"INSERT INTO conflicts (target, client, item_id, field, base, canonical, remote, created) VALUES ('jira', 'acme', 'BL-1', 'title', 'a', 'b', 'c', 1)",
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%.40s: %v", q, err)
		}
	}
	db.Close()

	ctx := context.Background()
	st, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var current int
	w := <-st.writer // every connection of the pool is pinned: borrow the writer
	err = w.c.QueryRowContext(ctx, "SELECT max(version) FROM schema_migrations").Scan(&current)
	st.writer <- w
	if err != nil || current != SchemaVersion() {
		t.Fatalf("after Open the schema is at version %d (%v), want %d", current, err, SchemaVersion())
	}
	list := func() []store.Conflict {
		var cs []store.Conflict
		if err := st.Tx(ctx, func(tx store.Tx) (err error) { cs, err = tx.Conflicts(ctx); return err }); err != nil {
			t.Fatal(err)
		}
		return cs
	}
	if cs := list(); len(cs) != 1 || cs[0].Remote != "c" {
		t.Fatalf("after the upgrade the conflict stored at version 1 reads %v", cs)
	}
	if err := st.Tx(ctx, func(tx store.Tx) error {
		_, err := tx.PutConflict(ctx, store.Conflict{Target: "jira", ItemID: "BL-1", Field: "title", Remote: "d"})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if cs := list(); len(cs) != 1 || cs[0].Remote != "d" {
		t.Errorf("after a replace the conflicts read %v, want the new remote value d", cs)
	}
}
