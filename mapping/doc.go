// Package mapping is where the canonical backlog and the trackers meet:
// it loads backlogd's configuration and, for each client, projects
// canonical items onto the client's tracker fields and reads them back.
//
// # Configuration
//
// Load reads the daemon file (configs/backlogd.yaml: listener, data
// directory, store, sync tuning, targets) and one file per client
// (configs/clients/<id>.yaml: target, scope, private fields, field maps,
// conflict policy, adoption and lifecycle rules). Decoding is strict and
// exhaustive: every unknown key, bad value, unknown canonical field,
// unknown target, duplicate name or literal secret is reported as a
// *ConfigError "file:line: what is wrong; what to do", all of them at
// once, sorted by file and line. Defaults live in defaults.go only.
//
// # Projection
//
// A client's field maps route each canonical field to one or more native
// fields, through a user map, a value map and a template, in that order:
//
//	status: {field: state, values: {todo: open, done: closed}}
//	phase:  {field: labels, template: "phase/{value}"}
//	labels: labels
//
// A value map may give a canonical value several native values, as a
// list: `values: {done: [Resolved, Closed], cancelled: Rejected}`. The
// first is the one written; every one reads back as the canonical value
// (FieldMap.Aliases holds the rest). Several canonical values may share
// a first value — a lossy map, such as three statuses on GitHub's open —
// but a value listed after the first must stand for one canonical value
// only, or reading it back would be ambiguous: Load refuses it anywhere
// else in the map.
//
// Project takes the synced fields of an item (mapped, not private);
// ToRecord renders them as native fields, keeping values of shared
// multi-valued fields that no mapped field owns (a label a person added)
// and values that read as what is being written (a record set to Closed
// while the item stays done is not rewritten to Resolved); FromRecord
// reads them back, returning the last-synced base value whenever the
// record still reads as it, so lossy maps and aliases never read as
// edits. The syncer's 3-way merge runs on the results, and relies on
//
//	FromRecord(ToRecord(p, nil), p) == p
//	FromRecord(r, p) == p and ToRecord(p, r) == r, for a record r that
//	holds aliases where ToRecord(p, nil) holds first values
//
// which the property tests check for random items and configs.
//
// # Scope expressions
//
// Scopes and adoption filters are small boolean expressions over
// canonical fields (see Expr), compiled once at load.
//
// # Comments
//
// CommentAllowed keeps internal comments on the product owner's trackers;
// ToComment and FromComment map authors and @mentions through the user
// map and neutralise mentions of people the tracker does not know and
// #123 issue references, which would link an unrelated issue there.
// ToRecord and FromRecord do the same for descriptions and acceptance
// criteria, leaving alone the tokens a person typed in the tracker.
package mapping
