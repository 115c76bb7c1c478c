package syncer

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/backlogd/backlogd/connectors"
	"github.com/backlogd/backlogd/syncer/store"
)

// Several replicas sharing a store (one that implements store.Leaser)
// split the targets between them. Each target is owned through a lease
// with a fencing token; only its owner runs the target's workers and
// poller, and every store transaction they make carries the lease as a
// store.Fence, so a replica that lost the lease (paused past it,
// partitioned, slow) has its writes refused by the store and never gets
// as far as announcing a remote write. A replica that does not own a
// target forwards the keys that reach its queue (fan-out from the targets
// it owns, resyncs, webhooks) to the owner through the store's wake-ups.
//
// The lease loop runs every third of a TTL: heartbeat, renew, then move
// leases towards a fair share. A replica holds at most ceil(targets /
// live replicas); while some live replica holds fewer than floor(targets
// / live replicas), the replicas holding the most give leases up, so a
// replica that joins gets its share at the next round, and one that
// leaves (or dies, once its heartbeat and leases expire) has its targets
// taken by the others.

// LeaseMetrics is what the syncer reports about leases, when its Metrics
// implement it too (syncer/metrics does). It is separate from Metrics so
// that the test doubles of Metrics elsewhere need no change.
type LeaseMetrics interface {
	// LeaseChanged counts a change of this replica's lease on target:
	// acquired, released (given up for balance or at shutdown), lost
	// (found taken over or expired at renewal), or expired (the store
	// could not be reached to renew it in time).
	LeaseChanged(target, change string)
	// SetLeaseHeld says whether this replica owns target.
	SetLeaseHeld(target string, held bool)
	// WriteFenced counts a transaction of target's that the store refused
	// because its lease had moved on.
	WriteFenced(target string)
	// SetReplicas is the number of live replicas at the last heartbeat.
	SetReplicas(n int)
}

// Lease changes, the change label of LeaseMetrics.LeaseChanged.
const (
	LeaseAcquired = "acquired"
	LeaseReleased = "released"
	LeaseLost     = "lost"
	LeaseExpired  = "expired"
)

// leaseManager runs a Syncer on a shared store.
type leaseManager struct {
	s       *Syncer
	st      store.Leaser
	waker   store.Waker // nil when the store cannot wake an owner
	metrics LeaseMetrics
	ttl     time.Duration
	nudge   chan struct{}

	mu      sync.Mutex
	held    map[string]*heldLease
	runners map[string]*runner
	// lastRenew is when the last successful renewal started (monotonic);
	// beat is when the last heartbeat succeeded.
	lastRenew time.Time
	beat      time.Time
	replicas  int
}

// heldLease is a lease this replica holds. A draining one is being given
// up: its workers are finishing, and it is renewed until they have.
type heldLease struct {
	lease    store.Lease
	draining bool
	// since is when the statement that last acquired or renewed the
	// lease started, on this process's monotonic clock: the lease is
	// good for a TTL from then, give or take the clocks' drift.
	since time.Time
}

func newLeaseManager(s *Syncer, st store.Leaser) *leaseManager {
	m := &leaseManager{
		s: s, st: st, ttl: st.LeaseTTL(), nudge: make(chan struct{}, 1),
		held: map[string]*heldLease{}, runners: map[string]*runner{},
	}
	if m.ttl <= 0 {
		m.ttl = 15 * time.Second
	}
	m.waker, _ = st.(store.Waker)
	if lm, ok := s.metrics.(LeaseMetrics); ok {
		m.metrics = lm
	} else {
		m.metrics = nopLeaseMetrics{}
	}
	for _, name := range s.order {
		t := s.targets[name]
		// Only the owner writes to a tracker, and only while sure of it.
		t.conn = guard(m, name, t.conn)
		m.runners[name] = &runner{m: m, t: t, cmds: make(chan runnerCmd, 4), wake: make(chan struct{}, 1)}
	}
	return m
}

// owns reports whether this replica holds target's lease (and is not
// giving it up).
func (m *leaseManager) owns(target string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	h, ok := m.held[target]
	return ok && !h.draining
}

// unready says why the replica should not take traffic: no heartbeat
// has reached the store for a TTL.
func (m *leaseManager) unready() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.beat.IsZero() || time.Since(m.beat) > m.ttl {
		return "store: no heartbeat recorded within the lease TTL (" + m.ttl.String() + ")"
	}
	return ""
}

