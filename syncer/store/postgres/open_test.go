package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/backlogd/backlogd/backlog"
	"github.com/backlogd/backlogd/syncer/store"
	"github.com/backlogd/backlogd/syncer/store/postgres"
	"github.com/jackc/pgx/v5"
)

// newDatabase creates an empty database on the test cluster and returns
// its DSN; it is dropped when the test ends.
func newDatabase(t *testing.T, dsn string) string {
	t.Helper()
	ctx := t.Context()
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "t_" + hex.EncodeToString(b[:])
	admin, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Logf("drop database %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Logf("drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("BACKLOGD_TEST_POSTGRES_DSN must be a URL for this test: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}

func TestReplicasStartingTogetherOnAnEmptyDatabaseMigrateItOnce(t *testing.T) {
	dsn := newDatabase(t, testDSN(t))
	const replicas = 6
	var (
		wg     sync.WaitGroup
		start  = make(chan struct{})
		stores = make([]*postgres.Store, replicas)
		errs   = make([]error, replicas)
	)
	for i := range replicas {
		wg.Go(func() {
			<-start
			stores[i], errs[i] = postgres.Open(t.Context(), dsn)
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("replica %d of %d starting together: %v", i+1, replicas, err)
		} else {
			t.Cleanup(func() { stores[i].Close() })
		}
	}
	if t.Failed() {
		return
	}
	steps, err := postgres.AppliedAt(t.Context(), stores[0])
	if err != nil {
		t.Fatal(err)
	}
	if len(steps) != postgres.SchemaVersion() {
		t.Errorf("schema_migrations records steps %v, want each of 1..%d", steps, postgres.SchemaVersion())
	}
	for v, n := range steps {
		if n != 1 {
			t.Errorf("step %d is recorded %d times, want once", v, n)
		}
	}
	// Every replica works on the schema the first one made: each
	// allocates an id, and none is handed out twice.
	seen := map[string]bool{}
	for i, st := range stores {
		var id string
		err := st.Tx(t.Context(), func(tx store.Tx) (err error) { id, err = tx.NextItemID(t.Context()); return err })
		if err != nil {
			t.Fatalf("replica %d: NextItemID: %v", i+1, err)
		}
		if seen[id] {
			t.Errorf("replica %d got %s, already handed out", i+1, id)
		}
		seen[id] = true
	}
	// Opening an up-to-date database again applies nothing.
	again, err := postgres.Open(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if steps, _ := postgres.AppliedAt(t.Context(), again); len(steps) != postgres.SchemaVersion() {
		t.Errorf("after another open, schema_migrations records %v", steps)
	}
}

func TestOpenRefusesADatabaseOfANewerBackLogdOrOfAnotherProgram(t *testing.T) {
	dsn := testDSN(t)
	ctx := t.Context()
	admin, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)

	newer := newSchema(t, dsn)
	st := openSchema(t, dsn, newer)
	st.Close()
	if _, err := admin.Exec(ctx, fmt.Sprintf("INSERT INTO %s.schema_migrations (version, name) VALUES (%d, 'from the future')", newer, postgres.SchemaVersion()+1)); err != nil {
		t.Fatal(err)
	}
	_, err = postgres.Open(ctx, dsn, postgres.WithSchema(newer))
	if err == nil || !strings.Contains(err.Error(), "newer backlogd") {
		t.Errorf("opening a schema of version %d returned %v, want a refusal naming a newer backlogd", postgres.SchemaVersion()+1, err)
	}

	foreign := newSchema(t, dsn)
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+foreign+"; CREATE TABLE "+foreign+".invoices (id int)"); err != nil {
		t.Fatal(err)
	}
	_, err = postgres.Open(ctx, dsn, postgres.WithSchema(foreign))
	if err == nil || !strings.Contains(err.Error(), "another program") {
		t.Errorf("opening a schema holding another program's table returned %v, want a refusal", err)
	}
	var n int
	if err := admin.QueryRow(ctx, "SELECT count(*) FROM information_schema.tables WHERE table_schema = $1", foreign).Scan(&n); err != nil || n != 1 {
		t.Errorf("the refused schema holds %d tables (%v), want its one table untouched", n, err)
	}
}

const password = "S3cr3t-pw-4c8e"

func TestTheDSNAndItsPasswordNeverAppearInErrors(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for _, c := range []struct {
		name, dsn string
	}{
		{"a URL to a port nothing listens on", "postgres://backlogd:" + password + "@127.0.0.1:1/postgres?sslmode=disable&connect_timeout=2"},
		{"keyword form to a port nothing listens on", "host=127.0.0.1 port=1 user=backlogd password=" + password + " dbname=postgres sslmode=disable connect_timeout=2"},
		{"a URL that does not parse", "postgres://backlogd:" + password + "@127.0.0.1:notaport/postgres"},
		{"keyword form that does not parse", "host=127.0.0.1 password='" + password},
		{"a password that needs escaping", "postgres://backlogd:" + url.QueryEscape(password+"@/?") + "@127.0.0.1:1/postgres?connect_timeout=2"},
	} {
		t.Run(c.name, func(t *testing.T) {
			st, err := postgres.Open(ctx, c.dsn)
			if err == nil {
				st.Close()
				t.Fatal("Open succeeded; the test needs it to fail")
			}
			msg := fmt.Sprintf("%v %+v %#v", err, err, err)
			if strings.Contains(msg, password) || strings.Contains(msg, c.dsn) {
				t.Errorf("the error shows the secret: %s", msg)
			}
			for e := err; e != nil; e = errors.Unwrap(e) {
				if strings.Contains(e.Error(), password) {
					t.Errorf("an error in the chain shows the password: %T %s", e, e)
				}
			}
			t.Logf("error: %v", err)
		})
	}
	t.Run("an error of the driver quoting the DSN is scrubbed, and still says what it is", func(t *testing.T) {
		dsn := "postgres://backlogd:" + password + "@db.internal:5432/backlog"
		err := postgres.Scrub(dsn, fmt.Errorf("dial %s: %w", dsn, context.DeadlineExceeded))
		if strings.Contains(err.Error(), password) || strings.Contains(err.Error(), "backlogd:"+password) {
			t.Errorf("scrubbed error still shows the password: %v", err)
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("scrubbed error %v no longer matches context.DeadlineExceeded", err)
		}
		if !strings.Contains(err.Error(), "<redacted>") {
			t.Errorf("scrubbed error %q does not say something was redacted", err)
		}
	})
}

// A schema in which an earlier backlogd linked one record to two items (a
// record adopted twice) keeps the link LinkByRemote found, marks the
// other gone with the reason, and refuses a second active link from then
// on.
func TestARecordLinkedTwiceBeforeStep3KeepsOneLink(t *testing.T) {
	dsn := testDSN(t)
	schema := newSchema(t, dsn)
	ctx := t.Context()
	admin, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	link := func(item string, num int, synced string) string {
		return fmt.Sprintf(`INSERT INTO links (target, item_id, item_num, remote_id, remote_key, url, state, base, remote_version, synced_at, last_error)
			VALUES ('acme', '%s', %d, '7', 'ACME-7', '', 'active', '{}', '', %s, '')`, item, num, synced)
	}
	for _, q := range []string{
		"CREATE SCHEMA " + schema,
		"SET search_path = " + schema,
		"CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())",
		postgres.MigrationSQL(1),
		postgres.MigrationSQL(2),
		"INSERT INTO schema_migrations (version, name) VALUES (1, 'initial schema'), (2, 'replicas')",
		link("BL-3", 3, "'2026-01-01T00:00:00Z'"),
		link("BL-4", 4, "'2026-01-02T00:00:00Z'"), // synced last: the one LinkByRemote returned
		link("BL-5", 5, "NULL"),
		strings.Replace(link("BL-6", 6, "NULL"), "'7'", "'8'", 1), // another record, linked once
	} {
		if _, err := admin.Exec(ctx, q); err != nil {
			t.Fatalf("%.40s: %v", q, err)
		}
	}
	st := openSchema(t, dsn, schema)
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
