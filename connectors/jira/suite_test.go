package jira

import (
	"encoding/json"
	"testing"

	"github.com/backlogd/backlogd/connectors/connectortest"
)

// runSuite runs the shared conformance suite.
func runSuite(t *testing.T, h connectortest.Harness) {
	t.Helper()
	connectortest.Run(t, h)
}

func jsonString(s string) ([]byte, error) { return json.Marshal(s) }
