package metrics

import (
	"errors"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// BuildInfo describes the running binary for backlogd_build_info.
type BuildInfo struct {
	Version   string
	Revision  string
	GoVersion string
}

// Label values the syncer and connectors use. They are pre-created by
// Known so that a rate() over a quiet target is 0, not "no data".
var (
	// ReconcileResults are the result label values of
	// backlogd_reconciles_total (see syncer/reconcile.go and
	// Syncer.process).
	ReconcileResults = []string{
		"ok", "pushed", "pulled", "pushed_pulled", "created", "relinked",
		"conflict", "unlinked", "gone", "requeued", "terminal", "error", "fenced",
	}
	// FieldGroups are the group label values of backlogd_fields_changed_total.
	FieldGroups = []string{"text", "people", "planning", "core"}
	// Directions are the direction label values of backlogd_fields_changed_total.
	Directions = []string{"pulled", "pushed"}
	// CreateResults are the result label values of backlogd_records_created_total.
	CreateResults = []string{"created", "relinked", "adopted"}
	// WebhookResults are the result label values of
	// backlogd_webhook_deliveries_total.
	WebhookResults = []string{"accepted", "bad_signature", "duplicate", "ignored", "error"}
	// RequestClasses are the class label values of the tracker request
	// metrics (transport.Class).
	RequestClasses = []string{"read", "write"}
	// ReloadResults are the result label values of backlogd_config_reloads_total.
	ReloadResults = []string{"success", "failure"}
	// LeaseChanges are the change label values of
	// backlogd_lease_changes_total (syncer.LeaseAcquired and the others).
	LeaseChanges = []string{"acquired", "released", "lost", "expired"}
)

// Metrics holds every backlogd metric. It implements syncer.Metrics and
// connectors.Observer; all methods are safe for concurrent use.
type Metrics struct {
	now func() time.Time

	reconciles        *prometheus.CounterVec
	reconcileDuration *prometheus.HistogramVec
	fieldsChanged     *prometheus.CounterVec
	echoes            *prometheus.CounterVec
	created           *prometheus.CounterVec
	remoteDeleted     *prometheus.CounterVec
	linked            *prometheus.GaugeVec
	conflictsOpen     *prometheus.GaugeVec
	queueDepth        *prometheus.GaugeVec
	queueOldest       *prometheus.GaugeVec
	webhooks          *prometheus.CounterVec
	lastFullSync      *prometheus.GaugeVec
	outboxPending     prometheus.Gauge
	targetFailing     *prometheus.GaugeVec
	itemsFailing      *prometheus.GaugeVec
	itemsParked       *prometheus.GaugeVec

	leaseChanges *prometheus.CounterVec
	leaseHeld    *prometheus.GaugeVec
	fenced       *prometheus.CounterVec
	replicas     *prometheus.GaugeVec // no labels: absent until set

	requests        *prometheus.CounterVec
	requestDuration *prometheus.HistogramVec
	rateRemaining   *prometheus.GaugeVec
	rateReset       *prometheus.GaugeVec
	pausedUntil     *prometheus.GaugeVec

	reloads          *prometheus.CounterVec
	reloadSuccessful prometheus.Gauge
	reloadSuccessAt  prometheus.Gauge

	// byTarget lists every vector with a target label, for Forget.
	byTarget []interface {
		DeletePartialMatch(prometheus.Labels) int
	}

	mu sync.Mutex // guards the maps below
	// clients is the latest Known map: target → client ids.
	clients map[string][]string
	// seen is every client a target ever served, so Forget can drop the
	// conflict series of a client that left with its target.
	seen map[string][]string
	// paused is the pause end last set per target.
	paused map[string]time.Time
}

// New creates the metrics and registers them, with the Go runtime and
// process collectors, on reg. It panics if reg already holds a backlogd
// metric: that is a wiring mistake, not a runtime condition.
func New(reg prometheus.Registerer, info BuildInfo) *Metrics {
	return newMetrics(reg, info, time.Now)
}

func newMetrics(reg prometheus.Registerer, info BuildInfo, now func() time.Time) *Metrics {
	m := &Metrics{now: now, clients: map[string][]string{}, seen: map[string][]string{}, paused: map[string]time.Time{}}
	tc := []string{"target", "client"}
	t := []string{"target"}

	m.reconciles = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "backlogd_reconciles_total",
		Help: "Reconciles of one key (canonical item x target), by outcome: ok (nothing to do), pushed, pulled, pushed_pulled, created, relinked, conflict, unlinked, gone, requeued (stale read), terminal (parked), error (will retry).",
	}, []string{"target", "client", "result"})
	m.reconcileDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "backlogd_reconcile_duration_seconds",
		Help:    "Time to reconcile one key, tracker calls included.",
		Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
	}, tc)
	m.fieldsChanged = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "backlogd_fields_changed_total",
		Help: "Fields written, by direction (pulled from the tracker into the canonical backlog, pushed to the tracker) and field group (text, people, planning, core).",
	}, []string{"target", "client", "direction", "group"})
	m.echoes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "backlogd_echoes_suppressed_total",
		Help: "Remote changes that merged to nothing: our own writes coming back, or edits to fields that are not synced.",
	}, t)
	m.created = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "backlogd_records_created_total",
		Help: "Links made, by how: created (a new remote record), relinked (found by its marker), adopted (a client's record became a canonical item).",
	}, []string{"target", "result"})
	m.remoteDeleted = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "backlogd_remote_deletions_total",
		Help: "Remote records found deleted; their links are marked gone.",
	}, t)
	m.linked = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "backlogd_items_linked",
		Help: "Canonical items with an active link to a record on the target.",
	}, t)
	m.conflictsOpen = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "backlogd_conflicts_open",
		Help: "Conflicts parked for a person (manual policy), per client.",
	}, []string{"client"})
	m.queueDepth = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "backlogd_queue_depth",
		Help: "Keys waiting in the target's work queue, delayed retries included.",
	}, t)
	m.queueOldest = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "backlogd_queue_oldest_key_age_seconds",
		Help: "How long the oldest key in the target's queue has been waiting.",
	}, t)
	m.webhooks = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "backlogd_webhook_deliveries_total",
		Help: "Webhook deliveries, by result: accepted, bad_signature, duplicate, ignored, error.",
	}, []string{"target", "result"})
	m.lastFullSync = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "backlogd_last_full_sync_timestamp_seconds",
		Help: "When the target was last polled to the end without error (Unix time; 0 = never since start).",
	}, t)
	m.outboxPending = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "backlogd_outbox_intents_pending",
		Help: "Remote writes announced in the outbox and not yet acknowledged.",
	})
	m.targetFailing = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "backlogd_target_failing",
		Help: "1 while the target as a whole is failing (its listing fails, the tracker refuses its credentials, or several items fail with nothing succeeding), else 0; items failing while the rest syncs do not count.",
	}, t)
	m.itemsFailing = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "backlogd_items_failing",
		Help: "Items of the target whose last reconcile failed with an error that is retried with back-off.",
	}, t)
	m.itemsParked = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "backlogd_items_parked",
		Help: "Items of the target parked by an error that retrying will not fix, until the item or the config changes.",
	}, t)

	m.leaseChanges = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "backlogd_lease_changes_total",
		Help: "Changes of this replica's lease on a target (several replicas on one PostgreSQL store): acquired, released (given up for balance or at shutdown), lost (taken over, or expired while paused), expired (the store could not be reached to renew it).",
	}, []string{"target", "change"})
	m.leaseHeld = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "backlogd_lease_held",
		Help: "1 while this replica owns the target's lease and runs its workers, else 0 (absent with a store only one process uses). Summed over replicas it is 1 per target.",
	}, t)
	m.fenced = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "backlogd_fenced_writes_total",
		Help: "Store transactions of a target refused because this replica's lease had moved on (its fencing token is stale): writes a paused or partitioned replica did not make.",
	}, t)
	m.replicas = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "backlogd_replicas_live",
		Help: "Replicas with a live heartbeat in the shared store, this one included, at its last heartbeat (absent with a store only one process uses).",
	}, nil)

	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "backlogd_tracker_requests_total",
		Help: "HTTP requests to trackers (every attempt, retries included), by method class (read, write) and status code (0 = no response: connection or timeout error).",
	}, []string{"target", "class", "code"})
	m.requestDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "backlogd_tracker_request_duration_seconds",
		Help:    "Latency of HTTP requests to trackers, by method class.",
		Buckets: []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
	}, []string{"target", "class"})
	m.rateRemaining = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "backlogd_rate_limit_remaining",
		Help: "Requests left in the tracker's current rate-limit window, as it last reported (absent until it reports one).",
	}, t)
	m.rateReset = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "backlogd_rate_limit_reset_timestamp_seconds",
		Help: "When the tracker's current rate-limit window resets (Unix time; absent until it reports one).",
	}, t)
	m.pausedUntil = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "backlogd_rate_limit_paused_until_timestamp_seconds",
		Help: "Until when requests to the target are paused for a rate limit (Unix time; in the past or 0 = not paused).",
	}, t)

	m.reloads = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "backlogd_config_reloads_total",
		Help: "Config reloads (SIGHUP or POST /-/reload), by result: success, failure (the running config stays in force).",
	}, []string{"result"})
	m.reloadSuccessful = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "backlogd_config_last_reload_successful",
		Help: "1 if the last config load (start or reload) succeeded, 0 if the running config is older than the file.",
	})
	m.reloadSuccessAt = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "backlogd_config_last_reload_success_timestamp_seconds",
		Help: "When the running config was loaded (Unix time).",
	})
	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "backlogd_build_info",
		Help: "Always 1; labels describe the running binary.",
	}, []string{"version", "revision", "goversion"})
	build.WithLabelValues(or(info.Version, "dev"), or(info.Revision, "unknown"), or(info.GoVersion, "unknown")).Set(1)

	for _, l := range ReloadResults {
		m.reloads.WithLabelValues(l)
	}
	m.reloadSuccessful.Set(1) // New runs after the config was loaded
	m.reloadSuccessAt.Set(unix(now()))

	m.byTarget = append(m.byTarget, m.reconciles, m.reconcileDuration, m.fieldsChanged, m.echoes,
		m.created, m.remoteDeleted, m.linked, m.queueDepth, m.queueOldest, m.webhooks, m.lastFullSync,
		m.targetFailing, m.itemsFailing, m.itemsParked, m.requests, m.requestDuration, m.rateRemaining, m.rateReset, m.pausedUntil,
		m.leaseChanges, m.leaseHeld, m.fenced)

	reg.MustRegister(m.reconciles, m.reconcileDuration, m.fieldsChanged, m.echoes, m.created,
		m.remoteDeleted, m.linked, m.conflictsOpen, m.queueDepth, m.queueOldest, m.webhooks,
		m.lastFullSync, m.outboxPending, m.targetFailing, m.itemsFailing, m.itemsParked, m.requests, m.requestDuration, m.rateRemaining,
		m.rateReset, m.pausedUntil, m.reloads, m.reloadSuccessful, m.reloadSuccessAt, build,
		m.leaseChanges, m.leaseHeld, m.fenced, m.replicas)
	for _, c := range []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				panic(err)
			}
		}
	}
	return m
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func unix(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

// Known pre-creates the series of every target and client the running
// config uses, at zero; clients maps a target to the ids of the clients it
// serves. Series of targets not listed are left alone: Forget removes them.
// Rate-limit gauges are not pre-created, because 0 would read as
// "exhausted": they appear when the tracker first reports its quota.
func (m *Metrics) Known(targets []string, clients map[string][]string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.clients = map[string][]string{}
	for _, t := range targets {
		cs := clients[t]
		m.clients[t] = append([]string(nil), cs...)
		for _, c := range cs {
			if !slices.Contains(m.seen[t], c) {
				m.seen[t] = append(m.seen[t], c)
			}
			for _, r := range ReconcileResults {
				m.reconciles.WithLabelValues(t, c, r)
			}
			m.reconcileDuration.WithLabelValues(t, c)
			for _, d := range Directions {
				for _, g := range FieldGroups {
					m.fieldsChanged.WithLabelValues(t, c, d, g)
				}
			}
			m.conflictsOpen.WithLabelValues(c)
		}
		m.echoes.WithLabelValues(t)
		for _, r := range CreateResults {
			m.created.WithLabelValues(t, r)
		}
		m.remoteDeleted.WithLabelValues(t)
		m.linked.WithLabelValues(t)
		m.queueDepth.WithLabelValues(t)
		m.queueOldest.WithLabelValues(t)
		for _, r := range WebhookResults {
			m.webhooks.WithLabelValues(t, r)
		}
		m.lastFullSync.WithLabelValues(t)
		m.targetFailing.WithLabelValues(t)
		m.itemsFailing.WithLabelValues(t)
		m.itemsParked.WithLabelValues(t)
		for _, c := range RequestClasses {
			m.requestDuration.WithLabelValues(t, c)
		}
		m.pausedUntil.WithLabelValues(t)
		for _, c := range LeaseChanges {
			m.leaseChanges.WithLabelValues(t, c)
		}
		m.fenced.WithLabelValues(t)
	}
}

// Forget removes every series of target (after a reload removed it), and
// the conflict series of clients that only it served.
func (m *Metrics) Forget(target string) {
	for _, v := range m.byTarget {
		v.DeletePartialMatch(prometheus.Labels{"target": target})
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.paused, target)
	delete(m.clients, target)
	for _, c := range m.seen[target] {
		used := false
		for _, cs := range m.clients {
			used = used || slices.Contains(cs, c)
		}
		if !used {
			m.conflictsOpen.DeleteLabelValues(c)
		}
	}
	delete(m.seen, target)
}

// Reload counts a config reload; result is "success" or "failure".
func (m *Metrics) Reload(result string) {
	m.reloads.WithLabelValues(result).Inc()
	if result == "success" {
		m.reloadSuccessful.Set(1)
		m.reloadSuccessAt.Set(unix(m.now()))
	} else {
		m.reloadSuccessful.Set(0)
	}
}

// Reconciled implements syncer.Metrics.
func (m *Metrics) Reconciled(target, client, result string, d time.Duration) {
	m.reconciles.WithLabelValues(target, client, result).Inc()
	m.reconcileDuration.WithLabelValues(target, client).Observe(d.Seconds())
}

// FieldsChanged implements syncer.Metrics. The syncer also reports a
// pull's total under group "any" next to the per-group counts; that
// total is dropped here so that summing over groups does not count each
// field twice.
func (m *Metrics) FieldsChanged(target, client, direction, group string, n int) {
	if group == "any" || n <= 0 {
		return
	}
	m.fieldsChanged.WithLabelValues(target, client, direction, group).Add(float64(n))
}

// EchoSuppressed implements syncer.Metrics.
func (m *Metrics) EchoSuppressed(target string) { m.echoes.WithLabelValues(target).Inc() }

// Created implements syncer.Metrics.
func (m *Metrics) Created(target, result string) { m.created.WithLabelValues(target, result).Inc() }

// RemoteDeleted implements syncer.Metrics.
func (m *Metrics) RemoteDeleted(target string) { m.remoteDeleted.WithLabelValues(target).Inc() }

// SetLinked implements syncer.Metrics.
func (m *Metrics) SetLinked(target string, n int) { m.linked.WithLabelValues(target).Set(float64(n)) }

// SetConflictsOpen implements syncer.Metrics.
func (m *Metrics) SetConflictsOpen(client string, n int) {
	m.conflictsOpen.WithLabelValues(client).Set(float64(n))
}

// SetQueue implements syncer.Metrics.
func (m *Metrics) SetQueue(target string, depth int, oldest time.Duration) {
	m.queueDepth.WithLabelValues(target).Set(float64(depth))
	m.queueOldest.WithLabelValues(target).Set(oldest.Seconds())
}

// Webhook implements syncer.Metrics.
func (m *Metrics) Webhook(target, result string) { m.webhooks.WithLabelValues(target, result).Inc() }

// FullSync implements syncer.Metrics.
func (m *Metrics) FullSync(target string, at time.Time) {
	m.lastFullSync.WithLabelValues(target).Set(unix(at))
}

// SetHealth implements syncer.HealthMetrics.
func (m *Metrics) SetHealth(target string, failing bool, itemsFailing, itemsParked int) {
	v := 0.0
	if failing {
		v = 1
	}
	m.targetFailing.WithLabelValues(target).Set(v)
	m.itemsFailing.WithLabelValues(target).Set(float64(itemsFailing))
	m.itemsParked.WithLabelValues(target).Set(float64(itemsParked))
}

// SetOutboxPending implements syncer.Metrics.
func (m *Metrics) SetOutboxPending(n int) { m.outboxPending.Set(float64(n)) }

// Request implements connectors.Observer.
func (m *Metrics) Request(target, class string, status int, d time.Duration) {
	m.requests.WithLabelValues(target, class, code(status)).Inc()
	m.requestDuration.WithLabelValues(target, class).Observe(d.Seconds())
}

// code keeps the code label bounded whatever a server sends.
func code(status int) string {
	if status < 0 || status > 999 {
		return "other"
	}
	return strconv.Itoa(status)
}

// RateLimit implements connectors.Observer; remaining < 0 (the tracker
// did not say) leaves the gauges as they were.
func (m *Metrics) RateLimit(target string, remaining int, reset time.Time) {
	if remaining < 0 {
		return
	}
	m.rateRemaining.WithLabelValues(target).Set(float64(remaining))
	if !reset.IsZero() {
		m.rateReset.WithLabelValues(target).Set(unix(reset))
	}
}

// Paused implements connectors.Observer. Like the transport, it keeps the
// later of two overlapping pauses.
func (m *Metrics) Paused(target string, until time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if cur, ok := m.paused[target]; ok && cur.After(until) && cur.After(m.now()) {
		return
	}
	m.paused[target] = until
	m.pausedUntil.WithLabelValues(target).Set(unix(until))
}

// LeaseChanged implements syncer.LeaseMetrics.
func (m *Metrics) LeaseChanged(target, change string) {
	m.leaseChanges.WithLabelValues(target, change).Inc()
}

// SetLeaseHeld implements syncer.LeaseMetrics.
func (m *Metrics) SetLeaseHeld(target string, held bool) {
	v := 0.0
	if held {
		v = 1
	}
	m.leaseHeld.WithLabelValues(target).Set(v)
}

// WriteFenced implements syncer.LeaseMetrics.
func (m *Metrics) WriteFenced(target string) { m.fenced.WithLabelValues(target).Inc() }

// SetReplicas implements syncer.LeaseMetrics.
func (m *Metrics) SetReplicas(n int) { m.replicas.WithLabelValues().Set(float64(n)) }
