package main

// The crash test of issue 4: a real `backlogd run` killed with SIGKILL at
// random moments while it adopts, creates and updates items, restarted
// each time, and checked at the end for duplicates, lost updates, torn
// files and leaks. Every target is a `file` directory, so the trackers
// outlive the daemon and are read back through connectors/file.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/backlogd/backlogd/backlog"
	"github.com/backlogd/backlogd/connectors"
	"github.com/backlogd/backlogd/connectors/file"
	"github.com/backlogd/backlogd/syncer/store"
	"github.com/backlogd/backlogd/syncer/store/sqlite"
)

// crashSeedEnv replays a run: the test logs the seed it drew.
const crashSeedEnv = "BACKLOGD_CRASH_SEED"

// The product owner's home backlog takes every field and adopts every
// file written into it; the two clients see different parts of the
// backlog under their own field names, and never the cost (nor, for
// globex, the points), although their mappings name those fields.
const (
	crashHome = `client: home
target: home
scope: all
private: []
internal_comments: true
policy: canonical-wins
adopt: {mode: all}
fields: identity
`
	crashAcme = `client: acme
target: acme-tracker
scope: clients has acme
private: [estimate.cost]
policy: canonical-wins
adopt: none
fields:
  kind: {field: type, values: {epic: Epic, story: Story, bug: Bug, task: Task}}
  title: summary
  status: {field: state, values: {todo: Open, in_progress: Doing, in_review: Review, done: Closed, cancelled: Closed}}
  priority: priority
  labels: labels
  estimate.points: points
  estimate.cost: cost
`
	crashGlobex = `client: globex
target: globex-tracker
scope: clients has globex and phase in [build, test_feedback]
private: [estimate.cost, estimate.points]
policy: canonical-wins
adopt: none
fields:
  title: name
  status: state
  phase: phase
  labels: tags
  priority: prio
  estimate.points: points
  estimate.cost: cost
`
)

var acmeStates = map[string]string{"todo": "Open", "in_progress": "Doing", "in_review": "Review", "done": "Closed", "cancelled": "Closed"}

// crashItem is what the test last wrote into one file of the home
// backlog: the truth every side must end up showing.
type crashItem struct {
	stem     string
	kind     string
	phase    string
	clients  []string
	title    string
	status   string
	priority string
	labels   []string
	points   int
	cost     int // EUR; 0 for none
	edits    int
}

func (it *crashItem) inAcme() bool { return slices.Contains(it.clients, "acme") }
func (it *crashItem) inGlobex() bool {
	return slices.Contains(it.clients, "globex") && (it.phase == "build" || it.phase == "test_feedback")
}

func (it *crashItem) costValue() string {
	if it.cost == 0 {
		return ""
	}
	return strconv.Itoa(it.cost) + " EUR"
}

// canonical is the item's expected projection on the fields the test sets.
func (it *crashItem) canonical() backlog.Fields {
	f := backlog.Fields{
		backlog.FieldKind: it.kind, backlog.FieldTitle: it.title, backlog.FieldStatus: it.status,
		backlog.FieldPhase: it.phase, backlog.FieldPriority: it.priority, backlog.FieldCost: it.costValue(),
		backlog.FieldLabels:  backlog.EncodeList(backlog.FieldLabels, it.labels),
		backlog.FieldClients: backlog.EncodeList(backlog.FieldClients, it.clients),
		backlog.FieldPoints:  "",
	}
	if it.points != 0 {
		f[backlog.FieldPoints] = strconv.Itoa(it.points)
	}
	return f
}

// yaml renders the file as a person would write it, with the marker the
// daemon wrote back once it adopted the file.
func (it *crashItem) yaml(marker string) string {
	var b strings.Builder
	if marker != "" {
		fmt.Fprintf(&b, "id: %s\n", marker)
	}
	fmt.Fprintf(&b, "kind: %s\ntitle: %s\nstatus: %s\nphase: %s\npriority: %s\n", it.kind, it.title, it.status, it.phase, it.priority)
	if len(it.labels) > 0 {
		b.WriteString("labels:\n")
		for _, l := range it.labels {
			fmt.Fprintf(&b, "  - %s\n", l)
		}
	}
	if it.points != 0 {
		fmt.Fprintf(&b, "estimate.points: %d\n", it.points)
	}
	if it.cost != 0 {
		fmt.Fprintf(&b, "estimate.cost: %s\n", it.costValue())
	}
	b.WriteString("clients:\n")
	for _, c := range it.clients {
		fmt.Fprintf(&b, "  - %s\n", c)
	}
	return b.String()
}

