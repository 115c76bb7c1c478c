package syncer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/backlogd/backlogd/backlog"
	"github.com/backlogd/backlogd/connectors"
	"github.com/backlogd/backlogd/mapping"
	"github.com/backlogd/backlogd/syncer/store"
)

// Metrics is what the syncer reports; syncer/metrics implements it for
// Prometheus. Calls must be cheap and safe for concurrent use.
type Metrics interface {
	Reconciled(target, client, result string, d time.Duration)
	FieldsChanged(target, client, direction, group string, n int)
	EchoSuppressed(target string)
	Created(target, result string)
	RemoteDeleted(target string)
	SetLinked(target string, n int)
	SetConflictsOpen(client string, n int)
	SetQueue(target string, depth int, oldest time.Duration)
	Webhook(target, result string)
	FullSync(target string, at time.Time)
	SetOutboxPending(n int)
}

// HealthMetrics is what the syncer reports about each target's health,
// when its Metrics implement it too (syncer/metrics does). Like
// LeaseMetrics it is separate from Metrics so that the test doubles of
// Metrics elsewhere need no change.
type HealthMetrics interface {
	// SetHealth says whether target is failing as a whole (as Ready
	// reports it), and how many of its items are failing with an error
	// retried with back-off and how many are parked.
	SetHealth(target string, failing bool, itemsFailing, itemsParked int)
}

// Options tune a Syncer; zero values take the config's or sane defaults.
type Options struct {
	Metrics Metrics
	Logger  *slog.Logger
	// Now is the clock (default time.Now); tests pass a fake one.
	Now func() time.Time
	// Grace is how long Run lets in-flight reconciles finish after its
	// context ends before abandoning them (default 10s). Abandoning is
	// safe: the outbox replays the interrupted writes at the next start.
	Grace time.Duration
	// Quotas, when set, is the observer the connectors report their
	// rate-limit headroom to; Status shows it.
	Quotas *Quotas
}

// Syncer keeps the canonical backlog and every target in step. It owns one
// queue and a set of workers per target, so a slow or rate-limited tracker
// only delays its own keys.
type Syncer struct {
	cfg     *mapping.Config
	store   store.Store
	metrics Metrics
	log     *slog.Logger
	now     func() time.Time
	grace   time.Duration

	targets map[string]*target
	order   []string // target names in config order

	quotas *Quotas

	mu sync.Mutex
	// conflictsOpen counts open conflicts per target, as the gauges last
	// read them, for status.
	conflictsOpen map[string]int

	// leases, on a store several replicas share, decides which targets
	// this replica runs (leases.go); nil means all of them.
	leases *leaseManager
}

// target is the syncer's state for one tracker.
type target struct {
	name   string
	conn   connectors.Connector
	caps   connectors.Capabilities
	client *mapping.Client
	queue  *queue
	poll   time.Duration

	mu       sync.Mutex
	backoff  map[string]int // consecutive failures per key
	lastPoll time.Time
	// pollError is why the target's last poll failed ("" once one
	// succeeds): the target's own error, apart from its items'.
	pollError string
	reached   bool
	// The items' health (health.go): the keys failing with a retried
	// error and the keys parked, with why; the target's tracker calls
	// that succeeded (reads and writes) and its writes that did, which
	// say whether anything succeeded since a key failed; and a sequence
	// of failures.
	failing   map[string]trouble
	parked    map[string]trouble
	succeeded uint64
	writes    uint64
	seq       uint64
	// listing is whether the target's last listing of changes succeeded:
	// the tracker answers for the project, so a record it reports as not
	// found is not a token that lost access (reconcile.go: remoteMissing).
	listing bool
	// waiting holds, per parent item id, the children whose parent field
	// waits for the parent's record on this target.
	waiting map[string][]string
}

// Key prefixes in a target's queue: a canonical item id, or a remote
// record id that a webhook named and no link knows yet.
const remoteKeyPrefix = "remote:"

