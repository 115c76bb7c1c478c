package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/backlogd/backlogd/backlog"
	"github.com/backlogd/backlogd/syncer/store"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

const (
	defaultPrefix = "BL"
	// DefaultLeaseTTL is how long a replica's heartbeat and leases last
	// unrenewed: a replica that dies has its targets taken over about
	// this long after its last renewal.
	DefaultLeaseTTL = 15 * time.Second
	// defaultMaxConns bounds the pool when the DSN does not
	// (pool_max_conns=N): a target's workers, its poller, the lease loop
	// and the listener each hold one at times.
	defaultMaxConns = 16
	// deliveryRetention is how long a webhook delivery id is remembered;
	// trackers redeliver within minutes or hours, not weeks.
	deliveryRetention = 7 * 24 * time.Hour
	// pruneEvery spaces the deletes of forgotten deliveries.
	pruneEvery = time.Hour
	// endTimeout bounds COMMIT and ROLLBACK, which run even when the
	// transaction's context has ended (the work is done; only the
	// outcome is being recorded).
	endTimeout = 10 * time.Second
)

var errClosed = errors.New("postgres: store is closed")

var schemaRE = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// Option configures Open.
type Option func(*options)

type options struct {
	prefix   string
	schema   string
	ttl      time.Duration
	replica  string
	now      func() time.Time
	maxConns int32
}

// WithIDPrefix sets the prefix of the ids NextItemID allocates ("BL" gives
// BL-1, BL-2, ...); "" keeps the default "BL".
func WithIDPrefix(prefix string) Option {
	return func(o *options) {
		if prefix != "" {
			o.prefix = prefix
		}
	}
}

// WithSchema keeps the store's tables in the named schema (created when
// missing) instead of the DSN's search_path, so that several stores can
// share one database: tests, or one backlogd per product owner. Names
// are lower-case letters, digits and underscores. A DSN whose
// search_path is one such name (postgres://...?search_path=backlogd)
// does the same.
func WithSchema(name string) Option {
	return func(o *options) { o.schema = name }
}

// WithLeaseTTL sets how long heartbeats and leases last unrenewed
// (DefaultLeaseTTL when 0). Every replica of one store must use the same.
func WithLeaseTTL(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.ttl = d
		}
	}
}

// WithReplicaID sets this process's replica id (default: the host name
// and a random suffix, unique per process).
func WithReplicaID(id string) Option {
	return func(o *options) {
		if id != "" {
			o.replica = id
		}
	}
}

// WithClock sets the clock that stamps Item.Updated (time.Now by default),
// for tests. Leases and heartbeats always use the database's clock, the
// one every replica shares.
func WithClock(now func() time.Time) Option {
	return func(o *options) {
		if now != nil {
			o.now = now
		}
	}
}

// WithMaxConns bounds the connection pool; 0 keeps the DSN's
// pool_max_conns or the default, 16.
func WithMaxConns(n int) Option {
	return func(o *options) {
		if n > 0 {
			o.maxConns = int32(n)
		}
	}
}

// Store is the PostgreSQL state store; safe for concurrent use.
type Store struct {
	pool    *pgxpool.Pool
	prefix  string
	schema  string
	channel string
	ttl     time.Duration
	replica string
	host    string
	now     func() time.Time
	secrets []string // the DSN and its password, scrubbed from errors

	roundTrips atomic.Int64
	// nextPrune is when SeeDelivery next deletes forgotten deliveries, in
	// Unix nanoseconds of the deliveries' own clock.
	nextPrune atomic.Int64

	closeOnce sync.Once
	closed    atomic.Bool
}

var (
	_ store.Store  = (*Store)(nil)
	_ store.Leaser = (*Store)(nil)
	_ store.Waker  = (*Store)(nil)
)

