package syncer

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/backlogd/backlogd/connectors"
	"github.com/backlogd/backlogd/connectors/memory"
	"github.com/backlogd/backlogd/syncer/store"
)

// A paused replica wakes up with its goroutines where they were: one may
// be about to call the tracker, its outbox intent written while the lease
// was still good. The guard refuses that call on the replica's own clock.
func TestTrackerWritesNeedALeaseStillSureByThisReplicasClock(t *testing.T) {
	const ttl = 3 * time.Second
	tr := memory.New(memory.Options{Name: "acme", WebhookSecret: "s3cret"})
	m := &leaseManager{ttl: ttl, held: map[string]*heldLease{}}
	conn := guard(m, "acme", tr)
	if _, ok := conn.(connectors.WebhookReceiver); !ok {
		t.Fatal("the guard hides the tracker's webhooks")
	}
	fenced := func(token int64) context.Context {
		return store.WithFence(context.Background(), store.Fence{Target: "acme", Holder: "me", Token: token})
	}
	hold := func(token int64, since time.Time, draining bool) {
		m.mu.Lock()
		m.held["acme"] = &heldLease{lease: store.Lease{Target: "acme", Holder: "me", Token: token}, since: since, draining: draining}
		m.mu.Unlock()
	}
	rec := tr.AddRecord("BL-1", connectors.Fields{"title": {"One"}})
	for _, c := range []struct {
		name  string
		ctx   context.Context
		setup func()
		ok    bool
	}{
		{"a lease renewed a moment ago", fenced(2), func() { hold(2, time.Now(), false) }, true},
		{"a lease last renewed a TTL ago (the replica was paused)", fenced(2), func() { hold(2, time.Now().Add(-ttl), false) }, false},
		{"a lease renewed just under two thirds of a TTL ago", fenced(2), func() { hold(2, time.Now().Add(-ttl/2), false) }, true},
		{"a lease taken again since, with a new token", fenced(2), func() { hold(3, time.Now(), false) }, false},
		{"a lease being given up", fenced(2), func() { hold(2, time.Now(), true) }, false},
		{"no lease held", fenced(2), func() { delete(m.held, "acme") }, false},
		{"a context without a fence", context.Background(), func() { hold(2, time.Now(), false) }, false},
		{"a fence of another target", store.WithFence(context.Background(), store.Fence{Target: "globex", Token: 2}), func() { hold(2, time.Now(), false) }, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.setup()
			before := tr.Calls().Writes()
			_, errCreate := conn.Create(c.ctx, "BL-9", connectors.Fields{"title": {"Nine"}})
			_, errUpdate := conn.Update(c.ctx, rec.ID, "", connectors.Fields{"title": {"One again"}}, "")
			_, errMarker := conn.Update(c.ctx, rec.ID, "", nil, "BL-1")
			_, errComment := conn.CreateComment(c.ctx, rec.ID, connectors.Comment{Body: "hi"})
			for _, err := range []error{errCreate, errUpdate, errMarker, errComment} {
				if c.ok && err != nil {
					t.Errorf("write refused: %v", err)
				}
				if !c.ok && !errors.Is(err, store.ErrFenced) {
					t.Errorf("write returned %v, want ErrFenced", err)
				}
			}
			if !c.ok && tr.Calls().Writes() != before {
				t.Errorf("the tracker got %d writes, want none", tr.Calls().Writes()-before)
			}
			// Reads are never refused.
			if _, err := conn.Get(c.ctx, rec.ID); err != nil {
				t.Errorf("Get: %v", err)
			}
		})
	}
}