// New builds a Syncer for the config's targets. conns holds one connector
// per target name. Every client's mapping is checked against its
// connector's capabilities; each target serves exactly one client.
func New(cfg *mapping.Config, st store.Store, conns map[string]connectors.Connector, opts Options) (*Syncer, error) {
	s := &Syncer{
		cfg: cfg, store: st, metrics: opts.Metrics, log: opts.Logger, now: opts.Now, grace: opts.Grace, quotas: opts.Quotas,
		targets: map[string]*target{},
	}
	if s.metrics == nil {
		s.metrics = nopMetrics{}
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = func() time.Time { return time.Now().UTC() }
	}
	if s.grace <= 0 {
		s.grace = 10 * time.Second
	}
	var errs []error
	for _, t := range cfg.Targets {
		clients := cfg.ClientsOf(t.Name)
		switch len(clients) {
		case 0:
			continue // configured but unused: nothing to sync
		case 1:
		default:
			ids := make([]string, len(clients))
			for i, c := range clients {
				ids[i] = c.ID
			}
			errs = append(errs, fmt.Errorf("%s:%d: target %q is used by clients %s; give each client its own target (one project or repository each)",
				t.File, t.Line, t.Name, strings.Join(ids, ", ")))
			continue
		}
		conn, ok := conns[t.Name]
		if !ok {
			errs = append(errs, fmt.Errorf("target %q has no connector", t.Name))
			continue
		}
		caps := conn.Capabilities()
		if err := clients[0].Check(caps); err != nil {
			errs = append(errs, err)
			continue
		}
		poll := t.PollInterval
		if poll == 0 {
			poll = cfg.Sync.PollInterval
		}
		if poll <= 0 {
			poll = 30 * time.Second
		}
		s.targets[t.Name] = &target{
			name: t.Name, conn: conn, caps: caps, client: clients[0],
			queue: newQueue(s.now), poll: poll, backoff: map[string]int{},
			failing: map[string]trouble{}, parked: map[string]trouble{},
		}
		s.order = append(s.order, t.Name)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if l, ok := st.(store.Leaser); ok {
		s.leases = newLeaseManager(s, l)
	}
	return s, nil
}

// Targets returns the names of the targets being synced, in config order.
func (s *Syncer) Targets() []string { return append([]string(nil), s.order...) }

// workers per target.
func (s *Syncer) workers() int {
	if s.cfg.Sync.Workers > 0 {
		return s.cfg.Sync.Workers
	}
	return 2
}

// Run syncs until ctx ends: pending outbox intents and a full sweep first,
// then pollers, workers and periodic sweeps. It returns after every
// goroutine it started has stopped; an in-flight reconcile finishes its
// remote write and store update unless Options.Grace runs out first.
func (s *Syncer) Run(ctx context.Context) error {
	if s.leases != nil {
		return s.leases.run(ctx)
	}
	if err := s.Recover(ctx); err != nil {
		return err
	}
	if err := s.EnqueueAll(ctx); err != nil {
		return err
	}
	var wg sync.WaitGroup
	// Workers keep their own context so an in-flight write can finish
	// after ctx is cancelled; they stop taking keys at once.
	work, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWork()
	for _, name := range s.order {
		t := s.targets[name]
		for range s.workers() {
			wg.Go(func() { s.worker(ctx, work, t) })
		}
		wg.Go(func() { s.pollLoop(ctx, t) })
	}
	wg.Go(func() { s.sweepLoop(ctx) })
	wg.Go(func() { s.gaugeLoop(ctx) })
	<-ctx.Done()
	for _, t := range s.targets {
		t.queue.Close()
	}
	abandon := time.AfterFunc(s.grace, stopWork)
	defer abandon.Stop()
	wg.Wait()
	return nil
}

// HandOver gives the keys waiting in s's queues to next, the syncer that
// replaces s after a config reload, and sends to next every key added to
// s from now on. A webhook that s's HTTP handler accepted while the
// reload stopped s, or that a request still being served by that handler
// accepts after next took over, was recorded as seen; it is reconciled by
// next rather than waiting for a poll that may never list it (a record no
// link knows, a listing that lags behind the webhooks). Keys that were
// backing off stay due when they were. Keys of targets next does not
// sync are dropped. Call it once s.Run has returned, before or after
// next.Run starts; it returns the number of keys next was given.
func (s *Syncer) HandOver(next *Syncer) int {
	n := 0
	for _, name := range s.order {
		t, ok := next.targets[name]
		if !ok {
			s.targets[name].queue.handOver(nil)
			continue
		}
		n += s.targets[name].queue.handOver(t.queue)
	}
	return n
}

func (s *Syncer) worker(ctx, work context.Context, t *target) {
	for {
		key, ok := t.queue.Get(ctx)
		if !ok {
			return
		}
		s.process(work, t, key)
		t.queue.Done(key)
	}
}

// process reconciles one key and decides when it runs again.
func (s *Syncer) process(ctx context.Context, t *target, key string) {
	start := s.now()
	var result string
	var err error
	if id, ok := strings.CutPrefix(key, remoteKeyPrefix); ok {
		result, err = s.reconcileRemote(ctx, t, id)
	} else {
		result, err = s.reconcile(ctx, t, key)
	}
	d := s.now().Sub(start)
	log := s.log.With("target", t.name, "client", t.client.ID, "item", key, "duration", d)
	switch {
	case err == nil:
		t.forget(key)
		if result != resultNone {
			log.Info("reconciled", "op", result)
		}
	case s.leases != nil && s.leases.fenced(t, err):
		// The lease moved on; the lease loop stops this target's workers,
		// and the key goes to the new owner.
		result = "fenced"
		t.queue.AddAfter(key, time.Second)
		log.Info("write refused: this replica no longer holds the target's lease", "error", err)
	case errors.Is(err, store.ErrStale), errors.Is(err, connectors.ErrConflict):
		// Someone wrote between our read and our write: read again now.
		result = "requeued"
		t.queue.AddAfter(key, 10*time.Millisecond)
		log.Debug("stale read, reconciling again", "error", err)
	case connectors.IsTerminal(err):
		result = "terminal"
		s.park(ctx, t, key, err)
		log.Error("parked: retrying will not help until the config or the item changes", "error", err)
	default:
		result = "error"
		if wait, ok := connectors.RetryAfter(err); ok {
			var rl *connectors.RateLimitError
			if errors.As(err, &rl) && (rl.Scope == "" || rl.Scope == connectors.ScopeTarget) {
				t.queue.Pause(s.now().Add(wait))
			}
			t.queue.AddAfter(key, wait)
			log.Warn("rate limited", "retry_after", wait, "error", err)
			break
		}
		// One item failing is the item's: the target's own error is its
		// poll's, and items make it failing only by health.go's rule.
		wait := t.fail(key, err, s.now(), s.maxBackoff())
		t.queue.AddAfter(key, wait)
		log.Warn("reconcile failed, will retry", "retry_after", wait, "error", err)
	}
	s.metrics.Reconciled(t.name, t.client.ID, result, d)
}

func (s *Syncer) maxBackoff() time.Duration {
	if s.cfg.Sync.MaxBackoff > 0 {
		return s.cfg.Sync.MaxBackoff
	}
	return 5 * time.Minute
}

// setListing records whether the target's last listing succeeded.
func (t *target) setListing(ok bool) {
	t.mu.Lock()
	t.listing = ok
	t.mu.Unlock()
}

// listingWorks reports whether the target's last listing succeeded.
func (t *target) listingWorks() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.listing
}

