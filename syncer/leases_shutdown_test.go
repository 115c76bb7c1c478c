package syncer_test

import (
	"context"
	"testing"
	"time"

	"github.com/backlogd/backlogd/syncer"
)

// A replica told to stop lets its in-flight reconciles finish within the
// grace; it must hold its leases for all of it, or the writes it lets
// finish are refused as fenced (or, worse, made after another replica
// took the target over).
func TestAStoppingReplicaKeepsItsLeasesWhileItsWorkersFinish(t *testing.T) {
	w := newShared(t, 100*time.Millisecond, false)
	st := w.open("replica-a")
	r := &replica{name: "replica-a", st: st, done: make(chan struct{}),
		metrics: &leaseCounts{changes: map[string]int{}, fenced: map[string]int{}}}
	// The grace is longer than a lease lasts unrenewed.
	s, err := syncer.New(w.cfg, st, w.conns, syncer.Options{Metrics: r.metrics, Grace: 4 * leaseTTL})
	if err != nil {
		t.Fatal(err)
	}
	r.s = s
	ctx, cancel := context.WithCancel(context.Background())
	r.stop = func() { cancel(); <-r.done }
	go func() {
		defer close(r.done)
		if err := s.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	t.Cleanup(r.stop)
	eventuallyShared(t, 10*leaseTTL, "replica-a owning every target", func() bool { return len(w.owners()) == 3 })
	w.put(r, sampleBacklog()...)
	w.converged(r, sampleScopes)
	w.idle(r)

	// acme answers slowly: the reconcile of an edit reads the record and
	// then writes it, each call taking most of a lease's life.
	acme := w.trackers["acme"]
	acme.SetLatency(leaseTTL * 3 / 4)
	gets := acme.Calls().Get
	it := w.item("BL-1")
	it.Title = "Checkout, edited just before a shutdown"
	w.put(r, it)
	eventuallyShared(t, 10*time.Second, "the reconcile of BL-1 on acme under way", func() bool { return acme.Calls().Get > gets })
	stopped := time.Now()
	r.stop() // SIGTERM, while the reconcile is reading acme
	t.Logf("Run returned %s after the stop", time.Since(stopped).Round(time.Millisecond))
	acme.SetLatency(0)

	if got := w.recordOf("acme", "BL-1").Fields.Get("summary"); got != it.Title {
		t.Errorf("acme's BL-1 summary is %q after the shutdown, want the edit its reconcile was writing", got)
	}
	if n := r.metrics.fencedOn("acme"); n > 0 {
		t.Errorf("%d of acme's transactions were fenced during the grace: the replica stopped renewing its leases while its workers wrote", n)
	}
	if n := r.metrics.changed("acme", syncer.LeaseLost) + r.metrics.changed("acme", syncer.LeaseExpired); n > 0 {
		t.Errorf("the stopping replica lost or let expire acme's lease %d times during the grace", n)
	}
	if owners := w.owners(); len(owners) != 0 {
		t.Errorf("after the replica stopped, leases are still held: %v (it releases them when it leaves)", owners)
	}
}