// poke runs the lease loop now.
func (m *leaseManager) poke() {
	select {
	case m.nudge <- struct{}{}:
	default:
	}
}

// run is Syncer.Run on a shared store.
func (m *leaseManager) run(ctx context.Context) error {
	m.s.log.Info("replica joined", "replica", m.st.ReplicaID(), "lease_ttl", m.ttl, "targets", len(m.s.order))
	for _, name := range m.s.order {
		m.metrics.SetLeaseHeld(name, false)
	}
	var wg sync.WaitGroup
	for _, name := range m.s.order {
		r := m.runners[name]
		wg.Go(func() { r.run(ctx) })
	}
	loops, stopLoops := context.WithCancel(ctx)
	// The lease loop outlives ctx: the runners' in-flight reconciles get
	// Options.Grace to finish their writes, which are fenced by the
	// leases, so the leases are renewed until the runners have stopped
	// (a grace longer than two thirds of a TTL would otherwise see its
	// writes refused, or made after another replica took over).
	leasing, stopLeasing := context.WithCancel(context.WithoutCancel(ctx))
	var lw sync.WaitGroup
	lw.Go(func() { m.leaseLoop(leasing, ctx) })
	if m.waker != nil {
		lw.Go(func() { m.listen(loops) })
	}
	lw.Go(func() { m.sweepLoop(loops) })
	lw.Go(func() { m.s.gaugeLoop(loops) })
	<-ctx.Done()
	// The runners wind down (in-flight work gets Options.Grace), and only
	// then are the leases released: nothing of this replica writes after
	// another replica may have taken over.
	wg.Wait()
	stopLoops()
	stopLeasing()
	lw.Wait()
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := m.st.Leave(lctx); err != nil {
		m.s.log.Warn("could not release the leases at shutdown; the other replicas take them over when they expire", "error", err, "ttl", m.ttl)
	}
	return nil
}

// leaseLoop runs the lease rounds until ctx ends. Once stopping ends (the
// replica is shutting down) it only keeps what it holds: heartbeat and
// renewal, no balancing, so that it takes no new lease on its way out.
func (m *leaseManager) leaseLoop(ctx, stopping context.Context) {
	first := true
	for {
		m.tick(ctx, stopping.Err() == nil)
		if first {
			// Tell the others a replica joined, so they give it its share
			// now rather than at their next round.
			if w := m.waker; w != nil {
				_ = w.Nudge(ctx)
			}
			first = false
		}
		// Jitter keeps replicas started together from ticking together.
		wait := m.ttl/3 - m.ttl/30 + rand.N(m.ttl/15+1)
		select {
		case <-ctx.Done():
			return
		case <-m.nudge:
		case <-time.After(wait):
		}
	}
}

// tick is one round of the lease loop; balance says whether to give up
// and take leases towards a fair share, after the renewal.
func (m *leaseManager) tick(ctx context.Context, balance bool) {
	log := m.s.log
	started := time.Now()
	replicas, err := m.st.Heartbeat(ctx)
	if err != nil {
		if ctx.Err() == nil {
			log.Warn("heartbeat failed; the store is unreachable", "error", err)
			m.expireIfStale()
		}
		return
	}
	m.mu.Lock()
	m.beat = time.Now()
	m.replicas = len(replicas)
	var held []store.Lease
	for _, h := range m.held {
		held = append(held, h.lease)
	}
	m.mu.Unlock()
	m.metrics.SetReplicas(len(replicas))

	renewed, err := m.st.RenewLeases(ctx, held)
	if err != nil {
		if ctx.Err() == nil {
			log.Warn("lease renewal failed; the store is unreachable", "error", err)
			m.expireIfStale()
		}
		return
	}
	kept := map[string]store.Lease{}
	for _, l := range renewed {
		kept[l.Target] = l
	}
	m.mu.Lock()
	m.lastRenew = started
	var lost []string
	for name, h := range m.held {
		if l, ok := kept[name]; ok {
			h.lease, h.since = l, started
		} else if !h.draining {
			lost = append(lost, name)
		}
	}
	m.mu.Unlock()
	for _, name := range lost {
		log.Warn("lease lost: another replica owns the target now, or the lease expired", "target", name)
		m.revoke(name, LeaseLost)
	}
	if balance {
		m.balance(ctx, replicas)
	}
}

