package postgres_test

// Figures for docs/scaling.md, measured on the test cluster; they print
// numbers and assert nothing else. Run with
//
//	BACKLOGD_MEASURE=1 BACKLOGD_TEST_POSTGRES_DSN=... go test -run TestMeasure -v ./syncer/store/postgres

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/backlogd/backlogd/backlog"
	"github.com/backlogd/backlogd/syncer/store"
	"github.com/jackc/pgx/v5"
)

// TestMeasureBytesPerLinkedItem stores items linked to four targets each,
// with a base as the syncer records it, and reports the database's size
// per link, indexes and TOAST included.
func TestMeasureBytesPerLinkedItem(t *testing.T) {
	if os.Getenv("BACKLOGD_MEASURE") == "" {
		t.Skip("measurement: set BACKLOGD_MEASURE=1 to run")
	}
	dsn := testDSN(t)
	schema := newSchema(t, dsn)
	st := openSchema(t, dsn, schema)
	ctx := context.Background()
	const items, targets = 10000, 4
	desc := strings.Repeat("As a buyer I want to pay by card so that checkout is quick. ", 6) // ~360 bytes of Markdown
	start := time.Now()
	for batch := 0; batch < items; batch += 500 {
		err := st.Tx(ctx, func(tx store.Tx) error {
			for i := batch; i < batch+500; i++ {
				id := fmt.Sprintf("BL-%d", i+1)
				it := backlog.Item{ID: id, Kind: backlog.Story, Title: fmt.Sprintf("Pay by card, variant %d", i), Description: desc,
					Status: backlog.InProgress, Phase: backlog.Build, Labels: []string{"checkout", "payments"}, Assignee: "alice",
					Clients: []string{"acme", "globex"}, Estimate: backlog.Estimate{Points: 5, Effort: 3}}
				if _, err := tx.PutItem(ctx, it); err != nil {
					return err
				}
				for k := range targets {
					err := tx.PutLink(ctx, store.Link{
						Target: fmt.Sprintf("client-%d", k), ItemID: id, RemoteID: fmt.Sprint(100000 + i), RemoteKey: fmt.Sprintf("ACME-%d", i),
						URL: fmt.Sprintf("https://acme.example/browse/ACME-%d", i), State: store.LinkActive,
						Base: backlog.Fields{backlog.FieldTitle: it.Title, backlog.FieldDescription: desc, backlog.FieldStatus: "in_progress",
							backlog.FieldPhase: "build", backlog.FieldLabels: `["checkout","payments"]`, backlog.FieldAssignee: "alice",
							backlog.FieldPoints: "5", backlog.FieldKind: "story"},
						RemoteVersion: "7", RemoteUpdated: time.Now(), SyncedAt: time.Now(),
					})
					if err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	took := time.Since(start)
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	for _, table := range []string{"links", "items"} {
		if _, err := c.Exec(ctx, "VACUUM ANALYZE "+schema+"."+table); err != nil {
			t.Fatal(err)
		}
	}
	size := func(table string) int64 {
		var n int64
		if err := c.QueryRow(ctx, "SELECT pg_total_relation_size($1)", schema+"."+table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	links, its := size("links"), size("items")
	t.Logf("%d items, %d links: links %d MiB (%d bytes per link), items %d MiB (%d bytes per item); loaded in %s (%.0f links/s in 500-item transactions)",
		items, items*targets, links>>20, links/(items*targets), its>>20, its/items, took.Round(time.Millisecond), float64(items*targets)/took.Seconds())
}
