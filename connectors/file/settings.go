package file

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/backlogd/backlogd/connectors"
)

// Settings is the target's `settings:` block.
type Settings struct {
	// Dir is the directory of item files, relative to the daemon's
	// working directory; default <data_dir>/<target name>. Created if
	// missing.
	Dir string `yaml:"dir"`
	// PageSize is how many records a Changes page holds (1..10000,
	// default 100).
	PageSize int `yaml:"page_size"`
}

// MaxPageSize bounds page_size.
const MaxPageSize = 10000

// Validate checks the settings and applies defaults from env. Its errors
// name the setting and say what to write.
func (s *Settings) Validate(env connectors.Env) error {
	var errs []error
	if s.Dir == "" {
		if env.Target == "" {
			errs = append(errs, errors.New("dir is required: the directory of item files, like ./data/home"))
		} else {
			s.Dir = filepath.Join(env.DataDir, env.Target)
		}
	}
	switch {
	case s.PageSize == 0:
		s.PageSize = DefaultPageSize
	case s.PageSize < 1 || s.PageSize > MaxPageSize:
		errs = append(errs, fmt.Errorf("page_size %d is out of range; use 1 to %d (default %d)", s.PageSize, MaxPageSize, DefaultPageSize))
	}
	return errors.Join(errs...)
}

// Factory builds the connector of a `kind: file` target, for the registry.
func Factory(_ context.Context, env connectors.Env) (connectors.Connector, error) {
	var s Settings
	if err := connectors.DecodeSettings(env.Settings, &s); err != nil {
		return nil, fmt.Errorf("file: target %s: settings: %w", env.Target, err)
	}
	if err := s.Validate(env); err != nil {
		return nil, fmt.Errorf("file: target %s: settings: %w", env.Target, err)
	}
	if env.Offline {
		return nil, nil // settings and references checked; nothing to connect
	}
	c, err := New(s.Dir, WithPageSize(s.PageSize), WithLogger(env.Logger))
	if err != nil {
		return nil, fmt.Errorf("target %s: %w", env.Target, err)
	}
	return c, nil
}