// expireIfStale gives up every lease once the last renewal is so old that
// the store refuses its fence (a third of a TTL left): the store cannot
// be reached, so the replica cannot know it still owns anything.
func (m *leaseManager) expireIfStale() {
	m.mu.Lock()
	stale := !m.lastRenew.IsZero() && time.Since(m.lastRenew) > m.ttl-m.ttl/3
	var names []string
	if stale {
		for name, h := range m.held {
			if !h.draining {
				names = append(names, name)
			}
		}
	}
	m.mu.Unlock()
	for _, name := range names {
		m.s.log.Warn("lease expired: the store could not be reached to renew it; the target stops until it can", "target", name)
		m.revoke(name, LeaseExpired)
	}
}

// balance gives up leases above the fair share and takes free ones up to
// it.
func (m *leaseManager) balance(ctx context.Context, replicas []store.Replica) {
	leases, err := m.st.Leases(ctx)
	if err != nil {
		return
	}
	me := m.st.ReplicaID()
	now := time.Now()
	state := map[string]store.Lease{}
	holds := map[string]int{}
	for _, l := range leases {
		state[l.Target] = l
		if l.Expires.After(now) {
			holds[l.Holder]++
		}
	}
	// The replicas that share the work: live ones that hold a lease or
	// joined less than two TTLs ago (still taking their share; one paused
	// past its heartbeat joins again when it wakes). A live replica that
	// takes nothing (another config, say) must not keep a share the
	// others would leave unowned.
	live := map[string]int{me: 0}
	for _, r := range replicas {
		if holds[r.ID] > 0 || now.Sub(r.Started) < 2*m.ttl {
			live[r.ID] = 0
		}
	}
	var free []string
	// longFree are free leases nobody took for a TTL (or never leased):
	// anyone may take them, even while a replica below its share is
	// expected to, since that replica may never (another config, a
	// failing store connection).
	longFree := map[string]bool{}
	for _, name := range m.s.order {
		// Expiry is by the database's clock; should ours run ahead, a
		// lease looks free a little early and AcquireLease says no.
		if l, ok := state[name]; ok && l.Expires.After(now) {
			if _, isLive := live[l.Holder]; isLive {
				live[l.Holder]++
			}
			continue
		}
		free = append(free, name)
		if l, ok := state[name]; !ok || now.Sub(l.Expires) > m.ttl {
			longFree[name] = true
		}
	}
	n := max(len(live), 1)
	ceil := (len(m.s.order) + n - 1) / n
	floor := len(m.s.order) / n
	starving, most := false, 0
	for id, c := range live {
		if id != me && c < floor {
			starving = true
		}
		most = max(most, c)
	}

	m.mu.Lock()
	var mine []string
	for name, h := range m.held {
		if !h.draining {
			mine = append(mine, name)
		}
	}
	m.mu.Unlock()
	// Least preferred first.
	slices.SortFunc(mine, func(a, b string) int { return cmpPref(me, a, b) })
	keep := ceil
	if starving && len(mine) == most && len(mine) > floor {
		keep = floor
	}
	if len(mine) > keep {
		for _, name := range mine[:len(mine)-keep] {
			m.s.log.Info("releasing lease for balance", "target", name, "replicas", n, "share", ceil)
			m.revoke(name, LeaseReleased)
		}
		return
	}
	// Most preferred first.
	slices.SortFunc(free, func(a, b string) int { return cmpPref(me, b, a) })
	for _, name := range free {
		if len(mine) >= ceil {
			break
		}
		if starving && len(mine) >= floor && !longFree[name] {
			continue // left for the replicas below their share
		}
		m.mu.Lock()
		_, busy := m.held[name]
		m.mu.Unlock()
		if busy {
			continue // still winding down from an earlier lease
		}
		asked := time.Now()
		l, err := m.st.AcquireLease(ctx, name)
		if errors.Is(err, store.ErrLeaseHeld) {
			continue
		}
		if err != nil {
			if ctx.Err() == nil {
				m.s.log.Warn("could not acquire a lease", "target", name, "error", err)
			}
			return
		}
		m.grant(l, asked)
		mine = append(mine, name)
	}
}