// setPollError records why the target's poll failed.
func (t *target) setPollError(err error) {
	t.mu.Lock()
	t.pollError = err.Error()
	t.mu.Unlock()
}

func (s *Syncer) park(ctx context.Context, t *target, key string, err error) {
	t.park(key, err, s.now())
	// Keep the reason beside the link so `backlogd status` shows it after
	// a restart too.
	_ = s.store.Tx(ctx, func(tx store.Tx) error {
		l, gerr := tx.Link(ctx, t.name, key)
		if gerr != nil {
			return nil
		}
		l.LastError = err.Error()
		return tx.PutLink(ctx, l)
	})
}

// Enqueue schedules item id on every target (after a canonical edit).
func (s *Syncer) Enqueue(id string) {
	for _, t := range s.targets {
		t.queue.Add(id)
	}
}

// EnqueueTarget schedules item id on one target ("" ids: every item).
func (s *Syncer) EnqueueTarget(ctx context.Context, name, id string) error {
	t, ok := s.targets[name]
	if !ok {
		return fmt.Errorf("unknown target %q; known: %s", name, strings.Join(s.order, ", "))
	}
	if id != "" {
		t.queue.Add(id)
		return nil
	}
	ids, err := s.itemIDs(ctx)
	if err != nil {
		return err
	}
	for _, id := range ids {
		t.queue.Add(id)
	}
	return nil
}

