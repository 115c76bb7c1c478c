package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/backlogd/backlogd/syncer/store"
)

// Lease subtests run on stores that implement store.Leaser, with two
// replicas on one database: the store New made and a peer from
// Harness.Peer. The harness should give its stores a short lease TTL
// (a second or two): the subtests wait for leases to expire.

// peers returns two replicas of one fresh database, or skips.
func (s *suite) peers(t *testing.T) (a, b store.Leaser, sa, sb store.Store, ctx context.Context) {
	t.Helper()
	st, ctx := s.fresh(t)
	la, ok := st.(store.Leaser)
	if !ok {
		t.Skipf("storetest: %T does not implement store.Leaser (one process owns every target); lease subtests do not apply", st)
	}
	if s.h.Peer == nil {
		t.Fatal("storetest: the store implements store.Leaser but the harness has no Peer to open a second replica")
	}
	peer := s.h.Peer(t, st)
	lb, ok := peer.(store.Leaser)
	if !ok {
		t.Fatalf("storetest: the harness's Peer returned %T, which does not implement store.Leaser", peer)
	}
	if la.ReplicaID() == lb.ReplicaID() || la.ReplicaID() == "" {
		t.Fatalf("storetest: two replicas have ids %q and %q; each process needs its own", la.ReplicaID(), lb.ReplicaID())
	}
	return la, lb, st, peer, ctx
}

// untilAcquired retries AcquireLease until it succeeds, for at most ten
// TTLs (a lease that never expires fails the test).
func untilAcquired(t *testing.T, ctx context.Context, l store.Leaser, target string) store.Lease {
	t.Helper()
	deadline := time.Now().Add(10 * l.LeaseTTL())
	for {
		got, err := l.AcquireLease(ctx, target)
		if err == nil {
			return got
		}
		if !errors.Is(err, store.ErrLeaseHeld) {
			t.Fatalf("AcquireLease(%s) by %s: %v", target, l.ReplicaID(), err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("AcquireLease(%s) by %s still refused ten TTLs (%s) later: the lease never expires", target, l.ReplicaID(), 10*l.LeaseTTL())
		}
		time.Sleep(l.LeaseTTL() / 20)
	}
}

func leaseOf(t *testing.T, ctx context.Context, l store.Leaser, target string) (store.Lease, bool) {
	t.Helper()
	ls, err := l.Leases(ctx)
	if err != nil {
		t.Fatalf("Leases: %v", err)
	}
	for _, x := range ls {
		if x.Target == target {
			return x, true
		}
	}
	return store.Lease{}, false
}

func (s *suite) leaseTakeover(t *testing.T) {
	a, b, _, _, ctx := s.peers(t)
	first, err := a.AcquireLease(ctx, "jira")
	if err != nil {
		t.Fatalf("AcquireLease of a target nobody holds: %v", err)
	}
	if first.Holder != a.ReplicaID() || first.Target != "jira" || first.Token < 1 {
		t.Errorf("AcquireLease returned %+v, want target jira held by %s with a positive token", first, a.ReplicaID())
	}
	if !first.Expires.After(first.Acquired) || first.Expires.Location() != time.UTC {
		t.Errorf("the lease runs from %v to %v, want an expiry after its start, in UTC", first.Acquired, first.Expires)
	}
	for _, l := range []store.Leaser{b, a} {
		if _, err := l.AcquireLease(ctx, "jira"); !errors.Is(err, store.ErrLeaseHeld) {
			t.Errorf("AcquireLease of a held lease by %s returned %v, want ErrLeaseHeld", l.ReplicaID(), err)
		}
	}
	if got, ok := leaseOf(t, ctx, b, "jira"); !ok || got.Holder != a.ReplicaID() || got.Token != first.Token {
		t.Errorf("Leases shows %+v (present %v), want jira held by %s with token %d", got, ok, a.ReplicaID(), first.Token)
	}
	// Another target is another lease.
	if _, err := b.AcquireLease(ctx, "github"); err != nil {
		t.Errorf("AcquireLease of another target: %v", err)
	}

	second := untilAcquired(t, ctx, b, "jira")
	if second.Token <= first.Token || second.Holder != b.ReplicaID() {
		t.Errorf("the takeover returned %+v, want holder %s and a token above %d", second, b.ReplicaID(), first.Token)
	}
	renewed, err := a.RenewLeases(ctx, []store.Lease{first})
	if err != nil {
		t.Fatal(err)
	}
	if len(renewed) != 0 {
		t.Errorf("the old holder renewed a lease taken over: %+v", renewed)
	}
	// Taking it back (after it expires again) raises the token again.
	third := untilAcquired(t, ctx, a, "jira")
	if third.Token <= second.Token {
		t.Errorf("a second takeover has token %d, want it above %d", third.Token, second.Token)
	}
}

func (s *suite) leaseRenew(t *testing.T) {
	a, b, _, _, ctx := s.peers(t)
	l, err := a.AcquireLease(ctx, "jira")
	if err != nil {
		t.Fatal(err)
	}
	ttl := a.LeaseTTL()
	// Renewed every third of a TTL for two TTLs, it never lapses.
	end := time.Now().Add(2 * ttl)
	for time.Now().Before(end) {
		time.Sleep(ttl / 3)
		got, err := a.RenewLeases(ctx, []store.Lease{l})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].Token != l.Token || got[0].Target != "jira" {
			t.Fatalf("RenewLeases of a held lease returned %+v, want jira with token %d", got, l.Token)
		}
		if got[0].Expires.Before(l.Expires) {
			t.Errorf("renewing moved the expiry back from %v to %v", l.Expires, got[0].Expires)
		}
		l = got[0]
		if _, err := b.AcquireLease(ctx, "jira"); !errors.Is(err, store.ErrLeaseHeld) {
			t.Fatalf("AcquireLease of a lease renewed in time returned %v, want ErrLeaseHeld", err)
		}
	}
	// A stale token is not renewed, even for the right holder.
	stale := l
	stale.Token--
	if got, err := a.RenewLeases(ctx, []store.Lease{stale}); err != nil || len(got) != 0 {
		t.Errorf("RenewLeases with an old token returned %+v, %v; want nothing renewed", got, err)
	}
	// Once expired it is not renewed even though nobody took it.
	time.Sleep(ttl + ttl/4)
	if got, err := a.RenewLeases(ctx, []store.Lease{l}); err != nil || len(got) != 0 {
		t.Errorf("RenewLeases of an expired lease returned %+v, %v; want nothing renewed: its holder must take it again with a new token", got, err)
	}
	again, err := a.AcquireLease(ctx, "jira")
	if err != nil {
		t.Fatal(err)
	}
	if again.Token <= l.Token {
		t.Errorf("acquiring an expired lease again gave token %d, want more than %d", again.Token, l.Token)
	}
}

