package redmine

import (
	"testing"

	"github.com/backlogd/backlogd/connectors/connectortest"
	"github.com/backlogd/backlogd/connectors/redmine/redminefake"
)

// runSuite runs the shared conformance suite.
func runSuite(t *testing.T, h connectortest.Harness) {
	t.Helper()
	connectortest.Run(t, h)
}

// TestConformance runs the suite against the fake.
func TestConformance(t *testing.T) { runSuite(t, fakeBackend().harness()) }

// TestConformanceWithWholeSecondTimes runs the suite against a fake that
// stores times as Redmine on MySQL does, where many issues share one
// updated_on.
func TestConformanceWithWholeSecondTimes(t *testing.T) {
	runSuite(t, fakeBackend((*redminefake.Server).StoreWholeSeconds).harness())
}

// TestLiveConformance runs the suite against a real Redmine.
func TestLiveConformance(t *testing.T) {
	b, ok := liveBackend(t)
	if !ok {
		t.Skip(liveSkip)
	}
	runSuite(t, b.harness())
}
