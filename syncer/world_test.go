package syncer_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/backlogd/backlogd/backlog"
	"github.com/backlogd/backlogd/connectors"
	"github.com/backlogd/backlogd/connectors/memory"
	"github.com/backlogd/backlogd/mapping"
	"github.com/backlogd/backlogd/syncer"
	"github.com/backlogd/backlogd/syncer/store"
	"github.com/backlogd/backlogd/syncer/synctest"
)

// A world is a syncer over a real SQLite store and three in-memory
// trackers: the product owner's home backlog (every field, internal
// comments) and two clients with different scopes, field maps and
// policies.

const worldDaemon = `
data_dir: %s
targets:
  - {name: home, kind: memory}
  - {name: acme, kind: memory}
  - {name: globex, kind: memory}
`

const homeClient = `
client: home
target: home
scope: all
private: []
internal_comments: true
adopt: {mode: all}
fields: identity
`

// acmeClient is a tracker with its own field names and a lossy status
// map; {{policy}} and {{extra}} are replaced per world.
const acmeClient = `
client: acme
target: acme
scope: clients has acme
private: [estimate.cost]
policy: {{policy}}
adopt: {mode: new, filter: kind = bug, defaults: {kind: bug, status: todo}}
users: {alice: alice-acme}
fields:
  kind: {field: type, values: {epic: Epic, story: Story, bug: Bug, task: Task}}
  title: summary
  description: body
  status: {field: state, values: {todo: Open, in_progress: Open, in_review: Review, done: Closed, cancelled: Closed}}
  phase: {field: labels, template: "phase/{value}"}
  labels: labels
  priority: priority
  estimate.points: points
  assignee: {field: assignee, users: true}
  parent: parent
{{extra}}
`

const globexClient = `
client: globex
target: globex
scope: clients has globex and phase in [build, test_feedback]
policy: manual
adopt: none
on_scope_exit: close
fields:
  title: title
  status: status
  phase: phase
  teams: teams
  estimate.effort: effort
`

type worldOptions struct {
	acmePolicy string
	acmeExtra  string // more lines for the acme client file
	// memory options per tracker (Name is set by the world)
	tracker func(name string) memory.Options
	// webhooks makes every tracker deliver signed webhooks to the syncer.
	webhooks bool
	// metrics receives the syncer's metrics (benchmarks count with it).
	metrics syncer.Metrics
}

type world struct {
	t        testing.TB
	dir      string
	cfg      *mapping.Config
	st       store.Store
	trackers map[string]*memory.Tracker
	s        *syncer.Syncer

	mu      sync.Mutex
	pending []delivery // webhooks not yet delivered
}

type delivery struct {
	target string
	header map[string][]string
	body   []byte
}

func newWorld(t testing.TB, o worldOptions) *world {
	t.Helper()
	if o.acmePolicy == "" {
		o.acmePolicy = "canonical-wins"
	}
	dir := t.TempDir()
	cfg := syncer.LoadTestConfig(t, dir, map[string]string{
		"backlogd.yaml":       fmt.Sprintf(worldDaemon, dir),
		"clients/home.yaml":   homeClient,
		"clients/acme.yaml":   strings.NewReplacer("{{policy}}", o.acmePolicy, "{{extra}}", o.acmeExtra).Replace(acmeClient),
		"clients/globex.yaml": globexClient,
	})
	w := &world{t: t, dir: dir, cfg: cfg, trackers: map[string]*memory.Tracker{}}
	w.st = syncer.OpenTestStore(t, dir)
	conns := map[string]connectors.Connector{}
	for _, name := range []string{"home", "acme", "globex"} {
		mo := memory.Options{}
		if o.tracker != nil {
			mo = o.tracker(name)
		}
		mo.Name = name
		mo.KeyPrefix = strings.ToUpper(name)
		if o.webhooks {
			mo.WebhookSecret = "s3cret-" + name
			target := name
			mo.Webhook = func(h http.Header, body []byte) {
				w.mu.Lock()
				w.pending = append(w.pending, delivery{target: target, header: h, body: body})
				w.mu.Unlock()
			}
		}
		tr := memory.New(mo)
		w.trackers[name] = tr
		conns[name] = tr
	}
	var err error
	w.s, err = syncer.New(cfg, w.st, conns, syncer.Options{Metrics: o.metrics})
	if err != nil {
		t.Fatalf("syncer.New: %v", err)
	}
	return w
}