// Open connects to the PostgreSQL database dsn names and brings its
// schema up to date. dsn is the revealed secret; it never appears in an
// error.
func Open(ctx context.Context, dsn string, opts ...Option) (*Store, error) {
	o := options{prefix: defaultPrefix, ttl: DefaultLeaseTTL, now: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	if !backlog.ValidID(o.prefix + "-1") {
		return nil, fmt.Errorf("postgres: id prefix %q must be capital letters and digits starting with a letter, like BL", o.prefix)
	}
	if o.schema != "" && !schemaRE.MatchString(o.schema) {
		return nil, fmt.Errorf("postgres: schema name %q must be lower-case letters, digits and underscores, starting with a letter", o.schema)
	}
	if strings.TrimSpace(dsn) == "" {
		return nil, errors.New("postgres: the DSN is empty; store.dsn must name a secret holding a connection string like postgres://user:password@host:5432/db")
	}
	s := &Store{
		prefix: o.prefix, schema: o.schema, ttl: o.ttl, now: o.now,
		secrets: secretsOf(dsn),
	}
	s.host, _ = os.Hostname()
	if s.host == "" {
		s.host = "unknown"
	}
	s.replica = o.replica
	if s.replica == "" {
		var b [4]byte
		_, _ = rand.Read(b[:])
		s.replica = s.host + "-" + hex.EncodeToString(b[:])
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx's message may quote part of the input; say nothing of it.
		return nil, errors.New("postgres: the DSN from store.dsn is not a valid connection string; " +
			"write it like postgres://user:password@host:5432/db?sslmode=verify-full or host=... user=... dbname=...")
	}
	if o.maxConns > 0 {
		cfg.MaxConns = o.maxConns
	} else if !strings.Contains(dsn, "pool_max_conns") {
		cfg.MaxConns = defaultMaxConns
	}
	if _, ok := cfg.ConnConfig.RuntimeParams["application_name"]; !ok {
		cfg.ConnConfig.RuntimeParams["application_name"] = "backlogd"
	}
	if _, ok := cfg.ConnConfig.RuntimeParams["idle_in_transaction_session_timeout"]; !ok {
		// A replica paused (or cut off) in the middle of a transaction
		// keeps its row locks, the fence's among them, which a takeover
		// waits for. The server ends such a session well before the
		// lease expires; the syncer never holds a transaction open
		// across a tracker call, so a live replica never idles that long.
		cfg.ConnConfig.RuntimeParams["idle_in_transaction_session_timeout"] = fmt.Sprint(max(o.ttl/2, time.Second).Milliseconds())
	}
	if sp, ok := cfg.ConnConfig.RuntimeParams["search_path"]; ok && s.schema == "" && schemaRE.MatchString(sp) {
		// A DSN naming one schema (?search_path=backlogd) gets it
		// created, as WithSchema would.
		s.schema = sp
	}
	if s.schema != "" {
		cfg.ConnConfig.RuntimeParams["search_path"] = s.schema
	}
	s.channel = "backlogd"
	if s.schema != "" {
		s.channel = "backlogd_" + s.schema
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, s.wrap("connect", err)
	}
	s.pool = pool
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

// secretsOf returns the strings an error must never show: the DSN and,
// when it can be found, its password.
func secretsOf(dsn string) []string {
	out := []string{dsn}
	if u, err := url.Parse(dsn); err == nil && u.User != nil {
		if p, ok := u.User.Password(); ok && p != "" {
			out = append(out, p, url.QueryEscape(p), url.PathEscape(p))
		}
		if p := u.Query().Get("password"); p != "" {
			out = append(out, p)
		}
	}
	// key=value form: password=secret or password='sec ret'
	for _, f := range strings.Fields(dsn) {
		if v, ok := strings.CutPrefix(f, "password="); ok && v != "" {
			out = append(out, strings.Trim(v, "'"))
		}
	}
	return out
}

// ReplicaID implements store.Leaser.
func (s *Store) ReplicaID() string { return s.replica }

// LeaseTTL implements store.Leaser.
func (s *Store) LeaseTTL() time.Duration { return s.ttl }

// Stats are counters of a Store's traffic, for benchmarks and tests.
type Stats struct {
	// RoundTrips counts requests sent to the server and waited for:
	// every statement, BEGIN included with the first one of its
	// transaction, and COMMIT or ROLLBACK.
	RoundTrips int64
}

// Stats returns the store's counters since Open.
func (s *Store) Stats() Stats { return Stats{RoundTrips: s.roundTrips.Load()} }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if s.closed.Load() {
		return errClosed
	}
	s.roundTrips.Add(1)
	if err := s.pool.Ping(ctx); err != nil {
		return s.wrap("ping", err)
	}
	return nil
}

// Close closes every connection, waiting for those in use to be
// released. Closing twice is a no-op.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		s.pool.Close()
	})
	return nil
}