// preference is a replica's rendezvous weight for a target: replicas
// prefer different targets, so they seldom try for the same free lease,
// and a target tends to return to the same replica.
func preference(replica, target string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(replica + "\x00" + target))
	return h.Sum64()
}

func cmpPref(replica, a, b string) int {
	pa, pb := preference(replica, a), preference(replica, b)
	switch {
	case pa < pb:
		return -1
	case pa > pb:
		return 1
	}
	return 0
}

// grant starts the target's workers under a lease just acquired.
func (m *leaseManager) grant(l store.Lease, asked time.Time) {
	m.mu.Lock()
	m.held[l.Target] = &heldLease{lease: l, since: asked}
	m.mu.Unlock()
	m.s.log.Info("lease acquired", "target", l.Target, "token", l.Token)
	m.metrics.LeaseChanged(l.Target, LeaseAcquired)
	m.metrics.SetLeaseHeld(l.Target, true)
	m.runners[l.Target].cmds <- runnerCmd{grant: &l}
}

// revoke stops the target's workers; why is a lease change. The lease
// leaves m.held when they have stopped (dropped).
func (m *leaseManager) revoke(target, why string) {
	m.mu.Lock()
	h, ok := m.held[target]
	if !ok || h.draining {
		m.mu.Unlock()
		return
	}
	h.draining = true
	m.mu.Unlock()
	m.metrics.SetLeaseHeld(target, false)
	m.runners[target].cmds <- runnerCmd{revoke: why}
}

// dropped is called by a runner once the target's workers stopped.
func (m *leaseManager) dropped(target string, l store.Lease, why string) {
	if why == LeaseReleased {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := m.st.ReleaseLease(ctx, l); err != nil {
			m.s.log.Warn("could not release a lease; it expires by itself", "target", target, "error", err)
		}
		cancel()
	}
	m.mu.Lock()
	if h, ok := m.held[target]; ok && h.lease.Token == l.Token {
		delete(m.held, target)
	}
	m.mu.Unlock()
	if why != "" {
		m.metrics.LeaseChanged(target, why)
		m.s.log.Info("lease "+why, "target", target, "token", l.Token)
	}
	m.poke()
}

// valid reports whether this replica may still write to target under
// the lease with token, judged on its own clock: held, not being given
// up, and renewed less than two thirds of a TTL ago (the margin the
// store's fence keeps too). A replica that was paused past its lease
// finds out here, before its next tracker call, even if the lease loop
// has not run since it woke up.
func (m *leaseManager) valid(target string, token int64) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	h, ok := m.held[target]
	return ok && !h.draining && h.lease.Token == token && time.Since(h.since) < m.ttl-m.ttl/3
}

// fenced handles a store refusal of a target's transaction: counted, and
// the lease loop runs now to find out (and stop the target's workers if
// the lease is gone). It reports whether err was such a refusal.
func (m *leaseManager) fenced(t *target, err error) bool {
	if !errors.Is(err, store.ErrFenced) {
		return false
	}
	m.metrics.WriteFenced(t.name)
	m.poke()
	return true
}

// handOff is SyncOnce and Drain on a shared store, where a process that
// holds no lease (the CLI's resync, say) must not sync anything itself:
// it records every key waiting in its queues for the targets' owners,
// which reconcile them as soon as they are woken.
func (m *leaseManager) handOff(ctx context.Context) error {
	if m.waker == nil {
		return errors.New("the store is shared by several replicas but cannot hand work to them; resync through a running replica (POST /api/v1/resync)")
	}
	for _, name := range m.s.order {
		t := m.s.targets[name]
		var keys []string
		for {
			k, ok := t.queue.TryGet()
			if !ok {
				break
			}
			keys = append(keys, k)
		}
		err := m.s.store.Tx(ctx, func(tx store.Tx) error {
			w, ok := tx.(store.WakeTx)
			if !ok {
				return nil
			}
			return w.Wake(ctx, name, keys)
		})
		for _, k := range keys {
			t.queue.Done(k)
		}
		if err != nil {
			return fmt.Errorf("hand %d keys of %s to its owner: %w", len(keys), name, err)
		}
	}
	return nil
}

