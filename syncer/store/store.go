// Package store is the syncer's state: the canonical items, the links
// between items and tracker records with their last-synced base, polling
// cursors, the outbox of remote writes, the conflict queue and the
// webhook deliveries already seen.
//
// Store is an interface with one implementation per database
// (store/sqlite is the embedded default). Every reconcile step runs in
// one transaction through Store.Tx, so a crash leaves either the old
// state or the new one, never half of each.
package store

import (
	"context"
	"errors"
	"time"

	"github.com/backlogd/backlogd/backlog"
)

// Errors callers branch on.
var (
	// ErrNotFound: no such item, link, conflict or cursor.
	ErrNotFound = errors.New("not found")
	// ErrStale: an optimistic write found a newer version; re-read and retry.
	ErrStale = errors.New("stale version")
)

// LinkState says whether a link is still synced.
type LinkState string

// Link states.
const (
	// LinkActive: the item is synced with the record.
	LinkActive LinkState = "active"
	// LinkGone: the record was deleted in the tracker.
	LinkGone LinkState = "gone"
	// LinkUnlinked: the item left the client's scope; the record is left alone.
	LinkUnlinked LinkState = "unlinked"
)

// CommentLink ties a canonical comment to the tracker comment it became
// (or came from), with the body both sides agreed on at the last sync.
type CommentLink struct {
	CommentID string `json:"comment_id"`
	RemoteID  string `json:"remote_id"`
	Base      string `json:"base"`
}

// Link ties one canonical item to one record of one target.
type Link struct {
	Target    string    `json:"target"`
	ItemID    string    `json:"item_id"`
	RemoteID  string    `json:"remote_id"`
	RemoteKey string    `json:"remote_key,omitempty"`
	URL       string    `json:"url,omitempty"`
	State     LinkState `json:"state"`
	// Base is what both sides agreed on at the last sync, in canonical
	// field space (the client's projection of the item). Nil means no
	// agreed state yet (a record relinked by marker); stores keep it
	// distinct from an empty base.
	Base     backlog.Fields `json:"base"`
	Comments []CommentLink  `json:"comments,omitempty"`
	// RemoteVersion and RemoteUpdated are from the last read of the record.
	RemoteVersion string    `json:"remote_version,omitempty"`
	RemoteUpdated time.Time `json:"remote_updated"`
	SyncedAt      time.Time `json:"synced_at"`
	// LastError is the terminal error that parked this key, shown by status.
	LastError string `json:"last_error,omitempty"`
}

// IntentOp is the kind of remote write an intent announces.
type IntentOp string

// Intent operations.
const (
	OpCreate IntentOp = "create"
	OpUpdate IntentOp = "update"
	OpClose  IntentOp = "close"
)

// Intent is an outbox entry: a remote write about to be made. It is
// stored before the write and deleted when the write's result is stored;
// an intent still present at start means the daemon stopped in between,
// and the key is reconciled again (a create first looks for its marker).
type Intent struct {
	ID      int64     `json:"id"`
	Target  string    `json:"target"`
	ItemID  string    `json:"item_id"`
	Op      IntentOp  `json:"op"`
	Created time.Time `json:"created"`
}

// Conflict is a field both sides changed to different values under the
// manual policy, waiting for a person.
type Conflict struct {
	ID        int64         `json:"id"`
	Target    string        `json:"target"`
	Client    string        `json:"client"`
	ItemID    string        `json:"item_id"`
	Field     backlog.Field `json:"field"`
	Base      string        `json:"base"`
	Canonical string        `json:"canonical"`
	Remote    string        `json:"remote"`
	Created   time.Time     `json:"created"`
}

// Store is the syncer's persistent state. Times read back in UTC, the
// same instant to the microsecond at least.
type Store interface {
	// Tx runs fn in one transaction: committed when fn returns nil,
	// rolled back when it returns an error (which Tx returns). fn runs
	// once. Transactions are serializable: when a concurrent one changed
	// what fn read before fn could write, Tx fails with an error wrapping
	// ErrStale and writes nothing; the caller reads again and retries.
	Tx(ctx context.Context, fn func(Tx) error) error
	// Close flushes and closes the store.
	Close() error
}

// Tx is the set of operations available inside a transaction.
type Tx interface {
	// NextItemID allocates a fresh canonical id (BL-1, BL-2, ...); ids are
	// never reused, nor is the id of an item stored under an id of its own.
	NextItemID(ctx context.Context) (string, error)
	// Item reads one item; ErrNotFound if absent.
	Item(ctx context.Context, id string) (backlog.Item, error)
	// Items lists every item, ordered by id number.
	Items(ctx context.Context) ([]backlog.Item, error)
	// PutItem stores it if its Version matches the stored one (0 for a
	// new item), else ErrStale. It returns the item with Version bumped
	// and Updated set to now when the content changed.
	PutItem(ctx context.Context, it backlog.Item) (backlog.Item, error)

	// Link reads the link of item on target; ErrNotFound if absent.
	Link(ctx context.Context, target, itemID string) (Link, error)
	// LinkByRemote finds the link of a record; ErrNotFound if absent.
	LinkByRemote(ctx context.Context, target, remoteID string) (Link, error)
	// Links lists a target's links ("" for every target).
	Links(ctx context.Context, target string) ([]Link, error)
	// LinkCounts counts the links of every target by state, without
	// reading them (the gauges refresh it every few seconds).
	LinkCounts(ctx context.Context) (map[string]map[LinkState]int, error)
	// PutLink creates or replaces the link (target, item).
	PutLink(ctx context.Context, l Link) error

	// Cursor reads a target's polling cursor ("" when none).
	Cursor(ctx context.Context, target string) (string, error)
	// PutCursor stores a target's polling cursor.
	PutCursor(ctx context.Context, target, cursor string) error

	// AddIntent records a write about to happen and returns its id (in.ID
	// is ignored; ids are never handed out twice).
	AddIntent(ctx context.Context, in Intent) (int64, error)
	// DeleteIntent acknowledges a write (no error if already gone).
	DeleteIntent(ctx context.Context, id int64) error
	// Intents lists pending intents of a target ("" for all), oldest first.
	Intents(ctx context.Context, target string) ([]Intent, error)

	// PutConflict records a conflict, replacing an open one on the same
	// (target, item, field), which keeps its id; it returns the conflict's
	// id (c.ID is ignored).
	PutConflict(ctx context.Context, c Conflict) (int64, error)
	// Conflicts lists open conflicts, oldest first.
	Conflicts(ctx context.Context) ([]Conflict, error)
	// Conflict reads one open conflict; ErrNotFound if absent.
	Conflict(ctx context.Context, id int64) (Conflict, error)
	// DeleteConflict closes a conflict (no error if already closed).
	DeleteConflict(ctx context.Context, id int64) error

	// SeeDelivery records a webhook delivery id and reports whether it was
	// already recorded (a repeated delivery to drop). An empty id is never
	// recorded; stores may forget ids after some days.
	SeeDelivery(ctx context.Context, target, deliveryID string, at time.Time) (seen bool, err error)
}
