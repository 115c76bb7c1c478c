// Package storetest is the conformance suite of store.Store: what the
// syncer relies on from its state store, checked the same way for every
// implementation (store/sqlite now, a PostgreSQL store later).
//
// A store's tests call Run with a Harness that makes fresh, empty stores
// and, when the store persists, reopens one:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, storetest.Harness{New: newStore, Reopen: reopen})
//	}
//
// The suite covers round trips of every field of items, links, intents
// and conflicts (it fails when one of those types grows a field its
// fixtures leave empty), ErrNotFound and ErrStale, rollback of a failed
// transaction, isolation under concurrent read-modify-write (no lost
// update, retrying on ErrStale as the syncer does), unique ids, the
// conflict queue's replacement rule, webhook de-duplication, and, with
// Reopen, that the outbox and everything else survive a restart.
//
// Stores that several replicas share (store.Leaser) also run the lease
// subtests, with a second replica on the same database (Harness.Peer):
// leases taken, renewed, released and taken over with a higher token,
// heartbeats, fenced transactions refused with store.ErrFenced once their
// lease moved (a takeover waits for the old holder's transaction in
// flight), and wake-ups. Other stores skip them.
//
// Times are written in a zone other than UTC with microsecond precision
// and must read back as the same instant in UTC.
package storetest
