package syncer_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/backlogd/backlogd/backlog"
	"github.com/backlogd/backlogd/connectors"
	"github.com/backlogd/backlogd/connectors/memory"
	"github.com/backlogd/backlogd/mapping"
	"github.com/backlogd/backlogd/syncer"
	"github.com/backlogd/backlogd/syncer/store"
	"github.com/backlogd/backlogd/syncer/store/postgres"
	"github.com/jackc/pgx/v5"
)

// Replicas of the syncer in one test process, sharing a PostgreSQL store
// and the same in-memory trackers: what several backlogd processes do,
// with the trackers and the clock in reach of the test.

const sharedDaemon = `
data_dir: %s
store: {driver: postgres, dsn: env:BACKLOGD_TEST_POSTGRES_DSN}
sync: {poll_interval: %s, sweep_interval: 10m, workers: 2}
targets:
  - {name: home, kind: memory}
  - {name: acme, kind: memory}
  - {name: globex, kind: memory}
`

// leaseTTL is short so that takeovers happen within a test.
const leaseTTL = 2 * time.Second

type shared struct {
	t        *testing.T
	dsn      string
	schema   string
	cfg      *mapping.Config
	trackers map[string]*memory.Tracker
	conns    map[string]connectors.Connector
	admin    *postgres.Store // a store handle that runs no syncer

	mu       sync.Mutex
	replicas []*replica
	hooks    []delivery
}

type replica struct {
	name    string
	st      *postgres.Store
	s       *syncer.Syncer
	metrics *leaseCounts
	stop    context.CancelFunc
	done    chan struct{}
}

// leaseCounts records what the syncer reports about leases, and drops
// the rest.
type leaseCounts struct {
	mu      sync.Mutex
	changes map[string]int // "target/change"
	fenced  map[string]int
}

func (*leaseCounts) Reconciled(string, string, string, time.Duration)  {}
func (*leaseCounts) FieldsChanged(string, string, string, string, int) {}
func (*leaseCounts) EchoSuppressed(string)                             {}
func (*leaseCounts) Created(string, string)                            {}
func (*leaseCounts) RemoteDeleted(string)                              {}
func (*leaseCounts) SetLinked(string, int)                             {}
func (*leaseCounts) SetConflictsOpen(string, int)                      {}
func (*leaseCounts) SetQueue(string, int, time.Duration)               {}
func (*leaseCounts) Webhook(string, string)                            {}
func (*leaseCounts) FullSync(string, time.Time)                        {}
func (*leaseCounts) SetOutboxPending(int)                              {}

func (c *leaseCounts) LeaseChanged(target, change string) {
	c.mu.Lock()
	c.changes[target+"/"+change]++
	c.mu.Unlock()
}
func (c *leaseCounts) SetLeaseHeld(string, bool) {}
func (c *leaseCounts) WriteFenced(target string) {
	c.mu.Lock()
	c.fenced[target]++
	c.mu.Unlock()
}
func (c *leaseCounts) SetReplicas(int) {}

func (c *leaseCounts) fencedOn(target string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.fenced[target]
}

func (c *leaseCounts) changed(target, change string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.changes[target+"/"+change]
}

func sharedDSN(t *testing.T) string {
	t.Helper()
	dsn := os.Getenv("BACKLOGD_TEST_POSTGRES_DSN")
	if dsn == "" {
		t.Skip("BACKLOGD_TEST_POSTGRES_DSN is not set: start a throwaway cluster with scripts/postgres-up.sh and export the line it prints")
	}
	return dsn
}

