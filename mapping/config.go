package mapping

import (
	"time"

	"github.com/backlogd/backlogd/backlog"
	"gopkg.in/yaml.v3"
)

// Direction says which way a field flows between the canonical backlog and
// one client's tracker.
type Direction string

// Field directions.
const (
	Both        Direction = "both"
	ToTracker   Direction = "to-tracker"
	FromTracker Direction = "from-tracker"
)

// Policy decides a field both sides changed to different values.
type Policy string

// Conflict policies.
const (
	CanonicalWins Policy = "canonical-wins"
	TrackerWins   Policy = "tracker-wins"
	LatestWins    Policy = "latest-wins"
	Manual        Policy = "manual"
)

// AdoptMode says which unmarked tracker records become canonical items.
type AdoptMode string

// Adoption modes.
const (
	// AdoptNew adopts records created after the client was connected.
	AdoptNew AdoptMode = "new"
	// AdoptAll adopts every record (onboarding a tracker that has issues).
	AdoptAll AdoptMode = "all"
	// AdoptNone adopts nothing.
	AdoptNone AdoptMode = "none"
)

// ScopeExit says what happens to a record whose item leaves the scope.
type ScopeExit string

// Scope-exit actions.
const (
	ExitUnlink ScopeExit = "unlink"
	ExitClose  ScopeExit = "close"
	ExitDelete ScopeExit = "delete"
)

// RemoteDelete says what happens when a linked record is deleted.
type RemoteDelete string

// Remote-delete actions.
const (
	DeleteUnlink   RemoteDelete = "unlink"
	DeleteRecreate RemoteDelete = "recreate"
)

// Config is everything backlogd is configured with: the daemon file
// (configs/backlogd.yaml) and one file per client (configs/clients/*.yaml).
type Config struct {
	// Path is the daemon file this config was loaded from.
	Path string
	// Listen is the HTTP listener address (default 127.0.0.1:9464).
	Listen string
	// APIToken is a secret reference to the bearer token the read API
	// (/api/v1) and /-/reload require. Without it they answer loopback
	// clients only; webhooks, health and metrics are always open.
	APIToken string
	// DataDir holds the SQLite store and file targets (default ./data,
	// relative to the working directory); created if missing.
	DataDir string
	Store   StoreConfig
	// IDPrefix is the prefix of canonical ids (default "BL").
	IDPrefix string
	Sync     SyncConfig
	Log      LogConfig
	// Targets are the tracker instances, in file order.
	Targets []Target
	// Clients are the client files, sorted by id.
	Clients []*Client
}

// StoreConfig chooses the state store.
type StoreConfig struct {
	// Driver is "sqlite" (default) or "postgres".
	Driver string
	// Path is the SQLite file (default <data_dir>/backlogd.db).
	Path string
	// DSN is a secret reference to the PostgreSQL DSN (env:..., file:...).
	DSN string
}

// SyncConfig tunes the syncer; every field has a default.
type SyncConfig struct {
	// PollInterval between change listings of a target (default 30s);
	// a target may override it.
	PollInterval time.Duration
	// SweepInterval between full reconciles of every key (default 10m).
	SweepInterval time.Duration
	// Workers per target (default 2).
	Workers int
	// MaxBackoff caps retry back-off for a failing key (default 5m).
	MaxBackoff time.Duration
}

// LogConfig chooses the log format and level.
type LogConfig struct {
	// Format is "json" (default for run) or "text".
	Format string
	// Level is debug, info (default), warn or error.
	Level string
}

// Target is one tracker instance backlogd talks to.
type Target struct {
	// Name is how clients and metrics refer to it ("acme-github").
	Name string
	// Kind is the connector kind: github, jira, redmine, file, memory.
	Kind string
	// Settings is the connector's own block, decoded by the connector.
	Settings *yaml.Node
	// PollInterval overrides Sync.PollInterval when set.
	PollInterval time.Duration
	// File and Line locate the target in the daemon file, for errors.
	File string
	Line int
}

// FieldMap projects one canonical field onto a tracker field.
type FieldMap struct {
	// Field is the native field name ("labels", "summary", "Story Points").
	Field string
	// Values maps canonical values to native ones (status names): the
	// value backlogd writes for each.
	Values map[string]string
	// Aliases lists, per canonical value, the other native values that
	// read back as it (`done: [Resolved, Closed]` is Values done: Resolved
	// and Aliases done: [Closed]). They are never written: a record that
	// holds one keeps it while the canonical value stays, so a tracker
	// with two statuses for one canonical status causes no churn.
	Aliases map[string][]string
	// Template renders each value into the native field, "{value}" being
	// replaced ("phase/{value}"); on a multi-valued native field the
	// template also selects which native values belong to this field.
	Template string
	// Users maps values through the client's user map (assignee).
	Users bool
	// Direction defaults to Both.
	Direction Direction
	// Line is where the mapping was written, for errors.
	Line int
}

// Client is one client file: which part of the backlog a participant sees
// in its own tracker, and how each field looks there.
type Client struct {
	// ID names the client (items list it in their clients field).
	ID string
	// File is the client file's path, for errors.
	File string
	// Target is the name of the target the client lives in.
	Target string
	// Scope selects the items the client sees; Match on an item.
	Scope *Expr
	// Private fields are never sent to the tracker nor read from it.
	Private []backlog.Field
	// InternalComments lets internal comments reach this tracker (only
	// the product owner's own trackers).
	InternalComments bool
	// Fields maps canonical fields to native ones, in canonical order.
	Fields map[backlog.Field][]FieldMap
	// Users maps canonical user names to tracker user names.
	Users map[string]string
	// Policy decides conflicting edits (default canonical-wins).
	Policy Policy
	// Adopt says which unmarked records become canonical items.
	Adopt AdoptMode
	// AdoptFilter, when set, narrows adoption to records whose projection
	// matches it.
	AdoptFilter *Expr
	// AdoptDefaults fills canonical fields an adopted record does not map
	// (kind: bug, status: todo).
	AdoptDefaults backlog.Fields
	// OnScopeExit and OnRemoteDelete are the lifecycle actions.
	OnScopeExit    ScopeExit
	OnRemoteDelete RemoteDelete
	// CloseStatus is the canonical status pushed when OnScopeExit is close
	// (default cancelled).
	CloseStatus backlog.Status

	// idLine and targetLine locate the client and target keys, for
	// errors that span files.
	idLine, targetLine, internalLine int
}
