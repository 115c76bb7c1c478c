package syncer_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/backlogd/backlogd/backlog"
	"github.com/backlogd/backlogd/connectors"
	"github.com/backlogd/backlogd/connectors/memory"
	"github.com/backlogd/backlogd/syncer"
	"github.com/backlogd/backlogd/syncer/store"
)

// These tests put one tracker call at a time in trouble (a failed write,
// a refusal, a 404 that means no access) and check what the store and the
// trackers hold afterwards.

// small is a syncer over SQLite and memory trackers, with the client
// files given (named by target) and each connector passed through wrap.
type small struct {
	t        *testing.T
	st       store.Store
	s        *syncer.Syncer
	trackers map[string]*memory.Tracker
}

func newSmall(t *testing.T, clients map[string]string, wrap func(name string, c connectors.Connector) connectors.Connector, opts ...func(*memory.Options)) *small {
	t.Helper()
	dir := t.TempDir()
	daemon := "data_dir: " + dir + "\ntargets:\n"
	for _, name := range sortedKeys(clients) {
		daemon += "  - {name: " + name + ", kind: memory}\n"
	}
	files := map[string]string{"backlogd.yaml": daemon}
	for name, body := range clients {
		files["clients/"+name+".yaml"] = body
	}
	cfg := syncer.LoadTestConfig(t, dir, files)
	st := syncer.OpenTestStore(t, dir)
	w := &small{t: t, st: st, trackers: map[string]*memory.Tracker{}}
	conns := map[string]connectors.Connector{}
	for name := range clients {
		mo := memory.Options{Name: name}
		for _, o := range opts {
			o(&mo)
		}
		tr := memory.New(mo)
		w.trackers[name] = tr
		conns[name] = tr
		if wrap != nil {
			conns[name] = wrap(name, tr)
		}
	}
	var err error
	if w.s, err = syncer.New(cfg, st, conns, syncer.Options{}); err != nil {
		t.Fatalf("syncer.New: %v", err)
	}
	return w
}

func sortedKeys(m map[string]string) []string { return slices.Sorted(maps.Keys(m)) }

// edit changes (or creates, with the next id) canonical item id and
// enqueues it.
func (w *small) edit(id string, f func(*backlog.Item)) {
	w.t.Helper()
	ctx := context.Background()
	err := w.st.Tx(ctx, func(tx store.Tx) error {
		it, err := tx.Item(ctx, id)
		if err != nil {
			nid, err := tx.NextItemID(ctx)
			if err != nil {
				return err
			}
			it = backlog.Item{ID: nid, Kind: backlog.Task, Title: "x", Status: backlog.Todo}
		}
		f(&it)
		_, err = tx.PutItem(ctx, it)
		return err
	})
	if err != nil {
		w.t.Fatalf("edit %s: %v", id, err)
	}
	w.s.Enqueue(id)
}

func (w *small) item(id string) backlog.Item {
	w.t.Helper()
	var it backlog.Item
	if err := w.st.Tx(context.Background(), func(tx store.Tx) (err error) { it, err = tx.Item(context.Background(), id); return err }); err != nil {
		w.t.Fatalf("item %s: %v", id, err)
	}
	return it
}

func (w *small) link(target, id string) store.Link {
	w.t.Helper()
	var l store.Link
	if err := w.st.Tx(context.Background(), func(tx store.Tx) (err error) { l, err = tx.Link(context.Background(), target, id); return err }); err != nil {
		w.t.Fatalf("link %s/%s: %v", target, id, err)
	}
	return l
}

func (w *small) intents() []store.Intent {
	w.t.Helper()
	var ins []store.Intent
	if err := w.st.Tx(context.Background(), func(tx store.Tx) (err error) { ins, err = tx.Intents(context.Background(), ""); return err }); err != nil {
		w.t.Fatal(err)
	}
	return ins
}

// syncOnce runs SyncOnce, whose error (a target failing) some tests expect.
func (w *small) syncOnce() error { return w.s.SyncOnce(context.Background()) }

