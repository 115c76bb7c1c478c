package metrics

import (
	"testing"

	"github.com/backlogd/backlogd/syncer"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestLeaseChangesAndFencedWritesAreCountedPerTarget(t *testing.T) {
	m, reg := newTest(t)
	m.Known([]string{"github:acme", "jira:home"}, map[string][]string{"github:acme": {"acme"}, "jira:home": {"home"}})

	// Pre-created at zero, so a dashboard shows no fencing rather than no data.
	if got := count(t, reg, "backlogd_lease_changes_total"); got != 2*len(LeaseChanges) {
		t.Errorf("backlogd_lease_changes_total: %d series after Known with two targets, want %d", got, 2*len(LeaseChanges))
	}
	if got := count(t, reg, "backlogd_fenced_writes_total"); got != 2 {
		t.Errorf("backlogd_fenced_writes_total: %d series after Known with two targets, want 2", got)
	}
	// With a store only one process uses, nothing sets these: absent, not 0.
	for _, name := range []string{"backlogd_lease_held", "backlogd_replicas_live"} {
		if got := count(t, reg, name); got != 0 {
			t.Errorf("%s: %d series before the syncer reports a lease, want none", name, got)
		}
	}

	m.LeaseChanged("github:acme", syncer.LeaseAcquired)
	m.LeaseChanged("github:acme", syncer.LeaseLost)
	m.LeaseChanged("github:acme", syncer.LeaseAcquired)
	m.WriteFenced("github:acme")
	m.WriteFenced("github:acme")
	m.SetLeaseHeld("github:acme", true)
	m.SetLeaseHeld("jira:home", true)
	m.SetLeaseHeld("jira:home", false)
	m.SetReplicas(3)
	for _, c := range []struct {
		change string
		want   float64
	}{{syncer.LeaseAcquired, 2}, {syncer.LeaseLost, 1}, {syncer.LeaseReleased, 0}, {syncer.LeaseExpired, 0}} {
		if got := testutil.ToFloat64(m.leaseChanges.WithLabelValues("github:acme", c.change)); got != c.want {
			t.Errorf("lease changes{change=%q} = %v, want %v", c.change, got, c.want)
		}
	}
	if got := testutil.ToFloat64(m.fenced.WithLabelValues("github:acme")); got != 2 {
		t.Errorf("fenced writes of github:acme = %v, want 2", got)
	}
	if got := testutil.ToFloat64(m.fenced.WithLabelValues("jira:home")); got != 0 {
		t.Errorf("fenced writes of jira:home = %v, want 0", got)
	}
	if got := testutil.ToFloat64(m.leaseHeld.WithLabelValues("github:acme")); got != 1 {
		t.Errorf("lease held of github:acme = %v, want 1", got)
	}
	if got := testutil.ToFloat64(m.leaseHeld.WithLabelValues("jira:home")); got != 0 {
		t.Errorf("lease held of jira:home after it was given up = %v, want 0", got)
	}
	if got := testutil.ToFloat64(m.replicas.WithLabelValues()); got != 3 {
		t.Errorf("replicas live = %v, want 3", got)
	}
	// The reconcile result of a fenced write is a known label value.
	found := false
	for _, r := range ReconcileResults {
		found = found || r == "fenced"
	}
	if !found {
		t.Error(`ReconcileResults lacks "fenced", the result of a reconcile whose write the store refused`)
	}

	m.Forget("github:acme")
	for _, name := range []string{"backlogd_lease_changes_total", "backlogd_fenced_writes_total", "backlogd_lease_held"} {
		if got := count(t, reg, name); got != map[string]int{
			"backlogd_lease_changes_total": len(LeaseChanges), "backlogd_fenced_writes_total": 1, "backlogd_lease_held": 1,
		}[name] {
			t.Errorf("%s: %d series after forgetting github:acme, want only jira:home's", name, got)
		}
	}
}
