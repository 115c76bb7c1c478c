// Package connectortest is the conformance suite every connector passes:
// Run drives a connector through what the syncer relies on (create and
// read back, markers, partial updates, paged and overlapping change
// listings, a create whose answer was lost, comments, not-found, rate
// limits and terminal errors) and fails with a message that names the
// contract broken.
//
// A connector's test builds a Harness (a way to get a connector on an
// empty project, and hooks that act as the tracker or a person in it) and
// calls Run, once against its fake and once against a real server when
// the environment names one. The suite only looks at records it created
// itself, so a real project may hold others; subtests whose hook is nil
// skip with a message naming the hook.
package connectortest