// listen wakes owners when another replica recorded work for their
// targets, and runs the lease loop when replicas or leases changed.
func (m *leaseManager) listen(ctx context.Context) {
	backoff := time.Second
	for ctx.Err() == nil {
		err := m.waker.Listen(ctx, func(target string) {
			backoff = time.Second
			if target == "" {
				m.poke()
				for _, r := range m.runners {
					r.signal()
				}
				return
			}
			if r, ok := m.runners[target]; ok {
				r.signal()
			}
		})
		if ctx.Err() != nil {
			return
		}
		m.s.log.Warn("listening for wake-ups failed; owners fall back to reading them every TTL", "error", err, "retry_after", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, m.ttl)
	}
}

// sweepLoop enqueues every item on the targets this replica owns, every
// sweep interval (the others' owners sweep theirs).
func (m *leaseManager) sweepLoop(ctx context.Context) {
	every := m.s.cfg.Sync.SweepInterval
	if every <= 0 {
		every = 10 * time.Minute
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		// One listing of the items for every target this replica owns.
		ids, err := m.s.itemIDs(ctx)
		if err != nil {
			if ctx.Err() == nil {
				m.s.log.Warn("sweep failed", "error", err)
			}
			continue
		}
		for _, name := range m.s.order {
			if !m.owns(name) {
				continue
			}
			t := m.s.targets[name]
			for _, id := range ids {
				t.queue.Add(id)
			}
		}
	}
}

// runnerCmd tells a runner it now holds a lease, or must stop.
type runnerCmd struct {
	grant  *store.Lease
	revoke string
}

// runner is one target on a shared store: it forwards the target's keys
// to the owner while this replica does not own it, and runs its workers
// and poller while it does. Its one goroutine makes every transition, so
// a target never has both at once.
type runner struct {
	m    *leaseManager
	t    *target
	cmds chan runnerCmd
	wake chan struct{}
}

func (r *runner) signal() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

func (r *runner) run(ctx context.Context) {
	for {
		fctx, stopForwarding := context.WithCancel(ctx)
		var fw sync.WaitGroup
		fw.Go(func() { r.forward(fctx) })
		var lease store.Lease
		for lease.Target == "" {
			select {
			case <-ctx.Done():
				stopForwarding()
				fw.Wait()
				return
			case c := <-r.cmds:
				if c.grant != nil {
					lease = *c.grant
				}
			}
		}
		stopForwarding()
		fw.Wait()
		why := r.own(ctx, lease)
		r.m.dropped(r.t.name, lease, why)
		if ctx.Err() != nil {
			return
		}
	}
}

// forward ships the keys that reach the queue of a target this replica
// does not own to its owner, in batches.
func (r *runner) forward(ctx context.Context) {
	t, s := r.t, r.m.s
	backoff := 100 * time.Millisecond
	for {
		key, ok := t.queue.Get(ctx)
		if !ok {
			return
		}
		keys := []string{key}
		for len(keys) < 500 {
			k, ok := t.queue.TryGet()
			if !ok {
				break
			}
			keys = append(keys, k)
		}
		var err error
		if r.m.waker != nil {
			err = s.store.Tx(ctx, func(tx store.Tx) error {
				w, ok := tx.(store.WakeTx)
				if !ok {
					return nil
				}
				return w.Wake(ctx, t.name, keys)
			})
		}
		for _, k := range keys {
			t.queue.Done(k)
			if err != nil {
				t.queue.AddAfter(k, backoff)
			}
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			s.log.Warn("could not forward keys to the target's owner; retrying", "target", t.name, "keys", len(keys), "error", err, "retry_after", backoff)
			backoff = min(2*backoff, r.m.ttl)
			continue
		}
		backoff = 100 * time.Millisecond
	}
}

