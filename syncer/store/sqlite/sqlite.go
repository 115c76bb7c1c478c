package sqlite

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/backlogd/backlogd/backlog"
	"github.com/backlogd/backlogd/syncer/store"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// Memory is the path that opens a private in-memory database, for tests
// and dry runs: nothing is written to disk and everything is gone after
// Close. Every transaction then runs on one connection.
const Memory = ":memory:"

const (
	defaultPrefix = "BL"
	// busyTimeout bounds how long a connection waits for a lock another
	// process holds (the CLI's `conflicts resolve` next to the daemon).
	busyTimeout = 5 * time.Second
	// deliveryRetention is how long a webhook delivery id is remembered;
	// trackers redeliver within minutes or hours, not weeks.
	deliveryRetention = 7 * 24 * time.Hour
	// pruneEvery spaces the deletes of forgotten deliveries.
	pruneEvery = time.Hour
)

var errClosed = errors.New("sqlite: store is closed")

// Option configures Open.
type Option func(*options)

type options struct {
	prefix  string
	readers int
	now     func() time.Time
}

// WithIDPrefix sets the prefix of the ids NextItemID allocates ("BL" gives
// BL-1, BL-2, ...). It must be capital letters and digits, starting with a
// letter; "" keeps the default "BL".
func WithIDPrefix(prefix string) Option {
	return func(o *options) {
		if prefix != "" {
			o.prefix = prefix
		}
	}
}

// WithReaders sets how many connections serve transactions that only
// read, side by side; 0 runs every transaction on the one write
// connection. The default is the number of CPUs, at least 2.
func WithReaders(n int) Option {
	return func(o *options) { o.readers = max(n, 0) }
}

// WithClock sets the clock that stamps Item.Updated (time.Now by default),
// for tests.
func WithClock(now func() time.Time) Option {
	return func(o *options) {
		if now != nil {
			o.now = now
		}
	}
}

// Store is the SQLite state store. It is safe for concurrent use: several
// transactions that only read run at once on their own connections, and
// transactions that write run one at a time on the write connection.
type Store struct {
	path   string
	prefix string
	now    func() time.Time
	dsn    string

	items     *itemCache
	conflicts listCache[store.Conflict]
	intents   listCache[store.Intent]

	// writer holds the one write connection while it is free; readers
	// holds the free read connections (nil when there are none).
	writer  chan *conn
	readers chan *conn
	nconns  int

	closing   chan struct{}
	closeOnce sync.Once
	closeErr  error

	// gen counts write transactions committed by this process, plus the
	// writes of other processes the write connection noticed; a read
	// transaction that starts writing compares it with the value it saw
	// when it started reading (see tx.upgrade).
	gen atomic.Uint64
	// dataVersion is the write connection's PRAGMA data_version when it
	// last looked; only the holder of the write connection uses it.
	dataVersion int64
	// nextPrune is when SeeDelivery next deletes forgotten deliveries, in
	// Unix nanoseconds of the deliveries' own clock.
	nextPrune atomic.Int64
}

var _ store.Store = (*Store)(nil)

// Open opens (creating it and its directory when missing) the SQLite
// database at path and brings its schema up to date. Memory (":memory:")
// opens a private in-memory database.
func Open(ctx context.Context, path string, opts ...Option) (*Store, error) {
	o := options{prefix: defaultPrefix, readers: max(2, runtime.NumCPU()), now: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	if !backlog.ValidID(o.prefix + "-1") {
		return nil, fmt.Errorf("sqlite: id prefix %q must be capital letters and digits starting with a letter, like BL", o.prefix)
	}
	if path == "" {
		return nil, errors.New("sqlite: no database path given")
	}
	memory := path == Memory
	if memory {
		o.readers = 0
	} else {
		abs, err := filepath.Abs(path)
		if err != nil {
			return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
		}
		path = abs
		if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
			return nil, fmt.Errorf("sqlite: create the directory of %s: %w", path, err)
		}
	}
	s := &Store{path: path, prefix: o.prefix, now: o.now, closing: make(chan struct{}), items: newItemCache()}
	if err := s.open(ctx, memory, o.readers); err != nil {
		s.abandon()
		return nil, err
	}
	return s, nil
}

func dsn(path string, memory bool) string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()))
	if memory {
		return ":memory:?" + q.Encode()
	}
	// The URI form keeps a path holding '?' or '#' intact.
	return (&url.URL{Scheme: "file", Path: path, RawQuery: q.Encode()}).String()
}

