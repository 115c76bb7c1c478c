package syncer_test

// Benchmarks behind the figures of BENCHMARKS.md, on the test world: a
// real SQLite store on disk and three in-memory trackers (home, acme,
// globex) with their production-like client files. Run them with
//
//	go test -run '^$' -bench 'Reconcile|APICalls' -cpu 2 ./syncer
//	go test -run '^$' -bench MemoryPerLinkedItem -benchtime 1x -cpu 2 -timeout 30m ./syncer
//
// The memory benchmark links 100,000 items (about five minutes on two
// cores); BACKLOGD_BENCH_ITEMS sets another number.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/backlogd/backlogd/backlog"
	"github.com/backlogd/backlogd/connectors"
	"github.com/backlogd/backlogd/syncer"
	"github.com/backlogd/backlogd/syncer/store"
	"github.com/backlogd/backlogd/syncer/store/sqlite"
)

// countMetrics counts reconciles by result; the rest is dropped.
type countMetrics struct {
	mu     sync.Mutex
	result map[string]int64
	total  atomic.Int64
}

func newCountMetrics() *countMetrics { return &countMetrics{result: map[string]int64{}} }

func (m *countMetrics) Reconciled(_, _, result string, _ time.Duration) {
	m.total.Add(1)
	m.mu.Lock()
	m.result[result]++
	m.mu.Unlock()
}

func (m *countMetrics) reset() map[string]int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.result
	m.result = map[string]int64{}
	m.total.Store(0)
	return r
}

func (*countMetrics) FieldsChanged(string, string, string, string, int) {}
func (*countMetrics) EchoSuppressed(string)                             {}
func (*countMetrics) Created(string, string)                            {}
func (*countMetrics) RemoteDeleted(string)                              {}
func (*countMetrics) SetLinked(string, int)                             {}
func (*countMetrics) SetConflictsOpen(string, int)                      {}
func (*countMetrics) SetQueue(string, int, time.Duration)               {}
func (*countMetrics) Webhook(string, string)                            {}
func (*countMetrics) FullSync(string, time.Time)                        {}
func (*countMetrics) SetOutboxPending(int)                              {}

// benchScope says which targets an item of the benchmarks reaches.
type benchScope int

const (
	everywhere benchScope = iota // home, acme and globex
	homeAcme                     // home and acme
	homeGlobex                   // home and globex
	homeOnly                     // home only
)

// benchItem is an item of a realistic size (about 1 KiB of JSON), with a
// private cost, a client comment and an internal one.
func benchItem(n int, scope benchScope) backlog.Item {
	it := backlog.Item{
		Kind: backlog.Story, Status: backlog.InProgress, Phase: backlog.Build,
		Title:       fmt.Sprintf("Export the monthly invoices as PDF, part %d", n),
		Description: strings.Repeat("As an accountant I want **PDF** invoices, one per month, with the logo. ", 4),
		Teams:       []string{"billing", "web"}, Labels: []string{"client-request", "pdf"},
		Estimate: backlog.Estimate{Effort: 2.5, Points: 5, Cost: backlog.Money{Amount: "1250.00", Currency: "EUR"}},
		Priority: backlog.High, Assignee: "alice",
		Acceptance: []string{"one PDF per invoice", "the logo on every page"},
		Comments: []backlog.Comment{
			{ID: "c1", Author: "alice", Created: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC), Body: "Before the audit, please.", Visibility: backlog.VisibilityClient},
			{ID: "c2", Author: "alice", Created: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC), Body: "Margin is thin.", Visibility: backlog.VisibilityInternal},
		},
	}
	switch scope {
	case everywhere:
		it.Clients = []string{"acme", "globex"}
	case homeAcme:
		it.Clients = []string{"acme"}
	case homeGlobex:
		it.Clients, it.Phase = []string{"globex"}, backlog.TestFeedback
	case homeOnly:
		it.Phase = backlog.Consolidation
	}
	return it
}

// fill stores n canonical items, in transactions of 1000, scope(i)
// choosing each one's targets, and returns their ids.
func (w *world) fill(n int, scope func(i int) benchScope) []string {
	w.t.Helper()
	ctx := context.Background()
	ids := make([]string, 0, n)
	for len(ids) < n {
		err := w.st.Tx(ctx, func(tx store.Tx) error {
			for i := len(ids); i < min(n, len(ids)+1000); i++ {
				id, err := tx.NextItemID(ctx)
				if err != nil {
					return err
				}
				it := benchItem(i, scope(i))
				it.ID = id
				if _, err := tx.PutItem(ctx, it); err != nil {
					return err
				}
				ids = append(ids, id)
			}
			return nil
		})
		if err != nil {
			w.t.Fatal(err)
		}
	}
	return ids
}

