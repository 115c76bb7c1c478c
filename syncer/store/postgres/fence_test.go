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

// A replica paused (SIGSTOP, a long GC) in the middle of a fenced
// transaction holds the lock a takeover waits for; the server ends its
// session, so the lease still moves, and the paused transaction commits
// nothing.
func TestAReplicaPausedInsideATransactionDoesNotKeepItsLease(t *testing.T) {
	dsn := testDSN(t)
	schema := newSchema(t, dsn)
	ttl := 2 * time.Second
	a := openSchema(t, dsn, schema, postgres.WithLeaseTTL(ttl), postgres.WithReplicaID("paused"))
	b := openSchema(t, dsn, schema, postgres.WithLeaseTTL(ttl), postgres.WithReplicaID("other"))
	ctx := t.Context()
	l, err := a.AcquireLease(ctx, "jira")
	if err != nil {
		t.Fatal(err)
	}
	fctx := store.WithFence(ctx, store.Fence{Target: "jira", Holder: "paused", Token: l.Token})
	took := make(chan store.Lease, 1)
	err = a.Tx(fctx, func(tx store.Tx) error {
		if err := tx.PutCursor(fctx, "jira", "before the pause"); err != nil {
			return err
		}
		// Paused here, well past the lease; the other replica takes it.
		go func() {
			deadline := time.Now().Add(10 * ttl)
			for time.Now().Before(deadline) {
				got, err := b.AcquireLease(ctx, "jira")
				if err == nil {
					took <- got
					return
				}
				time.Sleep(ttl / 20)
			}
			close(took)
		}()
		got, ok := <-took
		if !ok {
			t.Errorf("the lease was not taken over within %s while its holder was paused inside a transaction", 10*ttl)
		} else if got.Token <= l.Token {
			t.Errorf("the takeover has token %d, want more than %d", got.Token, l.Token)
		}
		// Woken up, the paused replica carries on.
		return tx.PutCursor(fctx, "jira", "after the pause")
	})
	if err == nil {
		t.Error("the paused replica's transaction committed after its lease was taken over")
	}
	var c string
	if err := b.Tx(ctx, func(tx store.Tx) (err error) { c, err = tx.Cursor(ctx, "jira"); return err }); err != nil {
		t.Fatal(err)
	}
	if c != "" {
		t.Errorf("cursor is %q: the paused replica's transaction wrote", c)
	}
}
