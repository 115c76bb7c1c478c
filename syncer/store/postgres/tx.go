package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/backlogd/backlogd/syncer/store"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

const (
	beginSQL = "BEGIN ISOLATION LEVEL REPEATABLE READ"
	fenceSQL = "SELECT backlogd_fence($1, $2, $3, $4)"
)

var errEnded = errors.New("transaction already ended: a store.Tx must not be used after its function returns")

// Tx runs fn in one REPEATABLE READ transaction: committed when fn
// returns nil, rolled back when it returns an error, which Tx returns. fn
// runs exactly once. Every statement reads the snapshot taken at the
// first one; when fn writes a row that a concurrent transaction changed
// after that snapshot, PostgreSQL refuses the write and Tx returns an
// error wrapping store.ErrStale. When ctx carries a store.Fence whose
// lease is gone, Tx returns one wrapping store.ErrFenced. In both cases
// nothing was written.
//
// A statement that fails fails the whole transaction, even if fn ignores
// the error. A Tx must not be used after fn returns; it is safe to use
// from several goroutines inside fn (its statements run one at a time).
func (s *Store) Tx(ctx context.Context, fn func(store.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.closed.Load() {
		return errClosed
	}
	t := &tx{s: s}
	if f, ok := store.FenceOf(ctx); ok {
		t.fence = &f
	}
	defer t.finish() // also when fn panics
	err := fn(t)
	t.mu.Lock()
	defer t.mu.Unlock()
	if err == nil {
		err = t.err // a statement that failed, which fn may have dropped
	}
	if err != nil {
		t.end(ctx, false)
		return err
	}
	return t.end(ctx, true)
}

// tx is one Store.Tx. It holds no connection until its first statement,
// which it sends in one round trip with BEGIN (and the fence check).
type tx struct {
	s     *Store
	fence *store.Fence
	// mu serialises statements (one connection runs one at a time) and
	// keeps Tx's commit from racing with a statement still running.
	mu   sync.Mutex
	conn *pgxpool.Conn
	// err, once set, fails every later statement and the commit.
	err  error
	done bool
}

// run sends one statement and hands each row to scan (nil: rows are
// discarded); it returns the statement's command tag. The first
// statement of the transaction travels with BEGIN. Callers hold t.mu.
func (t *tx) run(ctx context.Context, op, sql string, args []any, scan func(pgx.Rows) error) (pgconn.CommandTag, error) {
	switch {
	case t.done:
		return pgconn.CommandTag{}, t.s.wrap(op, errEnded)
	case t.err != nil:
		return pgconn.CommandTag{}, t.err
	}
	if err := ctx.Err(); err != nil {
		return pgconn.CommandTag{}, fmt.Errorf("postgres: %s: %w", op, err)
	}
	tag, err := t.send(ctx, sql, args, scan)
	if err != nil {
		// The server aborted the transaction, the connection is gone, or
		// a row did not decode: either way fn cannot have what it asked
		// for, and nothing later in the transaction may commit.
		t.err = t.s.wrap(op, err)
		return tag, t.err
	}
	return tag, nil
}

func (t *tx) send(ctx context.Context, sql string, args []any, scan func(pgx.Rows) error) (pgconn.CommandTag, error) {
	if t.conn != nil {
		t.s.roundTrips.Add(1)
		rows, err := t.conn.Conn().Query(ctx, sql, args...)
		if err != nil {
			return pgconn.CommandTag{}, err
		}
		return readRows(rows, scan)
	}
	if t.s.closed.Load() {
		return pgconn.CommandTag{}, errClosed
	}
	conn, err := t.s.pool.Acquire(ctx)
	if err != nil {
		return pgconn.CommandTag{}, err
	}
	t.conn = conn
	b := &pgx.Batch{}
	b.Queue(beginSQL)
	if f := t.fence; f != nil {
		b.Queue(fenceSQL, f.Target, f.Holder, f.Token, micros(t.s.ttl/3))
	}
	b.Queue(sql, args...)
	t.s.roundTrips.Add(1)
	br := conn.Conn().SendBatch(ctx, b)
	tag, err := func() (pgconn.CommandTag, error) {
		if _, err := br.Exec(); err != nil {
			return pgconn.CommandTag{}, err
		}
		if t.fence != nil {
			if _, err := br.Exec(); err != nil {
				return pgconn.CommandTag{}, err
			}
		}
		rows, err := br.Query()
		if err != nil {
			return pgconn.CommandTag{}, err
		}
		return readRows(rows, scan)
	}()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return tag, err
}

func readRows(rows pgx.Rows, scan func(pgx.Rows) error) (pgconn.CommandTag, error) {
	defer rows.Close()
	for rows.Next() {
		if scan == nil {
			continue
		}
		if err := scan(rows); err != nil {
			return pgconn.CommandTag{}, err
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return pgconn.CommandTag{}, err
	}
	return rows.CommandTag(), nil
}

// end commits or rolls back, and gives the connection back. COMMIT runs
// even when ctx has ended: fn's work is complete, and abandoning it then
// would only make the outcome unknown. Callers hold t.mu.
func (t *tx) end(ctx context.Context, commit bool) error {
	t.done = true
	if t.conn == nil {
		return nil
	}
	conn := t.conn
	t.conn = nil
	defer conn.Release() // the pool drops a connection left inside a transaction
	ectx, cancel := context.WithTimeout(context.WithoutCancel(ctx), endTimeout)
	defer cancel()
	t.s.roundTrips.Add(1)
	if !commit {
		_, _ = conn.Exec(ectx, "ROLLBACK")
		return nil
	}
	tag, err := conn.Exec(ectx, "COMMIT")
	if err != nil {
		return t.s.wrap("commit", err)
	}
	if tag.String() == "ROLLBACK" {
		// The server had aborted the transaction; run would have seen
		// that, so this is a guard, not a path.
		return t.s.wrap("commit", fmt.Errorf("the server rolled the transaction back: %w", store.ErrStale))
	}
	return nil
}

// finish rolls back a transaction that fn left by panicking.
func (t *tx) finish() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.done {
		t.end(context.Background(), false)
	}
}
