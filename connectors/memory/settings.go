package memory

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/backlogd/backlogd/connectors"
)

// Settings is a memory target's `settings:` block. Every key is optional.
type Settings struct {
	// PageSize is the number of records per Changes page (1..1000,
	// default 100).
	PageSize int `yaml:"page_size"`
	// Latency is added to every call, to feel like a remote tracker.
	Latency connectors.Duration `yaml:"latency"`
	// ErrorRate is the share of calls failing with a transient error
	// (0 to 1), to exercise retries.
	ErrorRate float64 `yaml:"error_rate"`
	// Seed makes ErrorRate's failures repeatable.
	Seed uint64 `yaml:"seed"`
}

// Validate checks the settings and applies defaults. Its errors name the
// setting and say what to write.
func (s *Settings) Validate() error {
	var errs []error
	switch {
	case s.PageSize == 0:
		s.PageSize = 100
	case s.PageSize < 1 || s.PageSize > 1000:
		errs = append(errs, fmt.Errorf("page_size %d is out of range; write 1 to 1000", s.PageSize))
	}
	if d := time.Duration(s.Latency); d < 0 || d > time.Minute {
		errs = append(errs, fmt.Errorf("latency %s is out of range; write a duration from 0s to 1m, like 5ms", d))
	}
	if s.ErrorRate < 0 || s.ErrorRate > 1 || s.ErrorRate != s.ErrorRate {
		errs = append(errs, fmt.Errorf("error_rate %v is out of range; write a share from 0 to 1, like 0.01", s.ErrorRate))
	}
	return errors.Join(errs...)
}

var _ connectors.Factory = Factory

// Factory builds an empty memory tracker from a target's settings;
// register it under the kind "memory". Its records live in the process
// and are lost when the daemon stops.
func Factory(_ context.Context, env connectors.Env) (connectors.Connector, error) {
	var s Settings
	if err := connectors.LoadSettings("memory", env, &s); err != nil {
		return nil, err
	}
	if env.Logger != nil {
		env.Logger.Info("memory target: records live in the process and are lost when it stops", "target", env.Target)
	}
	if env.Offline {
		return nil, nil // settings and references checked; nothing to connect
	}
	return New(Options{
		Name:      env.Target,
		PageSize:  s.PageSize,
		Latency:   time.Duration(s.Latency),
		ErrorRate: s.ErrorRate,
		Seed:      s.Seed,
	}), nil
}
