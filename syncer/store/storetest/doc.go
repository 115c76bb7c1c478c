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
// Times are written in a zone other than UTC with microsecond precision
// and must read back as the same instant in UTC.
package storetest
