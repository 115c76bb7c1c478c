package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/backlogd/backlogd/backlog"
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

// A database in which an earlier backlogd linked one record to two items
// (a record adopted twice) keeps the link LinkByRemote found, marks the
// other gone with the reason, and refuses a second active link from then
// on.
func TestARecordLinkedTwiceBeforeStep3KeepsOneLink(t *testing.T) {
	path := filepath.Join(t.TempDir(), "backlogd.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	link := func(item string, num, synced int) string {
		return fmt.Sprintf(`INSERT INTO links (target, item_id, item_num, remote_id, remote_key, url, state, base, remote_version, synced_at, last_error)
			VALUES ('acme', '%s', %d, '7', 'ACME-7', '', 'active', x'0100', '', %d, '')`, item, num, synced)
	}
	for _, q := range []string{
		"CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)",
		fmt.Sprintf("PRAGMA application_id=%d", applicationID),
		migrations[0].sql,
		migrations[1].sql,
		"INSERT INTO schema_migrations VALUES (1, 'initial schema', '2026-01-01T00:00:00Z'), (2, 'table versions', '2026-01-01T00:00:00Z')",
		link("BL-3", 3, 100),
		link("BL-4", 4, 200), // synced last: the one LinkByRemote returned
		link("BL-5", 5, 50),
		strings.Replace(link("BL-6", 6, 10), "'7'", "'8'", 1), // another record, linked once
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
	var links []store.Link
	if err := st.Tx(ctx, func(tx store.Tx) (err error) { links, err = tx.Links(ctx, "acme"); return err }); err != nil {
		t.Fatal(err)
	}
	want := map[string]store.LinkState{"BL-3": store.LinkGone, "BL-4": store.LinkActive, "BL-5": store.LinkGone, "BL-6": store.LinkActive}
	for _, l := range links {
		if l.State != want[l.ItemID] {
			t.Errorf("after the upgrade %s's link is %s, want %s", l.ItemID, l.State, want[l.ItemID])
		}
		if l.State == store.LinkGone && !strings.Contains(l.LastError, "adopted twice") {
			t.Errorf("%s's link was marked gone with last error %q, want the reason", l.ItemID, l.LastError)
		}
	}
	err = st.Tx(ctx, func(tx store.Tx) error {
		return tx.PutLink(ctx, store.Link{Target: "acme", ItemID: "BL-3", RemoteID: "7", State: store.LinkActive, Base: backlog.Fields{}})
	})
	if !errors.Is(err, store.ErrStale) {
		t.Errorf("linking record 7 to BL-3 again after the upgrade returned %v, want ErrStale", err)
	}
}

// A reconcile reads its own key's intents and conflicts: those reads go
// through an index, so their cost does not grow with the outbox or the
// conflict queue.
func TestAKeysIntentsAndConflictsAreReadThroughAnIndex(t *testing.T) {
	st, err := Open(context.Background(), filepath.Join(t.TempDir(), "backlogd.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	w := <-st.writer // every connection of the pool is pinned: borrow the writer
	defer func() { st.writer <- w }()
	for _, id := range []stmtID{stIntentsOf, stConflictsOf} {
		rows, err := w.c.QueryContext(context.Background(), "EXPLAIN QUERY PLAN "+stmtSQL[id], "jira", "BL-1")
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var a, b, c int
			var detail string
			if err := rows.Scan(&a, &b, &c, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		joined := strings.Join(plan, "; ")
		// Sorting a key's conflicts (one per field at most) is no cost.
		if !strings.Contains(joined, "USING INDEX") || !strings.Contains(joined, "item_id=?") || strings.Contains(joined, "SCAN") {
			t.Errorf("%s\nis planned as %q, want a search of an index by target and item", stmtSQL[id], joined)
		}
	}
}
