package postgres

import "context"

// AppliedAt exposes when each migration step was applied, for the
// migration race test.
func AppliedAt(ctx context.Context, s *Store) (map[int]int, error) {
	at, err := s.appliedAt(ctx)
	out := map[int]int{}
	for v := range at {
		out[v]++
	}
	return out, err
}

// Scrub exposes the error scrubbing of a store opened on dsn.
func Scrub(dsn string, err error) error {
	s := &Store{secrets: secretsOf(dsn)}
	return s.wrap("test", err)
}

// MigrationSQL exposes schema step v, for the upgrade tests.
func MigrationSQL(v int) string { return migrations[v-1].sql }
