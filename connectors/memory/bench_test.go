package memory

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/backlogd/backlogd/connectors"
)

// seeded returns a tracker holding n records shaped like a synced item.
func seeded(b *testing.B, n int) (*Tracker, []string) {
	b.Helper()
	tr := New(Options{})
	ids := make([]string, n)
	for i := range n {
		f := connectors.Fields{
			"title":    {"Item " + strconv.Itoa(i)},
			"body":     {"A description of a few words, as most items have."},
			"status":   {"in_progress"},
			"labels":   {"phase/build", "team/backend", "client/acme"},
			"assignee": {"alice"},
			"estimate": {"3"},
		}
		r, err := tr.Create(context.Background(), "BL-"+strconv.Itoa(i), f)
		if err != nil {
			b.Fatal(err)
		}
		tr.CreateComment(context.Background(), r.ID, connectors.Comment{Body: "First feedback"})
		ids[i] = r.ID
	}
	tr.ResetCalls()
	return tr, ids
}

// BenchmarkReconcileCalls is what one reconcile asks of a target: a Get
// and, for one key in four, an Update of one field; from all CPUs.
func BenchmarkReconcileCalls(b *testing.B) {
	tr, ids := seeded(b, 1000)
	ctx := context.Background()
	var next atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := next.Add(1)
			id := ids[i%int64(len(ids))]
			r, err := tr.Get(ctx, id)
			if err != nil {
				b.Error(err)
				return
			}
			if i%4 == 0 {
				if _, err := tr.Update(ctx, id, "", connectors.Fields{"status": {strconv.FormatInt(i, 10)}}, ""); err != nil {
					b.Error(err)
				}
			}
			_ = r
		}
	})
	b.ReportMetric(float64(tr.Calls().Total())/float64(b.N), "calls/op")
}

// BenchmarkGet is a parallel read of one record with its comments.
func BenchmarkGet(b *testing.B) {
	tr, ids := seeded(b, 1000)
	ctx := context.Background()
	var next atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := tr.Get(ctx, ids[next.Add(1)%int64(len(ids))]); err != nil {
				b.Error(err)
			}
		}
	})
}

// BenchmarkChangesFullListing lists 1000 records from the beginning in
// pages of 100.
func BenchmarkChangesFullListing(b *testing.B) {
	tr, _ := seeded(b, 1000)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		for cursor := ""; ; {
			p, err := tr.Changes(ctx, cursor)
			if err != nil {
				b.Fatal(err)
			}
			cursor = p.Cursor
			if !p.More {
				break
			}
		}
	}
}

// BenchmarkChangesIdle is a poll that finds nothing new while 10 000
// records were edited many times before (a long change log).
func BenchmarkChangesIdle(b *testing.B) {
	tr, ids := seeded(b, 10000)
	ctx := context.Background()
	for round := range 5 {
		for _, id := range ids {
			tr.Edit(id, connectors.Fields{"status": {strconv.Itoa(round)}})
		}
	}
	cursor := ""
	for {
		p, _ := tr.Changes(ctx, cursor)
		cursor = p.Cursor
		if !p.More {
			break
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		if p, err := tr.Changes(ctx, cursor); err != nil || len(p.Records) != 0 {
			b.Fatalf("%d records, %v", len(p.Records), err)
		}
	}
}
