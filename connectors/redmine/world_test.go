package redmine_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/backlogd/backlogd/backlog"
	"github.com/backlogd/backlogd/connectors"
	"github.com/backlogd/backlogd/connectors/memory"
	"github.com/backlogd/backlogd/connectors/redmine"
	"github.com/backlogd/backlogd/mapping"
	"github.com/backlogd/backlogd/syncer"
	"github.com/backlogd/backlogd/syncer/store"
	"github.com/backlogd/backlogd/syncer/store/sqlite"
	"github.com/backlogd/backlogd/syncer/synctest"
)

// A world is the syncer over a SQLite store with two targets: the
// client of configs/examples/clients/redmine.yaml (umbrella-redmine,
// no internal comments) and the product owner's own Redmine
// (home-redmine, every item, internal comments as private notes) — or,
// for measurements of the client alone, a memory tracker as home.

const (
	clientTarget = "umbrella-redmine"
	homeTarget   = "home-redmine"
	worldDaemon  = `data_dir: %s
sync: {poll_interval: 1h, sweep_interval: 1h, workers: 1}
targets:
  - {name: home-redmine, kind: %s}
  - name: umbrella-redmine
    kind: redmine
    settings: {url: "http://set-by-the-test", project: umbrella, api_key: env:UMBRELLA_REDMINE_KEY}
`
	// homeClient is the product owner's own Redmine. Its status map
	// lists no Closed, unlike the example's: the sync test sets an issue
	// to it to see an unknown value park the item.
	homeClient = `client: home
target: home-redmine
scope: all
private: []
internal_comments: true       # private notes
policy: canonical-wins
adopt: none
fields:
  kind: {field: tracker, values: {epic: Feature, story: Feature, bug: Bug, task: Support}}
  title: subject
  description: description
  status: {field: status, values: {todo: New, in_progress: In Progress, in_review: Feedback, done: Resolved, cancelled: Rejected}}
  estimate.effort: estimated_days
`
	memoryHome = "client: home\ntarget: home-redmine\nscope: all\nprivate: []\ninternal_comments: true\nadopt: none\nfields: identity\n"
)

// testUsers replaces Umbrella's people in the example with the test
// servers' (alice and bob are members of every test project).
var exampleUsers = regexp.MustCompile(`(?m)^users:\n(  .*\n)+`)

func exampleClient(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "configs", "examples", "clients", "redmine.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	edited := exampleUsers.ReplaceAllString(s, "users:\n  alice: alice\n  carol: bob\n")
	if edited == s {
		t.Fatal("the example client file has no users: block any more; update the test")
	}
	return edited
}

type worldOptions struct {
	// memoryHome makes home a memory tracker, so that only the client's
	// Redmine is asked anything.
	memoryHome bool
	// pageSize of the listings (0: Redmine's 100).
	pageSize int
}

type world struct {
	t testing.TB
	b redmine.TestBackend
	// client and home are the syncer's connectors; their requests are
	// counted. clientRead and homeRead look without counting.
	client, clientRead *redmine.Connector
	home, homeRead     *redmine.Connector
	memHome            *memory.Tracker
	// alice and aliceHome act in the client's and the home Redmine.
	alice, aliceHome redmine.Person
	clientN, homeN   *counter
	st               store.Store
	s                *syncer.Syncer
}

func newWorld(t *testing.T, b redmine.TestBackend, o worldOptions) *world {
	t.Helper()
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
	kind := "redmine"
	if o.memoryHome {
		kind = "memory"
	}
	write("backlogd.yaml", fmt.Sprintf(worldDaemon, dir, kind))
	write("clients/umbrella.yaml", exampleClient(t))
	if o.memoryHome {
		write("clients/home.yaml", memoryHome)
	} else {
		write("clients/home.yaml", homeClient)
	}
	cfg, err := mapping.Load(filepath.Join(dir, "backlogd.yaml"))
	if err != nil {
		t.Fatalf("world config: %v", err)
	}
	w := &world{t: t, b: b, clientN: newCounter(), homeN: newCounter()}
	w.client = b.Connect(t, o.pageSize, w.clientN.wrap)
	w.clientRead = redmine.Reader(t, w.client)
	w.alice = b.PersonOn(w.client)
	conns := map[string]connectors.Connector{clientTarget: w.client}
	if o.memoryHome {
		w.memHome = memory.New(memory.Options{Name: "home", KeyPrefix: "HOME"})
		conns[homeTarget] = w.memHome
	} else {
		w.home = b.Connect(t, o.pageSize, w.homeN.wrap)
		w.homeRead = redmine.Reader(t, w.home)
		w.aliceHome = b.PersonOn(w.home)
		conns[homeTarget] = w.home
	}
	w.st, err = sqlite.Open(context.Background(), filepath.Join(dir, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.st.Close() })
	w.s, err = syncer.New(cfg, w.st, conns, syncer.Options{})
	if err != nil {
		t.Fatalf("syncer.New: %v", err)
	}
	return w
}

