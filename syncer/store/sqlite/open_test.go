package sqlite_test

import (
	"bytes"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/backlogd/backlogd/syncer/store"
	"github.com/backlogd/backlogd/syncer/store/sqlite"
)

func open(t *testing.T, path string, opts ...sqlite.Option) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(t.Context(), path, opts...)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// raw opens the database file directly, as the sqlite3 shell would.
func raw(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func exec(t *testing.T, db *sql.DB, q string, args ...any) {
	t.Helper()
	if _, err := db.Exec(q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func TestOpenCreatesTheDirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data", "state", "backlogd.db")
	st := open(t, path)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() == 0 {
		t.Fatalf("after Open and Close of %s: stat = %v, %v; want a database file", path, fi, err)
	}
	var mode string
	if err := raw(t, path).QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode of the file is %q (%v), want wal", mode, err)
	}
}

func TestReopeningAnUpToDateDatabaseChangesNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "backlogd.db")
	st := open(t, path)
	if err := st.Tx(t.Context(), func(tx store.Tx) error { return tx.PutCursor(t.Context(), "jira", "c") }); err != nil {
		t.Fatal(err)
	}
	st.Close()
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		open(t, path).Close()
	}
	after, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Errorf("reopening an up-to-date database three times changed the file (%d bytes before, %d after)", len(before), len(after))
	}
	rows, err := raw(t, path).Query("SELECT version FROM schema_migrations ORDER BY version")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var versions []int
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		versions = append(versions, v)
	}
	if len(versions) != sqlite.SchemaVersion() || versions[len(versions)-1] != sqlite.SchemaVersion() {
		t.Errorf("schema_migrations holds versions %v after four opens, want 1..%d once each", versions, sqlite.SchemaVersion())
	}
}

func TestADatabaseFromANewerBacklogdIsRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "backlogd.db")
	open(t, path).Close()
	newer := sqlite.SchemaVersion() + 1
	exec(t, raw(t, path), "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, 'from the future', '2030-01-01T00:00:00Z')", newer)

	_, err := sqlite.Open(t.Context(), path)
	if err == nil {
		t.Fatal("Open of a database with a newer schema succeeded")
	}
	for _, want := range []string{path, "schema version " + strconv.Itoa(newer), "newer backlogd", "run that version"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Open error %q does not say %q", err, want)
		}
	}
}

func TestAnotherProgramsDatabaseIsRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "invoices.db")
	exec(t, raw(t, path), "CREATE TABLE invoices (id INTEGER PRIMARY KEY, total TEXT)")
	_, err := sqlite.Open(t.Context(), path)
	if err == nil || !strings.Contains(err.Error(), "not a backlogd state store") {
		t.Fatalf("Open of another program's database returned %v, want an error saying it is not a backlogd state store", err)
	}
	var n int
	if err := raw(t, path).QueryRow("SELECT count(*) FROM sqlite_schema WHERE name = 'items'").Scan(&n); err != nil || n != 0 {
		t.Errorf("a refused Open left %d items tables in the other program's database (%v)", n, err)
	}
}

func TestAFileThatIsNotADatabaseIsAnError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "backlogd.db")
	if err := os.WriteFile(path, bytes.Repeat([]byte("not sqlite\n"), 1000), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := sqlite.Open(t.Context(), path)
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("Open of a text file returned %v, want an error naming the file", err)
	}
}

func TestIDPrefix(t *testing.T) {
	for _, bad := range []string{"bl", "B-L", "1BL", "BL 2"} {
		if _, err := sqlite.Open(t.Context(), sqlite.Memory, sqlite.WithIDPrefix(bad)); err == nil {
			t.Errorf("Open with id prefix %q succeeded, want an error", bad)
		}
	}
	for prefix, want := range map[string]string{"": "BL-1", "ACME": "ACME-1", "P2": "P2-1"} {
		st := open(t, sqlite.Memory, sqlite.WithIDPrefix(prefix))
		var id string
		if err := st.Tx(t.Context(), func(tx store.Tx) (err error) { id, err = tx.NextItemID(t.Context()); return err }); err != nil {
			t.Fatal(err)
		}
		if id != want {
			t.Errorf("with prefix %q the first id is %q, want %q", prefix, id, want)
		}
	}
}