// failingUpdates fails the next n Updates with a transient error (a 502),
// passing every other call through.
type failingUpdates struct {
	connectors.Connector
	mu sync.Mutex
	n  int
}

func (f *failingUpdates) failNext(n int) {
	f.mu.Lock()
	f.n = n
	f.mu.Unlock()
}

func (f *failingUpdates) Update(ctx context.Context, id, version string, fields connectors.Fields, marker string) (connectors.Record, error) {
	f.mu.Lock()
	fail := f.n > 0
	if fail {
		f.n--
	}
	f.mu.Unlock()
	if fail {
		return connectors.Record{}, fmt.Errorf("update %s: 502 bad gateway", id)
	}
	return f.Connector.Update(ctx, id, version, fields, marker)
}

func TestAClientCommentIsPulledOnceWhenThePushAfterItFails(t *testing.T) {
	var a *failingUpdates
	w := newSmall(t, map[string]string{
		"a": "client: a\ntarget: a\nscope: all\nadopt: none\nfields:\n  title: title\n",
		"h": "client: h\ntarget: h\nscope: all\nadopt: none\ninternal_comments: true\nfields: identity\n",
	}, func(name string, c connectors.Connector) connectors.Connector {
		if name == "a" {
			a = &failingUpdates{Connector: c}
			return a
		}
		return c
	})
	w.edit("BL-1", func(it *backlog.Item) { it.Title = "one" })
	if err := w.syncOnce(); err != nil {
		t.Fatal(err)
	}
	rec := w.trackers["a"].Records()[0]
	// A client's comment with a reference and a mention, which the
	// mapping neutralises on the way to a tracker: the native body of its
	// canonical copy is not the body the client typed.
	if _, err := w.trackers["a"].AddComment(rec.ID, connectors.Comment{Author: "carol", Body: "regression of #12, see @dave"}); err != nil {
		t.Fatal(err)
	}
	w.edit("BL-1", func(it *backlog.Item) { it.Title = "two" }) // the product owner edits meanwhile
	a.failNext(1000)                                            // and the pushes of the title to a fail
	_ = w.syncOnce()
	// The comment is pulled, the push failed: the store already ties the
	// pulled comment to the tracker's, so a crash now cannot pull it again.
	if it, l := w.item("BL-1"), w.link("a", "BL-1"); len(it.Comments) != 1 || len(l.Comments) != 1 {
		t.Errorf("after the failed push the store holds %d canonical comments and %d comment links, want the pulled comment, linked",
			len(it.Comments), len(l.Comments))
	}
	a.failNext(0)
	if err := w.syncOnce(); err != nil {
		t.Fatal(err)
	}
	it := w.item("BL-1")
	onA, _ := w.trackers["a"].Peek(rec.ID)
	onH := w.trackers["h"].Records()[0]
	if len(it.Comments) != 1 || len(onA.Comments) != 1 || len(onH.Comments) != 1 {
		t.Errorf("one client comment is %d canonical comments, %d on the tracker it was typed in, %d on home; want 1 each",
			len(it.Comments), len(onA.Comments), len(onH.Comments))
	}
	if onA.Fields.Get("title") != "two" {
		t.Errorf("a's title is %q after the retry, want the edit", onA.Fields.Get("title"))
	}
}