// settle syncs until an idle round writes nothing: the creates, their
// comments, and the echoes of those writes polled back.
func (w *world) settle() {
	w.t.Helper()
	for range 5 {
		w.resetCalls()
		w.sync()
		writes := int64(0)
		for name := range w.trackers {
			writes += w.calls(name).Writes()
		}
		if writes == 0 {
			return
		}
	}
	w.t.Fatal("the world does not settle: every sync writes again")
}

var benchTargets = []string{"home", "acme", "globex"}

// BenchmarkReconcile measures reconciles per second of linked keys, each
// item on all three targets, two workers per target on the CPUs given
// (-cpu 2). An idle key reads the store and the record and writes
// nothing; a changed key (the title edited canonically) also writes one
// field to the tracker and the new base to the store. One op is one
// round over every key; reconciles/s is the figure.
func BenchmarkReconcile(b *testing.B) {
	const items = 1000
	ctx := context.Background()
	setup := func(b *testing.B) (*world, *countMetrics, []string) {
		m := newCountMetrics()
		w := newWorld(b, worldOptions{metrics: m})
		ids := w.fill(items, func(int) benchScope { return everywhere })
		w.settle()
		m.reset()
		return w, m, ids
	}
	// cpu is the CPU time of the timed part, for cpu-ns/reconcile: what
	// a reconcile costs whatever else the machine runs.
	var cpu int64
	report := func(b *testing.B, m *countMetrics, want string) {
		results := m.reset()
		n := results[want]
		if total := sum(results); n != total || n != int64(b.N)*items*int64(len(benchTargets)) {
			b.Fatalf("results %v, want only %q, %d of them", results, want, b.N*items*len(benchTargets))
		}
		b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "reconciles/s")
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/reconcile")
		b.ReportMetric(float64(cpu)/float64(n), "cpu-ns/reconcile")
	}

	b.Run("idle", func(b *testing.B) {
		w, m, _ := setup(b)
		cpu = 0
		b.ResetTimer()
		for range b.N {
			cpu0 := cpuTime()
			if err := w.s.EnqueueAll(ctx); err != nil {
				b.Fatal(err)
			}
			if err := w.s.Drain(ctx); err != nil {
				b.Fatal(err)
			}
			cpu += cpuTime() - cpu0
		}
		b.StopTimer()
		report(b, m, "ok")
	})

	b.Run("changed", func(b *testing.B) {
		w, m, ids := setup(b)
		cpu = 0
		b.ResetTimer()
		for i := range b.N {
			b.StopTimer()
			w.retitle(ids, fmt.Sprintf("round %d", i))
			b.StartTimer()
			cpu0 := cpuTime()
			for _, id := range ids {
				w.s.Enqueue(id)
			}
			if err := w.s.Drain(ctx); err != nil {
				b.Fatal(err)
			}
			cpu += cpuTime() - cpu0
		}
		b.StopTimer()
		report(b, m, "pushed")
	})
}