// crashWorld is the test's side: the home directory it writes into and
// what it wrote.
type crashWorld struct {
	t     *testing.T
	rng   *rand.Rand
	dir   string // the daemon's working directory
	home  *file.Connector
	items []*crashItem
	// creates and edits count what the test did, for the log.
	creates, edits int
}

func (w *crashWorld) targetDir(name string) string { return filepath.Join(w.dir, "data", name) }

var (
	crashKinds      = []string{"story", "bug", "task"}
	crashPhases     = []string{"kickoff", "build", "test_feedback", "launch"}
	crashStatuses   = []string{"todo", "in_progress", "in_review", "done", "cancelled"}
	crashPriorities = []string{"lowest", "low", "medium", "high", "highest"}
	crashLabels     = []string{"checkout", "mobile", "pdf", "search", "urgent"}
	crashClientSets = [][]string{{"acme"}, {"globex"}, {"acme", "globex"}, {"internal"}}
)

func pick[T any](rng *rand.Rand, xs []T) T { return xs[rng.IntN(len(xs))] }

func (w *crashWorld) randomLabels() []string {
	var ls []string
	for _, l := range crashLabels {
		if w.rng.IntN(3) == 0 {
			ls = append(ls, l)
		}
	}
	return ls
}

// put writes the item's file the way an editor saves: a temporary file
// renamed over the old one, so the daemon never reads half a save.
func (w *crashWorld) put(it *crashItem, marker string) {
	w.t.Helper()
	dir := w.targetDir("home")
	tmp := filepath.Join(dir, "."+it.stem+".yaml.test-save")
	if err := os.WriteFile(tmp, []byte(it.yaml(marker)), 0o644); err != nil {
		w.t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, it.stem+".yaml")); err != nil {
		w.t.Fatal(err)
	}
}

// create writes a new file into the home backlog, for the daemon to adopt.
func (w *crashWorld) create() {
	it := &crashItem{
		stem: fmt.Sprintf("item-%03d", len(w.items)+1), kind: pick(w.rng, crashKinds), phase: pick(w.rng, crashPhases),
		clients: slices.Clone(pick(w.rng, crashClientSets)), status: pick(w.rng, crashStatuses),
		priority: pick(w.rng, crashPriorities), labels: w.randomLabels(), points: w.rng.IntN(9),
	}
	it.title = it.stem + " as written"
	if w.rng.IntN(2) == 0 {
		it.cost = 100 * (1 + w.rng.IntN(90))
	}
	w.items = append(w.items, it)
	w.put(it, "")
	w.creates++
}

// marker returns the marker of an item's file ("" before adoption).
func (w *crashWorld) marker(it *crashItem) string {
	w.t.Helper()
	rec, err := w.home.Get(context.Background(), it.stem)
	if err != nil {
		w.t.Fatalf("read back %s: %v", it.stem, err)
	}
	return rec.Marker
}

// edit changes a few fields of an item and saves its file, keeping the
// marker. With onlyMarked (the daemon running) it edits only files the
// daemon has finished adopting: before that the daemon writes the marker
// into the file, and a person's save racing that write is a race no
// file system lets either side win cleanly.
func (w *crashWorld) edit(onlyMarked bool) bool {
	if len(w.items) == 0 {
		return false
	}
	it := pick(w.rng, w.items)
	m := w.marker(it)
	if onlyMarked && m == "" {
		return false
	}
	it.edits++
	for range 1 + w.rng.IntN(3) {
		switch w.rng.IntN(6) {
		case 0:
			it.title = fmt.Sprintf("%s edit %d", it.stem, it.edits)
		case 1:
			it.status = pick(w.rng, crashStatuses)
		case 2:
			it.priority = pick(w.rng, crashPriorities)
		case 3:
			it.labels = w.randomLabels()
		case 4:
			it.points = w.rng.IntN(9)
		case 5:
			it.cost = 100 * w.rng.IntN(90)
		}
	}
	w.put(it, m)
	w.edits++
	return true
}