// issue reads the record marked id on a target's Redmine, without
// counting; ok is false when there is none.
func (w *world) issue(reader *redmine.Connector, id string) (connectors.Record, bool) {
	w.t.Helper()
	r, err := reader.FindByMarker(context.Background(), id)
	if err != nil {
		return connectors.Record{}, false
	}
	return r, true
}

func (w *world) mustIssue(reader *redmine.Connector, id string) connectors.Record {
	w.t.Helper()
	r, ok := w.issue(reader, id)
	if !ok {
		w.t.Fatalf("no issue marked %s", id)
	}
	return r
}

// parked returns the parked keys of the client target, with reasons.
func (w *world) parked() []string { return w.parkedOn(clientTarget) }

// parkedOn returns the parked keys of a target, with reasons.
func (w *world) parkedOn(target string) []string {
	for _, st := range w.s.Status() {
		if st.Target == target {
			return st.Parked
		}
	}
	return nil
}

// counter counts a connector's requests by class (what Redmine is asked)
// and the 304s among them.
type counter struct {
	mu sync.Mutex
	n  map[string]int
}

func newCounter() *counter { return &counter{n: map[string]int{}} }

var (
	issuePath   = regexp.MustCompile(`^/issues/\d+\.json$`)
	journalPath = regexp.MustCompile(`^/journals/\d+\.json$`)
)

// class names a request: list_issues, find_marker, get_issue,
// create_issue, update_issue (fields or a note), update_note, metadata.
func class(r *http.Request) string {
	p := r.URL.Path
	switch {
	case p == "/issues.json" && r.Method == http.MethodGet && strings.Contains(r.URL.RawQuery, "cf_"):
		return "find_marker"
	case p == "/issues.json" && r.Method == http.MethodGet:
		return "list_issues"
	case p == "/issues.json" && r.Method == http.MethodPost:
		return "create_issue"
	case issuePath.MatchString(p) && r.Method == http.MethodGet:
		return "get_issue"
	case issuePath.MatchString(p) && r.Method == http.MethodPut:
		return "update_issue"
	case journalPath.MatchString(p):
		return "update_note"
	case r.Method == http.MethodGet:
		return "metadata"
	}
	return "other"
}

func (c *counter) wrap(next http.RoundTripper) http.RoundTripper {
	return roundTripper(func(r *http.Request) (*http.Response, error) {
		resp, err := next.RoundTrip(r)
		c.mu.Lock()
		c.n[class(r)]++
		if err == nil && resp.StatusCode == http.StatusNotModified {
			c.n["304"]++
		}
		if r.Method != http.MethodGet {
			c.n["writes"]++
		}
		c.n["requests"]++
		c.mu.Unlock()
		return resp, err
	})
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func (c *counter) get(k string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[k]
}

func (c *counter) reset() {
	c.mu.Lock()
	c.n = map[string]int{}
	c.mu.Unlock()
}

func (c *counter) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ks []string
	for k, v := range c.n {
		if k != "requests" && k != "writes" && k != "304" {
			ks = append(ks, fmt.Sprintf("%s=%d", k, v))
		}
	}
	slices.Sort(ks)
	return fmt.Sprintf("requests=%-4d writes=%-4d 304=%-4d %s", c.n["requests"], c.n["writes"], c.n["304"], strings.Join(ks, " "))
}

// backends returns the fake and, when the environment names one, the
// real Redmine. requireLive makes a missing real server a skip naming the
// variables (CI sets them and fails on such a skip).
func backends(t *testing.T) []redmine.TestBackend {
	bs := []redmine.TestBackend{redmine.FakeBackend()}
	if b, ok := redmine.LiveBackend(t); ok {
		bs = append(bs, b)
	}
	return bs
}

func eachBackend(t *testing.T, f func(t *testing.T, b redmine.TestBackend)) {
	bs := backends(t)
	for _, b := range bs {
		t.Run("against the "+b.Name()+" Redmine", func(t *testing.T) { f(t, b) })
	}
	if len(bs) == 1 {
		t.Run("against the live Redmine", func(t *testing.T) { t.Skip(redmine.LiveSkip) })
	}
}

// canon is the world's canonical side, driven as the product owner would.
func (w *world) canon() synctest.Backlog { return synctest.Backlog{T: w.t, Store: w.st, Syncer: w.s} }

func (w *world) put(items ...backlog.Item) []string    { w.t.Helper(); return w.canon().Put(items...) }
func (w *world) edit(id string, f func(*backlog.Item)) { w.t.Helper(); w.canon().Edit(id, f) }
func (w *world) item(id string) backlog.Item           { w.t.Helper(); return w.canon().Item(id) }
func (w *world) items() []backlog.Item                 { w.t.Helper(); return w.canon().Items() }
func (w *world) sync()                                 { w.t.Helper(); w.canon().Sync() }
func (w *world) converged()                            { w.t.Helper(); w.canon().Converged() }
