package file

import (
	"testing"

	"github.com/backlogd/backlogd/connectors/connectortest"
)

// TestConformance runs the shared conformance suite on a fresh directory
// per subtest.
func TestConformance(t *testing.T) { connectortest.Run(t, harness()) }