// own runs the target's workers and poller under lease until it is
// revoked or ctx ends, then stops them; it returns the lease change that
// stopped it ("" at shutdown).
func (r *runner) own(ctx context.Context, lease store.Lease) string {
	t, s := r.t, r.m.s
	fence := store.Fence{Target: t.name, Holder: r.m.st.ReplicaID(), Token: lease.Token}
	takeBase, stopTaking := context.WithCancel(ctx)
	workBase, abandon := context.WithCancel(context.WithoutCancel(ctx))
	defer abandon()
	take := store.WithFence(takeBase, fence)
	work := store.WithFence(workBase, fence)
	var wg sync.WaitGroup
	wg.Go(func() { r.start(take, takeBase) })
	for range s.workers() {
		wg.Go(func() { s.worker(take, work, t) })
	}
	wg.Go(func() { s.pollLoop(take, t) })
	wg.Go(func() { r.wakeLoop(take) })

	why := ""
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case c := <-r.cmds:
			if c.revoke != "" {
				why, done = c.revoke, true
			}
		}
	}
	stopTaking()
	switch why {
	case LeaseLost, LeaseExpired:
		// Every write would be refused anyway; stop at once.
		abandon()
	default:
		// Released, or shutting down: in-flight reconciles may finish
		// their remote write and its record, within the grace.
		timer := time.AfterFunc(s.grace, abandon)
		defer timer.Stop()
	}
	wg.Wait()
	// The target's items are its next owner's to retry and report.
	t.resetHealth()
	return why
}

// start schedules what a new owner must look at: the target's outbox
// intents left by the previous owner, every item (a sweep: the previous
// owner's queue is gone), and the keys other replicas recorded for it.
func (r *runner) start(fenced, plain context.Context) {
	t, s := r.t, r.m.s
	backoff := time.Second
	for {
		err := r.startOnce(fenced, plain)
		if err == nil || plain.Err() != nil {
			return
		}
		if r.m.fenced(t, err) {
			return
		}
		s.log.Warn("could not read the target's pending work after taking it over; retrying", "target", t.name, "error", err, "retry_after", backoff)
		select {
		case <-plain.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, r.m.ttl)
	}
}

func (r *runner) startOnce(fenced, plain context.Context) error {
	t, s := r.t, r.m.s
	var intents []store.Intent
	if err := s.store.Tx(fenced, func(tx store.Tx) (err error) { intents, err = tx.Intents(fenced, t.name); return err }); err != nil {
		return err
	}
	for _, in := range intents {
		t.queue.Add(in.ItemID)
		s.log.Info("recovering interrupted write", "target", t.name, "item", in.ItemID, "op", string(in.Op))
	}
	// Listing every item takes no fence: it only reads, and it would
	// hold the lease row for as long as it runs.
	if err := s.EnqueueTarget(plain, t.name, ""); err != nil {
		return err
	}
	return r.takeWakeups(fenced)
}

// wakeLoop takes the keys other replicas recorded for the target when
// told to, and every TTL in case a notification was missed.
func (r *runner) wakeLoop(ctx context.Context) {
	if r.m.waker == nil {
		return
	}
	tick := time.NewTicker(r.m.ttl)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.wake:
		case <-tick.C:
		}
		if err := r.takeWakeups(ctx); err != nil && ctx.Err() == nil && !r.m.fenced(r.t, err) {
			r.m.s.log.Warn("could not read wake-ups", "target", r.t.name, "error", err)
		}
	}
}

func (r *runner) takeWakeups(ctx context.Context) error {
	var keys []string
	err := r.m.s.store.Tx(ctx, func(tx store.Tx) error {
		w, ok := tx.(store.WakeTx)
		if !ok {
			return nil
		}
		var err error
		keys, err = w.TakeWakeups(ctx, r.t.name)
		return err
	})
	if err != nil {
		return err
	}
	for _, k := range keys {
		r.t.queue.Add(k)
	}
	return nil
}

// forwardWebhook records a verified delivery for a target another
// replica owns: de-duplicated, mapped to queue keys and recorded for the
// owner, who is woken at commit; all in one transaction, so a delivery
// is either seen and recorded or neither.
func (m *leaseManager) forwardWebhook(ctx context.Context, t *target, d connectors.Delivery) (int, string) {
	s := m.s
	ids := append(append([]string(nil), d.RecordIDs...), d.Deleted...)
	var duplicate bool
	err := s.store.Tx(ctx, func(tx store.Tx) error {
		if d.ID != "" {
			seen, err := tx.SeeDelivery(ctx, t.name, d.ID, s.now())
			if err != nil || seen {
				duplicate = seen
				return err
			}
		}
		w, ok := tx.(store.WakeTx)
		if !ok || len(ids) == 0 {
			return nil
		}
		keys := make([]string, 0, len(ids))
		for _, id := range ids {
			l, err := tx.LinkByRemote(ctx, t.name, id)
			switch {
			case err == nil:
				keys = append(keys, l.ItemID)
			case errors.Is(err, store.ErrNotFound):
				keys = append(keys, remoteKeyPrefix+id)
			default:
				return err
			}
		}
		return w.Wake(ctx, t.name, keys)
	})
	switch {
	case err != nil:
		s.metrics.Webhook(t.name, "error")
		return http.StatusServiceUnavailable, "store unavailable"
	case duplicate:
		s.metrics.Webhook(t.name, "duplicate")
		return http.StatusOK, "duplicate delivery"
	case len(ids) == 0:
		s.metrics.Webhook(t.name, "ignored")
		return http.StatusOK, "nothing to sync"
	}
	s.metrics.Webhook(t.name, "accepted")
	return http.StatusAccepted, "queued for the replica that owns the target"
}