// step makes one random change: mostly edits once there is something to
// edit, creates otherwise.
func (w *crashWorld) step(running bool) {
	if len(w.items) < 4 || w.rng.IntN(5) < 2 {
		w.create()
		return
	}
	if !w.edit(running) {
		w.create()
	}
}

// temps counts the temporary files interrupted writes left in the
// target directories (hidden, and removed by the connector only once
// they are ten minutes old).
func (w *crashWorld) temps() int {
	n := 0
	for _, name := range []string{"home", "acme-tracker", "globex-tracker"} {
		des, _ := os.ReadDir(w.targetDir(name))
		for _, de := range des {
			if strings.HasPrefix(de.Name(), ".") && strings.Contains(de.Name(), ".yaml.tmp-") {
				n++
			}
		}
	}
	return n
}

// spawn starts `backlogd run` without waiting for it to come up, so a
// kill can land during the start too (recovery of the outbox, the first
// sweep).
func spawn(t *testing.T, bin, dir string) *opsDaemon {
	t.Helper()
	cmd := exec.Command(bin, "run", "--config", "backlogd.yaml")
	cmd.Dir = dir
	d := &opsDaemon{t: t, cmd: cmd, logs: &lineLog{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = d.logs, d.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		d.err = cmd.Wait()
		close(d.done)
	}()
	t.Cleanup(func() {
		select {
		case <-d.done:
		default:
			_ = cmd.Process.Kill()
			<-d.done
		}
	})
	return d
}

// busy waits until the daemon logs an adoption or a write after its
// first seen log lines, or until timeout (a daemon still starting).
func (d *opsDaemon) busy(seen int, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		ls := d.logs.Lines()
		for _, l := range ls[min(seen, len(ls)):] {
			if strings.Contains(l, `"msg":"adopted"`) || strings.Contains(l, `"msg":"reconciled"`) {
				return
			}
		}
		seen = len(ls)
		select {
		case <-d.done:
			return
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// kill SIGKILLs the daemon and waits for it to be gone.
func (d *opsDaemon) kill() {
	d.t.Helper()
	_ = d.cmd.Process.Kill() // it may have died already: checked below
	select {
	case <-d.done:
	case <-time.After(30 * time.Second):
		d.t.Fatal("daemon still running 30s after SIGKILL")
	}
	var ee *exec.ExitError
	if errors.As(d.err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
			return
		}
	}
	d.t.Fatalf("daemon stopped by itself before the kill (%v):\n%s", d.err, d.logs.String())
}

// TestSIGKILLedDaemonLosesNothingAndDuplicatesNothing is issue 4's crash
// test. The test writes new item files into the product owner's home
// backlog and edits existing ones, before, between and during runs of a
// daemon it SIGKILLs at random moments and restarts. A final run syncs
// until quiet, then every side is checked: each file adopted once and
// linked once on every target in scope, each field showing the last edit
// made to it, nothing out of scope and no private field on a client, no
// file torn, the outbox empty.
func TestSIGKILLedDaemonLosesNothingAndDuplicatesNothing(t *testing.T) {
	bin := opsBinary(t)
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv(crashSeedEnv); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q: %v", crashSeedEnv, s, err)
		}
		seed = v
	}
	t.Logf("seed %d (replay the same choices with %s=%d)", seed, crashSeedEnv, seed)
	dir := t.TempDir()
	opsWriteConfig(t, dir, []opsTarget{
		{Name: "home", Kind: "file", Settings: map[string]string{"dir": "./data/home"}, Client: crashHome},
		{Name: "acme-tracker", Kind: "file", Settings: map[string]string{"dir": "./data/acme-tracker"}, Client: crashAcme},
		{Name: "globex-tracker", Kind: "file", Settings: map[string]string{"dir": "./data/globex-tracker"}, Client: crashGlobex},
	}, "")
	// Fast polls and info logs: the test is about the syncer, not its
	// debug lines.
	cfgPath := filepath.Join(dir, "backlogd.yaml")
	cfg, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	cfg = []byte(strings.NewReplacer("poll_interval: 200ms", "poll_interval: 50ms", "level: debug", "level: info").Replace(string(cfg)))
	writeAtomically(t, cfgPath, string(cfg))

	w := &crashWorld{t: t, rng: rand.New(rand.NewPCG(seed, 4)), dir: dir}
	if w.home, err = file.New(w.targetDir("home")); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		w.create()
	}

	const rounds = 12
	// What the kills interrupted, from the daemons' logs: the outbox
	// intents the next start recovered, and the writes made.
	recovered, reconciled := 0, 0
	count := func(d *opsDaemon) {
		for _, l := range d.logs.Lines() {
			var e map[string]any
			if json.Unmarshal([]byte(l), &e) != nil {
				continue
			}
			switch e["msg"] {
			case "recovering interrupted write":
				recovered++
			case "reconciled", "adopted":
				reconciled++
			}
		}
	}
	for range rounds {
		d := spawn(t, bin, dir)
		// Kill at a random moment of the first 1.5 s (during the start,
		// the first sweep, adoptions, creates and updates), mostly just
		// after a burst of changes, while the daemon is busy writing.
		killAt := time.Now().Add(time.Duration(w.rng.IntN(1500)) * time.Millisecond)
		for time.Now().Before(killAt) {
			time.Sleep(time.Duration(10+w.rng.IntN(90)) * time.Millisecond)
			w.step(true)
		}
		if w.rng.IntN(4) > 0 {
			seen := len(d.logs.Lines())
			for range 3 + w.rng.IntN(8) {
				w.step(true)
			}
			// A burst keeps the daemon writing for some 10 to 20 ms.
			d.busy(seen, 3*time.Second)
			time.Sleep(time.Duration(w.rng.IntN(12)) * time.Millisecond)
		}
		d.kill()
		count(d)
		// Between runs, anything goes: edits of files not adopted yet too.
		for range w.rng.IntN(4) {
			if w.rng.IntN(2) == 0 {
				w.create()
			} else {
				w.edit(false)
			}
		}
	}
	if reconciled == 0 {
		t.Fatal("the killed runs synced nothing: the test tested nothing")
	}

	// The final run: until every side shows the last edits and the
	// queues are empty.
	d := startDaemon(t, bin, dir, nil)
	var problems []string
	deadline := time.Now().Add(45 * time.Second)
	for {
		problems = w.check(apiItems(t, d))
		if len(problems) == 0 && quiet(t, d) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not converged within 45s after %d kills:\n%s", rounds, strings.Join(problems, "\n"))
		}
		time.Sleep(100 * time.Millisecond)
	}
	d.signal(syscall.SIGTERM)
	if code := d.wait(30 * time.Second); code != 0 {
		t.Fatalf("final run exited %d", code)
	}
	count(d)
	t.Logf("%d kills; the test created %d items and made %d edits; the killed runs made %d writes and adoptions; "+
		"%d writes were cut between their intent and their acknowledgement, %d file writes were cut short (their temporary files remain)",
		rounds, w.creates, w.edits, reconciled, recovered, w.temps())

	// The store, read once the daemon is gone, agrees; nothing is left
	// in its outbox or conflict queue.
	st, err := sqlite.Open(context.Background(), filepath.Join(dir, "data", "backlogd.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var items []backlog.Item
	var intents []store.Intent
	var conflicts []store.Conflict
	err = st.Tx(context.Background(), func(tx store.Tx) error {
		var err error
		if items, err = tx.Items(context.Background()); err != nil {
			return err
		}
		if intents, err = tx.Intents(context.Background(), ""); err != nil {
			return err
		}
		conflicts, err = tx.Conflicts(context.Background())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range w.check(items) {
		t.Error(p)
	}
	acme, _ := dirRecords(w.targetDir("acme-tracker"))
	globex, _ := dirRecords(w.targetDir("globex-tracker"))
	t.Logf("converged: %d items, %d on acme-tracker, %d on globex-tracker", len(items), len(acme), len(globex))
	if len(intents) > 0 {
		t.Errorf("outbox still holds %d intents after a clean stop: %+v", len(intents), intents)
	}
	if len(conflicts) > 0 {
		t.Errorf("%d conflicts parked, want none (every edit came from one side): %+v", len(conflicts), conflicts)
	}
}

// apiItems reads the canonical backlog from the running daemon.
func apiItems(t *testing.T, d *opsDaemon) []backlog.Item {
	t.Helper()
	code, body := d.get("/api/v1/items")
	if code != http.StatusOK {
		t.Fatalf("/api/v1/items: %d %s", code, body)
	}
	var items []backlog.Item
	if err := json.Unmarshal([]byte(body), &items); err != nil {
		t.Fatalf("/api/v1/items: %v", err)
	}
	return items
}

// quiet reports whether every target's queue is empty and nothing is
// parked or failing.
func quiet(t *testing.T, d *opsDaemon) bool {
	t.Helper()
	code, body := d.get("/api/v1/status")
	if code != http.StatusOK {
		t.Fatalf("/api/v1/status: %d %s", code, body)
	}
	var st []struct {
		Queue     int      `json:"queue"`
		LastError string   `json:"last_error"`
		Parked    []string `json:"parked"`
	}
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatalf("/api/v1/status: %v", err)
	}
	for _, s := range st {
		if s.Queue > 0 || len(s.Parked) > 0 {
			return false
		}
	}
	return true
}

// dirRecords reads every item file of a target directory through the
// file connector. A file that does not read (a torn write) is a problem.
func dirRecords(dir string) (map[string]connectors.Record, []string) {
	c, err := file.New(dir)
	if err != nil {
		return nil, []string{err.Error()}
	}
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, []string{err.Error()}
	}
	recs := map[string]connectors.Record{}
	var problems []string
	for _, de := range des {
		stem, ok := strings.CutSuffix(de.Name(), ".yaml")
		if !ok || strings.HasPrefix(de.Name(), ".") {
			continue
		}
		rec, err := c.Get(context.Background(), stem)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", filepath.Join(dir, de.Name()), err))
			continue
		}
		recs[stem] = rec
	}
	return recs, problems
}