func newShared(t *testing.T, poll time.Duration, webhooks bool) *shared {
	t.Helper()
	dsn := sharedDSN(t)
	var b [6]byte
	_, _ = rand.Read(b[:])
	w := &shared{t: t, dsn: dsn, schema: "t_" + hex.EncodeToString(b[:]), trackers: map[string]*memory.Tracker{}, conns: map[string]connectors.Connector{}}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, dsn)
		if err != nil {
			return
		}
		defer c.Close(ctx)
		_, _ = c.Exec(ctx, "DROP SCHEMA IF EXISTS "+w.schema+" CASCADE")
	})
	dir := t.TempDir()
	w.cfg = syncer.LoadTestConfig(t, dir, map[string]string{
		"backlogd.yaml":       fmt.Sprintf(sharedDaemon, dir, poll),
		"clients/home.yaml":   homeClient,
		"clients/acme.yaml":   strings.NewReplacer("{{policy}}", "canonical-wins", "{{extra}}", "").Replace(acmeClient),
		"clients/globex.yaml": globexClient,
	})
	for _, name := range []string{"home", "acme", "globex"} {
		mo := memory.Options{Name: name, KeyPrefix: strings.ToUpper(name)}
		if webhooks {
			mo.WebhookSecret = "s3cret-" + name
			target := name
			mo.Webhook = func(h http.Header, body []byte) {
				w.mu.Lock()
				w.hooks = append(w.hooks, delivery{target: target, header: h, body: body})
				w.mu.Unlock()
			}
		}
		tr := memory.New(mo)
		w.trackers[name] = tr
		w.conns[name] = tr
	}
	w.admin = w.open("admin")
	return w
}

func (w *shared) open(id string) *postgres.Store {
	w.t.Helper()
	st, err := postgres.Open(context.Background(), w.dsn, postgres.WithSchema(w.schema),
		postgres.WithLeaseTTL(leaseTTL), postgres.WithReplicaID(id))
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() { st.Close() })
	return st
}

// start runs a replica's syncer until the test ends or stop is called.
func (w *shared) start(name string) *replica {
	w.t.Helper()
	return w.startOn(name, w.open(name))
}

// startOn runs a replica's syncer on st.
func (w *shared) startOn(name string, st *postgres.Store) *replica {
	w.t.Helper()
	r := &replica{name: name, st: st, done: make(chan struct{}),
		metrics: &leaseCounts{changes: map[string]int{}, fenced: map[string]int{}}}
	opts := syncer.Options{Metrics: r.metrics, Grace: time.Second}
	if testing.Verbose() {
		opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil)).With("replica", name)
	}
	s, err := syncer.New(w.cfg, r.st, w.conns, opts)
	if err != nil {
		w.t.Fatal(err)
	}
	r.s = s
	ctx, cancel := context.WithCancel(context.Background())
	r.stop = func() {
		cancel()
		<-r.done
	}
	go func() {
		defer close(r.done)
		if err := s.Run(ctx); err != nil {
			w.t.Errorf("replica %s: Run: %v", name, err)
		}
	}()
	w.t.Cleanup(r.stop)
	w.mu.Lock()
	w.replicas = append(w.replicas, r)
	w.mu.Unlock()
	return r
}

// owners returns target → holder of an unexpired lease.
func (w *shared) owners() map[string]string {
	w.t.Helper()
	ls, err := w.admin.Leases(context.Background())
	if err != nil {
		w.t.Fatal(err)
	}
	out := map[string]string{}
	for _, l := range ls {
		if l.Expires.After(time.Now()) {
			out[l.Target] = l.Holder
		}
	}
	return out
}

func eventuallyShared(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, timeout)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// balanced waits until every target is owned and each of the named
// replicas owns at least one.
func (w *shared) balanced(names ...string) map[string]string {
	w.t.Helper()
	var owners map[string]string
	eventuallyShared(w.t, 10*leaseTTL, fmt.Sprintf("every target owned, by each of %v", names), func() bool {
		owners = w.owners()
		if len(owners) != 3 {
			return false
		}
		per := map[string]int{}
		for _, h := range owners {
			per[h]++
		}
		for _, n := range names {
			if per[n] == 0 {
				return false
			}
		}
		return len(per) == len(names)
	})
	return owners
}

