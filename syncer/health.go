package syncer

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/backlogd/backlogd/connectors"
)

// A target's health. An operator must tell two situations apart: the
// target is failing (its listing fails, the tracker refuses its
// credentials, every write is refused: nothing syncs), or some of its
// items are failing or parked while the rest syncs. So the target's own
// error (the poll's) is kept apart from its items' (failing: retried
// with back-off; parked: refused until the item or the config changes),
// and items' errors make the target failing only by the rule of problem:
//
//   - a refusal the tracker scopes to the whole target (credentials
//     refused, connectors.ScopeTarget), until a reconcile of the target
//     succeeds again;
//   - minFailingItems different items failing — with retried errors, or
//     refused for a permission (connectors.ScopeEndpoint) — with nothing
//     succeeding since they failed: no reconcile at all, or, for those
//     that failed on a tracker write, no write. The latter is a tracker
//     whose listing works but whose writes are all refused or broken (a
//     read-only token, a 5xx on every write), which reconciles with
//     nothing to write do not disprove.
//
// An item refused for its own values (a 422, a field the tracker
// refuses) is the item's only, however many there are.

// minFailingItems is how many different items must be failing, with
// nothing succeeding since, before the target itself counts as failing.
// One or two are most likely about those items; three at once, with no
// success between them, are the tracker.
const minFailingItems = 3

// maxFailingShown bounds the failing items Status lists.
const maxFailingShown = 10

// ItemError is one item of a target that keeps failing with an error
// backlogd retries with back-off, as Status shows it.
type ItemError struct {
	// Item is the key: a canonical item id, or remote:<record id> for a
	// record a webhook named that no link knows yet.
	Item  string `json:"item"`
	Error string `json:"error"`
	// Since is the first failure of this run of failures; Attempts counts
	// them.
	Since    time.Time `json:"since"`
	Attempts int       `json:"attempts"`
}

// trouble is why one key of a target does not sync.
type trouble struct {
	reason   string
	since    time.Time
	attempts int
	// scope is a terminal refusal's (connectors.TerminalScope), "" for a
	// retried error.
	scope connectors.Scope
	// write says the key failed on a tracker write (writeError).
	write bool
	// succeeded and writes are the target's counters when the key last
	// failed; seq orders the target's failures.
	succeeded, writes, seq uint64
}

// writeError marks the error of a tracker write (create, update, marker,
// comment), so that "every write fails" can be told from "this item's
// read fails".
type writeError struct{ err error }

func (e *writeError) Error() string { return e.err.Error() }
func (e *writeError) Unwrap() error { return e.err }

// wrote records the outcome of one tracker write of t and returns err
// marked as a write's (nil stays nil). Every remote write goes through
// it.
func (t *target) wrote(err error) error {
	if err != nil {
		return &writeError{err: err}
	}
	t.mu.Lock()
	t.writes++
	t.succeeded++
	t.mu.Unlock()
	return nil
}

// read records the outcome of one tracker read of t (a not-found is an
// answer too) and returns err unchanged. Only the tracker answering
// says the target works: a reconcile that never asks it (an item out of
// the client's scope, an unknown key) proves nothing, and most keys of a
// sweep or a fan-out are such.
func (t *target) read(err error) error {
	if err == nil || errors.Is(err, connectors.ErrNotFound) {
		t.mu.Lock()
		t.succeeded++
		t.mu.Unlock()
	}
	return err
}

// forget records that key reconciled: it is neither failing nor parked
// any more. (What the tracker answered meanwhile is counted by read and
// wrote.)
func (t *target) forget(key string) {
	t.mu.Lock()
	delete(t.backoff, key)
	delete(t.failing, key)
	delete(t.parked, key)
	t.reached = true
	t.mu.Unlock()
}

