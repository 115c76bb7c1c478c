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
	// PutLink creates or replaces the link (target, item). A record has
	// one active link on its target at most: storing a second active link
	// to it fails the transaction with an error wrapping ErrStale (the
	// caller reads again and finds the first).
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
	// IntentsOf lists the pending intents of one key (item on target),
	// oldest first. A reconcile reads its own key's, and the cost must
	// not grow with the outbox.
	IntentsOf(ctx context.Context, target, itemID string) ([]Intent, error)

	// PutConflict records a conflict, replacing an open one on the same
	// (target, item, field), which keeps its id; it returns the conflict's
	// id (c.ID is ignored).
	PutConflict(ctx context.Context, c Conflict) (int64, error)
	// Conflicts lists open conflicts, oldest first.
	Conflicts(ctx context.Context) ([]Conflict, error)
	// ConflictsOf lists the open conflicts of one key (item on target),
	// oldest first. A reconcile reads its own key's, and the cost must
	// not grow with the conflict queue.
	ConflictsOf(ctx context.Context, target, itemID string) ([]Conflict, error)
	// Conflict reads one open conflict; ErrNotFound if absent.
	Conflict(ctx context.Context, id int64) (Conflict, error)
	// DeleteConflict closes a conflict (no error if already closed).
	DeleteConflict(ctx context.Context, id int64) error

	// SeeDelivery records a webhook delivery id and reports whether it was
	// already recorded (a repeated delivery to drop). An empty id is never
	// recorded; stores may forget ids after some days.
	SeeDelivery(ctx context.Context, target, deliveryID string, at time.Time) (seen bool, err error)
}

// Several replicas sharing one store (store/postgres) split the targets
// between them with leases. The types and optional interfaces below are
// what the syncer uses for that; a store only one process uses (SQLite)
// implements none of them, and the syncer then owns every target.

// ErrFenced: a transaction ran under a Fence whose lease its holder no
// longer has (it expired, or another replica took the target over), so
// the store refused it and wrote nothing. The caller stops working on the
// target: its new owner does that work.
var ErrFenced = errors.New("fenced: the lease on the target is no longer held by this replica")

// ErrLeaseHeld: another replica holds the lease asked for, and it has not
// expired.
var ErrLeaseHeld = errors.New("lease held by another replica")

// Fence names the lease a transaction depends on. A store that
// implements Leaser checks, inside every transaction whose context
// carries a fence, that the lease row still has this holder and token and
// has not expired, and fails the transaction with ErrFenced otherwise;
// the check holds until the commit, so a takeover cannot slip in between.
// Other stores ignore fences.
type Fence struct {
	Target string
	Holder string
	Token  int64
}

type fenceKey struct{}

// WithFence returns a context whose transactions are fenced by f.
func WithFence(ctx context.Context, f Fence) context.Context {
	return context.WithValue(ctx, fenceKey{}, f)
}

// FenceOf returns the fence ctx carries, if any.
func FenceOf(ctx context.Context) (Fence, bool) {
	f, ok := ctx.Value(fenceKey{}).(Fence)
	return f, ok
}

// Lease is one target's ownership by one replica. Token is the fencing
// token: it increases every time the lease changes hands (or is taken
// again after it lapsed), never when it is renewed.
type Lease struct {
	Target   string    `json:"target"`
	Holder   string    `json:"holder"`
	Token    int64     `json:"token"`
	Acquired time.Time `json:"acquired"`
	Expires  time.Time `json:"expires"`
}

// Replica is one daemon process sharing the store, as its heartbeat
// describes it. Started is when it joined: its first heartbeat, or the
// first after its heartbeat lapsed.
type Replica struct {
	ID      string    `json:"id"`
	Host    string    `json:"host"`
	Started time.Time `json:"started"`
	Seen    time.Time `json:"seen"`
	Expires time.Time `json:"expires"`
}

// Leaser is implemented by stores several replicas share. Times are the
// database's clock; a lease is valid until Expires and dead after it,
// even for its own holder, which must acquire it again (with a new token).
type Leaser interface {
	// ReplicaID is this process's id in the replica and lease tables:
	// unique per process, stable for its lifetime.
	ReplicaID() string
	// LeaseTTL is how long a heartbeat or a lease lasts unrenewed.
	LeaseTTL() time.Duration
	// Heartbeat records this replica as alive for one TTL and returns
	// every live replica, this one included.
	Heartbeat(ctx context.Context) ([]Replica, error)
	// Leave removes this replica's heartbeat and releases its leases, at
	// shutdown, so the others take its targets over at once.
	Leave(ctx context.Context) error
	// AcquireLease takes target for this replica when its lease is free
	// or expired, with a token higher than any before; ErrLeaseHeld when
	// another replica (or this one) holds it unexpired.
	AcquireLease(ctx context.Context, target string) (Lease, error)
	// RenewLeases extends, by one TTL, those of the given leases this
	// replica still holds unexpired with the same token, and returns
	// them; a lease missing from the result is lost.
	RenewLeases(ctx context.Context, held []Lease) ([]Lease, error)
	// ReleaseLease ends a lease this replica holds (no error if it is no
	// longer held).
	ReleaseLease(ctx context.Context, l Lease) error
	// Leases lists every lease row, expired ones included, by target.
	Leases(ctx context.Context) ([]Lease, error)
	// Replicas lists the live replicas.
	Replicas(ctx context.Context) ([]Replica, error)
}

// Waker is implemented by stores that can wake the replica owning a
// target when another replica recorded work for it (a webhook delivery
// that reached the wrong replica, a change that fans out to a target
// owned elsewhere). The work itself is recorded in a transaction with
// WakeTx; Listen only says where to look.
type Waker interface {
	// Listen calls fn with a target's name whenever work was recorded for
	// it, and with "" when replicas or leases changed (a replica joined or
	// left, a lease was released), until ctx ends or the connection
	// fails. Notifications sent while nobody listened are not replayed:
	// a listener takes what is recorded when it starts.
	Listen(ctx context.Context, fn func(target string)) error
	// Nudge tells every listener that replicas or leases changed.
	Nudge(ctx context.Context) error
}

// WakeTx is implemented by the transactions of a Waker store.
type WakeTx interface {
	// Wake records queue keys (canonical item ids, or "remote:" record
	// ids) for target and, at commit, wakes its owner.
	Wake(ctx context.Context, target string, keys []string) error
	// TakeWakeups removes and returns the keys recorded for target.
	TakeWakeups(ctx context.Context, target string) ([]string, error)
}
