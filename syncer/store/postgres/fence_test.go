package postgres_test

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/backlogd/backlogd/syncer/store"
	"github.com/backlogd/backlogd/syncer/store/postgres"
)

// Renewals change the lease row every fenced transaction locks; they
// must not make those transactions fail (as stale, or by waiting).
func TestRenewalsDoNotFailTheFencedTransactionsOfTheirHolder(t *testing.T) {
	dsn := testDSN(t)
	schema := newSchema(t, dsn)
	st := openSchema(t, dsn, schema, postgres.WithLeaseTTL(3*time.Second))
	ctx := t.Context()
	l, err := st.AcquireLease(ctx, "jira")
	if err != nil {
		t.Fatal(err)
	}
	fctx := store.WithFence(ctx, store.Fence{Target: "jira", Holder: st.ReplicaID(), Token: l.Token})
	stop := make(chan struct{})
	var renewals atomic.Int64
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			got, err := st.RenewLeases(ctx, []store.Lease{l})
			if err != nil || len(got) != 1 {
				t.Errorf("renew: %v %v", got, err)
				return
			}
			renewals.Add(1)
		}
	})
	const workers, each = 4, 50
	var failed atomic.Int64
	var txs sync.WaitGroup
	for w := range workers {
		txs.Go(func() {
			for i := range each {
				err := st.Tx(fctx, func(tx store.Tx) error {
					if _, err := tx.Cursor(fctx, "jira"); err != nil {
						return err
					}
					return tx.PutCursor(fctx, fmt.Sprintf("jira-%d", w), fmt.Sprint(i))
				})
				if err != nil {
					failed.Add(1)
					if !errors.Is(err, store.ErrStale) {
						t.Errorf("fenced transaction: %v", err)
					}
				}
			}
		})
	}
	txs.Wait()
	close(stop)
	wg.Wait()
	if n := failed.Load(); n > 0 {
		t.Errorf("%d of %d fenced transactions failed while their lease was renewed %d times", n, workers*each, renewals.Load())
	}
	t.Logf("%d fenced transactions beside %d renewals", workers*each, renewals.Load())
}
