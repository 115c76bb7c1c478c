package syncer

import "context"

// PollByName polls one target the way the daemon's poll loop does, for
// the benchmarks of package syncer_test (PollTarget takes the target
// itself, which only this package can name).
func (s *Syncer) PollByName(ctx context.Context, name string) error {
	return s.PollTarget(ctx, s.targets[name])
}
