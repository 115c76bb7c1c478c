package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/backlogd/backlogd/syncer/store"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Leases and heartbeats are single statements in autocommit (READ
// COMMITTED): each is atomic by itself, and a lease statement that meets
// a row another one changed meanwhile re-reads it rather than failing.
// Every time comes from the database's clock, the one all replicas share.

// pruneReplicasAfter is how long a dead replica's row stays for status.
const pruneReplicasAfter = time.Hour

// Heartbeat implements store.Leaser. A replica whose heartbeat had
// lapsed (it was paused, or cut off) joins again: its start time is now.
func (s *Store) Heartbeat(ctx context.Context) ([]store.Replica, error) {
	if _, err := s.exec(ctx, "heartbeat", `INSERT INTO replicas (id, host, started_at, seen_at, expires_at)
		VALUES ($1, $2, now(), now(), now() + $3 * interval '1 microsecond')
		ON CONFLICT (id) DO UPDATE SET seen_at = now(), expires_at = excluded.expires_at,
			started_at = CASE WHEN replicas.expires_at <= now() THEN now() ELSE replicas.started_at END`,
		s.replica, s.host, micros(s.ttl)); err != nil {
		return nil, err
	}
	// A replica that died an hour ago is no news for status any more.
	if _, err := s.exec(ctx, "heartbeat", "DELETE FROM replicas WHERE expires_at < now() - $1 * interval '1 microsecond'",
		micros(pruneReplicasAfter)); err != nil {
		return nil, err
	}
	return s.Replicas(ctx)
}

// Replicas implements store.Leaser.
func (s *Store) Replicas(ctx context.Context) ([]store.Replica, error) {
	var out []store.Replica
	err := s.query(ctx, "list replicas", "SELECT id, host, started_at, seen_at, expires_at FROM replicas WHERE expires_at > now() ORDER BY id", nil,
		func(r pgx.Rows) error {
			var rp store.Replica
			if err := r.Scan(&rp.ID, &rp.Host, &rp.Started, &rp.Seen, &rp.Expires); err != nil {
				return err
			}
			rp.Started, rp.Seen, rp.Expires = rp.Started.UTC(), rp.Seen.UTC(), rp.Expires.UTC()
			out = append(out, rp)
			return nil
		})
	return out, err
}

// Leave implements store.Leaser.
func (s *Store) Leave(ctx context.Context) error {
	if _, err := s.exec(ctx, "leave", "UPDATE leases SET expires_at = now() WHERE holder = $1 AND expires_at > now()", s.replica); err != nil {
		return err
	}
	if _, err := s.exec(ctx, "leave", "DELETE FROM replicas WHERE id = $1", s.replica); err != nil {
		return err
	}
	return s.Nudge(ctx)
}

const leaseCols = "target, holder, token, acquired_at, expires_at"

func scanLease(r pgx.Rows) (store.Lease, error) {
	var l store.Lease
	err := r.Scan(&l.Target, &l.Holder, &l.Token, &l.Acquired, &l.Expires)
	l.Acquired, l.Expires = l.Acquired.UTC(), l.Expires.UTC()
	return l, err
}

