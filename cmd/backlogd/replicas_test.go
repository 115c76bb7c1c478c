package main

// Several `backlogd run` processes on one PostgreSQL store, with file
// targets in one shared directory (a file tracker works across
// processes; kind: memory does not): the targets are split by leases,
// one replica is killed, another paused past its lease and resumed, all
// while items are created and edited, and at the end nothing is
// duplicated, nothing is lost, every lease has an owner and the paused
// replica's stale writes were refused and counted.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/backlogd/backlogd/syncer/store"
	"github.com/backlogd/backlogd/syncer/store/postgres"
	"github.com/jackc/pgx/v5"
	"gopkg.in/yaml.v3"
)

// replicaTTL is the lease TTL of the replicas under test: short, so that
// takeovers happen within the test. BACKLOGD_MEASURE_LEASE_TTL sets
// another, to measure takeovers at the default (15s).
var replicaTTL = func() time.Duration {
	if d, err := time.ParseDuration(os.Getenv("BACKLOGD_MEASURE_LEASE_TTL")); err == nil && d >= time.Second {
		return d
	}
	return 2 * time.Second
}()

// postgresDSN returns the test cluster's DSN, or skips; CI sets it.
func postgresDSN(t *testing.T) string {
	t.Helper()
	dsn := os.Getenv("BACKLOGD_TEST_POSTGRES_DSN")
	if dsn == "" {
		t.Skip("BACKLOGD_TEST_POSTGRES_DSN is not set: start a throwaway cluster with scripts/postgres-up.sh and export the line it prints")
	}
	return dsn
}

// schemaDSN returns dsn with a fresh schema as its search path (the store
// creates it), dropped when the test ends.
func schemaDSN(t *testing.T, dsn string) (string, string) {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "t_" + hex.EncodeToString(b[:])
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("BACKLOGD_TEST_POSTGRES_DSN must be a URL for this test: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, dsn)
		if err != nil {
			return
		}
		defer c.Close(ctx)
		_, _ = c.Exec(ctx, "DROP SCHEMA IF EXISTS "+schema+" CASCADE")
	})
	return u.String(), schema
}

// replicaClient is a client file for target name: every item, every
// field the file connector stores by its canonical name.
const replicaClient = `client: %[1]s
target: %[1]s
scope: all
private: []
internal_comments: true
policy: canonical-wins
adopt: %[2]s
fields: identity
`