// EnqueueAll schedules every item on every target: the full sweep that
// catches drift webhooks and polls missed.
func (s *Syncer) EnqueueAll(ctx context.Context) error {
	ids, err := s.itemIDs(ctx)
	if err != nil {
		return err
	}
	for _, name := range s.order {
		for _, id := range ids {
			s.targets[name].queue.Add(id)
		}
	}
	return nil
}

func (s *Syncer) itemIDs(ctx context.Context) ([]string, error) {
	var ids []string
	err := s.store.Tx(ctx, func(tx store.Tx) error {
		items, err := tx.Items(ctx)
		for _, it := range items {
			ids = append(ids, it.ID)
		}
		return err
	})
	return ids, err
}

// Recover schedules every key with an outbox intent left by a previous
// run that stopped between announcing a write and recording its result.
func (s *Syncer) Recover(ctx context.Context) error {
	var intents []store.Intent
	err := s.store.Tx(ctx, func(tx store.Tx) error {
		var err error
		intents, err = tx.Intents(ctx, "")
		return err
	})
	if err != nil {
		return fmt.Errorf("read outbox: %w", err)
	}
	for _, in := range intents {
		if t, ok := s.targets[in.Target]; ok {
			t.queue.Add(in.ItemID)
			s.log.Info("recovering interrupted write", "target", in.Target, "item", in.ItemID, "op", string(in.Op))
		}
	}
	s.metrics.SetOutboxPending(len(intents))
	return nil
}

func (s *Syncer) sweepLoop(ctx context.Context) {
	every := s.cfg.Sync.SweepInterval
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
			if err := s.EnqueueAll(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("sweep failed", "error", err)
			}
		}
	}
}

