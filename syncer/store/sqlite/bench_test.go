package sqlite_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/backlogd/backlogd/backlog"
	"github.com/backlogd/backlogd/syncer/store"
	"github.com/backlogd/backlogd/syncer/store/sqlite"
)

// benchItem is an item of a realistic size: about 1 KiB of JSON.
func benchItem(id string) backlog.Item {
	return backlog.Item{
		ID: id, Kind: backlog.Story, Status: backlog.InProgress, Phase: backlog.Build,
		Title:       "Export the monthly invoices as PDF with the client's logo",
		Description: strings.Repeat("As an accountant I want **PDF** invoices, one per month, with the logo. ", 5),
		Teams:       []string{"billing", "web"}, Labels: []string{"client-request", "pdf"},
		Estimate: backlog.Estimate{Effort: 2.5, Points: 5, Cost: backlog.Money{Amount: "1250.00", Currency: "EUR"}},
		Priority: backlog.High, Assignee: "alice", Clients: []string{"acme"},
		Acceptance: []string{"one PDF per invoice", "the logo on every page"},
		Comments: []backlog.Comment{
			{ID: "c1", Author: "bob", Created: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC), Body: "Before the audit, please.", Visibility: backlog.VisibilityClient},
			{ID: "c2", Author: "alice", Created: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC), Body: "Cost checked.", Visibility: backlog.VisibilityInternal},
		},
	}
}

func benchLink(target string, it backlog.Item) store.Link {
	return store.Link{
		Target: target, ItemID: it.ID, RemoteID: "r" + it.ID, RemoteKey: "ACME-" + it.ID[3:],
		URL: "https://acme.example/browse/ACME-" + it.ID[3:], State: store.LinkActive,
		Base:          it.Project(),
		Comments:      []store.CommentLink{{CommentID: "c1", RemoteID: "900", Base: it.Comments[0].Body}},
		RemoteVersion: "3", RemoteUpdated: time.Now(), SyncedAt: time.Now(),
	}
}