// writeReplicaConfig writes a replica's config into dir: its own data
// directory and listener, the shared store and the shared target
// directories.
func writeReplicaConfig(t *testing.T, dir, trackers string, targets []string) {
	t.Helper()
	var b strings.Builder
	b.WriteString(`listen: 127.0.0.1:0
data_dir: ./data
store: {driver: postgres, dsn: env:BACKLOGD_PG_DSN}
id_prefix: BL
clients_dir: clients
sync: {poll_interval: 200ms, sweep_interval: 10m, workers: 2, max_backoff: 2s}
log: {format: json, level: info}
targets:
`)
	if err := os.MkdirAll(filepath.Join(dir, "clients"), 0o755); err != nil {
		t.Fatal(err)
	}
	for i, name := range targets {
		fmt.Fprintf(&b, "  - name: %s\n    kind: file\n    settings:\n      dir: %q\n", name, filepath.Join(trackers, name))
		adopt := "none"
		if i == 0 {
			adopt = "{mode: all}" // the home backlog: files written there are adopted
		}
		body := fmt.Sprintf(replicaClient, name, adopt)
		if err := os.WriteFile(filepath.Join(dir, "clients", name+".yaml"), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writeAtomically(t, filepath.Join(dir, "backlogd.yaml"), b.String())
}

// launch starts a replica's `backlogd run` in dir without waiting for it.
func launch(t *testing.T, bin, dir string, env []string) *opsDaemon {
	t.Helper()
	return launchDaemon(t, bin, dir, env, "--grace", "1s")
}

func tail(s string, n int) string {
	ls := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(ls) > n {
		ls = ls[len(ls)-n:]
	}
	return strings.Join(ls, "\n")
}

// started waits until the daemon listens.
func (d *opsDaemon) started() {
	line := d.waitLog(startTimeout, func(e map[string]any) bool { return e["msg"] == "backlogd started" })
	d.addr, _ = line["listen"].(string)
}

// homeFile is one item file the test writes in the home directory.
type homeFile struct {
	path  string
	title string // the last title written
}

// storeView reads what the test needs from the shared store.
type storeView struct {
	t  *testing.T
	st *postgres.Store
}

func (v storeView) owners() map[string]string {
	v.t.Helper()
	ls, err := v.st.Leases(context.Background())
	if err != nil {
		v.t.Fatal(err)
	}
	out := map[string]string{}
	for _, l := range ls {
		if l.Expires.After(time.Now()) {
			out[l.Target] = l.Holder
		}
	}
	return out
}

func (v storeView) live() []string {
	v.t.Helper()
	rs, err := v.st.Replicas(context.Background())
	if err != nil {
		v.t.Fatal(err)
	}
	var ids []string
	for _, r := range rs {
		ids = append(ids, r.ID)
	}
	return ids
}

// readDir returns id → files and id → title of the item files in dir.
func readItems(t *testing.T, dir string) (files map[string][]string, titles map[string]string) {
	t.Helper()
	files, titles = map[string][]string{}, map[string]string{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() || strings.HasPrefix(e.Name(), ".") || !strings.HasSuffix(e.Name(), ".yaml") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			continue // replaced meanwhile
		}
		var m map[string]any
		if yaml.Unmarshal(b, &m) != nil {
			continue
		}
		id, _ := m["id"].(string)
		if id == "" {
			id = "(none)"
		}
		files[id] = append(files[id], e.Name())
		title, _ := m["title"].(string)
		titles[id] = title
	}
	return files, titles
}

var idLine = regexp.MustCompile(`(?m)^id: (BL-\d+)$`)

func TestThreeReplicasOnePostgresSurviveAKillAndAPausePastTheLease(t *testing.T) {
	bin := opsBinary(t)
	base := postgresDSN(t)
	dsn, schema := schemaDSN(t, base)
	trackers := t.TempDir()
	targets := []string{"home", "c1", "c2", "c3", "c4", "c5"}
	env := []string{"BACKLOGD_PG_DSN=" + dsn, "BACKLOGD_LEASE_TTL=" + replicaTTL.String()}

	// Three replicas start together on an empty schema: the migrations
	// race, and one of them applies each step.
	var ds []*opsDaemon
	for i := range 3 {
		dir := filepath.Join(t.TempDir(), fmt.Sprintf("replica-%d", i))
		writeReplicaConfig(t, dir, trackers, targets)
		ds = append(ds, launch(t, bin, dir, env))
	}
	for _, d := range ds {
		d.started()
	}
	st, err := postgres.Open(t.Context(), dsn, postgres.WithLeaseTTL(replicaTTL), postgres.WithReplicaID("the-test"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	v := storeView{t: t, st: st}
	checkMigratedOnce(t, base, schema)

	eventually(t, startTimeout, "every target owned, and each replica owning some", func() bool {
		o := v.owners()
		per := map[string]int{}
		for _, h := range o {
			per[h]++
		}
		return len(o) == len(targets) && len(per) == 3
	})

	// The product owner writes items into the home backlog.
	home := filepath.Join(trackers, "home")
	var (
		mu    sync.Mutex
		items []*homeFile
		n     int
	)
	create := func() {
		mu.Lock()
		defer mu.Unlock()
		n++
		f := &homeFile{path: filepath.Join(home, fmt.Sprintf("idea-%03d.yaml", n)), title: fmt.Sprintf("Idea %d", n)}
		body := fmt.Sprintf("kind: task\ntitle: %s\nstatus: todo\n", f.title)
		if err := os.WriteFile(f.path+".tmp", []byte(body), 0o644); err != nil {
			t.Error(err)
			return
		}
		if err := os.Rename(f.path+".tmp", f.path); err != nil {
			t.Error(err)
			return
		}
		items = append(items, f)
	}
	// edit retitles an item once backlogd has adopted it (its file has an
	// id line); the new title must reach every target.
	edit := func(k int) {
		mu.Lock()
		defer mu.Unlock()
		if len(items) == 0 {
			return
		}
		f := items[k%len(items)]
		b, err := os.ReadFile(f.path)
		if err != nil || !idLine.Match(b) {
			return
		}
		title := f.title + "+"
		nb := strings.Replace(string(b), "title: "+f.title+"\n", "title: "+title+"\n", 1)
		if nb == string(b) {
			return
		}
		if err := os.WriteFile(f.path+".tmp", []byte(nb), 0o644); err != nil {
			t.Error(err)
			return
		}
		if err := os.Rename(f.path+".tmp", f.path); err != nil {
			t.Error(err)
			return
		}
		f.title = title
	}
	for range 10 {
		create()
	}
	converged(t, v, trackers, targets, &mu, &items, 60*time.Second)

	// From here on, items keep being created and edited.
	stop := make(chan struct{})
	var stopOnce sync.Once
	var quiet atomic.Bool
	var work sync.WaitGroup
	t.Cleanup(func() { stopOnce.Do(func() { close(stop) }); work.Wait() })
	work.Go(func() {
		for k := 0; ; k++ {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			if quiet.Load() {
				continue
			}
			if k%3 == 0 {
				create()
			} else {
				edit(k * 7)
			}
		}
	})

	// SIGKILL one replica: its leases expire and the others take them.
	killed := ds[0]
	killedID := idOf(t, v, killed)
	before := v.owners()
	killedAt := time.Now()
	if err := killed.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-killed.done
	eventually(t, 10*replicaTTL, "the killed replica's targets taken over", func() bool {
		o := v.owners()
		if len(o) != len(targets) {
			return false
		}
		for _, h := range o {
			if h == killedID {
				return false
			}
		}
		return true
	})
	takeover := time.Since(killedAt)
	t.Logf("takeover after SIGKILL: %s (lease TTL %s; owners before %v, after %v)", takeover.Round(10*time.Millisecond), replicaTTL, before, v.owners())

	// SIGSTOP another past its lease: the third takes everything over.
	// It is paused while idle: a tracker write under way inside the
	// connector at that instant would land when it wakes up, and no
	// fence can stop it (a tracker does not check fencing tokens; the
	// replica refuses every write it has not started, see
	// syncer.guardedConn). Work goes on during the pause.
	paused, last := ds[1], ds[2]
	pausedID, lastID := idOf(t, v, paused), idOf(t, v, last)
	quiet.Store(true)
	idle(t, paused)
	paused.signal(syscall.SIGSTOP)
	quiet.Store(false)
	eventually(t, 10*replicaTTL, "the last replica owning every target while the other is paused", func() bool {
		o := v.owners()
		if len(o) != len(targets) {
			return false
		}
		for _, h := range o {
			if h != lastID {
				return false
			}
		}
		return true
	})
	time.Sleep(replicaTTL) // well past the paused replica's leases
	paused.signal(syscall.SIGCONT)
	// Woken up, it finds its leases gone, its stale writes refused, and it
	// gets a share again.
	eventually(t, 10*replicaTTL, "the resumed replica owning a share again", func() bool {
		for _, h := range v.owners() {
			if h == pausedID {
				return true
			}
		}
		return false
	})
	time.Sleep(replicaTTL / 2)
	stopOnce.Do(func() { close(stop) })
	work.Wait()

	converged(t, v, trackers, targets, &mu, &items, 90*time.Second)

	// Every lease owned, by the two replicas alive.
	o := v.owners()
	for _, name := range targets {
		if h := o[name]; h != pausedID && h != lastID {
			t.Errorf("target %s is owned by %q, want one of the live replicas %s, %s", name, h, pausedID, lastID)
		}
	}
	if live := v.live(); !slices.Equal(sorted(live), sorted([]string{pausedID, lastID})) {
		t.Errorf("live replicas %v, want %s and %s", live, pausedID, lastID)
	}
	// The paused replica's writes after its leases moved were refused and
	// counted; it saw its leases as lost.
	m := scrape(t, paused)
	fenced, lost := 0.0, 0.0
	for _, name := range targets {
		f, _ := metric(m, "backlogd_fenced_writes_total", "target", name)
		l, _ := metric(m, "backlogd_lease_changes_total", "target", name, "change", "lost")
		fenced += f
		lost += l
	}
	if lost == 0 {
		t.Errorf("the replica paused past its leases counts no lease lost")
	}
	if fenced == 0 {
		t.Errorf("the replica paused past its leases counts no fenced write: its goroutines resumed with stale leases, and the store must have refused them")
	}
	t.Logf("paused replica: %v fenced writes, %v leases lost; %d items", fenced, lost, len(items))
	if code, body := last.get("/readyz"); code != 200 {
		t.Errorf("/readyz of a live replica: %d %s", code, body)
	}
	// status shows the replicas and who owns what.
	cmd := exec.Command(bin, "status", "--config", "backlogd.yaml")
	cmd.Dir, cmd.Env = last.cmd.Dir, append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("backlogd status: %v\n%s", err, out)
	}
	for _, want := range append([]string{"REPLICA", "LEASE", pausedID, lastID}, targets...) {
		if !strings.Contains(string(out), want) {
			t.Errorf("backlogd status does not show %q:\n%s", want, out)
		}
	}
	if strings.Contains(string(out), dsn) {
		t.Errorf("backlogd status shows the DSN:\n%s", out)
	}
}

// idle waits until a daemon's queues have been empty for a second.
func idle(t *testing.T, d *opsDaemon) {
	t.Helper()
	since := time.Time{}
	eventually(t, startTimeout, "the replica's queues empty for a second", func() bool {
		code, body := d.get("/api/v1/status")
		var sts []struct {
			Queue int `json:"queue"`
		}
		if code != 200 || json.Unmarshal([]byte(body), &sts) != nil {
			return false
		}
		for _, st := range sts {
			if st.Queue > 0 {
				since = time.Time{}
				return false
			}
		}
		if since.IsZero() {
			since = time.Now()
		}
		return time.Since(since) > time.Second
	})
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	sort.Strings(s)
	return s
}

// idOf returns the replica id of a daemon, from its log.
func idOf(t *testing.T, v storeView, d *opsDaemon) string {
	t.Helper()
	for _, l := range d.logs.Lines() {
		var e map[string]any
		if json.Unmarshal([]byte(l), &e) == nil && e["msg"] == "replica joined" {
			if id, ok := e["replica"].(string); ok {
				return id
			}
		}
	}
	t.Fatalf("no \"replica joined\" line in the log of %s", d.cmd.Dir)
	return ""
}

// converged waits until every item written in home is adopted once and
// is on every target once, with the last title written.
func converged(t *testing.T, v storeView, trackers string, targets []string, mu *sync.Mutex, items *[]*homeFile, timeout time.Duration) {
	t.Helper()
	var why string
	deadline := time.Now().Add(timeout)
	for {
		why = convergedNow(t, v, trackers, targets, mu, items)
		if why == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not converged within %s: %s", timeout, why)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func convergedNow(t *testing.T, v storeView, trackers string, targets []string, mu *sync.Mutex, items *[]*homeFile) string {
	mu.Lock()
	want := map[string]string{} // home file name → title
	for _, f := range *items {
		want[filepath.Base(f.path)] = f.title
	}
	mu.Unlock()
	var stored []string
	err := v.st.Tx(context.Background(), func(tx store.Tx) error {
		its, err := tx.Items(context.Background())
		for _, it := range its {
			stored = append(stored, it.ID)
		}
		return err
	})
	if err != nil {
		return err.Error()
	}
	if len(stored) != len(want) {
		return fmt.Sprintf("%d canonical items for %d files written in home (an item adopted twice, or not yet)", len(stored), len(want))
	}
	// Home: each file adopted, with its marker and the title last written.
	files, _ := readItems(t, filepath.Join(trackers, "home"))
	titleOf := map[string]string{}
	for id, fs := range files {
		if id == "(none)" {
			return fmt.Sprintf("home files not adopted yet: %v", fs)
		}
		if len(fs) != 1 {
			return fmt.Sprintf("home holds %d files marked %s: %v", len(fs), id, fs)
		}
		titleOf[id] = want[fs[0]]
	}
	for _, name := range targets {
		files, titles := readItems(t, filepath.Join(trackers, name))
		for _, id := range stored {
			switch fs := files[id]; {
			case len(fs) == 0:
				return fmt.Sprintf("%s has no record of %s", name, id)
			case len(fs) > 1:
				return fmt.Sprintf("%s holds %d records of %s: %v (a duplicate)", name, len(fs), id, fs)
			}
			if titles[id] != titleOf[id] {
				return fmt.Sprintf("%s's record of %s has title %q, want %q", name, id, titles[id], titleOf[id])
			}
		}
		for id := range files {
			if !slices.Contains(stored, id) {
				return fmt.Sprintf("%s holds a record of %s, which is no canonical item", name, id)
			}
		}
	}
	var pending []store.Intent
	_ = v.st.Tx(context.Background(), func(tx store.Tx) (err error) { pending, err = tx.Intents(context.Background(), ""); return err })
	if len(pending) > 0 {
		return fmt.Sprintf("%d outbox intents still pending", len(pending))
	}
	return ""
}

// checkMigratedOnce fails unless every migration step was recorded once.
func checkMigratedOnce(t *testing.T, dsn, schema string) {
	t.Helper()
	c, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(t.Context())
	var steps, distinct int
	if err := c.QueryRow(t.Context(), "SELECT count(*), count(DISTINCT version) FROM "+schema+".schema_migrations").Scan(&steps, &distinct); err != nil {
		t.Fatal(err)
	}
	if steps != postgres.SchemaVersion() || distinct != steps {
		t.Errorf("after three replicas started together, schema_migrations holds %d rows (%d versions), want each of %d steps once", steps, distinct, postgres.SchemaVersion())
	}
}
