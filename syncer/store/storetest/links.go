package storetest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/backlogd/backlogd/backlog"
	"github.com/backlogd/backlogd/syncer/store"
)

func putLink(t *testing.T, ctx context.Context, st store.Store, l store.Link) {
	t.Helper()
	do(t, ctx, st, func(tx store.Tx) error { return tx.PutLink(ctx, l) })
}

func getLink(t *testing.T, ctx context.Context, st store.Store, target, itemID string) store.Link {
	t.Helper()
	var l store.Link
	do(t, ctx, st, func(tx store.Tx) (err error) { l, err = tx.Link(ctx, target, itemID); return err })
	return l
}

func listLinks(t *testing.T, ctx context.Context, st store.Store, target string) []store.Link {
	t.Helper()
	var ls []store.Link
	do(t, ctx, st, func(tx store.Tx) (err error) { ls, err = tx.Links(ctx, target); return err })
	// The interface promises no order.
	slices.SortFunc(ls, func(a, b store.Link) int {
		return cmp.Or(cmp.Compare(a.Target, b.Target), cmp.Compare(a.ItemID, b.ItemID))
	})
	return ls
}

func (s *suite) linkRoundTrip(t *testing.T) {
	st, ctx := s.fresh(t)
	want := fullLink("jira-acme", "BL-7")
	checkComplete(t, want)
	putLink(t, ctx, st, want)
	expectSame(t, "Link", want, getLink(t, ctx, st, want.Target, want.ItemID))
	var byRemote store.Link
	do(t, ctx, st, func(tx store.Tx) (err error) {
		byRemote, err = tx.LinkByRemote(ctx, want.Target, want.RemoteID)
		return err
	})
	expectSame(t, "LinkByRemote", want, byRemote)
	for _, target := range []string{want.Target, ""} {
		ls := listLinks(t, ctx, st, target)
		if len(ls) != 1 {
			t.Errorf("Links(%q) lists %d links, want the 1 stored", target, len(ls))
			continue
		}
		expectSame(t, fmt.Sprintf("Links(%q)[0]", target), want, ls[0])
	}

	// Zero times and empty lists read back as zero and empty.
	bare := store.Link{Target: "github-acme", ItemID: "BL-8", RemoteID: "5", State: store.LinkGone, Base: backlog.Fields{}}
	putLink(t, ctx, st, bare)
	expectSame(t, "Link with zero times", bare, getLink(t, ctx, st, bare.Target, bare.ItemID))
}

func (s *suite) linkNilBase(t *testing.T) {
	st, ctx := s.fresh(t)
	// A nil base is a record relinked by marker with no agreed state yet:
	// the merge treats every difference as a conflict. An empty base is
	// an agreed state in which every field is empty.
	none := store.Link{Target: "jira", ItemID: "BL-1", RemoteID: "1", State: store.LinkActive}
	empty := store.Link{Target: "jira", ItemID: "BL-2", RemoteID: "2", State: store.LinkActive, Base: backlog.Fields{}}
	putLink(t, ctx, st, none)
	putLink(t, ctx, st, empty)
	if got := getLink(t, ctx, st, "jira", "BL-1"); got.Base != nil {
		t.Errorf("a link stored with a nil base reads back with base %#v, want nil", got.Base)
	}
	if got := getLink(t, ctx, st, "jira", "BL-2"); got.Base == nil {
		t.Errorf("a link stored with an empty base reads back with a nil base, want an empty one")
	}
}

