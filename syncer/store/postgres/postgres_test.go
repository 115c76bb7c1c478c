package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/backlogd/backlogd/syncer/store"
	"github.com/backlogd/backlogd/syncer/store/postgres"
	"github.com/backlogd/backlogd/syncer/store/storetest"
	"github.com/jackc/pgx/v5"
)

// testDSN returns the DSN of the test cluster, or skips: CI always sets
// it (scripts/postgres-up.sh), and fails the run if this skip happens.
func testDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv("BACKLOGD_TEST_POSTGRES_DSN")
	if dsn == "" {
		t.Skip("BACKLOGD_TEST_POSTGRES_DSN is not set: start a throwaway cluster with scripts/postgres-up.sh and export the line it prints")
	}
	return dsn
}

// newSchema returns a fresh schema name, dropped with everything in it
// when the test ends.
func newSchema(t testing.TB, dsn string) string {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "t_" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Logf("drop schema %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP SCHEMA IF EXISTS "+name+" CASCADE"); err != nil {
			t.Logf("drop schema %s: %v", name, err)
		}
	})
	return name
}

func openSchema(t testing.TB, dsn, schema string, opts ...postgres.Option) *postgres.Store {
	t.Helper()
	st, err := postgres.Open(context.Background(), dsn, append([]postgres.Option{postgres.WithSchema(schema)}, opts...)...)
	if err != nil {
		t.Fatalf("open schema %s: %v", schema, err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// harness runs the suite with each store in a schema of its own; Reopen
// closes the store and opens the same schema again.
func harness(dsn string, opts ...postgres.Option) storetest.Harness {
	var mu sync.Mutex
	schemas := map[store.Store]string{}
	open := func(t *testing.T, schema string) store.Store {
		st := openSchema(t, dsn, schema, opts...)
		mu.Lock()
		schemas[st] = schema
		mu.Unlock()
		return st
	}
	return storetest.Harness{
		New: func(t *testing.T) store.Store { return open(t, newSchema(t, dsn)) },
		Reopen: func(t *testing.T, st store.Store) store.Store {
			mu.Lock()
			schema := schemas[st]
			mu.Unlock()
			if err := st.Close(); err != nil {
				t.Fatalf("close: %v", err)
			}
			return open(t, schema)
		},
		Peer: func(t *testing.T, st store.Store) store.Store {
			mu.Lock()
			schema := schemas[st]
			mu.Unlock()
			return openSchema(t, dsn, schema, opts...)
		},
	}
}

func TestConformance(t *testing.T) {
	dsn := testDSN(t)
	storetest.Run(t, harness(dsn, postgres.WithLeaseTTL(2*time.Second)))
}