func TestAPulledCommentWhoseCommentLinkWasLostIsMatchedNotPulledAgain(t *testing.T) {
	w := newSmall(t, map[string]string{
		"a": "client: a\ntarget: a\nscope: all\nadopt: none\nfields:\n  title: title\n",
	}, nil)
	w.edit("BL-1", func(it *backlog.Item) { it.Title = "one" })
	if err := w.syncOnce(); err != nil {
		t.Fatal(err)
	}
	rec := w.trackers["a"].Records()[0]
	if _, err := w.trackers["a"].AddComment(rec.ID, connectors.Comment{Author: "carol", Body: "regression of #12, see @dave"}); err != nil {
		t.Fatal(err)
	}
	if err := w.syncOnce(); err != nil {
		t.Fatal(err)
	}
	// The comment links are lost (as an earlier backlogd lost them when a
	// push failed after the pull): the tracker comment must be found
	// again in the canonical comments, by its canonical text.
	ctx := context.Background()
	l := w.link("a", "BL-1")
	l.Comments = nil
	if err := w.st.Tx(ctx, func(tx store.Tx) error { return tx.PutLink(ctx, l) }); err != nil {
		t.Fatal(err)
	}
	w.s.Enqueue("BL-1")
	if err := w.syncOnce(); err != nil {
		t.Fatal(err)
	}
	onA, _ := w.trackers["a"].Peek(rec.ID)
	if it := w.item("BL-1"); len(it.Comments) != 1 || len(onA.Comments) != 1 {
		t.Errorf("after its comment link was lost, one client comment is %d canonical comments and %d on its tracker, want 1 each",
			len(it.Comments), len(onA.Comments))
	}
	if got := w.link("a", "BL-1").Comments; len(got) != 1 {
		t.Errorf("the link holds comment links %v, want the one comment linked again", got)
	}
}

// refusing answers Create and Update with a terminal error (the tracker
// refused the request: a field it does not accept) or with a transient
// one (a timeout), as told, and passes everything else through.
type refusing struct {
	connectors.Connector
	mu                     sync.Mutex
	creates, updates       int // calls to fail; -1 for every call
	createTerm, updateTerm bool
}

func (r *refusing) fail(n *int, terminal bool, what string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if *n == 0 {
		return nil
	}
	if *n > 0 {
		*n--
	}
	if terminal {
		return connectors.Terminalf("%s: 422 the tracker refused a field", what)
	}
	return fmt.Errorf("%s: the connection timed out", what)
}

func (r *refusing) Create(ctx context.Context, marker string, f connectors.Fields) (connectors.Record, error) {
	if err := r.fail(&r.creates, r.createTerm, "create "+marker); err != nil {
		return connectors.Record{}, err
	}
	return r.Connector.Create(ctx, marker, f)
}

func (r *refusing) Update(ctx context.Context, id, v string, f connectors.Fields, marker string) (connectors.Record, error) {
	if err := r.fail(&r.updates, r.updateTerm, "update "+id); err != nil {
		return connectors.Record{}, err
	}
	return r.Connector.Update(ctx, id, v, f, marker)
}

