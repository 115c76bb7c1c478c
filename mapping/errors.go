package mapping

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
)

// ConfigError is one problem in a config file: where it is and what to do
// about it. Load returns every ConfigError it finds, joined with
// errors.Join and sorted by file and line; use errors.As to inspect one.
type ConfigError struct {
	// File is the path of the config file, as Load was given it.
	File string
	// Line is the 1-based line of the offending key or value; 0 when the
	// problem concerns the whole file.
	Line int
	// Msg says what is wrong and what to do, without the location.
	Msg string
}

// Error renders the problem as "file:line: what is wrong; what to do".
func (e *ConfigError) Error() string {
	if e.Line <= 0 {
		return fmt.Sprintf("%s: %s", e.File, e.Msg)
	}
	return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
}

// problems collects ConfigErrors while a file is read, so that one run of
// Load reports everything wrong instead of the first mistake only.
type problems struct {
	list []*ConfigError
}

func (p *problems) add(file string, line int, format string, args ...any) {
	p.list = append(p.list, &ConfigError{File: file, Line: line, Msg: fmt.Sprintf(format, args...)})
}

// err returns the problems sorted by file and line, joined; nil when
// there are none.
func (p *problems) err() error {
	if len(p.list) == 0 {
		return nil
	}
	list := slices.Clone(p.list)
	slices.SortStableFunc(list, func(a, b *ConfigError) int {
		return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line))
	})
	errs := make([]error, len(list))
	for i, e := range list {
		errs[i] = e
	}
	return errors.Join(errs...)
}
