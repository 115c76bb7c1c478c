package syncer_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/backlogd/backlogd/backlog"
	"github.com/backlogd/backlogd/connectors"
	"github.com/backlogd/backlogd/connectors/memory"
	"github.com/backlogd/backlogd/mapping"
	"github.com/backlogd/backlogd/syncer"
	"github.com/backlogd/backlogd/syncer/store"
	"github.com/backlogd/backlogd/syncer/store/postgres"
	"github.com/backlogd/backlogd/syncer/store/sqlite"
	"github.com/jackc/pgx/v5"
)

// Reconciles per second of replicas sharing PostgreSQL against one
// process on SQLite, on in-memory trackers (no network: what is measured
// is the syncer and its store), all in this process and on this
// machine's cores, PostgreSQL's included:
//
//	BACKLOGD_TEST_POSTGRES_DSN=... go test ./syncer -run '^$' -bench Replicas -benchtime 3x
//
// sweep reconciles every key with nothing to change (one read
// transaction and a tracker read per key); push edits every item, so each
// key announces a write, makes it and records the new base.

const (
	replicaBenchTargets = 6
	replicaBenchItems   = 200
)

// replicaCounts counts reconciles; the rest of syncer.Metrics is dropped.
type replicaCounts struct {
	leaseCounts
	done atomic.Int64
}

func (c *replicaCounts) Reconciled(_, _, result string, _ time.Duration) {
	if result != "fenced" && result != "requeued" {
		c.done.Add(1)
	}
}

type replicaWorld struct {
	cfg      *mapping.Config
	trackers []*memory.Tracker
	conns    map[string]connectors.Connector
}

