package github_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/backlogd/backlogd/backlog"
	"github.com/backlogd/backlogd/connectors"
	"github.com/backlogd/backlogd/connectors/github"
	"github.com/backlogd/backlogd/connectors/github/githubfake"
	"github.com/backlogd/backlogd/connectors/memory"
	"github.com/backlogd/backlogd/mapping"
	"github.com/backlogd/backlogd/syncer"
	"github.com/backlogd/backlogd/syncer/store"
	"github.com/backlogd/backlogd/syncer/store/sqlite"
	"github.com/backlogd/backlogd/syncer/synctest"
)

// A world is the daemon in miniature: a syncer over a SQLite store with
// the product owner's home backlog (a memory tracker, every field) and
// the client of configs/examples/clients/github.yaml on a GitHub fake,
// served through the daemon's own HTTP handler so webhooks take the path
// they take in production.

const (
	worldTarget  = "acme-github"
	worldSecret  = "webhook secret of acme"
	worldDaemon  = "data_dir: %s\nsync: {poll_interval: %s, sweep_interval: 1h, workers: 2}\ntargets:\n  - {name: home, kind: memory}\n  - name: acme-github\n    kind: github\n    settings: {owner: acme, repo: webshop, token: env:GITHUB_TOKEN}\n"
	worldHome    = "client: home\ntarget: home\nscope: all\nprivate: []\ninternal_comments: true\nadopt: none\nfields: identity\n"
	webhookRoute = "/webhooks/" + worldTarget
)

type worldOptions struct {
	fake githubfake.Options
	// poll is the poll interval (default 1h: tests poll by hand).
	poll time.Duration
	// client, when set, edits the example client file before it loads.
	client func(string) string
}

type world struct {
	t    testing.TB
	srv  *githubfake.Server
	conn *github.Connector
	home *memory.Tracker
	st   store.Store
	s    *syncer.Syncer
	m    *metrics
	// http is the daemon's listener: /webhooks/acme-github and the API.
	http *httptest.Server
}

func exampleClient(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "configs", "examples", "clients", "github.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func newWorld(t testing.TB, o worldOptions) *world {
	t.Helper()
	if o.poll == 0 {
		o.poll = time.Hour
	}
	o.fake.Collaborators = append(o.fake.Collaborators, "alice-gh", "bobdev")
	dir := t.TempDir()
	write := func(name, body string) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("backlogd.yaml", fmt.Sprintf(worldDaemon, dir, o.poll))
	write("clients/home.yaml", worldHome)
	client := exampleClient(t)
	if o.client != nil {
		edited := o.client(client)
		if edited == client {
			t.Fatal("worldOptions.client changed nothing: the example file changed; update the test")
		}
		client = edited
	}
	write("clients/acme.yaml", client)
	cfg, err := mapping.Load(filepath.Join(dir, "backlogd.yaml"))
	if err != nil {
		t.Fatalf("world config: %v", err)
	}

	w := &world{t: t, m: newMetrics()}
	w.srv = githubfake.New(o.fake)
	t.Cleanup(w.srv.Close)
	w.conn, err = github.New(github.Config{
		Settings: github.Settings{Owner: "acme", Repo: "webshop", Token: "env:GITHUB_TOKEN",
			WebhookSecret: "env:ACME_GITHUB_WEBHOOK_SECRET", BaseURL: w.srv.URL, PageSize: 100},
		Target: worldTarget, Token: connectors.NewSecret(w.srv.Options().Token),
		WebhookSecret: connectors.NewSecret(worldSecret), Base: w.srv.Client().Transport,
		MaxWait: 2 * time.Second, CreatesPerMinute: -1, CreatesPerHour: -1, WritesPerMinute: -1,
	})
	if err != nil {
		t.Fatal(err)
	}
	w.home = memory.New(memory.Options{Name: "home", KeyPrefix: "HOME"})
	w.st, err = sqlite.Open(context.Background(), filepath.Join(dir, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.st.Close() })
	w.s, err = syncer.New(cfg, w.st, map[string]connectors.Connector{"home": w.home, worldTarget: w.conn}, syncer.Options{Metrics: w.m})
	if err != nil {
		t.Fatalf("syncer.New: %v", err)
	}
	w.http = httptest.NewServer(w.s.Handler(nil, nil))
	t.Cleanup(w.http.Close)
	w.srv.SetWebhook(w.http.URL+webhookRoute, worldSecret)
	return w
}

func (w *world) link(id string) store.Link {
	w.t.Helper()
	var l store.Link
	err := w.st.Tx(context.Background(), func(tx store.Tx) error {
		var err error
		l, err = tx.Link(context.Background(), worldTarget, id)
		return err
	})
	if err != nil {
		w.t.Fatalf("link of %s: %v", id, err)
	}
	return l
}

// deliver waits until the fake has posted every webhook to the daemon's
// handler, then lets the syncer work off what they queued.
func (w *world) deliver() {
	w.t.Helper()
	w.srv.WaitDeliveries()
	if err := w.s.Drain(context.Background()); err != nil {
		w.t.Fatal(err)
	}
}

// queued is the number of keys waiting on the GitHub target.
func (w *world) queued() int {
	for _, st := range w.s.Status() {
		if st.Target == worldTarget {
			return st.Queue
		}
	}
	w.t.Fatalf("no status for %s", worldTarget)
	return 0
}

