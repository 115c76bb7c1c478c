package github

import (
	"testing"

	"github.com/backlogd/backlogd/connectors/connectortest"
)

// runSuite runs the shared conformance suite.
func runSuite(t *testing.T, h connectortest.Harness) {
	t.Helper()
	connectortest.Run(t, h)
}

func TestConformance(t *testing.T) { runSuite(t, fakeHarness()) }