func (s *suite) leaseRelease(t *testing.T) {
	a, b, _, _, ctx := s.peers(t)
	l, err := a.AcquireLease(ctx, "jira")
	if err != nil {
		t.Fatal(err)
	}
	if err := a.ReleaseLease(ctx, l); err != nil {
		t.Fatal(err)
	}
	got, err := b.AcquireLease(ctx, "jira")
	if err != nil {
		t.Fatalf("AcquireLease right after a release: %v", err)
	}
	if got.Token <= l.Token {
		t.Errorf("the lease taken after a release has token %d, want more than %d", got.Token, l.Token)
	}
	// Releasing a lease that moved on is no error and changes nothing.
	if err := a.ReleaseLease(ctx, l); err != nil {
		t.Errorf("releasing a lease no longer held: %v", err)
	}
	if cur, _ := leaseOf(t, ctx, a, "jira"); cur.Holder != b.ReplicaID() || cur.Token != got.Token || !cur.Expires.After(time.Now().Add(-time.Second)) {
		t.Errorf("after the old holder released again, the lease is %+v, want it still %s's with token %d", cur, b.ReplicaID(), got.Token)
	}
}

func (s *suite) heartbeats(t *testing.T) {
	a, b, _, _, ctx := s.peers(t)
	ids := func(rs []store.Replica) []string {
		var out []string
		for _, r := range rs {
			out = append(out, r.ID)
		}
		slices.Sort(out)
		return out
	}
	if _, err := a.Heartbeat(ctx); err != nil {
		t.Fatal(err)
	}
	live, err := b.Heartbeat(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{a.ReplicaID(), b.ReplicaID()}
	slices.Sort(want)
	if !slices.Equal(ids(live), want) {
		t.Errorf("Heartbeat lists replicas %v, want %v", ids(live), want)
	}
	for _, r := range live {
		if r.Host == "" || r.Started.IsZero() || !r.Expires.After(r.Seen) {
			t.Errorf("replica %+v lacks a host, a start time or an expiry after its last heartbeat", r)
		}
	}
	held, err := a.AcquireLease(ctx, "jira")
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Leave(ctx); err != nil {
		t.Fatal(err)
	}
	live, err = b.Replicas(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids(live), []string{b.ReplicaID()}) {
		t.Errorf("after %s left, Replicas lists %v, want only %s", a.ReplicaID(), ids(live), b.ReplicaID())
	}
	if got, err := b.AcquireLease(ctx, "jira"); err != nil || got.Token <= held.Token {
		t.Errorf("AcquireLease of a lease whose holder left returned %+v, %v; want it at once with a higher token", got, err)
	}
	// A replica that stops beating expires by itself, and joins again
	// when it beats again.
	var joined time.Time
	for _, r := range live {
		joined = r.Started
	}
	deadline := time.Now().Add(10 * b.LeaseTTL())
	for {
		live, err := a.Replicas(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(live) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a replica that stopped beating is still listed ten TTLs later: %v", ids(live))
		}
		time.Sleep(b.LeaseTTL() / 10)
	}
	back, err := b.Heartbeat(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(back) != 1 || !back[0].Started.After(joined) {
		t.Errorf("a replica beating again after its heartbeat lapsed lists as %+v, want it joined again (started after %v)", back, joined)
	}
}

func (s *suite) fencedWrites(t *testing.T) {
	a, b, sa, sb, ctx := s.peers(t)
	mine, err := a.AcquireLease(ctx, "jira")
	if err != nil {
		t.Fatal(err)
	}
	fa := store.WithFence(ctx, store.Fence{Target: "jira", Holder: a.ReplicaID(), Token: mine.Token})
	if err := sa.Tx(fa, func(tx store.Tx) error { return tx.PutCursor(fa, "jira", "by the holder") }); err != nil {
		t.Fatalf("a transaction fenced by the lease its store holds failed: %v", err)
	}
	for _, c := range []struct {
		why   string
		fence store.Fence
	}{
		{"another replica", store.Fence{Target: "jira", Holder: b.ReplicaID(), Token: mine.Token}},
		{"an older token", store.Fence{Target: "jira", Holder: a.ReplicaID(), Token: mine.Token - 1}},
		{"a target nobody holds", store.Fence{Target: "github", Holder: a.ReplicaID(), Token: mine.Token}},
	} {
		fctx := store.WithFence(ctx, c.fence)
		err := sb.Tx(fctx, func(tx store.Tx) error { return tx.PutCursor(fctx, "jira", "by "+c.why) })
		if !errors.Is(err, store.ErrFenced) {
			t.Errorf("a transaction fenced by %s returned %v, want ErrFenced", c.why, err)
		}
	}
	// The holder loses the lease (it expires and b takes it over): its
	// writes are refused, whatever they are, and write nothing.
	theirs := untilAcquired(t, ctx, b, "jira")
	id := newItem(t, ctx, sa).ID
	before := readState(t, ctx, sa)
	err = sa.Tx(fa, func(tx store.Tx) error {
		if _, err := tx.AddIntent(fa, store.Intent{Target: "jira", ItemID: id, Op: store.OpCreate, Created: at(0)}); err != nil {
			return err
		}
		if err := tx.PutLink(fa, fullLink("jira", id)); err != nil {
			return err
		}
		return tx.PutCursor(fa, "jira", "stale")
	})
	if !errors.Is(err, store.ErrFenced) {
		t.Errorf("a transaction fenced by a lease taken over returned %v, want ErrFenced", err)
	}
	after := readState(t, ctx, sa)
	expectSame(t, "intents after a fenced transaction", before.intents, after.intents)
	expectSame(t, "links after a fenced transaction", before.links, after.links)
	if after.cursor != before.cursor {
		t.Errorf("cursor after a fenced transaction is %q, want %q", after.cursor, before.cursor)
	}
	// Reads under a lost fence are refused too: the replica is told at
	// once, not at its next write.
	err = sa.Tx(fa, func(tx store.Tx) error { _, err := tx.Cursor(fa, "jira"); return err })
	if !errors.Is(err, store.ErrFenced) {
		t.Errorf("a read fenced by a lease taken over returned %v, want ErrFenced", err)
	}
	fb := store.WithFence(ctx, store.Fence{Target: "jira", Holder: b.ReplicaID(), Token: theirs.Token})
	if err := sb.Tx(fb, func(tx store.Tx) error { return tx.PutCursor(fb, "jira", "by the new holder") }); err != nil {
		t.Errorf("the new holder's fenced transaction failed: %v", err)
	}
	// An unfenced transaction is not checked: the CLI and tests use those.
	if err := sa.Tx(ctx, func(tx store.Tx) error { return tx.PutCursor(ctx, "jira", "unfenced") }); err != nil {
		t.Errorf("an unfenced transaction failed: %v", err)
	}
}

func (s *suite) takeoverWaits(t *testing.T) {
	a, b, sa, _, ctx := s.peers(t)
	mine, err := a.AcquireLease(ctx, "jira")
	if err != nil {
		t.Fatal(err)
	}
	fa := store.WithFence(ctx, store.Fence{Target: "jira", Holder: a.ReplicaID(), Token: mine.Token})
	var (
		mu     sync.Mutex
		events []string
	)
	note := func(e string) {
		mu.Lock()
		events = append(events, e)
		mu.Unlock()
	}
	inTx := make(chan struct{})
	acquired := make(chan error, 1)
	err = sa.Tx(fa, func(tx store.Tx) error {
		if err := tx.PutCursor(fa, "jira", "in flight"); err != nil {
			return err
		}
		close(inTx)
		// The lease ends while this transaction is open, and the other
		// replica tries to take it over.
		if err := a.ReleaseLease(ctx, mine); err != nil {
			return err
		}
		go func() {
			// The takeover may wait for the lock, or give up and try
			// again (ErrLeaseHeld): either way it must not succeed
			// before this transaction ends.
			for {
				_, err := b.AcquireLease(ctx, "jira")
				if errors.Is(err, store.ErrLeaseHeld) && ctx.Err() == nil {
					time.Sleep(b.LeaseTTL() / 50)
					continue
				}
				note("acquired")
				acquired <- err
				return
			}
		}()
		// Time for the takeover to run, were it not made to wait.
		time.Sleep(a.LeaseTTL() / 4)
		note("committing")
		return nil
	})
	if err != nil {
		t.Fatalf("a fenced transaction whose lease was valid at its start failed: %v", err)
	}
	<-inTx
	if err := <-acquired; err != nil {
		t.Fatalf("the takeover after the release: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(events) != "[committing acquired]" {
		t.Errorf("events %v: the takeover finished before the fenced transaction of the old holder ended; it must wait for it", events)
	}
	var c string
	do(t, ctx, sa, func(tx store.Tx) (err error) { c, err = tx.Cursor(ctx, "jira"); return err })
	if c != "in flight" {
		t.Errorf("cursor is %q, want the fenced transaction's write, committed before the takeover", c)
	}
}

func (s *suite) wakeups(t *testing.T) {
	_, _, sa, sb, ctx := s.peers(t)
	wa, ok := sa.(store.Waker)
	if !ok {
		t.Skipf("storetest: %T does not implement store.Waker", sa)
	}
	wb := sb.(store.Waker)
	heard := make(chan string, 16)
	lctx, stop := context.WithCancel(ctx)
	listening := make(chan error, 1)
	go func() { listening <- wb.Listen(lctx, func(target string) { heard <- target }) }()
	t.Cleanup(func() {
		stop()
		<-listening
	})
	wait := func(want string) {
		t.Helper()
		select {
		case got := <-heard:
			if got != want {
				t.Errorf("the listener heard %q, want %q", got, want)
			}
		case err := <-listening:
			t.Fatalf("Listen returned %v while waiting for %q", err, want)
		case <-time.After(30 * time.Second):
			t.Fatalf("the listener did not hear %q within 30s", want)
		}
	}
	wait("") // listening
	wake := func(st store.Store, target string, keys ...string) {
		t.Helper()
		do(t, ctx, st, func(tx store.Tx) error {
			w, ok := tx.(store.WakeTx)
			if !ok {
				return fmt.Errorf("the store implements store.Waker but its transactions (%T) do not implement store.WakeTx", tx)
			}
			return w.Wake(ctx, target, keys)
		})
	}
	take := func(st store.Store, target string) []string {
		t.Helper()
		var keys []string
		do(t, ctx, st, func(tx store.Tx) (err error) { keys, err = tx.(store.WakeTx).TakeWakeups(ctx, target); return err })
		slices.Sort(keys)
		return keys
	}
	wake(sa, "jira", "BL-1", "remote:10042")
	wait("jira")
	wake(sa, "jira", "BL-1", "BL-2") // BL-1 again: recorded once
	wait("jira")
	if got := take(sb, "jira"); !slices.Equal(got, []string{"BL-1", "BL-2", "remote:10042"}) {
		t.Errorf("TakeWakeups(jira) = %v, want BL-1 BL-2 remote:10042", got)
	}
	if got := take(sb, "jira"); len(got) != 0 {
		t.Errorf("TakeWakeups(jira) a second time = %v, want nothing", got)
	}

	// A wake-up in a transaction that rolls back is neither recorded nor
	// heard.
	err := sa.Tx(ctx, func(tx store.Tx) error {
		if err := tx.(store.WakeTx).Wake(ctx, "github", []string{"BL-9"}); err != nil {
			return err
		}
		return errors.New("rolled back")
	})
	if err == nil {
		t.Fatal("Tx returned no error for a function that failed")
	}
	if err := wa.Nudge(ctx); err != nil {
		t.Fatal(err)
	}
	wait("") // the nudge, not the rolled back wake-up before it
	if got := take(sb, "github"); len(got) != 0 {
		t.Errorf("a rolled back wake-up was recorded: %v", got)
	}
}