func TestTheOutboxHoldsOneIntentPerWriteInFlightAndNoneForARefusedOne(t *testing.T) {
	const client = "client: c\ntarget: c\nscope: labels has c\nadopt: none\non_scope_exit: close\nfields:\n  title: title\n  status: status\n"
	setup := func(t *testing.T) (*small, *refusing) {
		var r *refusing
		w := newSmall(t, map[string]string{"c": client}, func(_ string, c connectors.Connector) connectors.Connector {
			r = &refusing{Connector: c}
			return r
		})
		return w, r
	}
	t.Run("a create the tracker refuses leaves no intent, however often it is swept", func(t *testing.T) {
		w, r := setup(t)
		r.creates, r.createTerm = -1, true
		w.edit("BL-1", func(it *backlog.Item) { it.Labels = []string{"c"} })
		for range 5 {
			_ = w.syncOnce() // stands for the periodic sweep
		}
		if ins := w.intents(); len(ins) != 0 {
			t.Errorf("after 5 sweeps of a create the tracker refused, the outbox holds %d intents, want none: nothing was written", len(ins))
		}
	})
	t.Run("a create whose outcome is unknown keeps one intent, however often it is retried", func(t *testing.T) {
		w, r := setup(t)
		r.creates = -1
		w.edit("BL-1", func(it *backlog.Item) { it.Labels = []string{"c"} })
		for range 5 {
			_ = w.syncOnce()
		}
		if ins := w.intents(); len(ins) != 1 {
			t.Errorf("after 5 sweeps of a create that timed out, the outbox holds %d intents, want 1", len(ins))
		}
		r.mu.Lock()
		r.creates = 0
		r.mu.Unlock()
		if err := w.syncOnce(); err != nil {
			t.Fatal(err)
		}
		if ins := w.intents(); len(ins) != 0 || w.trackers["c"].Len() != 1 {
			t.Errorf("once the create went through: %d intents, %d records, want none and 1", len(ins), w.trackers["c"].Len())
		}
	})
	t.Run("an update the tracker refuses leaves no intent", func(t *testing.T) {
		w, r := setup(t)
		w.edit("BL-1", func(it *backlog.Item) { it.Labels = []string{"c"} })
		if err := w.syncOnce(); err != nil {
			t.Fatal(err)
		}
		r.updates, r.updateTerm = -1, true
		w.edit("BL-1", func(it *backlog.Item) { it.Title = "refused" })
		for range 3 {
			_ = w.syncOnce()
		}
		if ins := w.intents(); len(ins) != 0 {
			t.Errorf("after an update the tracker refused, the outbox holds %d intents, want none", len(ins))
		}
	})
	t.Run("a close that failed leaves no intent, refused or after the retry", func(t *testing.T) {
		w, r := setup(t)
		w.edit("BL-1", func(it *backlog.Item) { it.Labels = []string{"c"} })
		if err := w.syncOnce(); err != nil {
			t.Fatal(err)
		}
		w.edit("BL-1", func(it *backlog.Item) { it.Labels = nil }) // leaves the scope: close
		r.updates, r.updateTerm = 1, true
		_ = w.syncOnce()
		if ins := w.intents(); len(ins) != 0 {
			t.Errorf("after the tracker refused the close, the outbox holds %d intents, want none", len(ins))
		}
		r.mu.Lock()
		r.updates, r.updateTerm = 1, false // the retry times out once, then goes through
		r.mu.Unlock()
		if err := w.syncOnce(); err != nil {
			t.Fatal(err)
		}
		if ins := w.intents(); len(ins) != 0 {
			t.Errorf("after the close went through, the outbox holds %d intents, want none", len(ins))
		}
		if l := w.link("c", "BL-1"); l.State != store.LinkUnlinked {
			t.Errorf("the link is %s after the close, want unlinked", l.State)
		}
		if got := w.trackers["c"].Records()[0].Fields.Get("status"); got != "cancelled" {
			t.Errorf("the record's status is %q, want it closed (cancelled)", got)
		}
	})
}

// noAccess is a tracker the token lost access to, as GitHub and Jira
// answer it: every record reads as not found (404), and listings fail.
type noAccess struct {
	connectors.Connector
	mu   sync.Mutex
	lost bool
}

func (n *noAccess) set(lost bool) {
	n.mu.Lock()
	n.lost = lost
	n.mu.Unlock()
}

func (n *noAccess) isLost() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.lost
}

func (n *noAccess) Get(ctx context.Context, id string) (connectors.Record, error) {
	if n.isLost() {
		return connectors.Record{}, fmt.Errorf("get %s: 404 Not Found: %w", id, connectors.ErrNotFound)
	}
	return n.Connector.Get(ctx, id)
}

func (n *noAccess) Changes(ctx context.Context, cursor string) (connectors.Page, error) {
	if n.isLost() {
		return connectors.Page{}, fmt.Errorf("list issues: 404 Not Found (the token cannot see the repository)")
	}
	return n.Connector.Changes(ctx, cursor)
}

func (n *noAccess) FindByMarker(ctx context.Context, marker string) (connectors.Record, error) {
	if n.isLost() {
		return connectors.Record{}, fmt.Errorf("search %s: 422 the repository cannot be searched", marker)
	}
	return n.Connector.FindByMarker(ctx, marker)
}

