package metrics

import (
	"strings"
	"testing"
	"time"

	"github.com/backlogd/backlogd/connectors"
	"github.com/backlogd/backlogd/syncer"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"
)

// The daemon passes one *Metrics as both.
var (
	_ syncer.Metrics       = (*Metrics)(nil)
	_ syncer.LeaseMetrics  = (*Metrics)(nil)
	_ syncer.HealthMetrics = (*Metrics)(nil)
	_ connectors.Observer  = (*Metrics)(nil)
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func newTest(t *testing.T) (*Metrics, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	m := newMetrics(reg, BuildInfo{Version: "v1.2.3", Revision: "abc123", GoVersion: "go1.26.0"}, func() time.Time { return t0 })
	return m, reg
}

func compare(t *testing.T, reg prometheus.Gatherer, want string, names ...string) {
	t.Helper()
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}
}

func count(t *testing.T, reg prometheus.Gatherer, name string) int {
	t.Helper()
	n, err := testutil.GatherAndCount(reg, name)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestKnownPrecreatesEverySeriesAtZero(t *testing.T) {
	m, reg := newTest(t)
	m.Known([]string{"github:acme", "jira:home"}, map[string][]string{"github:acme": {"acme"}, "jira:home": {"home"}})

	compare(t, reg, `
# HELP backlogd_webhook_deliveries_total Webhook deliveries, by result: accepted, bad_signature, duplicate, ignored, error.
# TYPE backlogd_webhook_deliveries_total counter
backlogd_webhook_deliveries_total{result="accepted",target="github:acme"} 0
backlogd_webhook_deliveries_total{result="bad_signature",target="github:acme"} 0
backlogd_webhook_deliveries_total{result="duplicate",target="github:acme"} 0
backlogd_webhook_deliveries_total{result="error",target="github:acme"} 0
backlogd_webhook_deliveries_total{result="ignored",target="github:acme"} 0
backlogd_webhook_deliveries_total{result="accepted",target="jira:home"} 0
backlogd_webhook_deliveries_total{result="bad_signature",target="jira:home"} 0
backlogd_webhook_deliveries_total{result="duplicate",target="jira:home"} 0
backlogd_webhook_deliveries_total{result="error",target="jira:home"} 0
backlogd_webhook_deliveries_total{result="ignored",target="jira:home"} 0
# HELP backlogd_conflicts_open Conflicts parked for a person (manual policy), per client.
# TYPE backlogd_conflicts_open gauge
backlogd_conflicts_open{client="acme"} 0
backlogd_conflicts_open{client="home"} 0
# HELP backlogd_last_full_sync_timestamp_seconds When the target was last polled to the end without error (Unix time; 0 = never since start).
# TYPE backlogd_last_full_sync_timestamp_seconds gauge
backlogd_last_full_sync_timestamp_seconds{target="github:acme"} 0
backlogd_last_full_sync_timestamp_seconds{target="jira:home"} 0
`, "backlogd_webhook_deliveries_total", "backlogd_conflicts_open", "backlogd_last_full_sync_timestamp_seconds")

	perTarget := map[string]int{
		"backlogd_reconciles_total":                          len(ReconcileResults),
		"backlogd_reconcile_duration_seconds":                1,
		"backlogd_fields_changed_total":                      len(Directions) * len(FieldGroups),
		"backlogd_echoes_suppressed_total":                   1,
		"backlogd_records_created_total":                     len(CreateResults),
		"backlogd_remote_deletions_total":                    1,
		"backlogd_items_linked":                              1,
		"backlogd_queue_depth":                               1,
		"backlogd_queue_oldest_key_age_seconds":              1,
		"backlogd_tracker_request_duration_seconds":          len(RequestClasses),
		"backlogd_rate_limit_paused_until_timestamp_seconds": 1,
		"backlogd_target_failing":                            1,
		"backlogd_items_failing":                             1,
		"backlogd_items_parked":                              1,
	}
	for name, n := range perTarget {
		if got := count(t, reg, name); got != 2*n {
			t.Errorf("%s: %d series after Known with two targets, want %d", name, got, 2*n)
		}
	}
	// A quota of 0 would read as exhausted: those gauges wait for the
	// tracker to report one.
	for _, name := range []string{"backlogd_rate_limit_remaining", "backlogd_rate_limit_reset_timestamp_seconds", "backlogd_tracker_requests_total"} {
		if got := count(t, reg, name); got != 0 {
			t.Errorf("%s: %d series before any request, want none", name, got)
		}
	}
}

func TestSyncerEventsAreCounted(t *testing.T) {
	m, reg := newTest(t)
	m.Known([]string{"github:acme"}, map[string][]string{"github:acme": {"acme"}})

	m.Reconciled("github:acme", "acme", "pushed", 200*time.Millisecond)
	m.Reconciled("github:acme", "acme", "pushed", 300*time.Millisecond)
	m.Reconciled("github:acme", "acme", "error", 2*time.Second)
	if got := testutil.ToFloat64(m.reconciles.WithLabelValues("github:acme", "acme", "pushed")); got != 2 {
		t.Errorf("pushed reconciles = %v, want 2", got)
	}
	if got := testutil.ToFloat64(m.reconciles.WithLabelValues("github:acme", "acme", "error")); got != 1 {
		t.Errorf("error reconciles = %v, want 1", got)
	}
	compare(t, reg, `
# HELP backlogd_reconcile_duration_seconds Time to reconcile one key, tracker calls included.
# TYPE backlogd_reconcile_duration_seconds histogram
backlogd_reconcile_duration_seconds_bucket{client="acme",target="github:acme",le="0.005"} 0
backlogd_reconcile_duration_seconds_bucket{client="acme",target="github:acme",le="0.01"} 0
backlogd_reconcile_duration_seconds_bucket{client="acme",target="github:acme",le="0.025"} 0
backlogd_reconcile_duration_seconds_bucket{client="acme",target="github:acme",le="0.05"} 0
backlogd_reconcile_duration_seconds_bucket{client="acme",target="github:acme",le="0.1"} 0
backlogd_reconcile_duration_seconds_bucket{client="acme",target="github:acme",le="0.25"} 1
backlogd_reconcile_duration_seconds_bucket{client="acme",target="github:acme",le="0.5"} 2
backlogd_reconcile_duration_seconds_bucket{client="acme",target="github:acme",le="1"} 2
backlogd_reconcile_duration_seconds_bucket{client="acme",target="github:acme",le="2.5"} 3
backlogd_reconcile_duration_seconds_bucket{client="acme",target="github:acme",le="5"} 3
backlogd_reconcile_duration_seconds_bucket{client="acme",target="github:acme",le="10"} 3
backlogd_reconcile_duration_seconds_bucket{client="acme",target="github:acme",le="30"} 3
backlogd_reconcile_duration_seconds_bucket{client="acme",target="github:acme",le="+Inf"} 3
backlogd_reconcile_duration_seconds_sum{client="acme",target="github:acme"} 2.5
backlogd_reconcile_duration_seconds_count{client="acme",target="github:acme"} 3
`, "backlogd_reconcile_duration_seconds")

	m.FieldsChanged("github:acme", "acme", "pulled", "any", 3) // the syncer's total next to the groups
	m.FieldsChanged("github:acme", "acme", "pulled", "text", 1)
	m.FieldsChanged("github:acme", "acme", "pulled", "text", 1)
	m.FieldsChanged("github:acme", "acme", "pulled", "planning", 1)
	m.FieldsChanged("github:acme", "acme", "pushed", "people", 4)
	for _, c := range []struct {
		dir, group string
		want       float64
	}{{"pulled", "text", 2}, {"pulled", "planning", 1}, {"pushed", "people", 4}, {"pushed", "text", 0}} {
		if got := testutil.ToFloat64(m.fieldsChanged.WithLabelValues("github:acme", "acme", c.dir, c.group)); got != c.want {
			t.Errorf("fields %s/%s = %v, want %v", c.dir, c.group, got, c.want)
		}
	}
	if got := count(t, reg, "backlogd_fields_changed_total"); got != len(Directions)*len(FieldGroups) {
		t.Errorf("fields changed has %d series, want %d: group \"any\" must not add one", got, len(Directions)*len(FieldGroups))
	}

	m.EchoSuppressed("github:acme")
	m.Created("github:acme", "adopted")
	m.RemoteDeleted("github:acme")
	m.SetLinked("github:acme", 10000)
	m.SetConflictsOpen("acme", 3)
	m.SetQueue("github:acme", 42, 90*time.Second)
	m.Webhook("github:acme", "bad_signature")
	m.Webhook("github:acme", "accepted")
	m.Webhook("github:acme", "accepted")
	m.FullSync("github:acme", t0)
	m.SetOutboxPending(5)
	compare(t, reg, `
# HELP backlogd_echoes_suppressed_total Remote changes that merged to nothing: our own writes coming back, or edits to fields that are not synced.
# TYPE backlogd_echoes_suppressed_total counter
backlogd_echoes_suppressed_total{target="github:acme"} 1
# HELP backlogd_records_created_total Links made, by how: created (a new remote record), relinked (found by its marker), adopted (a client's record became a canonical item).
# TYPE backlogd_records_created_total counter
backlogd_records_created_total{result="adopted",target="github:acme"} 1
backlogd_records_created_total{result="created",target="github:acme"} 0
backlogd_records_created_total{result="relinked",target="github:acme"} 0
# HELP backlogd_remote_deletions_total Remote records found deleted; their links are marked gone.
# TYPE backlogd_remote_deletions_total counter
backlogd_remote_deletions_total{target="github:acme"} 1
# HELP backlogd_items_linked Canonical items with an active link to a record on the target.
# TYPE backlogd_items_linked gauge
backlogd_items_linked{target="github:acme"} 10000
# HELP backlogd_conflicts_open Conflicts parked for a person (manual policy), per client.
# TYPE backlogd_conflicts_open gauge
backlogd_conflicts_open{client="acme"} 3
# HELP backlogd_queue_depth Keys waiting in the target's work queue, delayed retries included.
# TYPE backlogd_queue_depth gauge
backlogd_queue_depth{target="github:acme"} 42
# HELP backlogd_queue_oldest_key_age_seconds How long the oldest key in the target's queue has been waiting.
# TYPE backlogd_queue_oldest_key_age_seconds gauge
backlogd_queue_oldest_key_age_seconds{target="github:acme"} 90
# HELP backlogd_webhook_deliveries_total Webhook deliveries, by result: accepted, bad_signature, duplicate, ignored, error.
# TYPE backlogd_webhook_deliveries_total counter
backlogd_webhook_deliveries_total{result="accepted",target="github:acme"} 2
backlogd_webhook_deliveries_total{result="bad_signature",target="github:acme"} 1
backlogd_webhook_deliveries_total{result="duplicate",target="github:acme"} 0
backlogd_webhook_deliveries_total{result="error",target="github:acme"} 0
backlogd_webhook_deliveries_total{result="ignored",target="github:acme"} 0
# HELP backlogd_last_full_sync_timestamp_seconds When the target was last polled to the end without error (Unix time; 0 = never since start).
# TYPE backlogd_last_full_sync_timestamp_seconds gauge
backlogd_last_full_sync_timestamp_seconds{target="github:acme"} 1.7723664e+09
# HELP backlogd_outbox_intents_pending Remote writes announced in the outbox and not yet acknowledged.
# TYPE backlogd_outbox_intents_pending gauge
backlogd_outbox_intents_pending 5
`, "backlogd_echoes_suppressed_total", "backlogd_records_created_total", "backlogd_remote_deletions_total",
		"backlogd_items_linked", "backlogd_conflicts_open", "backlogd_queue_depth", "backlogd_queue_oldest_key_age_seconds",
		"backlogd_webhook_deliveries_total", "backlogd_last_full_sync_timestamp_seconds", "backlogd_outbox_intents_pending")
}

func TestTrackerRequestsAndRateLimits(t *testing.T) {
	m, reg := newTest(t)
	m.Known([]string{"github:acme"}, map[string][]string{"github:acme": {"acme"}})

	m.Request("github:acme", "read", 200, 40*time.Millisecond)
	m.Request("github:acme", "read", 200, 60*time.Millisecond)
	m.Request("github:acme", "read", 304, 20*time.Millisecond)
	m.Request("github:acme", "write", 0, 30*time.Second) // timed out: no response
	m.Request("github:acme", "write", 422, 100*time.Millisecond)
	compare(t, reg, `
# HELP backlogd_tracker_requests_total HTTP requests to trackers (every attempt, retries included), by method class (read, write) and status code (0 = no response: connection or timeout error).
# TYPE backlogd_tracker_requests_total counter
backlogd_tracker_requests_total{class="read",code="200",target="github:acme"} 2
backlogd_tracker_requests_total{class="read",code="304",target="github:acme"} 1
backlogd_tracker_requests_total{class="write",code="0",target="github:acme"} 1
backlogd_tracker_requests_total{class="write",code="422",target="github:acme"} 1
`, "backlogd_tracker_requests_total")
	h, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range h {
		if mf.GetName() != "backlogd_tracker_request_duration_seconds" {
			continue
		}
		for _, s := range mf.GetMetric() {
			class := ""
			for _, l := range s.GetLabel() {
				if l.GetName() == "class" {
					class = l.GetValue()
				}
			}
			want := map[string]uint64{"read": 3, "write": 2}[class]
			if got := s.GetHistogram().GetSampleCount(); got != want {
				t.Errorf("%s latency count = %d, want %d", class, got, want)
			}
		}
	}

	m.RateLimit("github:acme", -1, time.Time{}) // tracker sent no quota
	if got := count(t, reg, "backlogd_rate_limit_remaining"); got != 0 {
		t.Errorf("remaining has %d series after a response without quota, want none", got)
	}
	reset := t0.Add(time.Hour)
	m.RateLimit("github:acme", 4999, reset)
	m.RateLimit("github:acme", 120, reset)
	m.Paused("github:acme", t0.Add(10*time.Minute))
	m.Paused("github:acme", t0.Add(time.Minute)) // an overlapping shorter pause does not shorten it
	compare(t, reg, `
# HELP backlogd_rate_limit_remaining Requests left in the tracker's current rate-limit window, as it last reported (absent until it reports one).
# TYPE backlogd_rate_limit_remaining gauge
backlogd_rate_limit_remaining{target="github:acme"} 120
# HELP backlogd_rate_limit_reset_timestamp_seconds When the tracker's current rate-limit window resets (Unix time; absent until it reports one).
# TYPE backlogd_rate_limit_reset_timestamp_seconds gauge
backlogd_rate_limit_reset_timestamp_seconds{target="github:acme"} 1.77237e+09
# HELP backlogd_rate_limit_paused_until_timestamp_seconds Until when requests to the target are paused for a rate limit (Unix time; in the past or 0 = not paused).
# TYPE backlogd_rate_limit_paused_until_timestamp_seconds gauge
backlogd_rate_limit_paused_until_timestamp_seconds{target="github:acme"} 1.772367e+09
`, "backlogd_rate_limit_remaining", "backlogd_rate_limit_reset_timestamp_seconds", "backlogd_rate_limit_paused_until_timestamp_seconds")
}

func TestHealthIsReportedPerTarget(t *testing.T) {
	m, reg := newTest(t)
	m.Known([]string{"github:acme", "jira:home"}, map[string][]string{"github:acme": {"acme"}, "jira:home": {"home"}})
	m.SetHealth("github:acme", false, 2, 1) // two items failing, one parked: the target syncs
	m.SetHealth("jira:home", true, 0, 0)
	compare(t, reg, `
# HELP backlogd_target_failing 1 while the target as a whole is failing (its listing fails, the tracker refuses its credentials, or several items fail with nothing succeeding), else 0; items failing while the rest syncs do not count.
# TYPE backlogd_target_failing gauge
backlogd_target_failing{target="github:acme"} 0
backlogd_target_failing{target="jira:home"} 1
# HELP backlogd_items_failing Items of the target whose last reconcile failed with an error that is retried with back-off.
# TYPE backlogd_items_failing gauge
backlogd_items_failing{target="github:acme"} 2
backlogd_items_failing{target="jira:home"} 0
# HELP backlogd_items_parked Items of the target parked by an error that retrying will not fix, until the item or the config changes.
# TYPE backlogd_items_parked gauge
backlogd_items_parked{target="github:acme"} 1
backlogd_items_parked{target="jira:home"} 0
`, "backlogd_target_failing", "backlogd_items_failing", "backlogd_items_parked")
}

func TestForgetRemovesOnlyThatTargetsSeries(t *testing.T) {
	m, reg := newTest(t)
	m.Known([]string{"github:acme", "jira:acme", "jira:home"},
		map[string][]string{"github:acme": {"acme"}, "jira:acme": {"acme"}, "jira:home": {"home"}})
	m.Request("jira:home", "read", 200, time.Millisecond)
	m.RateLimit("jira:home", 10, t0)
	m.SetConflictsOpen("home", 2)
	m.SetConflictsOpen("acme", 1)
	m.SetHealth("jira:home", true, 3, 1)
	before := count(t, reg, "backlogd_reconciles_total")

	// A reload removed jira:home and jira:acme; acme is still served by github:acme.
	m.Known([]string{"github:acme"}, map[string][]string{"github:acme": {"acme"}})
	m.Forget("jira:home")
	m.Forget("jira:acme")

	if got, want := count(t, reg, "backlogd_reconciles_total"), before/3; got != want {
		t.Errorf("reconciles has %d series after forgetting two of three targets, want %d", got, want)
	}
	out, err := testutil.GatherAndFormat(reg, expfmt.TypeTextPlain)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, `"jira:home"`) || strings.Contains(line, `"jira:acme"`) || strings.Contains(line, `client="home"`) {
			t.Errorf("series of a forgotten target survived: %s", line)
		}
	}
	compare(t, reg, `
# HELP backlogd_conflicts_open Conflicts parked for a person (manual policy), per client.
# TYPE backlogd_conflicts_open gauge
backlogd_conflicts_open{client="acme"} 1
`, "backlogd_conflicts_open")
	if got := count(t, reg, "backlogd_webhook_deliveries_total"); got != len(WebhookResults) {
		t.Errorf("the kept target has %d webhook series, want %d", got, len(WebhookResults))
	}
}