// fill stores n linked items on target "jira", in transactions of 1000,
// plus a few open conflicts and pending intents elsewhere, as a running
// daemon has. It returns the items' ids.
func fill(b testing.TB, st store.Store, n int) []string {
	ctx := context.Background()
	ids := make([]string, 0, n)
	for len(ids) < n {
		err := st.Tx(ctx, func(tx store.Tx) error {
			for range min(1000, n-len(ids)) {
				id, err := tx.NextItemID(ctx)
				if err != nil {
					return err
				}
				it, err := tx.PutItem(ctx, benchItem(id))
				if err != nil {
					return err
				}
				if err := tx.PutLink(ctx, benchLink("jira", it)); err != nil {
					return err
				}
				ids = append(ids, id)
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	err := st.Tx(ctx, func(tx store.Tx) error {
		for i := range 5 {
			if _, err := tx.PutConflict(ctx, store.Conflict{Target: "github", Client: "globex", ItemID: ids[i*7%len(ids)], Field: backlog.FieldTitle, Created: time.Now()}); err != nil {
				return err
			}
			if _, err := tx.AddIntent(ctx, store.Intent{Target: "github", ItemID: ids[i*11%len(ids)], Op: store.OpUpdate, Created: time.Now()}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return ids
}

func benchStore(b *testing.B, kind string) *sqlite.Store {
	path := sqlite.Memory
	if kind == "file" {
		path = filepath.Join(b.TempDir(), "backlogd.db")
	}
	st, err := sqlite.Open(context.Background(), path)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	return st
}

// readView is the transaction the syncer opens at the start of every
// reconcile (syncer.read).
func readView(ctx context.Context, st store.Store, target, id string) error {
	return st.Tx(ctx, func(tx store.Tx) error {
		if _, err := tx.Item(ctx, id); err != nil {
			return err
		}
		if _, err := tx.Link(ctx, target, id); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if _, err := tx.ConflictsOf(ctx, target, id); err != nil {
			return err
		}
		_, err := tx.IntentsOf(ctx, target, id)
		return err
	})
}

func BenchmarkReconcileRead(b *testing.B) {
	for _, kind := range []string{"file", "memory"} {
		st := benchStore(b, kind)
		ids := fill(b, st, 1000)
		ctx, cancel := context.WithCancel(context.Background()) // cancellable, like the daemon's
		defer cancel()
		b.Run(kind+"/serial", func(b *testing.B) {
			b.ReportAllocs()
			cpu0 := cpuTime()
			i := 0
			for b.Loop() {
				if err := readView(ctx, st, "jira", ids[i%len(ids)]); err != nil {
					b.Fatal(err)
				}
				i++
			}
			report(b, cpu0)
		})
		b.Run(kind+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			cpu0 := cpuTime()
			var next atomic.Int64
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := int(next.Add(1))
					if err := readView(ctx, st, "jira", ids[i%len(ids)]); err != nil {
						b.Error(err)
						return
					}
				}
			})
			report(b, cpu0)
		})
	}
}

// BenchmarkWrite is the write a pull makes: the item and the link with
// its new base, in one transaction that writes first.
func BenchmarkWrite(b *testing.B) {
	for _, kind := range []string{"file", "memory"} {
		st := benchStore(b, kind)
		ids := fill(b, st, 1000)
		ctx := context.Background()
		items := make([]backlog.Item, len(ids))
		for i, id := range ids {
			if err := st.Tx(ctx, func(tx store.Tx) (err error) { items[i], err = tx.Item(ctx, id); return err }); err != nil {
				b.Fatal(err)
			}
		}
		var n atomic.Int64
		write := func(i int) error {
			it := items[i]
			it.Title = "Edited " + strconv.FormatInt(n.Add(1), 10)
			return st.Tx(ctx, func(tx store.Tx) error {
				stored, err := tx.PutItem(ctx, it)
				if err != nil {
					return err
				}
				items[i] = stored
				return tx.PutLink(ctx, benchLink("jira", stored))
			})
		}
		b.Run(kind+"/serial", func(b *testing.B) {
			b.ReportAllocs()
			cpu0 := cpuTime()
			i := 0
			for b.Loop() {
				if err := write(i % len(items)); err != nil {
					b.Fatal(err)
				}
				i++
			}
			report(b, cpu0)
		})
		b.Run(kind+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			cpu0 := cpuTime()
			var worker atomic.Int64
			b.RunParallel(func(pb *testing.PB) {
				// Each goroutine owns a slice of the items, as the syncer's
				// queue gives one key to one worker at a time.
				p := runtime.GOMAXPROCS(0)
				w, k := int(worker.Add(1)-1)%p, 0
				for pb.Next() {
					i := (w + k*p) % (len(items) / p * p) // i%p == w
					k++
					if err := write(i); err != nil && !errors.Is(err, store.ErrStale) {
						b.Error(err)
						return
					}
				}
			})
			report(b, cpu0)
		})
	}
}

// BenchmarkReadThenWrite is a transaction that reads a link and writes
// it back (the syncer's park, a conflict resolution): it starts on a
// read connection and moves to the write connection at PutLink.
func BenchmarkReadThenWrite(b *testing.B) {
	st := benchStore(b, "file")
	ids := fill(b, st, 1000)
	ctx := context.Background()
	b.ReportAllocs()
	cpu0 := cpuTime()
	i := 0
	for b.Loop() {
		id := ids[i%len(ids)]
		i++
		if err := st.Tx(ctx, func(tx store.Tx) error {
			l, err := tx.Link(ctx, "jira", id)
			if err != nil {
				return err
			}
			l.LastError = "parked " + strconv.Itoa(i)
			return tx.PutLink(ctx, l)
		}); err != nil {
			b.Fatal(err)
		}
	}
	report(b, cpu0)
}

// BenchmarkOutbox is a push's two transactions: the intent before the
// remote write, then the link and the acknowledgement after it.
func BenchmarkOutbox(b *testing.B) {
	st := benchStore(b, "file")
	ids := fill(b, st, 1000)
	ctx := context.Background()
	b.ReportAllocs()
	cpu0 := cpuTime()
	i := 0
	for b.Loop() {
		id := ids[i%len(ids)]
		i++
		var intent int64
		if err := st.Tx(ctx, func(tx store.Tx) (err error) {
			intent, err = tx.AddIntent(ctx, store.Intent{Target: "jira", ItemID: id, Op: store.OpUpdate, Created: time.Now()})
			return err
		}); err != nil {
			b.Fatal(err)
		}
		if err := st.Tx(ctx, func(tx store.Tx) error {
			if err := tx.PutLink(ctx, benchLink("jira", benchItem(id))); err != nil {
				return err
			}
			return tx.DeleteIntent(ctx, intent)
		}); err != nil {
			b.Fatal(err)
		}
	}
	report(b, cpu0)
}

// BenchmarkFootprint100k stores 100,000 linked items and reports what
// each costs on disk and in memory while the store is open, and what the
// full listings the syncer makes (Items for a sweep, Links for the
// gauges) cost. Run it with -benchtime=1x.
func BenchmarkFootprint100k(b *testing.B) {
	const n = 100_000
	for b.Loop() {
		dir := b.TempDir()
		path := filepath.Join(dir, "backlogd.db")
		heap0, rss0 := settledMemory()
		st, err := sqlite.Open(context.Background(), path)
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		fill(b, st, n)
		fillTime := time.Since(start)
		heap1, rss1 := settledMemory()

		ctx := context.Background()
		var ms0, ms1, ms2 runtime.MemStats
		runtime.ReadMemStats(&ms0)
		start = time.Now()
		var items []backlog.Item
		var links []store.Link
		if err := st.Tx(ctx, func(tx store.Tx) (err error) { items, err = tx.Items(ctx); return err }); err != nil {
			b.Fatal(err)
		}
		itemsTime := time.Since(start)
		runtime.ReadMemStats(&ms1)
		start = time.Now()
		if err := st.Tx(ctx, func(tx store.Tx) (err error) { links, err = tx.Links(ctx, ""); return err }); err != nil {
			b.Fatal(err)
		}
		linksTime := time.Since(start)
		runtime.ReadMemStats(&ms2)
		if len(items) != n || len(links) != n {
			b.Fatalf("listed %d items and %d links, want %d each", len(items), len(links), n)
		}
		if err := st.Close(); err != nil {
			b.Fatal(err)
		}
		disk := dirSize(b, dir)

		b.ReportMetric(float64(disk)/n, "disk-B/item")
		b.ReportMetric(float64(max(heap1-heap0, 0))/n, "goheap-B/item")
		b.ReportMetric(float64(max(rss1-rss0, 0))/n, "rss-B/item")
		b.ReportMetric(float64(n)/fillTime.Seconds(), "fill-items/s")
		b.ReportMetric(float64(itemsTime.Milliseconds()), "Items-ms")
		b.ReportMetric(float64(ms1.TotalAlloc-ms0.TotalAlloc)/n, "Items-alloc-B/item")
		b.ReportMetric(float64(linksTime.Milliseconds()), "Links-ms")
		b.ReportMetric(float64(ms2.TotalAlloc-ms1.TotalAlloc)/n, "Links-alloc-B/item")
	}
}

// settledMemory returns the Go heap in use and the resident memory once
// garbage is collected and returned to the system.
func settledMemory() (heap, resident int64) {
	debug.FreeOSMemory()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapInuse), rss()
}

// report adds the CPU time per operation (all goroutines, the
// benchmark's own bookkeeping included) and the operations per second of
// wall time.
func report(b *testing.B, cpu0 int64) {
	if cpu := cpuTime() - cpu0; cpu > 0 {
		b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/op")
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "op/s")
}

// rss is the process's resident memory (Linux), which includes SQLite's
// page caches outside the Go heap; 0 where /proc is missing.
func rss() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	var size, resident int64
	if _, err := fmt.Sscan(string(b), &size, &resident); err != nil {
		return 0
	}
	return resident * int64(os.Getpagesize())
}

func dirSize(b *testing.B, dir string) int64 {
	var total int64
	entries, err := os.ReadDir(dir)
	if err != nil {
		b.Fatal(err)
	}
	for _, e := range entries {
		fi, err := e.Info()
		if err != nil {
			b.Fatal(err)
		}
		total += fi.Size()
	}
	return total
}