func (s *suite) linkReplace(t *testing.T) {
	st, ctx := s.fresh(t)
	first := fullLink("jira", "BL-1")
	putLink(t, ctx, st, first)
	// Same record and state, everything else new: what a reconcile
	// stores after a push (a store may take a shorter path for it).
	refreshed := first
	refreshed.RemoteKey, refreshed.URL = "ACME-43", "https://acme.example/browse/ACME-43"
	refreshed.Base = backlog.Fields{backlog.FieldTitle: "Refreshed", backlog.FieldStatus: "done"}
	refreshed.Comments = nil
	refreshed.RemoteVersion, refreshed.RemoteUpdated, refreshed.SyncedAt = "v9", at(30), at(31)
	refreshed.LastError = "a reason"
	putLink(t, ctx, st, refreshed)
	expectSame(t, "Link after storing a new base", refreshed, getLink(t, ctx, st, "jira", "BL-1"))
	moved := first
	moved.RemoteID, moved.RemoteKey, moved.URL = "20077", "NEW-7", "https://acme.example/browse/NEW-7"
	moved.Base = backlog.Fields{backlog.FieldTitle: "Moved"}
	moved.Comments = nil
	moved.State = store.LinkUnlinked
	moved.LastError = ""
	moved.SyncedAt = at(60)
	putLink(t, ctx, st, moved)
	expectSame(t, "Link after a replace", moved, getLink(t, ctx, st, "jira", "BL-1"))
	if ls := listLinks(t, ctx, st, ""); len(ls) != 1 {
		t.Errorf("after replacing a link, Links lists %d links, want 1", len(ls))
	}
	err := st.Tx(ctx, func(tx store.Tx) error { _, err := tx.LinkByRemote(ctx, "jira", first.RemoteID); return err })
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("LinkByRemote of the record the link left returned %v, want ErrNotFound", err)
	}
	var l store.Link
	do(t, ctx, st, func(tx store.Tx) (err error) { l, err = tx.LinkByRemote(ctx, "jira", moved.RemoteID); return err })
	if l.ItemID != "BL-1" {
		t.Errorf("LinkByRemote of the new record found item %q, want BL-1", l.ItemID)
	}
}

func (s *suite) linkMissing(t *testing.T) {
	st, ctx := s.fresh(t)
	putLink(t, ctx, st, fullLink("jira", "BL-1"))
	for _, c := range []struct {
		name string
		call func(store.Tx) error
	}{
		{"Link of another item", func(tx store.Tx) error { _, err := tx.Link(ctx, "jira", "BL-2"); return err }},
		{"Link on another target", func(tx store.Tx) error { _, err := tx.Link(ctx, "github", "BL-1"); return err }},
		{"LinkByRemote of another record", func(tx store.Tx) error { _, err := tx.LinkByRemote(ctx, "jira", "99999"); return err }},
		{"LinkByRemote on another target", func(tx store.Tx) error { _, err := tx.LinkByRemote(ctx, "github", "10042"); return err }},
	} {
		if err := st.Tx(ctx, c.call); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s returned %v, want ErrNotFound", c.name, err)
		}
	}
}

func (s *suite) linksByTarget(t *testing.T) {
	st, ctx := s.fresh(t)
	do(t, ctx, st, func(tx store.Tx) error {
		for _, l := range []store.Link{
			fullLink("jira", "BL-1"), fullLink("jira", "BL-2"), fullLink("github", "BL-1"), fullLink("redmine", "BL-3"),
		} {
			l.RemoteID = l.Target + "/" + l.ItemID
			if err := tx.PutLink(ctx, l); err != nil {
				return err
			}
		}
		return nil
	})
	for _, c := range []struct {
		target string
		want   []string
	}{
		{"jira", []string{"jira/BL-1", "jira/BL-2"}},
		{"github", []string{"github/BL-1"}},
		{"nowhere", nil},
		{"", []string{"github/BL-1", "jira/BL-1", "jira/BL-2", "redmine/BL-3"}},
	} {
		var got []string
		for _, l := range listLinks(t, ctx, st, c.target) {
			got = append(got, l.Target+"/"+l.ItemID)
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("Links(%q) lists %v, want %v", c.target, got, c.want)
		}
	}
}

