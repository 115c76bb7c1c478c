package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/backlogd/backlogd/syncer/store"
)

// Harness is what a store's test gives the suite.
type Harness struct {
	// New returns a fresh, empty store and closes it when the test ends
	// (t.Cleanup). The suite may have closed it already through Reopen,
	// so that cleanup must tolerate a closed store.
	New func(t *testing.T) store.Store
	// Reopen closes st without any other call to it, as a crash between
	// two transactions would leave it, and opens the same database again.
	// The harness closes the new store when the test ends. Nil skips the
	// subtests about persistence, with a message.
	Reopen func(t *testing.T, st store.Store) store.Store
	// Peer opens the database of st a second time, as another replica
	// (another store.Leaser replica id), beside st; the harness closes it
	// when the test ends. Only stores that implement store.Leaser need it:
	// the lease subtests skip on the others.
	Peer func(t *testing.T, st store.Store) store.Store
}

// subtestTimeout bounds one subtest, so a store that deadlocks fails with
// a message instead of stalling the test binary.
const subtestTimeout = 2 * time.Minute

// Run runs the conformance suite against the stores h makes. Each subtest
// starts from a fresh store.
func Run(t *testing.T, h Harness) {
	t.Helper()
	if h.New == nil {
		t.Fatal("storetest: the harness needs New")
	}
	s := &suite{h: h}
	for _, st := range []struct {
		name    string
		run     func(*testing.T)
		reopens bool
	}{
		{"a new item reads back with every field, version 1 and an update time in UTC", s.itemRoundTrip, false},
		{"storing an unchanged item keeps its version and update time", s.itemUnchanged, false},
		{"storing a changed item bumps its version and update time", s.itemChanged, false},
		{"a stale version is refused with ErrStale and changes nothing", s.itemStale, false},
		{"a missing item is ErrNotFound", s.itemMissing, false},
		{"items are listed by id number, BL-2 before BL-10", s.itemsOrder, false},
		{"NextItemID hands out canonical ids never used before, even by items stored directly", s.nextIDUnique, false},
		{"NextItemID is unique when many goroutines allocate at once", s.nextIDConcurrent, false},
		{"a link reads back with every field, by item, by record and in lists", s.linkRoundTrip, false},
		{"a nil base and an empty base stay distinct", s.linkNilBase, false},
		{"PutLink replaces the link of the same target and item", s.linkReplace, false},
		{"a missing link is ErrNotFound, by item and by record", s.linkMissing, false},
		{"Links lists one target's links, or every target's for the empty name", s.linksByTarget, false},
		{"LinkCounts counts links per target and state", s.linkCounts, false},
		{"a record has one active link on its target at most: a second is refused with ErrStale", s.linkOneActivePerRecord, false},
		{"two transactions linking one record at once: one links it, the other is refused with ErrStale or finds the link", s.linkConcurrentAdoption, false},
		{"a cursor reads empty until stored, then as last stored, per target", s.cursors, false},
		{"intents are listed oldest first, by target or all, and deleted once", s.intents, false},
		{"a conflict reads back with every field, by id and in the list, oldest first", s.conflictRoundTrip, false},
		{"PutConflict replaces the open conflict on the same target, item and field, keeping its id", s.conflictReplace, false},
		{"a closed conflict is ErrNotFound, and closing it again is no error", s.conflictDelete, false},
		{"IntentsOf lists one key's pending intents, oldest first, its own writes included", s.intentsOfKey, false},
		{"ConflictsOf lists one key's open conflicts, oldest first, its own writes included", s.conflictsOfKey, false},
		{"a repeated delivery is seen, per target, and an empty delivery id never is", s.deliveries, false},
		{"a transaction sees its own writes", s.ownWrites, false},
		{"a transaction whose function fails writes nothing", s.rollback, false},
		{"a transaction with a cancelled context fails and writes nothing", s.cancelled, false},
		{"concurrent read-modify-write of one item with retries on ErrStale loses no update", s.itemNoLostUpdate, false},
		{"concurrent read-modify-write of one link with retries on ErrStale loses no update", s.linkNoLostUpdate, false},
		{"concurrent transactions on many keys and targets keep every write", s.concurrentKeys, false},
		{"a free lease is taken with a token, refused to others while held, and taken over with a higher token once expired", s.leaseTakeover, false},
		{"renewing keeps a lease and its token; an expired lease is not renewed, even for its holder", s.leaseRenew, false},
		{"a released lease is taken by another replica at once", s.leaseRelease, false},
		{"heartbeats list the live replicas; one that leaves or stops beating is gone", s.heartbeats, false},
		{"a fenced transaction commits while its lease is held and is refused with ErrFenced, writing nothing, once it moved", s.fencedWrites, false},
		{"a takeover waits for the old holder's fenced transaction in flight, which commits first", s.takeoverWaits, false},
		{"wake-ups are recorded once per key, heard by a listener at commit, and taken once", s.wakeups, false},
		{"intents left by a crash are still there after a reopen, oldest first", s.intentsSurviveCrash, true},
		{"everything stored survives a reopen, and ids are not handed out again", s.persistence, true},
	} {
		t.Run(st.name, func(t *testing.T) {
			if st.reopens && h.Reopen == nil {
				t.Skip("storetest: the harness has no Reopen; the store's persistence is not tested")
			}
			st.run(t)
		})
	}
}

type suite struct{ h Harness }

// fresh returns a new empty store and a context bounded for one subtest.
func (s *suite) fresh(t *testing.T) (store.Store, context.Context) {
	t.Helper()
	st := s.h.New(t)
	if st == nil {
		t.Fatal("storetest: the harness's New returned nil")
	}
	ctx, cancel := context.WithTimeout(t.Context(), subtestTimeout)
	t.Cleanup(cancel)
	return st, ctx
}

// do runs fn in a transaction and fails t if it fails.
func do(t *testing.T, ctx context.Context, st store.Store, fn func(store.Tx) error) {
	t.Helper()
	if err := st.Tx(ctx, fn); err != nil {
		t.Fatalf("Tx: %v", err)
	}
}

// retry runs fn in transactions until one is not refused as stale.
func retry(ctx context.Context, st store.Store, fn func(store.Tx) error) error {
	for {
		err := st.Tx(ctx, fn)
		if !errors.Is(err, store.ErrStale) || ctx.Err() != nil {
			return err
		}
	}
}