// put stores canonical items as the product owner's edits made through
// replica r (which enqueues them everywhere, forwarding what it does not
// own).
func (w *shared) put(r *replica, items ...backlog.Item) {
	w.t.Helper()
	ctx := context.Background()
	err := r.st.Tx(ctx, func(tx store.Tx) error {
		for _, it := range items {
			if cur, err := tx.Item(ctx, it.ID); err == nil {
				it.Version = cur.Version
			}
			if _, err := tx.PutItem(ctx, it); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		w.t.Fatalf("put: %v", err)
	}
	for _, it := range items {
		r.s.Enqueue(it.ID)
	}
}

func (w *shared) item(id string) backlog.Item {
	w.t.Helper()
	var it backlog.Item
	err := w.admin.Tx(context.Background(), func(tx store.Tx) (err error) { it, err = tx.Item(context.Background(), id); return err })
	if err != nil {
		w.t.Fatalf("item %s: %v", id, err)
	}
	return it
}

// markersOf lists the markers of a tracker's records, sorted, repeats kept.
func (w *shared) markersOf(name string) []string {
	var ms []string
	for _, r := range w.trackers[name].Records() {
		ms = append(ms, r.Marker)
	}
	slices.Sort(ms)
	return ms
}

// recordOf returns the one record of tracker name marked id.
func (w *shared) recordOf(name, id string) connectors.Record {
	w.t.Helper()
	var found []connectors.Record
	for _, r := range w.trackers[name].Records() {
		if r.Marker == id {
			found = append(found, r)
		}
	}
	if len(found) != 1 {
		w.t.Fatalf("%s holds %d records marked %s, want 1", name, len(found), id)
	}
	return found[0]
}

// titleField is the native field the title maps to on a tracker.
func titleField(name string) string {
	if name == "acme" {
		return "summary"
	}
	return "title"
}

// idle waits until the replicas' queues have been empty for a while:
// the sweeps that follow a lease change are done.
func (w *shared) idle(rs ...*replica) {
	w.t.Helper()
	quiet := 0
	eventuallyShared(w.t, 30*time.Second, "every queue empty", func() bool {
		busy := false
		for _, r := range rs {
			for _, st := range r.s.Status() {
				busy = busy || st.Queue > 0
			}
		}
		if busy {
			quiet = 0
		} else {
			quiet++
		}
		return quiet >= 8
	})
}

// converged waits until replica r finds no drift between the store and
// any tracker, and no tracker holds a duplicate.
func (w *shared) converged(r *replica, want map[string][]string) {
	w.t.Helper()
	var last string
	deadline := time.Now().Add(30 * time.Second)
	for {
		drift, err := r.s.Verify(context.Background())
		ok := err == nil && len(drift) == 0
		for name, ms := range want {
			ok = ok && slices.Equal(w.markersOf(name), ms)
		}
		if ok {
			return
		}
		last = fmt.Sprintf("drift %v (err %v); markers home %v acme %v globex %v", drift, err,
			w.markersOf("home"), w.markersOf("acme"), w.markersOf("globex"))
		if time.Now().After(deadline) {
			w.t.Fatalf("not converged within 30s: %s", last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// sampleScopes is where sampleBacklog's items belong.
var sampleScopes = map[string][]string{
	"home":   {"BL-1", "BL-2", "BL-3", "BL-4", "BL-5"},
	"acme":   {"BL-1", "BL-2"},
	"globex": {"BL-2", "BL-3"},
}

func TestReplicasSplitTheTargetsAndEveryChangeReachesEveryTracker(t *testing.T) {
	w := newShared(t, 100*time.Millisecond, false)
	a, b := w.start("replica-a"), w.start("replica-b")
	owners := w.balanced("replica-a", "replica-b")
	t.Logf("owners: %v", owners)

	// Edits made through a replica reach the targets the other owns.
	w.put(a, sampleBacklog()...)
	w.converged(a, sampleScopes)

	// Once the leases and the first sweeps have settled, a change must
	// cross from one replica to the other. A client edits its record on
	// a target one replica owns; the change is pulled there and fans out
	// to a target the other one owns.
	w.idle(a, b)
	owners = w.owners()
	var from, to string
	for _, x := range []string{"acme", "globex", "home"} {
		for _, y := range []string{"home", "globex", "acme"} {
			if from == "" && x != y && owners[x] != owners[y] {
				from, to = x, y
			}
		}
	}
	if from == "" {
		t.Fatalf("owners %v: no two targets with different owners", owners)
	}
	w.trackers[from].Edit(w.recordOf(from, "BL-2").ID, connectors.Fields{titleField(from): {"Pay by card or wallet"}})
	eventuallyShared(t, 30*time.Second, fmt.Sprintf("the edit on %s (owned by %s) on %s (owned by %s)", from, owners[from], to, owners[to]), func() bool {
		return w.recordOf(to, "BL-2").Fields.Get(titleField(to)) == "Pay by card or wallet"
	})
	if got := w.item("BL-2").Title; got != "Pay by card or wallet" {
		t.Errorf("canonical BL-2 has title %q, want the edit", got)
	}
	// And an edit made through the replica that does not own home.
	via := a
	if owners["home"] == "replica-a" {
		via = b
	}
	w.idle(a, b)
	bl5 := w.item("BL-5")
	bl5.Title = "Renegotiate hosting and CDN"
	w.put(via, bl5)
	eventuallyShared(t, 30*time.Second, "an edit made through "+via.name+" on home, owned by "+owners["home"], func() bool {
		return w.recordOf("home", "BL-5").Fields.Get("title") == "Renegotiate hosting and CDN"
	})
	w.converged(b, sampleScopes)

	// A replica that stops hands its targets over at once (it releases
	// them), and the other finishes the work.
	a.stop()
	eventuallyShared(t, 10*leaseTTL, "replica-b owning every target", func() bool {
		o := w.owners()
		return len(o) == 3 && o["home"] == "replica-b" && o["acme"] == "replica-b" && o["globex"] == "replica-b"
	})
	it := w.item("BL-3")
	it.Title = "Totals round wrongly on invoices"
	w.put(b, it)
	eventuallyShared(t, 30*time.Second, "the BL-3 edit on globex", func() bool {
		for _, r := range w.trackers["globex"].Records() {
			if r.Marker == "BL-3" {
				return r.Fields.Get("title") == "Totals round wrongly on invoices"
			}
		}
		return false
	})
	w.converged(b, sampleScopes)

	// A replica that joins gets its share.
	w.start("replica-c")
	w.balanced("replica-b", "replica-c")
}

func TestAReplicaWhoseLeaseWasTakenOverWritesNothingForTheTarget(t *testing.T) {
	w := newShared(t, 100*time.Millisecond, false)
	a := w.start("replica-a")
	eventuallyShared(t, 10*leaseTTL, "replica-a owning every target", func() bool { return len(w.owners()) == 3 })
	w.put(a, sampleBacklog()...)
	w.converged(a, sampleScopes)

	// Another replica takes acme's lease over behind replica-a's back, as
	// when replica-a was paused past its lease: in one statement, so that
	// replica-a cannot take it back first.
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, w.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	stolen := store.Lease{Target: "acme"}
	err = conn.QueryRow(ctx, "UPDATE "+w.schema+`.leases SET holder = 'thief', token = token + 1,
		acquired_at = now(), expires_at = now() + interval '1 hour' WHERE target = 'acme' RETURNING token`).Scan(&stolen.Token)
	if err != nil {
		t.Fatalf("taking the lease over: %v", err)
	}
	thief := w.open("thief")
	writes := w.trackers["acme"].Calls().Writes()

	// replica-a, not knowing yet, gets an edit to push to acme.
	it := w.item("BL-1")
	it.Title = "Checkout, new flow"
	w.put(a, it)
	eventuallyShared(t, 30*time.Second, "the edit on home (still replica-a's)", func() bool {
		for _, r := range w.trackers["home"].Records() {
			if r.Marker == "BL-1" {
				return r.Fields.Get("title") == "Checkout, new flow"
			}
		}
		return false
	})
	eventuallyShared(t, 10*leaseTTL, "replica-a counting a fenced write and losing the lease", func() bool {
		return a.metrics.fencedOn("acme") > 0 && a.metrics.changed("acme", syncer.LeaseLost) > 0
	})
	// Nobody runs acme now (the thief runs no syncer): nothing reached it.
	time.Sleep(leaseTTL / 2)
	if got := w.trackers["acme"].Calls().Writes(); got != writes {
		t.Errorf("acme got %d writes after its lease was taken over, want none: the old holder wrote with a stale lease", got-writes)
	}
	var ins []store.Intent
	if err := w.admin.Tx(ctx, func(tx store.Tx) (err error) { ins, err = tx.Intents(ctx, "acme"); return err }); err != nil {
		t.Fatal(err)
	}
	if len(ins) != 0 {
		t.Errorf("the old holder announced %d writes on acme after losing its lease: %v", len(ins), ins)
	}

	// Once the lease is free again, a replica takes it and the edit lands.
	if err := thief.ReleaseLease(ctx, stolen); err != nil {
		t.Fatal(err)
	}
	eventuallyShared(t, 30*time.Second, "the edit on acme after the lease came back", func() bool {
		for _, r := range w.trackers["acme"].Records() {
			if r.Marker == "BL-1" {
				return r.Fields.Get("summary") == "Checkout, new flow"
			}
		}
		return false
	})
	w.converged(a, sampleScopes)
}

func TestAWebhookReachingTheReplicaThatDoesNotOwnTheTargetIsReconciledByTheOwner(t *testing.T) {
	// Polls are an hour apart: only the webhook can bring the change.
	w := newShared(t, time.Hour, true)
	a, b := w.start("replica-a"), w.start("replica-b")
	owners := w.balanced("replica-a", "replica-b")
	w.put(a, sampleBacklog()...)
	w.converged(a, sampleScopes)
	w.mu.Lock()
	w.hooks = nil
	w.mu.Unlock()

	var owner, other *replica
	if owners["acme"] == "replica-a" {
		owner, other = a, b
	} else {
		owner, other = b, a
	}
	var bl2 connectors.Record
	for _, r := range w.trackers["acme"].Records() {
		if r.Marker == "BL-2" {
			bl2 = r
		}
	}
	w.trackers["acme"].Edit(bl2.ID, connectors.Fields{"summary": {"Pay by card, webhook edition"}})
	w.mu.Lock()
	hooks := w.hooks
	w.hooks = nil
	w.mu.Unlock()
	if len(hooks) == 0 {
		t.Fatal("the edit sent no webhook")
	}
	for _, d := range hooks {
		if d.target != "acme" {
			continue
		}
		code, msg := other.s.Webhook(context.Background(), d.target, d.header, d.body)
		if code != http.StatusAccepted || !strings.Contains(msg, "owns the target") {
			t.Errorf("webhook to the replica not owning acme: %d %q, want 202 and a word that the owner has it", code, msg)
		}
		// The same delivery again, at the owner: a duplicate, whichever
		// replica saw it first.
		if code, msg := owner.s.Webhook(context.Background(), d.target, d.header, d.body); code != http.StatusOK || msg != "duplicate delivery" {
			t.Errorf("the same delivery at the owner: %d %q, want 200 duplicate delivery", code, msg)
		}
	}
	eventuallyShared(t, 30*time.Second, "the webhook's change pulled by acme's owner", func() bool {
		return w.item("BL-2").Title == "Pay by card, webhook edition"
	})
}

// proxy forwards TCP connections to the test cluster until cut: then it
// drops every connection and refuses new ones, as a network partition or
// a database restart does.
type proxy struct {
	t      *testing.T
	ln     net.Listener
	target string
	mu     sync.Mutex
	down   bool
	conns  []net.Conn
}

func newProxy(t *testing.T, dsn string) (*proxy, string) {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("BACKLOGD_TEST_POSTGRES_DSN must be a URL for this test: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{t: t, ln: ln, target: u.Host}
	t.Cleanup(func() { ln.Close(); p.cut() })
	go p.serve()
	u.Host = ln.Addr().String()
	return p, u.String()
}

func (p *proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		down := p.down
		if !down {
			p.conns = append(p.conns, c)
		}
		p.mu.Unlock()
		if down {
			c.Close()
			continue
		}
		go func() {
			s, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				return
			}
			p.mu.Lock()
			p.conns = append(p.conns, s)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(s, c); s.Close() }()
			_, _ = io.Copy(c, s)
			c.Close()
		}()
	}
}

func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func (p *proxy) restore() {
	p.mu.Lock()
	p.down = false
	p.mu.Unlock()
}

func TestAStoreOutageStopsEveryWriteAndTheReplicaCatchesUpAfterIt(t *testing.T) {
	w := newShared(t, 100*time.Millisecond, false)
	p, viaProxy := newProxy(t, w.dsn)
	st, err := postgres.Open(context.Background(), viaProxy, postgres.WithSchema(w.schema),
		postgres.WithLeaseTTL(leaseTTL), postgres.WithReplicaID("replica-a"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	a := w.startOn("replica-a", st)
	eventuallyShared(t, 10*leaseTTL, "replica-a owning every target", func() bool { return len(w.owners()) == 3 })
	w.put(a, sampleBacklog()...)
	w.converged(a, sampleScopes)
	ready := a.s.Handler(nil, nil)
	readyz := func() int {
		rec := httptest.NewRecorder()
		ready.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
		return rec.Code
	}
	if code := readyz(); code != http.StatusOK {
		t.Fatalf("/readyz before the outage: %d", code)
	}

	p.cut()
	writes := map[string]int64{}
	for name, tr := range w.trackers {
		writes[name] = tr.Calls().Writes()
	}
	// While the store is gone a client edits a record, and the product
	// owner a canonical item (straight into the database).
	w.trackers["acme"].Edit(w.recordOf("acme", "BL-1").ID, connectors.Fields{"summary": {"Checkout during the outage"}})
	bl2 := w.item("BL-2")
	bl2.Title = "Pay by card, edited during the outage"
	if err := w.admin.Tx(context.Background(), func(tx store.Tx) error { _, err := tx.PutItem(context.Background(), bl2); return err }); err != nil {
		t.Fatal(err)
	}
	a.s.Enqueue("BL-2")
	eventuallyShared(t, 10*leaseTTL, "/readyz answering 503 and the leases given up", func() bool {
		return readyz() == http.StatusServiceUnavailable && a.metrics.changed("acme", syncer.LeaseExpired) > 0
	})
	time.Sleep(leaseTTL)
	for name, tr := range w.trackers {
		if got := tr.Calls().Writes(); got != writes[name] {
			t.Errorf("%s got %d writes while the store was unreachable, want none", name, got-writes[name])
		}
	}

	p.restore()
	eventuallyShared(t, 10*leaseTTL, "/readyz answering 200 again", func() bool { return readyz() == http.StatusOK })
	eventuallyShared(t, 30*time.Second, "both edits everywhere", func() bool {
		return w.item("BL-1").Title == "Checkout during the outage" &&
			w.recordOf("home", "BL-1").Fields.Get("title") == "Checkout during the outage" &&
			w.recordOf("home", "BL-2").Fields.Get("title") == "Pay by card, edited during the outage" &&
			w.recordOf("acme", "BL-2").Fields.Get("summary") == "Pay by card, edited during the outage"
	})
	w.converged(a, sampleScopes)
	if a.metrics.changed("acme", syncer.LeaseAcquired) < 2 {
		t.Errorf("replica-a acquired acme's lease %d times, want it taken again after the outage", a.metrics.changed("acme", syncer.LeaseAcquired))
	}
}

func TestTargetsStayOwnedWhenALiveReplicaTakesNoLease(t *testing.T) {
	w := newShared(t, 100*time.Millisecond, false)
	// A replica that heartbeats and never takes a lease: another
	// config, say, in the middle of a rolling update.
	idle := w.open("idle")
	ctx, stop := context.WithCancel(context.Background())
	beating := make(chan struct{})
	go func() {
		defer close(beating)
		for ctx.Err() == nil {
			_, _ = idle.Heartbeat(ctx)
			select {
			case <-ctx.Done():
			case <-time.After(leaseTTL / 4):
			}
		}
	}()
	t.Cleanup(func() { stop(); <-beating })
	a := w.start("replica-a")
	eventuallyShared(t, 10*leaseTTL, "replica-a owning every target beside a replica that takes none", func() bool {
		o := w.owners()
		return len(o) == 3 && o["home"] == "replica-a" && o["acme"] == "replica-a" && o["globex"] == "replica-a"
	})
	w.put(a, sampleBacklog()...)
	w.converged(a, sampleScopes)
	if live, err := w.admin.Replicas(context.Background()); err != nil || len(live) != 2 {
		t.Errorf("replicas live: %v (%v), want replica-a and idle", live, err)
	}
}