func TestARecordIsMarkedGoneOnlyOnceTheTrackerConfirmsIt(t *testing.T) {
	const (
		unlink   = "client: c\ntarget: c\nscope: all\nadopt: none\nfields:\n  title: title\n"
		recreate = "client: c\ntarget: c\nscope: all\nadopt: none\non_remote_delete: recreate\nfields:\n  title: title\n"
	)
	setup := func(t *testing.T, client string) (*small, *noAccess, connectors.Record) {
		var n *noAccess
		w := newSmall(t, map[string]string{"c": client}, func(_ string, c connectors.Connector) connectors.Connector {
			n = &noAccess{Connector: c}
			return n
		})
		w.edit("BL-1", func(it *backlog.Item) { it.Title = "one" })
		if err := w.syncOnce(); err != nil {
			t.Fatal(err)
		}
		return w, n, w.trackers["c"].Records()[0]
	}
	t.Run("a record deleted in the tracker is gone", func(t *testing.T) {
		w, _, rec := setup(t, unlink)
		w.trackers["c"].Delete(rec.ID)
		if err := w.syncOnce(); err != nil {
			t.Fatal(err)
		}
		if l := w.link("c", "BL-1"); l.State != store.LinkGone {
			t.Errorf("after the record was deleted the link is %s, want gone", l.State)
		}
	})
	t.Run("a record deleted in the tracker under recreate comes back", func(t *testing.T) {
		w, _, rec := setup(t, recreate)
		w.trackers["c"].Delete(rec.ID)
		if err := w.syncOnce(); err != nil {
			t.Fatal(err)
		}
		recs := w.trackers["c"].Records()
		if len(recs) != 1 || recs[0].ID == rec.ID || w.link("c", "BL-1").RemoteID != recs[0].ID {
			t.Errorf("after the record was deleted (on_remote_delete: recreate) the tracker holds %v, want one new record, linked", recs)
		}
	})
	t.Run("a 404 while the tracker answers no listing either leaves the link alone", func(t *testing.T) {
		w, n, rec := setup(t, unlink)
		n.set(true)
		w.edit("BL-1", func(it *backlog.Item) { it.Title = "two" })
		if err := w.syncOnce(); err == nil {
			t.Error("SyncOnce reported no failure while the tracker answered nothing")
		}
		if l := w.link("c", "BL-1"); l.State != store.LinkActive || l.RemoteID != rec.ID {
			t.Fatalf("after a lost access the link is %s to %s, want still active to %s", l.State, l.RemoteID, rec.ID)
		}
		n.set(false) // access restored
		if err := w.syncOnce(); err != nil {
			t.Fatal(err)
		}
		recs := w.trackers["c"].Records()
		if len(recs) != 1 || recs[0].Fields.Get("title") != "two" {
			t.Errorf("after access came back the tracker holds %v, want the one record with the edit", recs)
		}
	})
	t.Run("a record moved to a new id is followed by its marker", func(t *testing.T) {
		w, _, rec := setup(t, unlink)
		// A transfer: the record is gone under its id, and a record with
		// the same marker and content appears under another.
		moved := w.trackers["c"].AddRecord("BL-1", rec.Fields)
		w.trackers["c"].Delete(rec.ID)
		if err := w.syncOnce(); err != nil {
			t.Fatal(err)
		}
		if l := w.link("c", "BL-1"); l.State != store.LinkActive || l.RemoteID != moved.ID {
			t.Errorf("after the move the link is %s to %s, want active to the moved record %s", l.State, l.RemoteID, moved.ID)
		}
		if got := w.trackers["c"].Len(); got != 1 {
			t.Errorf("the tracker holds %d records after the move, want the moved one only", got)
		}
	})
}

// items lists the canonical ids.
func (w *small) items() []string {
	w.t.Helper()
	var ids []string
	err := w.st.Tx(context.Background(), func(tx store.Tx) error {
		items, err := tx.Items(context.Background())
		for _, it := range items {
			ids = append(ids, it.ID)
		}
		return err
	})
	if err != nil {
		w.t.Fatal(err)
	}
	return ids
}

