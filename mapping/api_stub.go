package mapping

// This file pins the API the syncer uses. The mapping implementer replaces
// every body (and may move functions to other files); signatures and the
// documented laws are the contract.

import (
	"errors"

	"github.com/backlogd/backlogd/backlog"
	"github.com/backlogd/backlogd/connectors"
)

var errUnimplemented = errors.New("mapping: not implemented yet")

// Expr is a compiled scope or filter expression over canonical fields:
//
//	clients has "acme" and kind in [story, bug] and not phase = launch
//
// Operators: = != (scalar fields), has (list fields), in [a, b] (scalar in
// a list), and, or, not, parentheses; the literal `all` matches every item.
type Expr struct{ src string }

// String returns the expression's source text.
func (e *Expr) String() string { return e.src }

// Match reports whether the projected fields satisfy the expression.
func (e *Expr) Match(f backlog.Fields) bool { return false }

// ParseExpr compiles an expression; errors name the column and the fix.
func ParseExpr(src string) (*Expr, error) { return nil, errUnimplemented }

// Load reads the daemon file at path and every client file in its
// clients directory (clients_dir, default "clients" beside it), strictly:
// unknown keys, bad values, unknown fields, unknown targets and duplicate
// client ids are errors of the form "file:line: what is wrong; what to do".
// Every error found is reported, not just the first (errors.Join).
func Load(path string) (*Config, error) { return nil, errUnimplemented }

// Client returns the client with the given id.
func (c *Config) Client(id string) (*Client, bool) { return nil, false }

// Target returns the target with the given name.
func (c *Config) Target(name string) (Target, bool) { return Target{}, false }

// ClientsOf returns the clients living in target name.
func (c *Config) ClientsOf(target string) []*Client { return nil }

// InScope reports whether the client sees the item.
func (c *Client) InScope(it backlog.Item) bool { return false }

// Synced lists the canonical fields this client syncs: mapped and not
// private, in backlog.AllFields order.
func (c *Client) Synced() []backlog.Field { return nil }

// DirectionOf returns the direction of a synced field.
func (c *Client) DirectionOf(f backlog.Field) Direction { return Both }

// Project returns the item's values of the Synced fields. Private fields
// never appear.
func (c *Client) Project(it backlog.Item) backlog.Fields { return nil }

// ToRecord renders canonical values (a Project result) as native fields.
// current is the record's present native fields (nil on create): values
// of a multi-valued native field that no mapped canonical field owns (a
// label a person added in the tracker) are kept. It returns every native
// field the mapping writes, complete.
func (c *Client) ToRecord(f backlog.Fields, current connectors.Fields) connectors.Fields {
	return nil
}

// FromRecord reads the Synced fields back from a record. base is the
// last-synced projection (nil when there is none): for each field whose
// native rendering of base equals the record's native value, the base
// value is returned unchanged, so a lossy value map (three statuses on
// GitHub's "open") never reads as a remote change. Values the map cannot
// translate are errors naming the client file, field and value.
//
// Law: FromRecord(ToRecord(p, nil), p) == p, and for an injective map
// FromRecord(ToRecord(p, nil), nil) == p.
func (c *Client) FromRecord(r connectors.Record, base backlog.Fields) (backlog.Fields, error) {
	return nil, errUnimplemented
}

// CommentAllowed reports whether a canonical comment may reach the
// tracker (never an internal one unless InternalComments).
func (c *Client) CommentAllowed(cm backlog.Comment) bool { return false }

// ToComment renders a canonical comment for the tracker (author through
// the user map, mentions mapped or neutralised).
func (c *Client) ToComment(cm backlog.Comment) connectors.Comment { return connectors.Comment{} }

// FromComment reads a tracker comment as a canonical one (visibility
// internal when the tracker comment is internal, else client).
func (c *Client) FromComment(rc connectors.Comment) backlog.Comment { return backlog.Comment{} }

// Check validates the client against the connector's declared
// capabilities: native fields exist and are writable where pushed, mapped
// values are among the field's allowed values. Errors name file:line.
func (c *Client) Check(caps connectors.Capabilities) error { return errUnimplemented }