// issue returns the one GitHub issue carrying marker id.
func (w *world) issue(id string) githubfake.Issue {
	w.t.Helper()
	var found []githubfake.Issue
	for _, is := range w.srv.Issues() {
		if strings.Contains(is.Body, "<!-- backlogd:id="+id+" -->") {
			found = append(found, is)
		}
	}
	if len(found) != 1 {
		w.t.Fatalf("GitHub holds %d issues marked %s, want 1", len(found), id)
	}
	return found[0]
}

// number is the issue number linked to item id.
func (w *world) number(id string) int {
	w.t.Helper()
	var n int
	if _, err := fmt.Sscan(w.link(id).RemoteID, &n); err != nil {
		w.t.Fatalf("link of %s: remote id %q", id, w.link(id).RemoteID)
	}
	return n
}

// signed posts a webhook delivery to the daemon as GitHub would, with the
// given signing secret ("" for none), and returns the status and body.
func (w *world) signed(secret, event, delivery string, body []byte) (int, string) {
	w.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, w.http.URL+webhookRoute, strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", event)
	req.Header.Set("X-GitHub-Delivery", delivery)
	if secret != "" {
		req.Header.Set("X-Hub-Signature-256", connectors.SignSHA256(secret, body))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// metrics records what the syncer reports, for assertions.
type metrics struct {
	mu         sync.Mutex
	webhooks   map[string]int // result → count
	echoes     int
	reconciled map[string]int // result → count
	// pulled, when set, is called after each reconcile that pulled.
	pulled func()
}

func newMetrics() *metrics {
	return &metrics{webhooks: map[string]int{}, reconciled: map[string]int{}}
}

func (m *metrics) Reconciled(target, _, result string, _ time.Duration) {
	m.mu.Lock()
	m.reconciled[target+"/"+result]++
	f := m.pulled
	m.mu.Unlock()
	if f != nil && target == worldTarget && (result == "pulled" || result == "pushed_pulled") {
		f()
	}
}
func (m *metrics) FieldsChanged(string, string, string, string, int) {}
func (m *metrics) EchoSuppressed(string) {
	m.mu.Lock()
	m.echoes++
	m.mu.Unlock()
}
func (m *metrics) Created(string, string)              {}
func (m *metrics) RemoteDeleted(string)                {}
func (m *metrics) SetLinked(string, int)               {}
func (m *metrics) SetConflictsOpen(string, int)        {}
func (m *metrics) SetQueue(string, int, time.Duration) {}
func (m *metrics) Webhook(_, result string) {
	m.mu.Lock()
	m.webhooks[result]++
	m.mu.Unlock()
}
func (m *metrics) FullSync(string, time.Time) {}
func (m *metrics) SetOutboxPending(int)       {}

func (m *metrics) webhook(result string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.webhooks[result]
}

// acmeBacklog is a small backlog: an epic with two stories (one done),
// a bug, and an item of another client.
func acmeBacklog() []backlog.Item {
	return []backlog.Item{
		{Kind: backlog.Epic, Title: "Checkout", Status: backlog.InProgress, Phase: backlog.Build, Clients: []string{"acme"},
			Estimate: backlog.Estimate{Cost: backlog.Money{Amount: "48000", Currency: "EUR"}}},
		{Kind: backlog.Story, Title: "Pay by card", Status: backlog.InReview, Phase: backlog.Build, Parent: "BL-1",
			Description: "Card payments, see #12 in our Jira.\n\nAsk @alice, or @carol from finance.",
			Clients:     []string{"acme"}, Labels: []string{"checkout"}, Assignee: "alice", Teams: []string{"web"},
			Priority: backlog.High, Estimate: backlog.Estimate{Points: 5, Cost: backlog.Money{Amount: "4200", Currency: "EUR"}}},
		{Kind: backlog.Story, Title: "Pay by invoice", Status: backlog.Done, Phase: backlog.Build, Parent: "BL-1", Clients: []string{"acme"}},
		{Kind: backlog.Bug, Title: "Totals round wrongly", Status: backlog.Todo, Phase: backlog.TestFeedback, Clients: []string{"acme"}},
		{Kind: backlog.Task, Title: "Renegotiate hosting", Status: backlog.Todo, Phase: backlog.Consolidation, Clients: []string{"globex"}},
	}
}

// labelsWith returns the labels of is starting with prefix.
func labelsWith(is githubfake.Issue, prefix string) []string {
	var out []string
	for _, l := range is.Labels {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	slices.Sort(out)
	return out
}

// canon is the world's canonical side, driven as the product owner would.
func (w *world) canon() synctest.Backlog { return synctest.Backlog{T: w.t, Store: w.st, Syncer: w.s} }

func (w *world) put(items ...backlog.Item) []string    { w.t.Helper(); return w.canon().Put(items...) }
func (w *world) edit(id string, f func(*backlog.Item)) { w.t.Helper(); w.canon().Edit(id, f) }
func (w *world) item(id string) backlog.Item           { w.t.Helper(); return w.canon().Item(id) }
func (w *world) items() []backlog.Item                 { w.t.Helper(); return w.canon().Items() }
func (w *world) sync()                                 { w.t.Helper(); w.canon().Sync() }
func (w *world) converged()                            { w.t.Helper(); w.canon().Converged() }