func TestReloadsAndBuildInfo(t *testing.T) {
	m, reg := newTest(t)
	later := t0.Add(time.Hour)
	compare(t, reg, `
# HELP backlogd_config_reloads_total Config reloads (SIGHUP or POST /-/reload), by result: success, failure (the running config stays in force).
# TYPE backlogd_config_reloads_total counter
backlogd_config_reloads_total{result="failure"} 0
backlogd_config_reloads_total{result="success"} 0
# HELP backlogd_config_last_reload_successful 1 if the last config load (start or reload) succeeded, 0 if the running config is older than the file.
# TYPE backlogd_config_last_reload_successful gauge
backlogd_config_last_reload_successful 1
# HELP backlogd_build_info Always 1; labels describe the running binary.
# TYPE backlogd_build_info gauge
backlogd_build_info{goversion="go1.26.0",revision="abc123",version="v1.2.3"} 1
`, "backlogd_config_reloads_total", "backlogd_config_last_reload_successful", "backlogd_build_info")

	m.Reload("failure")
	if got := testutil.ToFloat64(m.reloadSuccessful); got != 0 {
		t.Errorf("last reload successful = %v after a failure, want 0", got)
	}
	m.now = func() time.Time { return later }
	m.Reload("success")
	m.Reload("failure")
	m.Reload("success")
	compare(t, reg, `
# HELP backlogd_config_reloads_total Config reloads (SIGHUP or POST /-/reload), by result: success, failure (the running config stays in force).
# TYPE backlogd_config_reloads_total counter
backlogd_config_reloads_total{result="failure"} 2
backlogd_config_reloads_total{result="success"} 2
# HELP backlogd_config_last_reload_successful 1 if the last config load (start or reload) succeeded, 0 if the running config is older than the file.
# TYPE backlogd_config_last_reload_successful gauge
backlogd_config_last_reload_successful 1
# HELP backlogd_config_last_reload_success_timestamp_seconds When the running config was loaded (Unix time).
# TYPE backlogd_config_last_reload_success_timestamp_seconds gauge
backlogd_config_last_reload_success_timestamp_seconds 1.77237e+09
`, "backlogd_config_reloads_total", "backlogd_config_last_reload_successful", "backlogd_config_last_reload_success_timestamp_seconds")
}