func (s *Store) open(ctx context.Context, memory bool, readers int) error {
	s.dsn = dsn(s.path, memory)
	s.writer = make(chan *conn, 1)
	w, err := s.newConn(ctx, true)
	if err != nil {
		return err
	}
	s.nconns = 1
	s.writer <- w // still held by open: nothing else can take it yet
	var mode string
	if err := w.c.QueryRowContext(ctx, "PRAGMA journal_mode=WAL").Scan(&mode); err != nil {
		return fmt.Errorf("sqlite: open %s: %w", s.path, err)
	}
	if mode != "wal" {
		// Without WAL (a memory database, a file system without shared
		// memory) readers and the writer lock each other out: run every
		// transaction on the write connection.
		readers = 0
	}
	for _, p := range []string{
		// In WAL mode NORMAL loses no commit when the process dies, only
		// the last ones if the machine loses power; the outbox and the
		// markers make that safe (a create is looked up before it is
		// redone), and FULL would cost an fsync per transaction.
		"PRAGMA synchronous=NORMAL",
		"PRAGMA temp_store=MEMORY",
		"PRAGMA cache_size=-16384", // KiB
		"PRAGMA journal_size_limit=67108864",
	} {
		if _, err := w.c.ExecContext(ctx, p); err != nil {
			return fmt.Errorf("sqlite: open %s: %s: %w", s.path, p, err)
		}
	}
	if err := s.migrate(ctx, w); err != nil {
		return err
	}
	if err := w.c.QueryRowContext(ctx, "PRAGMA data_version").Scan(&s.dataVersion); err != nil {
		return fmt.Errorf("sqlite: open %s: %w", s.path, err)
	}
	if readers > 0 {
		s.readers = make(chan *conn, readers)
		for range readers {
			r, err := s.newConn(ctx, false)
			if err != nil {
				return err
			}
			s.nconns++
			s.readers <- r
		}
	}
	return nil
}

// abandon closes what a failed open opened.
func (s *Store) abandon() {
	for _, ch := range []chan *conn{s.writer, s.readers} {
		for len(ch) > 0 {
			(<-ch).close()
		}
	}
}

// Close waits for the transactions under way, checkpoints the
// write-ahead log into the database file and closes it. Closing twice is
// a no-op.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.closing)
		var conns []*conn
		for len(conns) < s.nconns {
			select {
			case c := <-s.writer:
				conns = append(conns, c)
			case c := <-s.readers: // a nil channel never delivers
				conns = append(conns, c)
			}
		}
		var errs []error
		for _, c := range conns {
			if c.write {
				// Keep the query planner's statistics fresh, as SQLite
				// advises at close, and leave one self-contained file
				// behind; a failure only means the log is replayed at the
				// next open.
				_, _ = c.c.ExecContext(context.Background(), "PRAGMA optimize")
				_, _ = c.c.ExecContext(context.Background(), "PRAGMA wal_checkpoint(TRUNCATE)")
			}
			errs = append(errs, c.close())
		}
		if err := errors.Join(errs...); err != nil {
			s.closeErr = fmt.Errorf("sqlite: close %s: %w", s.path, err)
		}
	})
	return s.closeErr
}

// acquire takes a free connection from ch, waiting for one.
func (s *Store) acquire(ctx context.Context, ch chan *conn) (*conn, error) {
	select {
	case <-s.closing:
		return nil, errClosed
	default:
	}
	select {
	case c := <-ch:
		return c, nil
	default:
	}
	select {
	case c := <-ch:
		return c, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-s.closing:
		return nil, errClosed
	}
}

func (s *Store) release(c *conn) {
	if c.write {
		s.writer <- c
	} else {
		s.readers <- c
	}
}

// Tx runs fn in one transaction: committed when fn returns nil, rolled
// back when it returns an error, which Tx returns. fn runs exactly once.
//
// A transaction starts on a read connection and moves to the write
// connection at its first write. If another transaction committed in
// between and changed something fn had read, the write fails with an
// error wrapping store.ErrStale and the whole transaction is rolled back:
// fn decided on a state that is gone, so the caller reads again. A
// transaction whose first operation is a write never fails that way.
//
// A Tx must not be used after fn returns, and fn must not call Tx again
// (the inner transaction could wait for the outer one forever).
func (s *Store) Tx(ctx context.Context, fn func(store.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	t := &tx{s: s}
	defer t.finish() // also when fn panics
	err := fn(t)
	t.mu.Lock()
	defer t.mu.Unlock()
	if err == nil {
		err = t.err // a write refused as stale, which fn may have dropped
	}
	if err != nil {
		t.rollback()
		return err
	}
	return t.commit()
}