func TestMemoryStoresAreSeparate(t *testing.T) {
	a, b := open(t, sqlite.Memory), open(t, sqlite.Memory)
	ctx := t.Context()
	if err := a.Tx(ctx, func(tx store.Tx) error { return tx.PutCursor(ctx, "jira", "in a") }); err != nil {
		t.Fatal(err)
	}
	var c string
	if err := b.Tx(ctx, func(tx store.Tx) (err error) { c, err = tx.Cursor(ctx, "jira"); return err }); err != nil {
		t.Fatal(err)
	}
	if c != "" {
		t.Errorf("a second memory store reads the first one's cursor %q", c)
	}
}

func TestCloseWaitsForTheTransactionsUnderWay(t *testing.T) {
	path := filepath.Join(t.TempDir(), "backlogd.db")
	st := open(t, path)
	ctx := t.Context()
	started, release := make(chan struct{}), make(chan struct{})
	txDone := make(chan error, 1)
	go func() {
		txDone <- st.Tx(ctx, func(tx store.Tx) error {
			if err := tx.PutCursor(ctx, "jira", "written during Close"); err != nil {
				return err
			}
			close(started)
			<-release
			return nil
		})
	}()
	<-started
	closed := make(chan error, 1)
	go func() { closed <- st.Close() }()
	time.Sleep(20 * time.Millisecond) // let Close reach its wait; the checks below hold either way
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) while a transaction was under way", err)
	default:
	}
	close(release)
	if err := <-txDone; err != nil {
		t.Errorf("the transaction under way at Close failed: %v", err)
	}
	if err := <-closed; err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := st.Close(); err != nil {
		t.Errorf("a second Close returned %v, want nil", err)
	}
	err := st.Tx(ctx, func(tx store.Tx) error { _, err := tx.Cursor(ctx, "jira"); return err })
	if err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("Tx after Close returned %v, want an error saying the store is closed", err)
	}
	var c string
	re := open(t, path)
	if err := re.Tx(ctx, func(tx store.Tx) (err error) { c, err = tx.Cursor(ctx, "jira"); return err }); err != nil {
		t.Fatal(err)
	}
	if c != "written during Close" {
		t.Errorf("after Close and a reopen the cursor is %q, want the one the transaction under way wrote", c)
	}
}

func TestATransactionCannotBeUsedAfterItEnds(t *testing.T) {
	st := open(t, sqlite.Memory)
	ctx := t.Context()
	var kept store.Tx
	if err := st.Tx(ctx, func(tx store.Tx) error { kept = tx; return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := kept.Item(ctx, "BL-1"); err == nil || errors.Is(err, store.ErrNotFound) {
		t.Errorf("Item on a transaction that ended returned %v, want an error saying so", err)
	}
	if err := kept.PutCursor(ctx, "jira", "late"); err == nil {
		t.Error("PutCursor on a transaction that ended succeeded")
	}
}

func TestAPanickingTransactionIsRolledBack(t *testing.T) {
	st := open(t, filepath.Join(t.TempDir(), "backlogd.db"))
	ctx := t.Context()
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("the panic did not come through Tx")
			}
		}()
		_ = st.Tx(ctx, func(tx store.Tx) error {
			if err := tx.PutCursor(ctx, "jira", "before the panic"); err != nil {
				return err
			}
			panic("bug in the caller")
		})
	}()
	// The write connection was given back: this would wait forever if not.
	var c string
	err := st.Tx(ctx, func(tx store.Tx) (err error) {
		if err := tx.PutCursor(ctx, "github", "after"); err != nil {
			return err
		}
		c, err = tx.Cursor(ctx, "jira")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if c != "" {
		t.Errorf("a write made before the panic is stored: cursor %q", c)
	}
}