func (s *suite) linkNoLostUpdate(t *testing.T) {
	st, ctx := s.fresh(t)
	// RemoteVersion holds a counter; each transaction reads the link and
	// writes it back incremented, as the syncer's park does with
	// LastError. A store whose transactions are not isolated loses some.
	start := fullLink("jira", "BL-1")
	start.RemoteVersion = "0"
	putLink(t, ctx, st, start)
	const workers, each = 8, 20
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Go(func() {
			for range each {
				err := retry(ctx, st, func(tx store.Tx) error {
					l, err := tx.Link(ctx, "jira", "BL-1")
					if err != nil {
						return err
					}
					n, err := strconv.Atoi(l.RemoteVersion)
					if err != nil {
						return err
					}
					l.RemoteVersion = strconv.Itoa(n + 1)
					return tx.PutLink(ctx, l)
				})
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("increment: %v", err)
	}
	if got := getLink(t, ctx, st, "jira", "BL-1").RemoteVersion; got != strconv.Itoa(workers*each) {
		t.Errorf("after %d read-modify-write transactions from %d goroutines, the counter is %s, want %d: updates were lost",
			workers*each, workers, got, workers*each)
	}
}

func (s *suite) cursors(t *testing.T) {
	st, ctx := s.fresh(t)
	read := func(target string) string {
		var c string
		do(t, ctx, st, func(tx store.Tx) (err error) { c, err = tx.Cursor(ctx, target); return err })
		return c
	}
	if got := read("jira"); got != "" {
		t.Errorf("Cursor of a target never polled is %q, want \"\"", got)
	}
	do(t, ctx, st, func(tx store.Tx) error { return tx.PutCursor(ctx, "jira", "2026-03-14T09:26:53Z") })
	do(t, ctx, st, func(tx store.Tx) error { return tx.PutCursor(ctx, "github", `W/"etag-1"`) })
	do(t, ctx, st, func(tx store.Tx) error { return tx.PutCursor(ctx, "jira", "2026-03-14T10:00:00Z|page=2") })
	if got := read("jira"); got != "2026-03-14T10:00:00Z|page=2" {
		t.Errorf("Cursor(jira) is %q, want the last one stored", got)
	}
	if got := read("github"); got != `W/"etag-1"` {
		t.Errorf("Cursor(github) is %q, want %q", got, `W/"etag-1"`)
	}
}

func (s *suite) linkCounts(t *testing.T) {
	st, ctx := s.fresh(t)
	count := func() map[string]map[store.LinkState]int {
		t.Helper()
		var n map[string]map[store.LinkState]int
		do(t, ctx, st, func(tx store.Tx) (err error) { n, err = tx.LinkCounts(ctx); return err })
		return n
	}
	if n := count(); len(n) != 0 {
		t.Errorf("LinkCounts of an empty store = %v, want none", n)
	}
	for i, state := range []store.LinkState{store.LinkActive, store.LinkActive, store.LinkGone, store.LinkUnlinked, store.LinkActive} {
		l := fullLink("acme", "BL-"+strconv.Itoa(i+1))
		l.RemoteID = "r" + strconv.Itoa(i+1)
		l.State = state
		putLink(t, ctx, st, l)
	}
	g := fullLink("globex", "BL-1")
	putLink(t, ctx, st, g)
	// Replacing a link moves it between states; it is still one link.
	g.State = store.LinkGone
	putLink(t, ctx, st, g)
	got := count()
	want := map[string]map[store.LinkState]int{
		"acme":   {store.LinkActive: 3, store.LinkGone: 1, store.LinkUnlinked: 1},
		"globex": {store.LinkGone: 1},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("LinkCounts = %v, want %v", got, want)
	}
}

func (s *suite) linkOneActivePerRecord(t *testing.T) {
	st, ctx := s.fresh(t)
	// A record is one canonical item's on its target: a second active
	// link to it would be a second canonical item (two adoptions of one
	// record), duplicated on every other target.
	first := store.Link{Target: "jira", ItemID: "BL-1", RemoteID: "10042", State: store.LinkActive, Base: backlog.Fields{}}
	putLink(t, ctx, st, first)
	second := first
	second.ItemID = "BL-2"
	err := st.Tx(ctx, func(tx store.Tx) error { return tx.PutLink(ctx, second) })
	if !errors.Is(err, store.ErrStale) {
		t.Errorf("a second active link to record 10042 returned %v, want ErrStale", err)
	}
	// Links no longer synced do not count, nor do other targets.
	for _, l := range []store.Link{
		{Target: "jira", ItemID: "BL-3", RemoteID: "10042", State: store.LinkGone, Base: backlog.Fields{}},
		{Target: "jira", ItemID: "BL-4", RemoteID: "10042", State: store.LinkUnlinked, Base: backlog.Fields{}},
		{Target: "github", ItemID: "BL-2", RemoteID: "10042", State: store.LinkActive, Base: backlog.Fields{}},
	} {
		if err := st.Tx(ctx, func(tx store.Tx) error { return tx.PutLink(ctx, l) }); err != nil {
			t.Errorf("PutLink of %s/%s (%s) to record 10042 returned %v, want it stored", l.Target, l.ItemID, l.State, err)
		}
	}
	// Replacing the active link itself is no second link.
	first.RemoteVersion = "2"
	putLink(t, ctx, st, first)
	// Once the first link is gone, another item may take the record.
	first.State = store.LinkGone
	putLink(t, ctx, st, first)
	putLink(t, ctx, st, second)
	var l store.Link
	do(t, ctx, st, func(tx store.Tx) (err error) { l, err = tx.LinkByRemote(ctx, "jira", "10042"); return err })
	if l.ItemID != "BL-2" || l.State != store.LinkActive {
		t.Errorf("LinkByRemote finds %s (%s), want BL-2, the one active link", l.ItemID, l.State)
	}
}

func (s *suite) linkConcurrentAdoption(t *testing.T) {
	st, ctx := s.fresh(t)
	// The syncer's adoption: look the record up, and link it to a new
	// item when no link has it. Two transactions doing that at once for
	// one record (a webhook and a poll) must not both link it: one
	// commits, the other is refused with ErrStale or finds the link.
	const rounds = 10
	for round := range rounds {
		remote := "r" + strconv.Itoa(round)
		var (
			wg      sync.WaitGroup
			arrived sync.WaitGroup
			mu      sync.Mutex
			results []string
		)
		arrived.Add(2)
		for i := range 2 {
			wg.Go(func() {
				item := fmt.Sprintf("BL-%d", 2*round+i+1)
				looked := sync.OnceFunc(arrived.Done)
				defer looked()
				err := st.Tx(ctx, func(tx store.Tx) error {
					_, err := tx.LinkByRemote(ctx, "jira", remote)
					if err == nil {
						return errFound
					}
					if !errors.Is(err, store.ErrNotFound) {
						return err
					}
					// Both look before either writes, where the store
					// lets them (one running every transaction on one
					// connection does not: the wait then times out).
					looked()
					waitOrTimeout(&arrived, 250*time.Millisecond)
					return tx.PutLink(ctx, store.Link{Target: "jira", ItemID: item, RemoteID: remote, State: store.LinkActive, Base: backlog.Fields{}})
				})
				var res string
				switch {
				case err == nil:
					res = "linked"
				case errors.Is(err, errFound):
					res = "found"
				case errors.Is(err, store.ErrStale):
					res = "stale"
				default:
					res = err.Error()
				}
				mu.Lock()
				results = append(results, res)
				mu.Unlock()
			})
		}
		wg.Wait()
		slices.Sort(results)
		if !slices.Equal(results, []string{"found", "linked"}) && !slices.Equal(results, []string{"linked", "stale"}) {
			t.Errorf("round %d: two transactions linking record %s ended %v, want one linked and the other stale or finding the link", round, remote, results)
		}
		active := 0
		for _, l := range listLinks(t, ctx, st, "jira") {
			if l.RemoteID == remote && l.State == store.LinkActive {
				active++
			}
		}
		if active != 1 {
			t.Fatalf("round %d: record %s has %d active links, want 1", round, remote, active)
		}
	}
}

var errFound = errors.New("the record is linked already")

// waitOrTimeout waits for wg, or d at most.
func waitOrTimeout(wg *sync.WaitGroup, d time.Duration) {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
	}
}