func TestAMarkedRecordTheStoreNeverHadIsRestoredOnlyAsTheAdoptRuleAllows(t *testing.T) {
	for _, c := range []struct {
		name, adopt string
		restored    bool
	}{
		{"adopt: none restores nothing", "none", false},
		{"a filter the record does not match restores nothing", "{mode: all, filter: labels has feedback}", false},
		{"adopt: all restores it under its own id", "{mode: all}", true},
		{"adopt: new restores it, however old: it was one of ours", "new", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			// The tracker's clock runs a day behind: the record below is
			// older than the target's connection.
			w := newSmall(t, map[string]string{
				"c": "client: c\ntarget: c\nscope: all\nadopt: " + c.adopt + "\nfields:\n  title: title\n  labels: labels\n",
			}, nil, func(o *memory.Options) { o.Now = func() time.Time { return time.Now().Add(-24 * time.Hour) } })
			w.trackers["c"].AddRecord("BL-7", connectors.Fields{"title": {"from a wiped store"}})
			if err := w.syncOnce(); err != nil {
				t.Fatal(err)
			}
			got := w.items()
			if restored := slices.Contains(got, "BL-7"); restored != c.restored || len(got) > 1 {
				t.Errorf("canonical items %v after polling a record marked BL-7, want BL-7 restored: %v", got, c.restored)
			}
		})
	}
}

func TestAPlantedMarkerWithAHugeIdDoesNotStopAdoptionsNorThePoll(t *testing.T) {
	w := newSmall(t, map[string]string{
		"c": "client: c\ntarget: c\nscope: all\nadopt: {mode: all}\nfields:\n  title: title\n",
	}, nil)
	c := w.trackers["c"]
	// Restoring it would raise the id sequence one short of the end of
	// its range: the next adoption takes the last id, every one after it
	// fails, and a poll that stops at a failing record stops for good.
	c.AddRecord("BL-9223372036854775806", connectors.Fields{"title": {"planted"}})
	c.AddRecord("", connectors.Fields{"title": {"feedback after it"}})
	if err := w.syncOnce(); err != nil {
		t.Fatalf("the poll failed after a record with a planted marker: %v", err)
	}
	c.AddRecord("", connectors.Fields{"title": {"later feedback"}})
	if err := w.syncOnce(); err != nil {
		t.Fatalf("the poll failed on later feedback: %v", err)
	}
	if got := w.items(); !slices.Equal(got, []string{"BL-1", "BL-2"}) {
		t.Errorf("canonical items %v, want the two unmarked records adopted as BL-1 and BL-2 and the planted id refused", got)
	}
}

// editedDuringWrites lets a person edit a record between the tracker
// taking a write and answering it, once: what Update returns holds both.
type editedDuringWrites struct {
	connectors.Connector
	tr   *memory.Tracker
	edit connectors.Fields
}

func (e *editedDuringWrites) Update(ctx context.Context, id, version string, fields connectors.Fields, marker string) (connectors.Record, error) {
	if _, err := e.Connector.Update(ctx, id, version, fields, marker); err != nil {
		return connectors.Record{}, err
	}
	if e.edit != nil {
		e.tr.Edit(id, e.edit)
		e.edit = nil
	}
	return e.Connector.Get(ctx, id)
}

// An edit made while our write was in flight is in the record the write
// returns, so its version, stored as the link's, would make the edit's
// listing look like our own echo until the next sweep: it is merged by a
// reconcile right after instead.
func TestAnEditMadeDuringAWriteIsPulledAtOnce(t *testing.T) {
	var a *editedDuringWrites
	w := newSmall(t, map[string]string{
		"a": "client: a\ntarget: a\nscope: all\nadopt: none\nfields:\n  title: title\n  description: description\n",
	}, func(name string, c connectors.Connector) connectors.Connector {
		a = &editedDuringWrites{Connector: c}
		return a
	})
	a.tr = w.trackers["a"]
	w.edit("BL-1", func(it *backlog.Item) { it.Title, it.Description = "one", "as written by the product owner" })
	if err := w.syncOnce(); err != nil {
		t.Fatal(err)
	}
	a.edit = connectors.Fields{"description": {"rewritten by a person while our write was in flight"}}
	w.edit("BL-1", func(it *backlog.Item) { it.Title = "two" })
	if err := w.syncOnce(); err != nil {
		t.Fatal(err)
	}
	if it := w.item("BL-1"); it.Title != "two" || it.Description != "rewritten by a person while our write was in flight" {
		t.Errorf("after one sync: title %q, description %q; want the push kept and the person's edit pulled", it.Title, it.Description)
	}
}