// AcquireLease implements store.Leaser. The first lease of a target has
// token 1; each takeover adds one. A takeover waits for the transactions
// still fenced by the old token (see backlogd_fence) to end.
func (s *Store) AcquireLease(ctx context.Context, target string) (store.Lease, error) {
	op := "acquire lease on " + target
	if s.closed.Load() {
		return store.Lease{}, errClosed
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return store.Lease{}, s.wrap(op, err)
	}
	defer conn.Release() // dropped by the pool if left inside a transaction
	// The takeover waits for the old holder's fenced transactions, but
	// not for ever: one whose replica is paused mid-transaction holds
	// its lock until the server ends its session (idle in transaction,
	// see Open), and the lease loop must keep renewing meanwhile.
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	b.Queue(fmt.Sprintf("SET LOCAL lock_timeout = %d", max(s.ttl/6, 100*time.Millisecond).Milliseconds()))
	b.Queue(`INSERT INTO leases (target, holder, token, acquired_at, renewed_at, expires_at)
		VALUES ($1, $2, 1, now(), now(), now() + $3 * interval '1 microsecond')
		ON CONFLICT (target) DO UPDATE SET holder = excluded.holder, token = leases.token + 1,
			acquired_at = now(), renewed_at = now(), expires_at = excluded.expires_at
		WHERE leases.expires_at <= now()
		RETURNING `+leaseCols, target, s.replica, micros(s.ttl))
	b.Queue("COMMIT")
	s.roundTrips.Add(1)
	br := conn.Conn().SendBatch(ctx, b)
	var l store.Lease
	found := false
	err = func() error {
		for range 2 {
			if _, err := br.Exec(); err != nil {
				return err
			}
		}
		rows, err := br.Query()
		if err != nil {
			return err
		}
		for rows.Next() {
			if l, err = scanLease(rows); err != nil {
				rows.Close()
				return err
			}
			found = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		_, err = br.Exec()
		return err
	}()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	var pe *pgconn.PgError
	switch {
	case errors.As(err, &pe) && pe.Code == codeLockTimeout:
		return store.Lease{}, fmt.Errorf("postgres: %s: the previous holder still has a transaction open: %w", op, store.ErrLeaseHeld)
	case err != nil:
		return store.Lease{}, s.wrap(op, err)
	case !found:
		return store.Lease{}, fmt.Errorf("postgres: %s: %w", op, store.ErrLeaseHeld)
	}
	return l, nil
}

// RenewLeases implements store.Leaser. A lease that expired is not
// renewed, even if nobody took it: its holder may have been paused past
// it, and must take it again with a new token.
func (s *Store) RenewLeases(ctx context.Context, held []store.Lease) ([]store.Lease, error) {
	if len(held) == 0 {
		return nil, nil
	}
	targets := make([]string, len(held))
	tokens := make([]int64, len(held))
	for i, l := range held {
		targets[i], tokens[i] = l.Target, l.Token
	}
	var out []store.Lease
	err := s.query(ctx, "renew leases", `UPDATE leases SET renewed_at = now(), expires_at = now() + $2 * interval '1 microsecond'
		FROM unnest($3::text[], $4::bigint[]) AS h(target, token)
		WHERE leases.target = h.target AND leases.token = h.token AND leases.holder = $1 AND leases.expires_at > now()
		RETURNING leases.target, leases.holder, leases.token, leases.acquired_at, leases.expires_at`,
		[]any{s.replica, micros(s.ttl), targets, tokens},
		func(r pgx.Rows) error {
			l, err := scanLease(r)
			out = append(out, l)
			return err
		})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ReleaseLease implements store.Leaser: the lease expires now, and the
// other replicas are nudged to take it.
func (s *Store) ReleaseLease(ctx context.Context, l store.Lease) error {
	tag, err := s.exec(ctx, "release lease on "+l.Target,
		"UPDATE leases SET expires_at = now() WHERE target = $1 AND holder = $2 AND token = $3 AND expires_at > now()",
		l.Target, s.replica, l.Token)
	if err != nil || tag.RowsAffected() == 0 {
		return err
	}
	return s.Nudge(ctx)
}

// Leases implements store.Leaser.
func (s *Store) Leases(ctx context.Context) ([]store.Lease, error) {
	var out []store.Lease
	err := s.query(ctx, "list leases", "SELECT "+leaseCols+" FROM leases ORDER BY target", nil, func(r pgx.Rows) error {
		l, err := scanLease(r)
		out = append(out, l)
		return err
	})
	return out, err
}

// Nudge implements store.Waker.
func (s *Store) Nudge(ctx context.Context) error {
	_, err := s.exec(ctx, "nudge", "SELECT pg_notify($1, '')", s.channel)
	return err
}

// Listen implements store.Waker on a connection of its own, taken out of
// the pool for as long as it listens.
func (s *Store) Listen(ctx context.Context, fn func(target string)) error {
	if s.closed.Load() {
		return errClosed
	}
	pc, err := s.pool.Acquire(ctx)
	if err != nil {
		return s.wrap("listen", err)
	}
	conn := pc.Hijack() // its LISTEN must not follow it back into the pool
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), endTimeout)
		defer cancel()
		_ = conn.Close(cctx)
	}()
	s.roundTrips.Add(1)
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{s.channel}.Sanitize()); err != nil {
		return s.wrap("listen", err)
	}
	fn("") // listening: whatever was recorded before is the caller's to take now
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return s.wrap("listen", err)
		}
		target, _ := strings.CutPrefix(n.Payload, wakePrefix)
		fn(target)
	}
}

// wakePrefix starts the payload of a wake-up; the rest is the target.
const wakePrefix = "w:"

// Wake implements store.WakeTx: the keys are recorded and, at commit, the
// channel carries the target's name to every listener.
func (t *tx) Wake(ctx context.Context, target string, keys []string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(keys) == 0 {
		return nil
	}
	_, err := t.run(ctx, "wake the owner of "+target, `WITH ins AS (
			INSERT INTO wakeups (target, key) SELECT $1, k FROM unnest($2::text[]) AS k
			ON CONFLICT (target, key) DO NOTHING
		)
		SELECT pg_notify($3, $4)`, []any{target, keys, t.s.channel, wakePrefix + target}, nil)
	return err
}

// TakeWakeups implements store.WakeTx.
func (t *tx) TakeWakeups(ctx context.Context, target string) ([]string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var keys []string
	_, err := t.run(ctx, "take wake-ups of "+target, "DELETE FROM wakeups WHERE target = $1 RETURNING key", []any{target},
		func(r pgx.Rows) error {
			var k string
			keys = append(keys, k)
			return r.Scan(&keys[len(keys)-1])
		})
	if err != nil {
		return nil, err
	}
	return keys, nil
}
