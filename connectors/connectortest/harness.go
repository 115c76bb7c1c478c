package connectortest

import (
	"testing"
	"time"

	"github.com/backlogd/backlogd/connectors"
)

// Harness is what a connector's test gives the conformance suite: a way to
// get a connector on an empty tracker project, and hooks into the tracker
// (fake or real) for what only a user or the server can do. A nil hook
// skips the subtests that need it, with a message; fakes provide them all.
type Harness struct {
	// New returns a connector on a fresh, empty project (or one whose
	// existing records the suite may ignore: the suite only looks at
	// records it created itself).
	New func(t *testing.T) connectors.Connector

	// Reconnect returns a new connector on the project c works on, as a
	// restarted daemon or another replica would make it: it shares no
	// memory with c (nil: the subtests that need one use c itself, and
	// cannot tell what c remembers from what the tracker holds).
	Reconnect func(t *testing.T, c connectors.Connector) connectors.Connector

	// Sample returns writable native fields for the i-th record the suite
	// creates (i counts from 0); Sample(i)[TitleField] must be unique per
	// i. Every field must read back as written (multi-valued fields in
	// any order), so leave out values the tracker normalises.
	Sample func(i int) connectors.Fields
	// TitleField is the native field holding the title ("title", "summary").
	TitleField string
	// MultiField, when set, names a multi-valued writable field (labels)
	// whose values the suite sets and reads back; Sample gives it at least
	// two values.
	MultiField string
	// PageSize is the connector's page size for Changes (the connector
	// must be configured with it); the suite creates 2*PageSize+1 records
	// to cross pages and checks that no page holds more than PageSize of
	// them. Keep it small. 0 means the connector does not page: the
	// suite then creates a few records and checks only the listing.
	PageSize int

	// Edit changes a record behind the connector's back, as a person in
	// the tracker would (nil: the suite uses Connector.Update).
	Edit func(t *testing.T, id string, fields connectors.Fields)
	// Delete removes a record behind the connector's back (nil: skip).
	Delete func(t *testing.T, id string)
	// RateLimitNext makes the tracker answer the next request with a rate
	// limit asking to wait retryAfter (nil: skip).
	RateLimitNext func(t *testing.T, retryAfter time.Duration)
	// RejectNext makes the tracker refuse the next request in a way
	// retrying never fixes, such as bad credentials (nil: skip).
	RejectNext func(t *testing.T)
	// CrashAfterNextCreate simulates a crash right after the tracker
	// performed a create but before the caller saw the answer: the next
	// Create call succeeds on the server and then fails in the caller
	// (nil: skip).
	CrashAfterNextCreate func(t *testing.T)
	// Settle waits out the tracker's clock resolution (GitHub's one-second
	// since, Redmine's seconds) before an edit that must read as newer.
	// Nil means no wait is needed.
	Settle func()
}
