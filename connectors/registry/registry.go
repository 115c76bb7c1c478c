// Package registry is the one list of connector kinds backlogd knows.
// Adding a tracker is one folder under connectors/ and one line here.
package registry

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/backlogd/backlogd/connectors"
	"github.com/backlogd/backlogd/connectors/file"
	"github.com/backlogd/backlogd/connectors/github"
	"github.com/backlogd/backlogd/connectors/jira"
	"github.com/backlogd/backlogd/connectors/memory"
	"github.com/backlogd/backlogd/connectors/redmine"
)

// factories maps a target's `kind:` to the connector that serves it.
var factories = map[string]connectors.Factory{
	"file":    file.Factory,
	"github":  github.Factory,
	"jira":    jira.Factory,
	"memory":  memory.Factory,
	"redmine": redmine.Factory,
}

// Kinds returns the registered kinds, sorted.
func Kinds() []string {
	ks := make([]string, 0, len(factories))
	for k := range factories {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// Known reports whether kind names a registered connector.
func Known(kind string) bool {
	_, ok := factories[kind]
	return ok
}

// New builds the connector of the given kind.
func New(ctx context.Context, kind string, env connectors.Env) (connectors.Connector, error) {
	f, ok := factories[kind]
	if !ok {
		return nil, fmt.Errorf("unknown connector kind %q; use one of %s", kind, strings.Join(Kinds(), ", "))
	}
	return f(ctx, env)
}
