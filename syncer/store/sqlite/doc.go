// Package sqlite is the embedded default state store: the syncer's whole
// state (canonical items, links and their bases, cursors, the outbox, the
// conflict queue, seen webhook deliveries) in one SQLite file in the data
// directory, with nothing to install (modernc.org/sqlite is pure Go).
//
// It implements store.Store, which every reconcile step goes through:
// the syncer reads a key's item, link, conflicts and intents in one
// transaction, records an intent before a remote write and the new base
// with the link after it, each in one transaction, so a crash leaves
// either the old state or the new one. Open creates the file and its
// directory, switches the database to write-ahead logging and applies
// the schema migrations the file lacks, refusing a file written by a
// newer backlogd.
//
// Transactions that only read run side by side on read connections, each
// on its own snapshot; transactions that write take the one write
// connection with BEGIN IMMEDIATE. A transaction that reads and then
// writes moves to the write connection at its first write, after checking
// that what it read has not changed meanwhile; when it has, the write
// fails with store.ErrStale and the caller reads again. Another process
// (the CLI's `backlogd conflicts resolve` next to a running daemon) may
// use the same file; SQLite's locks and busy timeout order the two.
//
// Decoded items and the lists of open conflicts and pending intents, which
// every reconcile reads, are cached, keyed by what the database holds (an
// item's stored bytes, a table version that triggers maintain), so a cache
// can never answer differently from the file.
package sqlite
