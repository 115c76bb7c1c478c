package syncer_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/backlogd/backlogd/connectors"
	"github.com/backlogd/backlogd/connectors/memory"
	"github.com/backlogd/backlogd/mapping"
	"github.com/backlogd/backlogd/syncer"
	"github.com/backlogd/backlogd/syncer/store"
)

// A config reload replaces the running syncer with a new one over the
// same store: the old one stops (its queues close, its in-flight writes
// finish) while its HTTP handler still takes webhooks, and the new one
// starts after it. These tests poll once an hour, so a record reaches the
// store only through the keys the webhooks queued.

const reloadDaemon = `
data_dir: %s
sync: {poll_interval: 1h, sweep_interval: 1h, workers: 2}
targets:
  - {name: home, kind: memory}
`

// lagging is a tracker whose change listing lags behind its webhooks, as
// a search index does: the records a webhook names are not listed yet, so
// a poll, even the one every syncer starts with, cannot bring them in.
type lagging struct{ *memory.Tracker }

func (lagging) Changes(_ context.Context, cursor string) (connectors.Page, error) {
	return connectors.Page{Cursor: cursor}, nil
}

// reloadWorld is a store and a webhook-sending tracker that syncer
// generations are built on, one after the other, as the daemon builds
// them on a reload.
type reloadWorld struct {
	t     *testing.T
	cfg   *mapping.Config
	st    store.Store
	home  *memory.Tracker
	conns map[string]connectors.Connector

	mu    sync.Mutex
	hooks []delivery
}

func newReloadWorld(t *testing.T) *reloadWorld {
	t.Helper()
	dir := t.TempDir()
	cfg := syncer.LoadTestConfig(t, dir, map[string]string{
		"backlogd.yaml":     fmt.Sprintf(reloadDaemon, dir),
		"clients/home.yaml": homeClient,
	})
	w := &reloadWorld{t: t, cfg: cfg, st: syncer.OpenTestStore(t, dir)}
	w.home = memory.New(memory.Options{Name: "home", KeyPrefix: "HOME", WebhookSecret: "s3cret-home",
		Webhook: func(h http.Header, body []byte) {
			w.mu.Lock()
			w.hooks = append(w.hooks, delivery{target: "home", header: h, body: body})
			w.mu.Unlock()
		}})
	w.conns = map[string]connectors.Connector{"home": lagging{w.home}}
	return w
}

// generation builds a syncer and runs it until stop is called (or the
// test ends).
func (w *reloadWorld) generation() (s *syncer.Syncer, stop func()) {
	w.t.Helper()
	s, err := syncer.New(w.cfg, w.st, w.conns, syncer.Options{Grace: time.Second})
	if err != nil {
		w.t.Fatalf("syncer.New: %v", err)
	}
	return s, w.run(s)
}

func (w *reloadWorld) run(s *syncer.Syncer) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := s.Run(ctx); err != nil {
			w.t.Errorf("Run: %v", err)
		}
	}()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	w.t.Cleanup(stop)
	return stop
}

// created returns the delivery announcing that record id was created.
func (w *reloadWorld) created(id string) delivery {
	w.t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, d := range w.hooks {
		var b struct {
			Event   string   `json:"event"`
			Records []string `json:"records"`
		}
		if json.Unmarshal(d.body, &b) == nil && b.Event == "record.created" && slices.Contains(b.Records, id) {
			return d
		}
	}
	w.t.Fatalf("no webhook announced record %s", id)
	return delivery{}
}

func (w *reloadWorld) linked(recordID string) bool {
	ctx := context.Background()
	_, err := store.Read(ctx, w.st, func(tx store.Tx) (store.Link, error) { return tx.LinkByRemote(ctx, "home", recordID) })
	return err == nil
}

func webhook(t *testing.T, s *syncer.Syncer, d delivery) (int, string) {
	t.Helper()
	return s.Webhook(context.Background(), d.target, d.header, d.body)
}

