// Package postgres is the state store for several backlogd replicas
// sharing one PostgreSQL database: the same store.Store as store/sqlite
// (canonical items, links and their bases, cursors, the outbox, the
// conflict queue, seen webhook deliveries), plus what replicas need to
// split the targets between them: a heartbeat per replica, a lease per
// target with a fencing token, and wake-ups that tell a target's owner
// about work another replica recorded for it.
//
// # Transactions
//
// Store.Tx runs at REPEATABLE READ: every statement of a transaction
// reads the snapshot taken at its first one, and a transaction that
// writes a row a concurrent one changed after that snapshot is refused
// (SQLSTATE 40001, first updater wins) with an error wrapping
// store.ErrStale, which the syncer answers by reading again. That is the
// isolation the syncer's read-modify-writes need, since each of them
// writes the row it read (an item guarded by its version, a link, a
// cursor, a conflict, the id sequence); a transaction that only reads, or
// only inserts, never fails that way. SERIALIZABLE would also refuse
// transactions that read a row another one wrote (predicate locks over
// whole index ranges), which at the syncer's concurrency fails blind
// writes of unrelated keys and buys the syncer nothing: it already reads
// a key and writes its result in separate transactions, each guarded by
// versions and the outbox.
//
// A transaction takes a pooled connection at its first statement and
// sends BEGIN in the same round trip, so a transaction of n statements
// costs n+1 round trips (the last is COMMIT) and one that makes no
// statement costs none.
//
// # Fencing
//
// A context carrying a store.Fence makes its transactions check, in the
// same round trip as BEGIN, that the lease row still names the fence's
// holder and token and has at least a third of its TTL left, and lock the
// row FOR KEY SHARE until the commit. A takeover changes the token, which
// is part of a unique index, so it waits for that lock: a write either
// commits before the takeover or is refused with store.ErrFenced. A
// renewal changes no key column and waits for nothing.
//
// # Migrations
//
// Open applies the schema migrations the database lacks in one
// transaction under a transaction-level advisory lock, so replicas that
// start together on an empty database apply each step once, and the
// others wait for it and find the schema up to date. A database written
// by a newer backlogd is refused.
//
// # Secrets
//
// The DSN comes from a secret reference (store.dsn: env:BACKLOGD_PG_DSN)
// and never appears in an error this package returns: the DSN and its
// password are replaced by <redacted> in every error text, and a DSN that
// does not parse is reported without quoting it.
package postgres
