// Package connectors is the contract between backlogd and the trackers it
// syncs: the Connector interface, the neutral Record it exchanges, the
// errors the syncer branches on (ErrNotFound, RateLimitError,
// TerminalError) and the Secret type credentials travel in.
//
// A connector lives in its own folder below this one, knows nothing of
// clients, mapping or the canonical backlog, is registered on one line in
// connectors/registry, and passes connectors/connectortest.
package connectors
