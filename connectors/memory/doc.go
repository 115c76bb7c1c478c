// Package memory is an in-process tracker and its connector, for tests,
// benchmarks, the syncer's property tests and `kind: memory` targets in
// a demo config. Its data lives in the process only: a daemon restart
// starts it empty (the syncer then recreates or relinks what it knows, as
// after any lost tracker), so never point a real client at it.
//
// # Records
//
// Fields are free-form: a record's fields are whatever was written, names
// and values as given, multi-valued ones in the order given (empty values
// are dropped, and a field with no values is unset). Options.Fields
// declares them instead, and writes are then checked like a strict
// tracker's: undeclared or read-only fields, several values in a
// single-valued field and values outside a field's list are terminal
// errors. Each record has an id ("12"), a key ("MEM-12"), a version that
// moves on every change (fields, marker, comments), created and updated
// times from Options.Now, comments (internal ones allowed unless
// Options.NoInternalComments) and a marker.
//
// Update checks the version it is given (optimistic locking, like Jira
// and Redmine): a stale one is connectors.ErrConflict. A write that
// changes nothing changes no version and lists nothing.
//
// # Changes
//
// Every change gives the record the next number of a tracker-wide
// sequence; Changes lists live records by that number, PageSize a page,
// which is an updated-since listing with a perfect clock: a record edited
// while a listing is under way moves to its end and is listed again, one
// that did not change is never listed twice, deleted records vanish.
// Records from Changes carry no comments; Get loads them. FindByMarker
// sees a record the moment it is created.
//
// # Test controls
//
// Tracker also acts as a person in the tracker (AddRecord, Edit, Delete,
// AddComment, which bump versions and times like any change but are not
// counted or failed) and as a misbehaving server: per-call latency,
// injected transient errors at a seeded, deterministic rate, rate limits
// (*connectors.RateLimitError with RetryAfter) for the next calls or at a
// rate, terminal rejections, failures of every call about one item
// (FailItem) or of every write while reads work (FailWrites), and a
// create whose answer is lost after it happened. Calls counts connector
// calls per operation, for "API calls per changed item" in benchmarks.
//
// With Options.WebhookSecret set the connector also receives webhooks:
// Options.Webhook is handed a signed delivery after each change, which
// ParseWebhook verifies and decodes.
//
// # Settings
//
//	targets:
//	  - name: demo-memory
//	    kind: memory
//	    settings:
//	      page_size: 100      # records per Changes page, 1..1000
//	      latency: 5ms        # added to every call
//	      error_rate: 0.01    # share of calls failing with a transient error
//	      seed: 1             # makes error_rate's failures repeatable
package memory