func TestAWebhookTheStoppingSyncerAcceptedIsReconciledByTheOneAReloadStarts(t *testing.T) {
	w := newReloadWorld(t)
	old, stopOld := w.generation()
	eventuallyShared(t, 10*time.Second, "the first syncer reaching home", func() bool {
		ok, _, _ := old.Ready()
		return ok
	})
	// The reload cancels the running syncer and waits for it; until the
	// next one is launched, the old one's handler serves every request.
	stopOld()
	during := w.home.AddRecord("", connectors.Fields{"title": {"Opened while the reload waited for the old syncer"}})
	if code, msg := webhook(t, old, w.created(during.ID)); code != http.StatusAccepted {
		t.Fatalf("webhook to the stopped syncer: %d %s, want 202: the delivery is verified and recorded as it always was", code, msg)
	}

	next, err := syncer.New(w.cfg, w.st, w.conns, syncer.Options{Grace: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if n := old.HandOver(next); n != 1 {
		t.Errorf("HandOver gave the next syncer %d keys, want 1 (the webhook's record)", n)
	}
	w.run(next)
	// A request the old handler took before the switch, still being
	// served after it.
	after := w.home.AddRecord("", connectors.Fields{"title": {"Opened as the new syncer took over"}})
	if code, msg := webhook(t, old, w.created(after.ID)); code != http.StatusAccepted {
		t.Fatalf("webhook to the replaced syncer: %d %s, want 202", code, msg)
	}

	eventuallyShared(t, 10*time.Second, "the record of the webhook the stopped syncer accepted, taken in by the new one", func() bool {
		return w.linked(during.ID)
	})
	eventuallyShared(t, 10*time.Second, "the record of the webhook the replaced syncer accepted, taken in by the new one", func() bool {
		return w.linked(after.ID)
	})
	// Only the handover could have saved it: the delivery is recorded as
	// seen, so the tracker's redelivery is dropped as a duplicate.
	if code, msg := webhook(t, next, w.created(during.ID)); code != http.StatusOK || msg != "duplicate delivery" {
		t.Errorf("redelivery to the new syncer: %d %s, want 200 duplicate delivery", code, msg)
	}
}

// On a store replicas share, the stopping syncer holds its leases until
// its in-flight writes are done, and a webhook for a target it still owns
// goes to its own queue, which no worker of it reads any more.
func TestOnASharedStoreAWebhookForATargetTheStoppingSyncerOwnsReachesTheNextOne(t *testing.T) {
	w := newShared(t, time.Hour, true)
	home := w.trackers["home"]
	w.conns["home"] = lagging{home}
	st := w.open("replica-a") // the daemon keeps its store across reloads
	old, err := syncer.New(w.cfg, st, w.conns, syncer.Options{Grace: 4 * leaseTTL})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := old.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	eventuallyShared(t, 10*leaseTTL, "the first syncer owning every target", func() bool { return len(w.owners()) == 3 })

	hook := func(s *syncer.Syncer, id string) string {
		t.Helper()
		w.mu.Lock()
		hooks := w.hooks
		w.hooks = nil
		w.mu.Unlock()
		for _, d := range hooks {
			var b struct {
				Records []string `json:"records"`
			}
			if d.target != "home" || json.Unmarshal(d.body, &b) != nil || !slices.Contains(b.Records, id) {
				continue
			}
			code, msg := webhook(t, s, d)
			if code != http.StatusAccepted {
				t.Fatalf("webhook about record %s: %d %s, want 202", id, code, msg)
			}
			return msg
		}
		t.Fatalf("no webhook announced record %s", id)
		return ""
	}
	// A webhook's record being read, slowly, when the reload stops the
	// syncer: its lease is held until that read and what follows are done.
	home.SetLatency(leaseTTL)
	gets := home.Calls().Get
	first := home.AddRecord("", connectors.Fields{"title": {"Being read when the reload came"}})
	hook(old, first.ID)
	eventuallyShared(t, 10*time.Second, "the first record being read", func() bool { return home.Calls().Get > gets })
	cancel()
	second := home.AddRecord("", connectors.Fields{"title": {"Opened while the old syncer finished its read"}})
	if msg := hook(old, second.ID); msg != "queued" {
		t.Fatalf("the stopping syncer answered %q: it no longer owned home, so this test did not reach the case it is about", msg)
	}
	home.SetLatency(0)
	<-done

	next, err := syncer.New(w.cfg, st, w.conns, syncer.Options{Grace: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if n := old.HandOver(next); n == 0 {
		t.Error("HandOver gave the next syncer no key")
	}
	nctx, ncancel := context.WithCancel(context.Background())
	ndone := make(chan struct{})
	go func() {
		defer close(ndone)
		if err := next.Run(nctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	t.Cleanup(func() { ncancel(); <-ndone })
	linked := func(id string) func() bool {
		return func() bool {
			_, err := store.Read(context.Background(), w.admin, func(tx store.Tx) (store.Link, error) {
				return tx.LinkByRemote(context.Background(), "home", id)
			})
			return err == nil
		}
	}
	eventuallyShared(t, 10*leaseTTL, "the record being read, taken in by the old syncer within its grace", linked(first.ID))
	eventuallyShared(t, 10*leaseTTL, "the record of the webhook the stopping syncer queued, taken in by the next one", linked(second.ID))
}