func newReplicaWorld(b *testing.B) *replicaWorld {
	b.Helper()
	dir := b.TempDir()
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "data_dir: %s\nsync: {poll_interval: 1h, sweep_interval: 1h, workers: 2}\ntargets:\n", dir)
	if err := os.MkdirAll(filepath.Join(dir, "clients"), 0o755); err != nil {
		b.Fatal(err)
	}
	w := &replicaWorld{conns: map[string]connectors.Connector{}}
	for i := range replicaBenchTargets {
		name := fmt.Sprintf("t%d", i)
		fmt.Fprintf(&cfg, "  - {name: %s, kind: memory}\n", name)
		client := fmt.Sprintf("client: %s\ntarget: %s\nscope: all\nprivate: []\nadopt: none\nfields: identity\n", name, name)
		if err := os.WriteFile(filepath.Join(dir, "clients", name+".yaml"), []byte(client), 0o644); err != nil {
			b.Fatal(err)
		}
		tr := memory.New(memory.Options{Name: name, KeyPrefix: strings.ToUpper(name)})
		w.trackers = append(w.trackers, tr)
		w.conns[name] = tr
	}
	if err := os.WriteFile(filepath.Join(dir, "backlogd.yaml"), []byte(cfg.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	c, err := mapping.Load(filepath.Join(dir, "backlogd.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	w.cfg = c
	return w
}

type benchedReplica struct {
	s       *syncer.Syncer
	st      store.Store
	metrics *replicaCounts
}

func (w *replicaWorld) run(b *testing.B, st store.Store) *benchedReplica {
	b.Helper()
	r := &benchedReplica{st: st, metrics: &replicaCounts{leaseCounts: leaseCounts{changes: map[string]int{}, fenced: map[string]int{}}}}
	s, err := syncer.New(w.cfg, st, w.conns, syncer.Options{Metrics: r.metrics})
	if err != nil {
		b.Fatal(err)
	}
	r.s = s
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.Run(ctx)
	}()
	b.Cleanup(func() { cancel(); <-done })
	return r
}

func reconciledBy(rs []*benchedReplica) int64 {
	var n int64
	for _, r := range rs {
		n += r.metrics.done.Load()
	}
	return n
}

func roundTripsOf(rs []*benchedReplica) int64 {
	var n int64
	for _, r := range rs {
		if p, ok := r.st.(*postgres.Store); ok {
			n += p.Stats().RoundTrips
		}
	}
	return n
}

func waitBench(b *testing.B, what string, cond func() bool) {
	b.Helper()
	deadline := time.Now().Add(5 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			b.Fatalf("%s: not within 5 minutes", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func BenchmarkReplicas(b *testing.B) {
	dsn := os.Getenv("BACKLOGD_TEST_POSTGRES_DSN")
	for _, c := range []struct {
		store    string
		replicas int
	}{{"sqlite", 1}, {"postgres", 1}, {"postgres", 2}, {"postgres", 3}} {
		for _, phase := range []string{"sweep", "push"} {
			b.Run(fmt.Sprintf("store=%s/replicas=%d/%s", c.store, c.replicas, phase), func(b *testing.B) {
				if c.store == "postgres" && dsn == "" {
					b.Skip("BACKLOGD_TEST_POSTGRES_DSN is not set: start a throwaway cluster with scripts/postgres-up.sh and export the line it prints")
				}
				runReplicaBench(b, dsn, c.store, c.replicas, phase)
			})
		}
	}
}

func runReplicaBench(b *testing.B, dsn, kind string, n int, phase string) {
	ctx := context.Background()
	w := newReplicaWorld(b)
	var (
		admin store.Store
		rs    []*benchedReplica
	)
	if kind == "sqlite" {
		st, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "state.db"))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { st.Close() })
		admin = st
		rs = append(rs, w.run(b, st))
	} else {
		schema := replicaBenchSchema(b, dsn)
		open := func(id string) *postgres.Store {
			st, err := postgres.Open(ctx, dsn, postgres.WithSchema(schema), postgres.WithLeaseTTL(10*time.Second), postgres.WithReplicaID(id))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { st.Close() })
			return st
		}
		leases := open("admin")
		admin = leases
		for i := range n {
			rs = append(rs, w.run(b, open(fmt.Sprintf("replica-%d", i))))
		}
		waitBench(b, "the leases spread over the replicas", func() bool {
			ls, err := leases.Leases(ctx)
			if err != nil {
				return false
			}
			per := map[string]int{}
			for _, l := range ls {
				if l.Expires.After(time.Now()) {
					per[l.Holder]++
				}
			}
			if len(per) != n {
				return false
			}
			for _, k := range per {
				if k < replicaBenchTargets/n {
					return false
				}
			}
			return true
		})
	}
	// The backlog, created on every tracker.
	items := make([]backlog.Item, replicaBenchItems)
	err := admin.Tx(ctx, func(tx store.Tx) error {
		for i := range items {
			id, err := tx.NextItemID(ctx)
			if err != nil {
				return err
			}
			it, err := tx.PutItem(ctx, backlog.Item{ID: id, Kind: backlog.Task, Title: fmt.Sprintf("Item %d", i), Status: backlog.Todo})
			if err != nil {
				return err
			}
			items[i] = it
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	keys := int64(replicaBenchItems * replicaBenchTargets)
	sweep := func() {
		start := reconciledBy(rs)
		if err := rs[0].s.EnqueueAll(ctx); err != nil {
			b.Fatal(err)
		}
		waitBench(b, "every key reconciled", func() bool { return reconciledBy(rs)-start >= keys })
	}
	sweep()
	waitBench(b, "every item on every tracker", func() bool {
		for _, tr := range w.trackers {
			if tr.Len() < replicaBenchItems {
				return false
			}
		}
		return true
	})
	idleBench(b, rs)

	var reconciles, trips int64
	var elapsed time.Duration
	b.ResetTimer()
	for i := range b.N {
		if phase == "push" {
			b.StopTimer()
			err := admin.Tx(ctx, func(tx store.Tx) error {
				for j, it := range items {
					cur, err := tx.Item(ctx, it.ID)
					if err != nil {
						return err
					}
					cur.Title = fmt.Sprintf("Item %d, round %d", j, i)
					if items[j], err = tx.PutItem(ctx, cur); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
		r0, t0, began := reconciledBy(rs), roundTripsOf(rs), time.Now()
		sweep()
		idleBench(b, rs)
		elapsed += time.Since(began)
		reconciles += reconciledBy(rs) - r0
		trips += roundTripsOf(rs) - t0
	}
	b.StopTimer()
	b.ReportMetric(float64(reconciles)/elapsed.Seconds(), "reconciles/s")
	if kind == "postgres" {
		b.ReportMetric(float64(trips)/float64(reconciles), "roundtrips/reconcile")
	}
	b.ReportMetric(0, "ns/op")
}

// idleBench waits until no replica has a key queued.
func idleBench(b *testing.B, rs []*benchedReplica) {
	b.Helper()
	waitBench(b, "every queue empty", func() bool {
		for _, r := range rs {
			for _, st := range r.s.Status() {
				if st.Queue > 0 {
					return false
				}
			}
		}
		return true
	})
}

func replicaBenchSchema(b *testing.B, dsn string) string {
	b.Helper()
	name := fmt.Sprintf("bench_%d", time.Now().UnixNano())
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, dsn)
		if err != nil {
			return
		}
		defer c.Close(ctx)
		_, _ = c.Exec(ctx, "DROP SCHEMA IF EXISTS "+name+" CASCADE")
	})
	return name
}
