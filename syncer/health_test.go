package syncer

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/backlogd/backlogd/backlog"
	"github.com/backlogd/backlogd/connectors"
	"github.com/backlogd/backlogd/connectors/memory"
	"github.com/backlogd/backlogd/syncer/store"
)

// healthWorld is one target, a, that gets every item not cancelled, over
// SQLite, with BL-1…BL-5 linked to its records. The tests reconcile one key at a time
// (process, as a worker does), so each failure is exactly one attempt.
type healthWorld struct {
	t  *testing.T
	s  *Syncer
	st store.Store
	a  *memory.Tracker
}

func newHealthWorld(t *testing.T) *healthWorld {
	t.Helper()
	dir := t.TempDir()
	cfg := LoadTestConfig(t, dir, map[string]string{
		"backlogd.yaml":  "data_dir: " + dir + "\ntargets:\n  - {name: a, kind: memory}\n",
		"clients/a.yaml": "client: a\ntarget: a\nscope: not status = cancelled\nadopt: none\nfields:\n  title: title\n",
	})
	st := OpenTestStore(t, dir)
	a := memory.New(memory.Options{Name: "a"})
	s, err := New(cfg, st, map[string]connectors.Connector{"a": a}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	w := &healthWorld{t: t, s: s, st: st, a: a}
	for _, id := range []string{"BL-1", "BL-2", "BL-3", "BL-4", "BL-5"} {
		w.edit(id, "first "+id)
		if res := w.reconcile(id); res != resultCreated {
			t.Fatalf("first reconcile of %s: %s, want it created", id, res)
		}
	}
	if err := s.PollTarget(context.Background(), s.targets["a"]); err != nil {
		t.Fatal(err)
	}
	return w
}

// edit stores item id with title, so that its next reconcile writes.
func (w *healthWorld) edit(id, title string) {
	w.t.Helper()
	w.change(id, func(it *backlog.Item) { it.Title = title })
}

// change stores item id (a new one if none) changed by f.
func (w *healthWorld) change(id string, f func(*backlog.Item)) {
	w.t.Helper()
	ctx := context.Background()
	err := w.st.Tx(ctx, func(tx store.Tx) error {
		it, err := tx.Item(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			it, err = backlog.Item{ID: id, Kind: backlog.Task, Status: backlog.Todo}, nil
		}
		if err != nil {
			return err
		}
		f(&it)
		_, err = tx.PutItem(ctx, it)
		return err
	})
	if err != nil {
		w.t.Fatalf("edit %s: %v", id, err)
	}
}

// reconcile runs one attempt of key on a, as a worker does, and returns
// the result the metric would count.
func (w *healthWorld) reconcile(key string) string {
	w.t.Helper()
	rec := &resultRecorder{}
	w.s.metrics = rec
	w.s.process(context.Background(), w.s.targets["a"], key)
	w.s.metrics = nopMetrics{}
	return rec.result
}

// status is a's status.
func (w *healthWorld) status() TargetStatus {
	w.t.Helper()
	for _, st := range w.s.Status() {
		if st.Target == "a" {
			return st
		}
	}
	w.t.Fatal("no status for target a")
	return TargetStatus{}
}

// failing is Ready's verdict on a: "" when a is not failing.
func (w *healthWorld) failing() string {
	w.t.Helper()
	ready, waiting, failing := w.s.Ready()
	if !ready {
		w.t.Errorf("not ready, waiting for %v: a failing target must not make the daemon unready", waiting)
	}
	if len(failing) == 0 {
		return ""
	}
	if len(failing) != 1 || !strings.HasPrefix(failing[0], "a: ") {
		w.t.Fatalf("failing = %q, want only a", failing)
	}
	return failing[0]
}

// wantHealthy checks that a is reported neither failing in Ready nor with
// a last error in Status.
func (w *healthWorld) wantHealthy(when string) {
	w.t.Helper()
	if why := w.failing(); why != "" {
		w.t.Errorf("%s, Ready reports the target failing: %s", when, why)
	}
	if st := w.status(); st.LastError != "" {
		w.t.Errorf("%s, the target's last error is %q, want none", when, st.LastError)
	}
}

// wantFailing checks that a is reported failing, in Ready and Status,
// for a reason that mentions each of mentions.
func (w *healthWorld) wantFailing(when string, mentions ...string) {
	w.t.Helper()
	why, st := w.failing(), w.status()
	if why == "" || st.LastError == "" {
		w.t.Errorf("%s, the target is not reported failing (Ready %q, last error %q)", when, why, st.LastError)
		return
	}
	for _, m := range mentions {
		if !strings.Contains(why, m) || !strings.Contains(st.LastError, m) {
			w.t.Errorf("%s, the target fails for %q (last error %q), want it to mention %q", when, why, st.LastError, m)
		}
	}
}

func failingKeys(st TargetStatus) []string {
	var keys []string
	for _, f := range st.FailingItems {
		keys = append(keys, f.Item)
	}
	return keys
}

// healthGauges records what the syncer last reported of a's health.
type healthGauges struct {
	nopMetrics
	failing       bool
	items, parked int
}

func (g *healthGauges) SetHealth(target string, failing bool, items, parked int) {
	if target == "a" {
		g.failing, g.items, g.parked = failing, items, parked
	}
}

type resultRecorder struct {
	nopMetrics
	result string
}

func (r *resultRecorder) Reconciled(_, _, result string, _ time.Duration) { r.result = result }

var errBadGateway = errors.New("HTTP 502 bad gateway")

func TestOneFailingItemIsTheItemsNotTheTargets(t *testing.T) {
	t.Run("an item failing transiently is listed, and its target stays ready and not failing", func(t *testing.T) {
		w := newHealthWorld(t)
		w.a.FailItem("BL-2", errBadGateway)
		w.edit("BL-2", "second")
		w.edit("BL-1", "second")
		for range 2 {
			if res := w.reconcile("BL-2"); res != "error" {
				t.Fatalf("reconcile of the failing item: %s, want error", res)
			}
		}
		if res := w.reconcile("BL-1"); res != resultPushed {
			t.Fatalf("reconcile of another item: %s, want pushed", res)
		}
		w.wantHealthy("with one item failing and the rest syncing")
		st := w.status()
		if st.ItemsFailing != 1 || len(st.FailingItems) != 1 {
			t.Fatalf("status lists %d failing items (%+v), want BL-2", st.ItemsFailing, st.FailingItems)
		}
		if f := st.FailingItems[0]; f.Item != "BL-2" || !strings.Contains(f.Error, "502 bad gateway") || f.Attempts != 2 || f.Since.IsZero() {
			t.Errorf("failing item = %+v, want BL-2 with its error, 2 attempts and when it began", f)
		}
	})
	t.Run("an item leaves the failing list once it reconciles", func(t *testing.T) {
		w := newHealthWorld(t)
		w.a.FailItem("BL-2", errBadGateway)
		w.edit("BL-2", "second")
		w.reconcile("BL-2")
		w.a.FailItem("BL-2", nil)
		if res := w.reconcile("BL-2"); res != resultPushed {
			t.Fatalf("reconcile after the tracker recovered: %s, want pushed", res)
		}
		if st := w.status(); st.ItemsFailing != 0 || len(st.FailingItems) != 0 {
			t.Errorf("after BL-2 reconciled, status lists %d failing items: %+v", st.ItemsFailing, st.FailingItems)
		}
	})
	t.Run("an item leaves the failing list once it leaves the target", func(t *testing.T) {
		w := newHealthWorld(t)
		w.a.FailItem("BL-6", errBadGateway)
		w.edit("BL-6", "never created")
		if res := w.reconcile("BL-6"); res != "error" {
			t.Fatalf("create of the failing item: %s, want error", res)
		}
		if st := w.status(); !slices.Equal(failingKeys(st), []string{"BL-6"}) {
			t.Fatalf("failing items = %v, want BL-6", failingKeys(st))
		}
		w.change("BL-6", func(it *backlog.Item) { it.Status = backlog.Cancelled })
		if res := w.reconcile("BL-6"); res != resultNone {
			t.Fatalf("reconcile of the item out of scope: %s, want ok", res)
		}
		if st := w.status(); st.ItemsFailing != 0 {
			t.Errorf("after BL-6 left the scope, status lists %d failing items: %+v", st.ItemsFailing, st.FailingItems)
		}
	})
	t.Run("an item is listed once, as what its last attempt made it", func(t *testing.T) {
		w := newHealthWorld(t)
		w.edit("BL-2", "second")
		w.a.FailItem("BL-2", connectors.Terminalf("the tracker refused the values (HTTP 422)"))
		w.reconcile("BL-2")
		w.a.FailItem("BL-2", errBadGateway) // the sweep tries it again
		w.reconcile("BL-2")
		if st := w.status(); st.ItemsParked != 0 || !slices.Equal(failingKeys(st), []string{"BL-2"}) {
			t.Errorf("status: parked %q, failing %v; want BL-2 failing only", st.Parked, failingKeys(st))
		}
		w.a.FailItem("BL-2", connectors.Terminalf("the tracker refused the values (HTTP 422)"))
		w.reconcile("BL-2")
		if st := w.status(); st.ItemsFailing != 0 || st.ItemsParked != 1 {
			t.Errorf("status: %d failing, parked %q; want BL-2 parked only", st.ItemsFailing, st.Parked)
		}
	})
	t.Run("two items failing are still items", func(t *testing.T) {
		w := newHealthWorld(t)
		w.a.FailWrites(errBadGateway)
		for _, id := range []string{"BL-1", "BL-2"} {
			w.edit(id, "second")
			w.reconcile(id)
		}
		w.wantHealthy("with two items failing")
		if st := w.status(); !slices.Equal(failingKeys(st), []string{"BL-1", "BL-2"}) {
			t.Errorf("failing items = %v, want BL-1 and BL-2", failingKeys(st))
		}
	})
	t.Run("items refused for their values are parked and never fail the target", func(t *testing.T) {
		w := newHealthWorld(t)
		w.a.FailWrites(connectors.Terminalf("the tracker refused the values (HTTP 422)"))
		for _, id := range []string{"BL-1", "BL-2", "BL-3", "BL-4", "BL-5"} {
			w.edit(id, "second")
			if res := w.reconcile(id); res != "terminal" {
				t.Fatalf("reconcile of %s: %s, want terminal", id, res)
			}
		}
		w.wantHealthy("with every item refused for its values")
		if st := w.status(); st.ItemsParked != 5 || len(st.Parked) != 5 || st.ItemsFailing != 0 {
			t.Errorf("status: %d parked %q, %d failing; want the five parked", st.ItemsParked, st.Parked, st.ItemsFailing)
		}
	})
	t.Run("a parked item that syncs again leaves the stored reason too", func(t *testing.T) {
		// The store keeps a parked item's reason beside its link, for
		// `backlogd status` without a daemon: it must go when the item
		// syncs, even by a reconcile with nothing else to store.
		w := newHealthWorld(t)
		w.a.FailWrites(connectors.Terminalf("the tracker refused the values (HTTP 422)"))
		w.edit("BL-1", "refused")
		if res := w.reconcile("BL-1"); res != "terminal" {
			t.Fatalf("reconcile: %s, want terminal", res)
		}
		if l := w.link("BL-1"); !strings.Contains(l.LastError, "HTTP 422") {
			t.Fatalf("stored reason %q, want the refusal", l.LastError)
		}
		w.a.FailWrites(nil)
		w.edit("BL-1", "first BL-1") // the product owner takes the edit back
		if res := w.reconcile("BL-1"); res != resultNone {
			t.Fatalf("reconcile after the edit was taken back: %s, want nothing to write", res)
		}
		if l := w.link("BL-1"); l.LastError != "" {
			t.Errorf("stored reason %q after the item synced, want none", l.LastError)
		}
	})
}

// link is the stored link of id on a.
func (w *healthWorld) link(id string) store.Link {
	w.t.Helper()
	l, err := store.Read(context.Background(), w.st, func(tx store.Tx) (store.Link, error) { return tx.Link(context.Background(), "a", id) })
	if err != nil {
		w.t.Fatal(err)
	}
	return l
}

func TestATargetFailsAsAWhole(t *testing.T) {
	t.Run("when its listing fails, until a poll succeeds", func(t *testing.T) {
		w := newHealthWorld(t)
		w.a.FailNext(1)
		ctx := context.Background()
		if err := w.s.SyncOnce(ctx); err == nil || !strings.Contains(err.Error(), "poll a") {
			t.Fatalf("SyncOnce = %v, want it to report a's failed poll", err)
		}
		w.wantFailing("after a failed listing", "list changes")
		if err := w.s.SyncOnce(ctx); err != nil {
			t.Fatal(err)
		}
		w.wantHealthy("after the next poll succeeded")
	})
	t.Run("when every write fails transiently while listing works, until a write succeeds", func(t *testing.T) {
		w := newHealthWorld(t)
		w.a.FailWrites(errBadGateway)
		for _, id := range []string{"BL-1", "BL-2"} {
			w.edit(id, "second")
			w.reconcile(id)
		}
		// Reconciles with nothing to write, and a poll, do not show that
		// writes work.
		if res := w.reconcile("BL-4"); res != resultNone {
			t.Fatalf("reconcile of an unchanged item: %s, want ok", res)
		}
		if err := w.s.PollTarget(context.Background(), w.s.targets["a"]); err != nil {
			t.Fatal(err)
		}
		w.edit("BL-3", "second")
		w.reconcile("BL-3")
		w.wantFailing("with three items failing to write and no write succeeding", "writes fail", "3 items", "BL-3", "502 bad gateway")
		w.a.FailWrites(nil)
		w.edit("BL-5", "second")
		if res := w.reconcile("BL-5"); res != resultPushed {
			t.Fatalf("reconcile once writes work again: %s, want pushed", res)
		}
		w.wantHealthy("after a write succeeded")
		if st := w.status(); st.ItemsFailing != 3 {
			t.Errorf("the three items not retried yet: %d failing, want 3 (they are still not synced)", st.ItemsFailing)
		}
	})
	t.Run("when every reconcile fails, until one succeeds", func(t *testing.T) {
		w := newHealthWorld(t)
		for _, id := range []string{"BL-1", "BL-2", "BL-3"} {
			w.a.FailItem(id, errBadGateway) // its read fails
			w.reconcile(id)
		}
		w.wantFailing("with three reconciles failing and none succeeding", "reconciles fail", "3 items")
		// Keys whose reconcile never asks the tracker (an item out of the
		// client's scope, an id nobody knows) are most of a sweep or a
		// fan-out: they prove nothing about the target.
		w.change("BL-9", func(it *backlog.Item) { it.Status = backlog.Cancelled })
		for _, key := range []string{"BL-9", "BL-404"} {
			if res := w.reconcile(key); res != resultNone {
				t.Fatalf("reconcile of %s: %s, want nothing done", key, res)
			}
		}
		w.wantFailing("after reconciles that never reached the tracker", "reconciles fail", "3 items")
		if res := w.reconcile("BL-4"); res != resultNone {
			t.Fatalf("reconcile of a healthy item: %s, want ok", res)
		}
		w.wantHealthy("after another item reconciled")
	})
	t.Run("when writes are refused for a permission, from the third item", func(t *testing.T) {
		w := newHealthWorld(t)
		w.a.FailWrites(connectors.ScopedTerminalf(connectors.ScopeEndpoint, "the token may not do this (HTTP 403)"))
		for i, id := range []string{"BL-1", "BL-2", "BL-3"} {
			if i == 2 {
				// One refusal could be the item's (a locked issue): not yet.
				w.wantHealthy("with two items refused for a permission")
			}
			w.edit(id, "second")
			if res := w.reconcile(id); res != "terminal" {
				t.Fatalf("reconcile of %s: %s, want terminal", id, res)
			}
		}
		w.wantFailing("with three items refused for a permission", "writes fail", "HTTP 403")
		if st := w.status(); st.ItemsParked != 3 {
			t.Errorf("%d items parked, want the three refused", st.ItemsParked)
		}
	})
	t.Run("when the tracker refuses the credentials, at once, until a reconcile succeeds", func(t *testing.T) {
		w := newHealthWorld(t)
		w.a.FailItem("BL-1", connectors.ScopedTerminalf(connectors.ScopeTarget, "the tracker refused the token (HTTP 401)"))
		w.edit("BL-1", "second")
		if res := w.reconcile("BL-1"); res != "terminal" {
			t.Fatalf("reconcile: %s, want terminal", res)
		}
		w.wantFailing("after one refusal of the credentials", "HTTP 401")
		w.reconcile("BL-2")
		w.wantHealthy("after another reconcile succeeded")
		if st := w.status(); len(st.Parked) != 1 || !strings.HasPrefix(st.Parked[0], "BL-1: ") {
			t.Errorf("parked = %q, want BL-1 still parked with its reason", st.Parked)
		}
	})
}

func TestTheHealthGaugesSayWhatStatusSays(t *testing.T) {
	w := newHealthWorld(t)
	g := &healthGauges{}
	read := func() healthGauges {
		w.s.metrics = g
		w.s.refreshGauges(context.Background())
		w.s.metrics = nopMetrics{}
		return *g
	}
	w.a.FailItem("BL-1", errBadGateway)
	w.a.FailItem("BL-2", connectors.Terminalf("the tracker refused the values (HTTP 422)"))
	for _, id := range []string{"BL-1", "BL-2"} {
		w.edit(id, "second")
		w.reconcile(id)
	}
	if got := read(); got.failing || got.items != 1 || got.parked != 1 {
		t.Errorf("gauges: failing %v, %d items failing, %d parked; want not failing, one of each", got.failing, got.items, got.parked)
	}
	// BL-1's read failure is the item's once other reads succeed; three
	// items whose writes fail, with no write succeeding, are the target.
	w.a.FailWrites(errBadGateway)
	for _, id := range []string{"BL-3", "BL-4", "BL-5"} {
		w.edit(id, "second")
		w.reconcile(id)
	}
	if got := read(); !got.failing || got.items != 4 {
		t.Errorf("gauges with every write failing: failing %v, %d items failing; want failing, 4", got.failing, got.items)
	}
}