func sum(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

// retitle edits the title of every item canonically, as the product
// owner's edits through the API would, without enqueueing anything.
func (w *world) retitle(ids []string, suffix string) {
	w.t.Helper()
	ctx := context.Background()
	err := w.st.Tx(ctx, func(tx store.Tx) error {
		for _, id := range ids {
			it, err := tx.Item(ctx, id)
			if err != nil {
				return err
			}
			it.Title = "Export the monthly invoices as PDF, " + suffix
			if _, err := tx.PutItem(ctx, it); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		w.t.Fatal(err)
	}
}

// BenchmarkAPICalls counts the tracker calls of the two things a daemon
// does all day. change: one canonical edit of an item linked on two
// targets (home and acme; globex does not see it), reconciled, then the
// next poll of every target, which lists the records just written (the
// echo). idle: a poll of every target when nothing changed. Figures are
// per target reached and per cycle; ns/op is not the point.
func BenchmarkAPICalls(b *testing.B) {
	ctx := context.Background()
	poll := func(b *testing.B, w *world) {
		for _, name := range benchTargets {
			if err := w.s.PollByName(ctx, name); err != nil {
				b.Fatal(err)
			}
		}
		if err := w.s.Drain(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("change", func(b *testing.B) {
		w := newWorld(b, worldOptions{})
		ids := w.fill(100, func(int) benchScope { return homeAcme })
		w.settle()
		var reads, writes, listings, echoReads, echoWrites, others int64
		b.ResetTimer()
		for i := range b.N {
			id := ids[i%len(ids)]
			w.resetCalls()
			w.edit(id, func(it *backlog.Item) { it.Title = fmt.Sprintf("Retitled %d", i) })
			if err := w.s.Drain(ctx); err != nil {
				b.Fatal(err)
			}
			for _, name := range []string{"home", "acme"} {
				c := w.calls(name)
				reads += c.Reads()
				writes += c.Writes()
			}
			others += w.calls("globex").Total()
			w.resetCalls()
			poll(b, w)
			for _, name := range []string{"home", "acme"} {
				c := w.calls(name)
				listings += c.Changes
				echoReads += c.Reads() - c.Changes
				echoWrites += c.Writes()
			}
		}
		b.StopTimer()
		per := float64(2 * b.N) // two targets reached per change
		b.ReportMetric(float64(reads)/per, "reads/target")
		b.ReportMetric(float64(writes)/per, "writes/target")
		b.ReportMetric(float64(echoReads)/per, "echo-reads/target")
		b.ReportMetric(float64(echoWrites)/per, "echo-writes/target")
		b.ReportMetric(float64(listings)/per, "listings/target")
		b.ReportMetric(float64(others)/float64(b.N), "calls-to-unreached/change")
	})
	b.Run("idle", func(b *testing.B) {
		w := newWorld(b, worldOptions{})
		w.fill(100, func(i int) benchScope { return benchScope(i % 4) })
		w.settle()
		poll(b, w) // the settle's own echoes
		var listings, others int64
		b.ResetTimer()
		for range b.N {
			w.resetCalls()
			poll(b, w)
			for _, name := range benchTargets {
				c := w.calls(name)
				listings += c.Changes
				others += c.Total() - c.Changes
			}
		}
		b.StopTimer()
		b.ReportMetric(float64(listings)/float64(b.N), "listings/cycle")
		b.ReportMetric(float64(others)/float64(b.N), "other-calls/cycle")
	})
}

// BenchmarkMemoryPerLinkedItem links 100,000 items (a quarter on every
// target, a quarter each on home+acme and home+globex, a quarter on home
// only) and reports the heap in use per item, split into what the
// in-memory trackers hold (a real tracker holds it remotely) and what the
// syncer and its store hold, and the SQLite file's size per item. Run it
// with -benchtime 1x: one op links everything.
func BenchmarkMemoryPerLinkedItem(b *testing.B) {
	n := 100_000
	if s := os.Getenv("BACKLOGD_BENCH_ITEMS"); s != "" {
		if _, err := fmt.Sscan(s, &n); err != nil || n < 1 {
			b.Fatalf("BACKLOGD_BENCH_ITEMS=%q: want a number of items", s)
		}
	}
	ctx := context.Background()
	for range b.N {
		before := heapInUse()
		// The world's config and trackers, over a store and a syncer of
		// the benchmark's own, so that dropping them drops everything
		// they hold (the world's store stays referenced by its cleanup).
		w := newWorld(b, worldOptions{})
		path := filepath.Join(b.TempDir(), "state.db")
		st, err := sqlite.Open(ctx, path)
		if err != nil {
			b.Fatal(err)
		}
		conns := map[string]connectors.Connector{}
		for name, tr := range w.trackers {
			conns[name] = tr
		}
		if w.s, err = syncer.New(w.cfg, st, conns, syncer.Options{}); err != nil {
			b.Fatal(err)
		}
		w.st = st
		w.fill(n, func(i int) benchScope { return benchScope(i % 4) })
		w.settle()
		// An idle sweep, as the daemon runs every ten minutes: the
		// store's caches and the queues are as full as they get.
		w.sync()
		linked := 0
		for _, name := range benchTargets {
			linked += w.trackers[name].Len()
		}
		all := heapInUse()
		rss := rssBytes()
		// Drop the syncer and the store: what is left is the trackers,
		// which a real tracker holds on its own servers.
		w.s, w.st, conns = nil, nil, nil
		if err := st.Close(); err != nil {
			b.Fatal(err)
		}
		st = nil
		onlyTrackers := heapInUse()
		fi, err := os.Stat(path)
		if err != nil {
			b.Fatal(err)
		}
		runtime.KeepAlive(w.trackers)
		b.ReportMetric(float64(all-before)/float64(n), "heap-B/item")
		b.ReportMetric(float64(all-onlyTrackers)/float64(n), "syncer-heap-B/item")
		b.ReportMetric(float64(onlyTrackers-before)/float64(n), "tracker-heap-B/item")
		b.ReportMetric(float64(fi.Size())/float64(n), "sqlite-B/item")
		b.ReportMetric(float64(linked)/float64(n), "links/item")
		if rss > 0 {
			b.ReportMetric(float64(rss)/float64(n), "process-RSS-B/item")
		}
	}
}

// rssBytes is the process's resident set (Linux; 0 elsewhere), memory
// returned to the system first: it counts SQLite's page caches, which
// live outside the Go heap.
func rssBytes() int64 {
	debug.FreeOSMemory()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			var kb int64
			fmt.Sscan(strings.TrimSuffix(strings.TrimSpace(v), " kB"), &kb)
			return kb << 10
		}
	}
	return 0
}

// heapInUse is the heap in use after a full collection.
func heapInUse() int64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapInuse)
}