// fail records a failure of key that is retried, and returns its
// back-off: exponential from 500 ms with jitter, capped.
func (t *target) fail(key string, err error, now time.Time, ceiling time.Duration) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := t.backoff[key]
	t.backoff[key] = n + 1
	// A parked key tried again (a sweep, a resync) that now fails with a
	// retried error is failing, no longer known to be refused.
	delete(t.parked, key)
	tr := t.failing[key]
	if tr.since.IsZero() {
		tr.since = now
	}
	tr.attempts++
	t.failing[key] = t.trouble(tr, err)
	d := 500 * time.Millisecond << min(n, 20)
	if d > ceiling || d <= 0 {
		d = ceiling
	}
	return d/2 + time.Duration(rand.Int64N(int64(d)/2+1))
}

// park records that key was refused: parked until the item or the config
// changes (a sweep or a resync tries it again).
func (t *target) park(key string, err error, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.failing, key)
	tr := t.parked[key]
	if tr.since.IsZero() {
		tr.since = now
	}
	tr.attempts++
	tr = t.trouble(tr, err)
	tr.scope, _ = connectors.TerminalScope(err)
	t.parked[key] = tr
}

// trouble fills in tr for a failure with err now; t.mu is held.
func (t *target) trouble(tr trouble, err error) trouble {
	t.seq++
	tr.reason = err.Error()
	tr.write = errors.As(err, new(*writeError))
	tr.succeeded, tr.writes, tr.seq = t.succeeded, t.writes, t.seq
	return tr
}

// resetHealth forgets what the target's items went through, when this
// replica stops running the target: its owner retries them now.
func (t *target) resetHealth() {
	t.mu.Lock()
	clear(t.backoff)
	clear(t.failing)
	clear(t.parked)
	// What this replica learnt of the target is stale once another runs
	// it; in particular a listing that worked then must not let a 404
	// read as a deletion before this replica's next poll, should it take
	// the target back.
	t.pollError, t.reached, t.listing = "", false, false
	t.mu.Unlock()
}

// problem says why the target as a whole is failing, "" when it is not
// (the rule is at the top of this file); t.mu is held.
func (t *target) problem() string {
	if t.pollError != "" {
		return t.pollError
	}
	var (
		refusal            trouble
		latestKey          string
		latest             trouble
		unanswered, writes int
	)
	count := func(key string, tr trouble) {
		answered := tr.succeeded != t.succeeded
		if tr.write {
			answered = tr.writes != t.writes
		}
		if answered {
			return
		}
		unanswered++
		if tr.write {
			writes++
		}
		if tr.seq > latest.seq {
			latestKey, latest = key, tr
		}
	}
	for key, tr := range t.parked {
		switch tr.scope {
		case connectors.ScopeTarget:
			if tr.succeeded == t.succeeded && tr.seq > refusal.seq {
				refusal = tr
			}
		case connectors.ScopeEndpoint:
			count(key, tr)
		}
	}
	if refusal.seq > 0 {
		return refusal.reason
	}
	for key, tr := range t.failing {
		count(key, tr)
	}
	switch {
	case unanswered < minFailingItems:
		return ""
	case writes == unanswered:
		return fmt.Sprintf("writes fail: %d items could not be written and no write to the tracker has succeeded since; latest %s: %s",
			unanswered, latestKey, latest.reason)
	}
	return fmt.Sprintf("reconciles fail: %d items failed and no reconcile of the target has succeeded since; latest %s: %s",
		unanswered, latestKey, latest.reason)
}

// itemsStatus fills in st's item fields; t.mu is held.
func (t *target) itemsStatus(st *TargetStatus) {
	st.ItemsFailing, st.ItemsParked = len(t.failing), len(t.parked)
	keys := make([]string, 0, len(t.failing))
	for key := range t.failing {
		keys = append(keys, key)
	}
	slices.Sort(keys)
	for _, key := range keys[:min(len(keys), maxFailingShown)] {
		tr := t.failing[key]
		st.FailingItems = append(st.FailingItems, ItemError{Item: key, Error: tr.reason, Since: tr.since, Attempts: tr.attempts})
	}
	for key, tr := range t.parked {
		st.Parked = append(st.Parked, key+": "+tr.reason)
	}
	slices.Sort(st.Parked)
}

// health reports the target's state for the gauges.
func (t *target) health() (failing bool, itemsFailing, itemsParked int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.problem() != "", len(t.failing), len(t.parked)
}