// byMarker indexes records by marker; a marker on two files is a duplicate.
func byMarker(name string, recs map[string]connectors.Record) (map[string]connectors.Record, []string) {
	out := map[string]connectors.Record{}
	var problems []string
	for _, stem := range slices.Sorted(maps.Keys(recs)) {
		rec := recs[stem]
		if rec.Marker == "" {
			problems = append(problems, fmt.Sprintf("%s: %s has no marker", name, stem))
			continue
		}
		if other, dup := out[rec.Marker]; dup {
			problems = append(problems, fmt.Sprintf("DUPLICATE on %s: %s and %s both carry %s", name, other.ID, stem, rec.Marker))
			continue
		}
		out[rec.Marker] = rec
	}
	return out, problems
}

func sortedValues(vs []string) []string {
	vs = slices.Clone(vs)
	slices.Sort(vs)
	return vs
}

// check compares the canonical backlog and every target directory with
// what the test wrote, and returns what is wrong (nothing when all holds).
func (w *crashWorld) check(items []backlog.Item) []string {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	canonical := map[string]backlog.Item{}
	for _, it := range items {
		canonical[it.ID] = it
	}
	dirs := map[string]map[string]connectors.Record{}
	for _, name := range []string{"home", "acme-tracker", "globex-tracker"} {
		recs, ps := dirRecords(w.targetDir(name))
		problems = append(problems, ps...)
		marked, ps := byMarker(name, recs)
		problems = append(problems, ps...)
		dirs[name] = marked
	}
	home, _ := dirRecords(w.targetDir("home"))

	// Each file of the home backlog is one canonical item, adopted once.
	ids := map[string]bool{}
	for _, it := range w.items {
		rec, ok := home[it.stem]
		switch {
		case !ok:
			add("home: %s.yaml is gone", it.stem)
			continue
		case rec.Marker == "":
			add("home: %s.yaml not adopted (no marker)", it.stem)
			continue
		}
		id := rec.Marker
		ids[id] = true
		want := it.canonical()
		// The home file itself still shows the test's last save: the
		// daemon never wrote older content over it.
		for f, v := range want {
			got := rec.Fields[string(f)]
			if f.IsList() {
				got = sortedValues(got)
				vs, _ := backlog.DecodeList(v)
				if !slices.Equal(got, vs) {
					add("LOST UPDATE on home: %s %s = %q, want %q", it.stem, f, got, vs)
				}
			} else if rec.Fields.Get(string(f)) != v {
				add("LOST UPDATE on home: %s %s = %q, want %q", it.stem, f, rec.Fields.Get(string(f)), v)
			}
		}
		c, ok := canonical[id]
		if !ok {
			add("canonical: %s (%s) missing", id, it.stem)
			continue
		}
		got := c.Project()
		for f, v := range want {
			if got[f] != v {
				add("canonical: %s (%s) %s = %q, want %q (the last edit)", id, it.stem, f, got[f], v)
			}
		}

		// acme sees its items under its own names, never the cost.
		acme, onAcme := dirs["acme-tracker"][id]
		switch {
		case it.inAcme() && !onAcme:
			add("acme-tracker: %s (%s) missing", id, it.stem)
		case !it.inAcme() && onAcme:
			add("LEAK on acme-tracker: %s (%s) is out of its scope (clients %v)", id, it.stem, it.clients)
		case onAcme:
			kind := strings.ToUpper(it.kind[:1]) + it.kind[1:]
			points := ""
			if it.points != 0 {
				points = strconv.Itoa(it.points)
			}
			for name, v := range map[string]string{"type": kind, "summary": it.title, "state": acmeStates[it.status], "priority": it.priority, "points": points} {
				if acme.Fields.Get(name) != v {
					add("acme-tracker: %s (%s) %s = %q, want %q", id, it.stem, name, acme.Fields.Get(name), v)
				}
			}
			if got := sortedValues(acme.Fields["labels"]); !slices.Equal(got, sortedValues(it.labels)) {
				add("acme-tracker: %s (%s) labels = %q, want %q", id, it.stem, got, it.labels)
			}
		}

		// globex sees build and test-feedback items only, neither cost
		// nor points.
		globex, onGlobex := dirs["globex-tracker"][id]
		switch {
		case it.inGlobex() && !onGlobex:
			add("globex-tracker: %s (%s) missing", id, it.stem)
		case !it.inGlobex() && onGlobex:
			add("LEAK on globex-tracker: %s (%s) is out of its scope (clients %v, phase %s)", id, it.stem, it.clients, it.phase)
		case onGlobex:
			for name, v := range map[string]string{"name": it.title, "state": it.status, "prio": it.priority, "phase": it.phase} {
				if globex.Fields.Get(name) != v {
					add("globex-tracker: %s (%s) %s = %q, want %q", id, it.stem, name, globex.Fields.Get(name), v)
				}
			}
			if got := sortedValues(globex.Fields["tags"]); !slices.Equal(got, sortedValues(it.labels)) {
				add("globex-tracker: %s (%s) tags = %q, want %q", id, it.stem, got, it.labels)
			}
		}
	}

	// Nothing else: no second canonical item for one file, no record
	// for an item that does not exist, no private field on a client.
	for id, it := range canonical {
		if !ids[id] {
			add("DUPLICATE canonical item %s (%q): no home file carries its id (a second adoption, or a marker never written back)", id, it.Title)
		}
	}
	for name, recs := range dirs {
		for id, rec := range recs {
			if !ids[id] {
				add("DUPLICATE on %s: %s carries %s, which no home file carries", name, rec.ID, id)
			}
			if name == "home" {
				continue
			}
			for _, private := range []string{"cost", "estimate.cost", "estimate"} {
				if _, ok := rec.Fields[private]; ok {
					add("LEAK on %s: %s has the private field %s", name, rec.ID, private)
				}
			}
			if _, ok := rec.Fields["points"]; ok && name == "globex-tracker" {
				add("LEAK on %s: %s has the private field points", name, rec.ID)
			}
			for _, vs := range rec.Fields {
				for _, v := range vs {
					if strings.Contains(v, "EUR") {
						add("LEAK on %s: %s shows an amount (%q)", name, rec.ID, v)
					}
				}
			}
		}
	}
	slices.Sort(problems)
	return problems
}