// gaugeLoop refreshes the gauges that describe state rather than events.
func (s *Syncer) gaugeLoop(ctx context.Context) {
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	for {
		s.refreshGauges(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (s *Syncer) refreshGauges(ctx context.Context) {
	hm, _ := s.metrics.(HealthMetrics)
	for _, t := range s.targets {
		s.metrics.SetQueue(t.name, t.queue.Len(), t.queue.Oldest())
		if hm == nil {
			continue
		}
		if s.leases != nil && !s.leases.owns(t.name) {
			// Its owner reports it: summed over replicas, one answer.
			hm.SetHealth(t.name, false, 0, 0)
			continue
		}
		failing, items, parked := t.health()
		hm.SetHealth(t.name, failing, items, parked)
	}
	_ = s.store.Tx(ctx, func(tx store.Tx) error {
		counts, err := tx.LinkCounts(ctx)
		if err != nil {
			return err
		}
		for name := range s.targets {
			s.metrics.SetLinked(name, counts[name][store.LinkActive])
		}
		conflicts, err := tx.Conflicts(ctx)
		if err != nil {
			return err
		}
		open, byTarget := map[string]int{}, map[string]int{}
		for _, c := range conflicts {
			open[c.Client]++
			byTarget[c.Target]++
		}
		for _, t := range s.targets {
			s.metrics.SetConflictsOpen(t.client.ID, open[t.client.ID])
		}
		s.mu.Lock()
		s.conflictsOpen = byTarget
		s.mu.Unlock()
		intents, err := tx.Intents(ctx, "")
		if err != nil {
			return err
		}
		s.metrics.SetOutboxPending(len(intents))
		return nil
	})
}

// SyncOnce brings everything in step and returns when nothing is left to
// do: it polls every target until caught up, sweeps every key, and
// processes queues until they are empty, repeating while work fans out.
// Keys that keep failing are left for the next call. The demo, `resync`,
// tests and benchmarks use it; the daemon uses Run.
func (s *Syncer) SyncOnce(ctx context.Context) error {
	if s.leases != nil {
		// Replicas own the targets: hand them every key (leases.go).
		if err := s.EnqueueAll(ctx); err != nil {
			return err
		}
		return s.leases.handOff(ctx)
	}
	if err := s.Recover(ctx); err != nil {
		return err
	}
	// A target whose listing fails is reported at the end; the others
	// sync regardless, as they do in the daemon.
	var failed []error
	for _, name := range s.order {
		t := s.targets[name]
		if err := s.PollTarget(ctx, t); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			t.setPollError(err)
			failed = append(failed, fmt.Errorf("poll %s: %w", name, err))
		}
	}
	if err := s.EnqueueAll(ctx); err != nil {
		return err
	}
	if err := s.Drain(ctx); err != nil {
		return err
	}
	s.refreshGauges(ctx)
	return errors.Join(failed...)
}

// drainHorizon is how far ahead Drain waits for delayed keys: a stale
// read retried in milliseconds, a first back-off after a transient
// error. Longer delays (rate limits, repeated failures) are left queued.
const drainHorizon = 2 * time.Second

// Drain processes ready keys on every target, concurrently per target,
// until no queue holds ready work or work due within drainHorizon.
func (s *Syncer) Drain(ctx context.Context) error {
	if s.leases != nil {
		return s.leases.handOff(ctx)
	}
	var waited time.Duration // the last wait, to notice a clock that stands still
	for {
		var wg sync.WaitGroup
		for _, name := range s.order {
			t := s.targets[name]
			for range s.workers() {
				wg.Go(func() {
					for ctx.Err() == nil {
						key, ok := t.queue.TryGet()
						if !ok {
							return
						}
						s.process(ctx, t, key)
						t.queue.Done(key)
					}
				})
			}
		}
		wg.Wait()
		if err := ctx.Err(); err != nil {
			return err
		}
		busy := false
		var soon time.Duration
		for _, t := range s.targets {
			busy = busy || t.queue.Busy()
			if d := t.queue.NextDue(); d > 0 && d <= drainHorizon && (soon == 0 || d < soon) {
				soon = d
			}
		}
		if busy {
			waited = 0
			continue
		}
		if soon == 0 || (waited > 0 && soon >= waited) {
			return nil
		}
		waited = soon
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(soon):
		}
	}
}

// TargetStatus is what `backlogd status` shows for one target.
type TargetStatus struct {
	Target      string    `json:"target"`
	Client      string    `json:"client"`
	Kind        string    `json:"kind"`
	Reached     bool      `json:"reached"`
	LastPoll    time.Time `json:"last_poll"`
	Queue       int       `json:"queue"`
	OldestWait  string    `json:"oldest_wait"`
	PausedUntil time.Time `json:"paused_until,omitzero"`
	// Quota is the tracker's last reported rate-limit headroom, when it
	// reports one (GitHub, Jira Cloud).
	Quota *Quota `json:"quota,omitempty"`
	// Conflicts counts the target's conflicts waiting for a person.
	Conflicts int `json:"conflicts"`
	// LastError says why the target as a whole is failing (see Ready);
	// empty while it syncs, however many of its items fail.
	LastError string `json:"last_error,omitempty"`
	// ItemsFailing counts the target's items whose last reconcile failed
	// with an error retried with back-off; FailingItems lists up to ten of
	// them, by key. An item leaves once it reconciles (or is parked).
	ItemsFailing int         `json:"items_failing"`
	FailingItems []ItemError `json:"failing_items,omitempty"`
	// ItemsParked counts Parked: items refused with an error retrying will
	// not fix ("BL-3: reason"), until the item or the config changes.
	ItemsParked int      `json:"items_parked"`
	Parked      []string `json:"parked,omitempty"`
}

// Status describes every target now.
func (s *Syncer) Status() []TargetStatus {
	var out []TargetStatus
	s.mu.Lock()
	conflicts := s.conflictsOpen
	s.mu.Unlock()
	for _, name := range s.order {
		t := s.targets[name]
		kind := ""
		if tc, ok := s.cfg.Target(name); ok {
			kind = tc.Kind
		}
		t.mu.Lock()
		st := TargetStatus{
			Target: name, Client: t.client.ID, Kind: kind, Reached: t.reached, LastPoll: t.lastPoll,
			Queue: t.queue.Len(), OldestWait: t.queue.Oldest().Round(time.Millisecond).String(),
			PausedUntil: t.queue.PausedUntil(), LastError: t.problem(),
		}
		t.itemsStatus(&st)
		t.mu.Unlock()
		st.Conflicts = conflicts[name]
		if q, ok := s.quotas.Of(name); ok {
			st.Quota = &q
		}
		out = append(out, st)
	}
	return out
}

// Ready reports whether every target has been tried: reached at least
// once, or failing with a reason. A failing tracker does not make the
// daemon unready: unready would cut every other client's webhooks off
// too. waiting names the targets not tried yet, failing the ones failing
// as a whole, with the reason: a poll that failed, or their items' errors
// by health.go's rule — never one item failing while the rest syncs.
func (s *Syncer) Ready() (ready bool, waiting, failing []string) {
	if s.leases != nil {
		// A replica answers for the targets it owns, and for its store.
		if why := s.leases.unready(); why != "" {
			waiting = append(waiting, why)
		}
	}
	for _, name := range s.order {
		if s.leases != nil && !s.leases.owns(name) {
			continue
		}
		t := s.targets[name]
		t.mu.Lock()
		reached, why := t.reached, t.problem()
		t.mu.Unlock()
		switch {
		case why != "":
			failing = append(failing, name+": "+why)
		case !reached:
			waiting = append(waiting, name)
		}
	}
	return len(waiting) == 0, waiting, failing
}

// fieldGroup buckets a field for the fields-changed metric (bounded).
func fieldGroup(f backlog.Field) string {
	switch f {
	case backlog.FieldTitle, backlog.FieldDescription, backlog.FieldAcceptance:
		return "text"
	case backlog.FieldAssignee, backlog.FieldTeams, backlog.FieldClients:
		return "people"
	case backlog.FieldPhase, backlog.FieldEffort, backlog.FieldPoints, backlog.FieldCost, backlog.FieldDue, backlog.FieldPriority:
		return "planning"
	}
	return "core"
}

type nopMetrics struct{}

func (nopMetrics) Reconciled(string, string, string, time.Duration)  {}
func (nopMetrics) FieldsChanged(string, string, string, string, int) {}
func (nopMetrics) EchoSuppressed(string)                             {}
func (nopMetrics) Created(string, string)                            {}
func (nopMetrics) RemoteDeleted(string)                              {}
func (nopMetrics) SetLinked(string, int)                             {}
func (nopMetrics) SetConflictsOpen(string, int)                      {}
func (nopMetrics) SetQueue(string, int, time.Duration)               {}
func (nopMetrics) Webhook(string, string)                            {}
func (nopMetrics) FullSync(string, time.Time)                        {}
func (nopMetrics) SetOutboxPending(int)                              {}