// lockKey is the advisory lock key of the store's migrations: one per
// schema, so stores in different schemas of a database do not wait for
// each other.
func (s *Store) lockKey() int64 {
	h := fnv.New64a()
	h.Write([]byte("backlogd schema migrations\x00" + s.schema))
	return int64(h.Sum64())
}

// SQLSTATE codes the store branches on.
const (
	codeSerialization = "40001"
	codeDeadlock      = "40P01"
	codeUnique        = "23505"
	codeFenced        = "BLF01" // raised by backlogd_fence (schema.go)
	codeLockTimeout   = "55P03"
)

// wrap gives err the store's context and scrubs every secret from its
// text. The result still matches store.ErrStale, store.ErrFenced,
// store.ErrNotFound, store.ErrLeaseHeld and the context errors with
// errors.Is; the driver's own error values are not reachable through it,
// since their text is what might hold a secret.
func (s *Store) wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case codeSerialization, codeDeadlock, codeUnique:
			return fmt.Errorf("postgres: %s: %s: %w", op, s.scrub(pe.Message), store.ErrStale)
		case codeFenced:
			return fmt.Errorf("postgres: %s: %s: %w", op, s.scrub(pe.Message), store.ErrFenced)
		}
	}
	for _, known := range []error{store.ErrStale, store.ErrFenced, store.ErrNotFound, store.ErrLeaseHeld, errClosed, errEnded} {
		if errors.Is(err, known) {
			return &scrubbed{msg: "postgres: " + op + ": " + s.scrub(err.Error()), is: known}
		}
	}
	var is error
	switch {
	case errors.Is(err, context.Canceled):
		is = context.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		is = context.DeadlineExceeded
	}
	return &scrubbed{msg: "postgres: " + op + ": " + s.scrub(err.Error()), is: is}
}

func (s *Store) scrub(msg string) string {
	for _, sec := range s.secrets {
		if sec != "" {
			msg = strings.ReplaceAll(msg, sec, "<redacted>")
		}
	}
	return msg
}

// scrubbed is an error whose text has had the store's secrets removed; it
// unwraps to one well-known error at most (see Store.wrap).
type scrubbed struct {
	msg string
	is  error
}

func (e *scrubbed) Error() string { return e.msg }
func (e *scrubbed) Unwrap() error { return e.is }

// exec runs one statement outside any transaction (autocommit, READ
// COMMITTED): the lease and heartbeat statements, each atomic by itself.
func (s *Store) exec(ctx context.Context, op, sql string, args ...any) (pgconn.CommandTag, error) {
	if s.closed.Load() {
		return pgconn.CommandTag{}, errClosed
	}
	s.roundTrips.Add(1)
	tag, err := s.pool.Exec(ctx, sql, args...)
	return tag, s.wrap(op, err)
}

// query runs one statement outside any transaction and hands every row
// to scan.
func (s *Store) query(ctx context.Context, op, sql string, args []any, scan func(pgx.Rows) error) error {
	if s.closed.Load() {
		return errClosed
	}
	s.roundTrips.Add(1)
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return s.wrap(op, err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return s.wrap(op, err)
		}
	}
	return s.wrap(op, rows.Err())
}

// micros is d in whole microseconds, the unit the SQL multiplies by
// interval '1 microsecond'.
func micros(d time.Duration) int64 { return d.Microseconds() }

// utc returns t in UTC, or the zero time for a NULL column.
func utc(t *time.Time) time.Time {
	if t == nil || t.IsZero() {
		return time.Time{}
	}
	return t.UTC()
}

// timeArg is t for a nullable timestamptz column: NULL for the zero time.
func timeArg(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC()
}
