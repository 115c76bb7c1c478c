// Package syncer keeps the canonical backlog and every client's tracker
// in step, in both directions.
//
// Detection (polls with cursors, webhooks, periodic sweeps) only enqueues
// keys. A worker per target takes one key (a canonical item on that
// target), reads both sides as they are now, and runs a per-field 3-way
// merge against the base both sides agreed on at the last sync: one side
// changed, it flows to the other; both changed, the client's conflict
// policy decides; nothing changed, nothing is written — which is also how
// the webhook triggered by our own write dies (echo suppression without
// markers or timing windows). Every remote write is announced in the
// store's outbox first, and a create first looks for the item's marker on
// the tracker, so a crash never duplicates a record nor loses an update.
package syncer
