package connectors

import (
	"context"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"time"

	"gopkg.in/yaml.v3"
)

// Fields holds a record's tracker-native fields: native name to values.
// Every field is a list so that one shape fits single values ("summary":
// ["Login fails"]) and multi-valued ones ("labels": ["a", "b"]). A missing
// name and an empty list both mean "unset".
type Fields map[string][]string

// Get returns the first value of name, or "".
func (f Fields) Get(name string) string {
	if v := f[name]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// Set replaces the values of name; no values unsets it.
func (f Fields) Set(name string, values ...string) {
	if len(values) == 0 || (len(values) == 1 && values[0] == "") {
		f[name] = nil
		return
	}
	f[name] = slices.Clone(values)
}

// Clone returns a deep copy of f.
func (f Fields) Clone() Fields {
	c := make(Fields, len(f))
	for k, v := range f {
		c[k] = slices.Clone(v)
	}
	return c
}

// Equal reports whether name holds the same values in f and g (order
// matters; connectors return multi-valued fields in a stable order).
func (f Fields) Equal(g Fields, name string) bool { return slices.Equal(f[name], g[name]) }

// Names returns the field names present in f, sorted.
func (f Fields) Names() []string {
	ns := slices.Collect(maps.Keys(f))
	slices.Sort(ns)
	return ns
}

// Comment is one comment on a record, in the tracker's own terms.
type Comment struct {
	// ID is the tracker's id for the comment; empty for one not yet created.
	ID      string    `json:"id"`
	Author  string    `json:"author"`
	Body    string    `json:"body"`
	Created time.Time `json:"created"`
	Updated time.Time `json:"updated"`
	// Internal marks a comment restricted to the product owner's side
	// (Redmine private notes, Jira restricted visibility). Connectors that
	// cannot restrict comments never receive internal ones.
	Internal bool `json:"internal,omitempty"`
}

// Record is one tracker issue in neutral form: the tracker's own field
// names and values, with the identity and version information the syncer
// needs.
type Record struct {
	// ID is the tracker's stable id (never changes when the record moves).
	ID string `json:"id"`
	// Key is the human handle ("ACME-7", "#12"), which may change on a move.
	Key string `json:"key,omitempty"`
	URL string `json:"url,omitempty"`
	// Marker is the canonical id found in the record's idempotency marker,
	// or "" when the record carries none (a candidate for adoption).
	Marker string `json:"marker,omitempty"`
	Fields Fields `json:"fields"`
	// Comments is nil when the connector did not load them (Changes may
	// omit them); Get always loads them when the connector has comments.
	Comments []Comment `json:"comments,omitempty"`
	// Version is an opaque token that changes whenever the record does.
	// The syncer skips a listed record whose Version equals the one it
	// last read or wrote, and Update's optimistic check compares it, so
	// every connector keeps this contract:
	//
	//   - Changes and Get give the same Version for the same state: a
	//     record listed without comments carries the Version Get would
	//     give it (or every listed record is read again).
	//   - The Version changes with any change to the fields or the
	//     marker, a second edit within the same second of the tracker's
	//     clock included: where the tracker's updated time has whole
	//     seconds (GitHub, Redmine, Jira Data Center on some databases) it
	//     carries a digest of the fields and marker (Digest, VersionOf),
	//     and Changes lists such an edit again.
	//   - Comments are in the digest as far as the listing shows them
	//     (GitHub's comment count). Otherwise they change the Version
	//     through the updated time, which the trackers here move when a
	//     comment is added. A comment change that moves neither (a
	//     Redmine note edited in place, or added in the same second as the
	//     change before it) is not listed either, and only Get sees it, as
	//     the syncer's periodic full sweep does; connectors document where
	//     theirs falls short.
	//
	// Examples: a hash of a file's bytes (file), a counter (memory), the
	// updated time and a digest (github, redmine, jira).
	Version string    `json:"version,omitempty"`
	Created time.Time `json:"created"`
	Updated time.Time `json:"updated"`
}

// Page is one page of Changes.
type Page struct {
	Records []Record
	// Cursor is where the next call continues; pass it back unchanged.
	Cursor string
	// More is true when another page is ready now; false means the
	// listing caught up and the next call should wait for the poll interval.
	More bool
}

// Connector talks to one tracker project (a repository, a Jira project, a
// directory). It knows nothing of clients, mapping or the canonical model.
// Every method is safe for concurrent use.
type Connector interface {
	// Capabilities says what the tracker supports.
	Capabilities() Capabilities

	// Changes lists records changed since cursor ("" means from the
	// beginning), oldest first, one page at a time. A record changed while
	// a listing is under way must appear on a later page or call: cursors
	// overlap and the connector drops duplicates it already returned.
	Changes(ctx context.Context, cursor string) (Page, error)

	// Get reads one record by id, with its comments. ErrNotFound when the
	// record is gone.
	Get(ctx context.Context, id string) (Record, error)

	// FindByMarker returns the record carrying the idempotency marker for
	// canonical id marker, ErrNotFound when none does. It must see a
	// record created a moment ago (no index lag), because the syncer calls
	// it to learn whether a create was made before a crash.
	FindByMarker(ctx context.Context, marker string) (Record, error)

	// Create makes a record with the given fields and stores marker on it
	// as its idempotency marker. It returns the record as read back.
	Create(ctx context.Context, marker string, fields Fields) (Record, error)

	// Update changes only the given fields of record id (the rest stay as
	// they are) and returns the record as read back. Passing
	// version (from the last read) lets trackers with optimistic locking
	// refuse a stale write with ErrConflict; "" skips the check.
	//
	// A marker other than "" is written too, as the record's idempotency
	// marker (replacing any other): the syncer passes it for a record that
	// has none, adopted or stripped of it by a person; it is the one way
	// to mark an existing record. Where the tracker keeps the marker with
	// the fields (GitHub's body, Redmine's custom field), fields and
	// marker go in the same request, so marking a record costs no write
	// of its own. With no fields the marker alone is written, and nothing
	// when the record already carries it; "" leaves the marker as it is.
	Update(ctx context.Context, id, version string, fields Fields, marker string) (Record, error)

	// CreateComment adds a comment and returns it with its tracker id.
	CreateComment(ctx context.Context, recordID string, c Comment) (Comment, error)
	// UpdateComment replaces a comment's body. ErrUnsupported where the
	// tracker cannot edit comments.
	UpdateComment(ctx context.Context, recordID, commentID, body string) error
	// DeleteComment removes a comment. ErrUnsupported where the tracker
	// cannot delete comments.
	DeleteComment(ctx context.Context, recordID, commentID string) error
}

// FieldSpec describes one native field.
type FieldSpec struct {
	Name string
	// Multi is true for fields holding several values (labels).
	Multi bool
	// ReadOnly fields are reported but never written (reporter, created).
	ReadOnly bool
	// Values, when set, lists the values the tracker accepts (statuses,
	// trackers, priorities), so config validation can reject a typo.
	Values []string
}

// Capabilities declares what a connector can do, so mapping can be
// validated offline and the syncer skips what the tracker cannot do.
type Capabilities struct {
	Fields []FieldSpec
	// Comments: the connector reads and writes comments.
	Comments bool
	// InternalComments: the tracker can hold comments hidden from the
	// client (only ever used on the product owner's own trackers).
	InternalComments bool
	// EditComments / DeleteComments: UpdateComment / DeleteComment work.
	EditComments   bool
	DeleteComments bool
	// Webhooks: the connector implements WebhookReceiver.
	Webhooks bool
	// Hierarchy: records can have a parent record.
	Hierarchy bool
}

// Field returns the spec of a native field by name.
func (c Capabilities) Field(name string) (FieldSpec, bool) {
	for _, f := range c.Fields {
		if f.Name == name {
			return f, true
		}
	}
	return FieldSpec{}, false
}

// Delivery is a verified webhook delivery, reduced to what to re-read.
type Delivery struct {
	// ID identifies the delivery (X-GitHub-Delivery); repeated deliveries
	// with the same id are dropped. Empty when the tracker sends none.
	ID string
	// Event is the tracker's event name, for logs and metrics.
	Event string
	// RecordIDs are the records to re-read; empty means "nothing for us".
	RecordIDs []string
	// Deleted lists records the delivery says were deleted.
	Deleted []string
}

// WebhookReceiver is implemented by connectors whose tracker pushes
// changes. The daemon serves it at /webhooks/{target}.
type WebhookReceiver interface {
	// ParseWebhook checks the signature of a delivery against the
	// target's secret and decodes it. It returns ErrBadSignature for an
	// unsigned or wrongly signed request, and must return fast: it only
	// decodes, it never calls the tracker.
	ParseWebhook(header http.Header, body []byte) (Delivery, error)
}

// Env is what a connector's factory receives: its own settings and the
// shared services of the daemon.
type Env struct {
	// Target is the target's name in the daemon config ("acme-github").
	Target string
	// Settings is the target's `settings:` block; decode it strictly with
	// DecodeSettings. Nil when the block is absent.
	Settings *yaml.Node
	// Secrets resolves references such as env:GITHUB_TOKEN.
	Secrets SecretResolver
	// HTTP is a client the connector should build on for every request
	// (see connectors/transport); it counts requests in metrics. Nil in
	// tests that do not care: connectors then build their own.
	HTTP *http.Client
	// Observer receives request and rate-limit signals for metrics; may be nil.
	Observer Observer
	Logger   *slog.Logger
	// DataDir is the daemon's data directory, for connectors that keep
	// files (the file connector's default directory lives below it).
	DataDir string
	// Offline asks the factory only to check: decode and validate the
	// settings and resolve the secret references (Secrets then answers
	// placeholders), touch neither the tracker nor the disk, and return a
	// nil connector. `backlogd validate` builds every target this way.
	Offline bool
}

// SecretResolver turns a secret reference into its value.
type SecretResolver interface {
	Resolve(ref string) (Secret, error)
}

// Factory builds a connector from its environment. With env.Offline it
// returns (nil, nil) once the settings are known to be good.
type Factory func(ctx context.Context, env Env) (Connector, error)
