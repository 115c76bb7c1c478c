// Package metrics is the Prometheus side of backlogd: one Metrics value,
// built from a registry passed in, that the syncer reports to
// (syncer.Metrics) and every connector's HTTP client reports to
// (connectors.Observer). The daemon serves the registry at /metrics.
//
// Every name starts with backlogd_ and carries its unit; labels are
// bounded: target, client, result, direction, group, class, code — never an
// item id or a remote key. Known pre-creates the label values the
// configured targets and clients will use, so a dashboard shows a zero
// rather than a gap; Forget drops a removed target's series after a
// reload.
//
// New also registers the Go runtime and process collectors, so a caller
// that passes a fresh registry gets a complete scrape; a registry that
// already holds them (prometheus.DefaultRegisterer) is accepted as is.
//
// The README's "Metrics reference" lists every metric.
package metrics