// guardedConn is a target's connector on a shared store: every write to
// the tracker is refused with store.ErrFenced unless the lease the
// context's fence names is still valid by this replica's clock. The
// store fences the outbox intent written before each remote write; this
// closes the gap between that intent and the write itself, which a pause
// could otherwise stretch past the lease. What no fence can stop is a
// write already under way inside the connector when the process was
// paused: trackers do not check fencing tokens (their version checks,
// If-Match and the like, refuse most such stale updates).
type guardedConn struct {
	connectors.Connector
	m      *leaseManager
	target string
}

// guardedReceiver is a guardedConn whose tracker sends webhooks.
type guardedReceiver struct {
	guardedConn
	connectors.WebhookReceiver
}

func guard(m *leaseManager, target string, c connectors.Connector) connectors.Connector {
	g := guardedConn{Connector: c, m: m, target: target}
	if r, ok := c.(connectors.WebhookReceiver); ok {
		return guardedReceiver{guardedConn: g, WebhookReceiver: r}
	}
	return g
}

func (g guardedConn) check(ctx context.Context, op string) error {
	f, ok := store.FenceOf(ctx)
	if !ok || f.Target != g.target {
		return fmt.Errorf("%s on %s: no lease on the target in this context: %w", op, g.target, store.ErrFenced)
	}
	if !g.m.valid(g.target, f.Token) {
		return fmt.Errorf("%s on %s: the lease (token %d) is no longer sure to be this replica's: %w", op, g.target, f.Token, store.ErrFenced)
	}
	return nil
}

// Create implements connectors.Connector.
func (g guardedConn) Create(ctx context.Context, marker string, fields connectors.Fields) (connectors.Record, error) {
	if err := g.check(ctx, "create "+marker); err != nil {
		return connectors.Record{}, err
	}
	return g.Connector.Create(ctx, marker, fields)
}

// Update implements connectors.Connector.
func (g guardedConn) Update(ctx context.Context, id, version string, fields connectors.Fields, marker string) (connectors.Record, error) {
	if err := g.check(ctx, "update "+id); err != nil {
		return connectors.Record{}, err
	}
	return g.Connector.Update(ctx, id, version, fields, marker)
}

// CreateComment implements connectors.Connector.
func (g guardedConn) CreateComment(ctx context.Context, recordID string, c connectors.Comment) (connectors.Comment, error) {
	if err := g.check(ctx, "comment on "+recordID); err != nil {
		return connectors.Comment{}, err
	}
	return g.Connector.CreateComment(ctx, recordID, c)
}

// UpdateComment implements connectors.Connector.
func (g guardedConn) UpdateComment(ctx context.Context, recordID, commentID, body string) error {
	if err := g.check(ctx, "edit comment on "+recordID); err != nil {
		return err
	}
	return g.Connector.UpdateComment(ctx, recordID, commentID, body)
}

// DeleteComment implements connectors.Connector.
func (g guardedConn) DeleteComment(ctx context.Context, recordID, commentID string) error {
	if err := g.check(ctx, "delete comment on "+recordID); err != nil {
		return err
	}
	return g.Connector.DeleteComment(ctx, recordID, commentID)
}

type nopLeaseMetrics struct{}

func (nopLeaseMetrics) LeaseChanged(string, string) {}
func (nopLeaseMetrics) SetLeaseHeld(string, bool)   {}
func (nopLeaseMetrics) WriteFenced(string)          {}
func (nopLeaseMetrics) SetReplicas(int)             {}