func (w *world) conflicts() []store.Conflict {
	w.t.Helper()
	cs, err := store.Read(context.Background(), w.st, func(tx store.Tx) ([]store.Conflict, error) { return tx.Conflicts(context.Background()) })
	if err != nil {
		w.t.Fatal(err)
	}
	return cs
}

// deliver hands the pending webhooks to the syncer and drains.
func (w *world) deliver() {
	w.t.Helper()
	w.mu.Lock()
	ds := w.pending
	w.pending = nil
	w.mu.Unlock()
	for _, d := range ds {
		if code, msg := w.s.Webhook(context.Background(), d.target, d.header, d.body); code >= 300 {
			w.t.Fatalf("webhook to %s: %d %s", d.target, code, msg)
		}
	}
	if err := w.s.Drain(context.Background()); err != nil {
		w.t.Fatal(err)
	}
}

// record returns the one record of tracker name carrying marker id.
func (w *world) record(name, id string) connectors.Record {
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

// markers lists the markers of a tracker's records, sorted, repeats kept.
func (w *world) markers(name string) []string {
	var ms []string
	for _, r := range w.trackers[name].Records() {
		ms = append(ms, r.Marker)
	}
	slices.Sort(ms)
	return ms
}

// link returns the stored link of item id on target.
func (w *world) link(target, id string) store.Link {
	w.t.Helper()
	var l store.Link
	if err := w.st.Tx(context.Background(), func(tx store.Tx) (err error) { l, err = tx.Link(context.Background(), target, id); return err }); err != nil {
		w.t.Fatalf("link %s/%s: %v", target, id, err)
	}
	return l
}

func (w *world) resetCalls() {
	for _, tr := range w.trackers {
		tr.ResetCalls()
	}
}

func (w *world) calls(name string) memory.Calls { return w.trackers[name].Calls() }

// sampleBacklog is a small backlog across both clients and the phases.
func sampleBacklog() []backlog.Item {
	return []backlog.Item{
		{ID: "BL-1", Kind: backlog.Epic, Title: "Checkout", Status: backlog.InProgress, Phase: backlog.Build, Clients: []string{"acme"},
			Estimate: backlog.Estimate{Cost: backlog.Money{Amount: "48000", Currency: "EUR"}}},
		{ID: "BL-2", Kind: backlog.Story, Title: "Pay by card", Status: backlog.Todo, Phase: backlog.Build, Parent: "BL-1",
			Clients: []string{"acme", "globex"}, Labels: []string{"checkout"}, Assignee: "alice",
			Estimate: backlog.Estimate{Points: 5, Effort: 3, Cost: backlog.Money{Amount: "4200", Currency: "EUR"}}},
		{ID: "BL-3", Kind: backlog.Bug, Title: "Totals round wrongly", Status: backlog.Todo, Phase: backlog.TestFeedback,
			Clients: []string{"globex"}, Teams: []string{"backend"}},
		{ID: "BL-4", Kind: backlog.Task, Title: "Staging environment", Status: backlog.Done, Phase: backlog.Kickoff,
			Clients: []string{"globex"}},
		{ID: "BL-5", Kind: backlog.Task, Title: "Renegotiate hosting", Status: backlog.Todo, Phase: backlog.Consolidation,
			Estimate: backlog.Estimate{Cost: backlog.Money{Amount: "15000", Currency: "EUR"}}},
	}
}

func (w *world) seed() {
	w.t.Helper()
	ctx := context.Background()
	items := sampleBacklog()
	err := w.st.Tx(ctx, func(tx store.Tx) error {
		for range items {
			if _, err := tx.NextItemID(ctx); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		w.t.Fatal(err)
	}
	w.put(items...)
	w.sync()
}

// canon is the world's canonical side, driven as the product owner would.
func (w *world) canon() synctest.Backlog { return synctest.Backlog{T: w.t, Store: w.st, Syncer: w.s} }

func (w *world) put(items ...backlog.Item) []string    { w.t.Helper(); return w.canon().Put(items...) }
func (w *world) edit(id string, f func(*backlog.Item)) { w.t.Helper(); w.canon().Edit(id, f) }
func (w *world) item(id string) backlog.Item           { w.t.Helper(); return w.canon().Item(id) }
func (w *world) items() []backlog.Item                 { w.t.Helper(); return w.canon().Items() }
func (w *world) sync()                                 { w.t.Helper(); w.canon().Sync() }
func (w *world) converged()                            { w.t.Helper(); w.canon().Converged() }
