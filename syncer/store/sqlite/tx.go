package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"fmt"
	"math"
	"sync"

	"github.com/backlogd/backlogd/syncer/store"
)

// tx is one Store.Tx. It holds no connection until its first operation:
// a read takes a read connection and opens a snapshot there; the first
// write takes the write connection with BEGIN IMMEDIATE, so two writers
// never both hold a read lock and wait to upgrade it (the SQLITE_BUSY
// deadlock of deferred transactions), and every later operation runs on
// the write connection, where the transaction sees its own writes.
//
// Moving from the snapshot to the write connection is safe only if the
// snapshot is still the latest state, or at least everything read from it
// is unchanged; upgrade checks that, so transactions stay serializable.
type tx struct {
	s *Store
	// mu makes a Tx safe to share between goroutines inside fn, and keeps
	// Tx's commit from racing with a call still running.
	mu sync.Mutex
	rd *conn // read connection in use, until the first write
	wr *conn // write connection, from the first write on
	// gen0 is Store.gen as it was before the snapshot on rd was opened.
	gen0 uint64
	// reads lists what was read on rd, to be read again by upgrade.
	reads []readRec
	// wrote is set at the first write; until then the transaction sees
	// committed state only, and may use the list caches.
	wrote bool
	// versions caches tableVersions while nothing is written.
	versions *[2]int64
	// err, once set, fails every later operation and the commit.
	err  error
	done bool
}

// readRec is one read made on the snapshot: a statement and its arguments.
type readRec struct {
	id   stmtID
	args []any
}