func TestRuntimeAndProcessCollectorsAreRegistered(t *testing.T) {
	_, reg := newTest(t)
	for _, name := range []string{"go_goroutines", "go_memstats_heap_alloc_bytes", "process_resident_memory_bytes", "process_start_time_seconds"} {
		if count(t, reg, name) != 1 {
			t.Errorf("%s missing from the scrape", name)
		}
	}
}

func TestNewAcceptsARegistryThatHasTheRuntimeCollectors(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	New(reg, BuildInfo{}) // must not panic
	if count(t, reg, "backlogd_build_info") != 1 {
		t.Error("build info missing")
	}
	compare(t, reg, `
# HELP backlogd_build_info Always 1; labels describe the running binary.
# TYPE backlogd_build_info gauge
backlogd_build_info{goversion="unknown",revision="unknown",version="dev"} 1
`, "backlogd_build_info")
}

func TestNewTwiceOnOneRegistryPanics(t *testing.T) {
	reg := prometheus.NewRegistry()
	New(reg, BuildInfo{})
	defer func() {
		if recover() == nil {
			t.Error("second New on the same registry did not panic; metrics would be silently split")
		}
	}()
	New(reg, BuildInfo{})
}

func TestScrapePassesLint(t *testing.T) {
	m, reg := newTest(t)
	m.Known([]string{"github:acme"}, map[string][]string{"github:acme": {"acme"}})
	m.Request("github:acme", "read", 200, time.Millisecond)
	m.RateLimit("github:acme", 10, t0)
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
}

func TestCodeLabelStaysBounded(t *testing.T) {
	for in, want := range map[int]string{0: "0", 200: "200", 599: "599", -1: "other", 1000: "other", 123456: "other"} {
		if got := code(in); got != want {
			t.Errorf("code(%d) = %q, want %q", in, got, want)
		}
	}
}