// use returns the connection for the next operation.
func (t *tx) use(ctx context.Context, write bool) (*conn, error) {
	switch {
	case t.done:
		return nil, errEnded
	case t.err != nil:
		return nil, t.err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	t.wrote = t.wrote || write
	if t.wr != nil {
		return t.wr, nil
	}
	if !write && t.rd != nil {
		return t.rd, nil
	}
	if !write && t.s.readers != nil {
		c, err := t.s.acquire(ctx, t.s.readers)
		if err != nil {
			return nil, err
		}
		// Loaded before the snapshot exists (it opens at the first
		// SELECT), so any commit the snapshot misses bumps gen after this.
		t.gen0 = t.s.gen.Load()
		if _, err := c.exec(stBeginRead); err != nil {
			t.s.release(c)
			return nil, fmt.Errorf("begin: %w", err)
		}
		t.rd = c
		return c, nil
	}
	return t.upgrade(ctx)
}

var errEnded = fmt.Errorf("transaction already ended: a store.Tx must not be used after its function returns")

// upgrade takes the write connection and, when the transaction has been
// reading from a snapshot, checks that what it read still holds.
func (t *tx) upgrade(ctx context.Context) (*conn, error) {
	w, err := t.s.acquire(ctx, t.s.writer)
	if err != nil {
		return nil, err
	}
	if _, err := w.exec(stBeginWrite); err != nil {
		t.s.release(w)
		return nil, fmt.Errorf("begin writing: %w", err)
	}
	t.wr = w
	if t.rd == nil {
		return w, nil
	}
	current, err := t.readsCurrent()
	switch {
	case err != nil:
		t.err = fmt.Errorf("check what the transaction read: %w", err)
	case !current:
		t.err = fmt.Errorf("another transaction changed what this one read before its first write: %w", store.ErrStale)
	}
	if t.err != nil {
		t.endWrite(stRollback)
		return nil, t.err
	}
	t.endRead()
	return w, nil
}

// readsCurrent reports whether everything read on the snapshot reads the
// same on the write connection, which holds the latest state and the
// write lock. Usually nothing was committed since the snapshot opened and
// nothing needs reading again.
func (t *tx) readsCurrent() (bool, error) {
	s := t.s
	var dv int64
	row, err := t.wr.queryRow(stDataVersion)
	if err == nil {
		err = row.Scan(&dv)
	}
	if err != nil {
		return false, err
	}
	if dv != s.dataVersion {
		// Another process committed since the write connection last
		// looked. Count it like a commit of ours, so that a snapshot
		// opened before it is checked whoever notices it first.
		s.dataVersion = dv
		s.gen.Add(1)
	}
	if s.gen.Load() == t.gen0 {
		return true, nil
	}
	for _, r := range t.reads {
		then, err := rawRead(t.rd, r)
		if err != nil {
			return false, err
		}
		now, err := rawRead(t.wr, r)
		if err != nil {
			return false, err
		}
		if !bytes.Equal(then, now) {
			return false, nil
		}
	}
	return true, nil
}

// rawRead runs a recorded read and returns its rows as bytes.
func rawRead(c *conn, r readRec) ([]byte, error) {
	rows, err := c.query(r.id, r.args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	var b []byte
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		for _, v := range vals {
			switch v := v.(type) {
			case nil:
				b = append(b, 0)
			case int64:
				b = binary.AppendVarint(append(b, 1), v)
			case float64:
				b = binary.LittleEndian.AppendUint64(append(b, 2), math.Float64bits(v))
			case string:
				b = appendString(append(b, 3), v)
			case []byte:
				b = appendString(append(b, 4), string(v))
			default:
				b = appendString(append(b, 5), fmt.Sprint(v))
			}
		}
	}
	return b, rows.Err()
}

// record notes a read made on the snapshot, for upgrade.
func (t *tx) record(c *conn, id stmtID, args []any) {
	if c == t.rd {
		t.reads = append(t.reads, readRec{id, args})
	}
}

func (t *tx) endRead() {
	// A snapshot has nothing to commit; ROLLBACK ends it and cannot fail
	// for want of a lock.
	_, _ = t.rd.exec(stRollback)
	t.s.release(t.rd)
	t.rd, t.reads = nil, nil
}

func (t *tx) endWrite(how stmtID) error {
	_, err := t.wr.exec(how)
	if err != nil && how == stCommit {
		// A failed COMMIT can leave the transaction open.
		_, _ = t.wr.exec(stRollback)
	}
	if err == nil && how == stCommit {
		t.s.gen.Add(1) // before the release: see Store.gen
	}
	t.s.release(t.wr)
	t.wr = nil
	return err
}

func (t *tx) commit() error {
	t.done = true
	var err error
	if t.wr != nil {
		if err = t.endWrite(stCommit); err != nil {
			err = fmt.Errorf("sqlite: commit: %w", err)
		}
	}
	if t.rd != nil {
		t.endRead()
	}
	return err
}

func (t *tx) rollback() {
	t.done = true
	if t.wr != nil {
		_ = t.endWrite(stRollback)
	}
	if t.rd != nil {
		t.endRead()
	}
}

// finish rolls back a transaction that fn left by panicking.
func (t *tx) finish() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.done {
		t.rollback()
	}
}

// scanOne runs a query expected to return at most one row and hands the
// row to scan; it reports whether there was one.
func scanOne(rows *sql.Rows, scan func(*sql.Rows) error) (bool, error) {
	defer rows.Close()
	if !rows.Next() {
		return false, rows.Err()
	}
	if err := scan(rows); err != nil {
		return true, err
	}
	return true, rows.Close()
}

// tableVersions reads, once per transaction, the versions of the tables
// the list caches cover, and records the read: the versions stand for
// the tables' whole content.
func (t *tx) tableVersions(c *conn) (conflicts, intents int64, err error) {
	if t.versions == nil {
		t.record(c, stTableVersions, nil)
		row, err := c.queryRow(stTableVersions)
		var v [2]int64
		if err == nil {
			err = row.Scan(&v[0], &v[1])
		}
		if err != nil {
			return 0, 0, err
		}
		t.versions = &v
	}
	return t.versions[0], t.versions[1], nil
}
