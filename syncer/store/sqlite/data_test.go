package sqlite_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/backlogd/backlogd/backlog"
	"github.com/backlogd/backlogd/syncer/store"
)

func TestDeliveriesAreForgottenAfterAWeek(t *testing.T) {
	path := filepath.Join(t.TempDir(), "backlogd.db")
	st := open(t, path)
	ctx := t.Context()
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	see := func(id string, after time.Duration) bool {
		t.Helper()
		var seen bool
		if err := st.Tx(ctx, func(tx store.Tx) (err error) {
			seen, err = tx.SeeDelivery(ctx, "github", id, t0.Add(after))
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return seen
	}
	day := 24 * time.Hour
	for _, c := range []struct {
		id    string
		after time.Duration
		want  bool
	}{
		{"d-1", 0, false},
		{"d-2", time.Hour, false},
		{"d-1", 6 * day, true},               // within the week: a repeat
		{"d-1", 7*day + time.Minute, false},  // a week later: new again
		{"d-1", 7*day + 2*time.Minute, true}, // and remembered from then on
		{"d-3", 14*day + time.Hour, false},   // prunes what is older than a week
		{"d-2", 14*day + 2*time.Hour, false}, // pruned: new again
	} {
		if got := see(c.id, c.after); got != c.want {
			t.Errorf("SeeDelivery(%s) %v after the first delivery reported seen=%v, want %v", c.id, c.after, got, c.want)
		}
	}
	var n int
	if err := raw(t, path).QueryRow("SELECT count(*) FROM deliveries WHERE seen_at < ?", t0.Add(7*day+time.Hour).UnixNano()).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("%d deliveries older than the retention are still stored, want them pruned", n)
	}
}

func TestTimesFarFromNowRoundTrip(t *testing.T) {
	st := open(t, filepath.Join(t.TempDir(), "backlogd.db"))
	ctx := t.Context()
	l := store.Link{
		Target: "jira", ItemID: "BL-1", RemoteID: "1", State: store.LinkActive, Base: backlog.Fields{},
		RemoteUpdated: time.Date(2500, 1, 2, 3, 4, 5, 6, time.UTC), // beyond int64 nanoseconds
		SyncedAt:      time.Date(1601, 1, 1, 0, 0, 0, 1, time.UTC), // before them
	}
	if err := st.Tx(ctx, func(tx store.Tx) error { return tx.PutLink(ctx, l) }); err != nil {
		t.Fatal(err)
	}
	got := readLink(t, st, "jira", "BL-1")
	if !got.RemoteUpdated.Equal(l.RemoteUpdated) || !got.SyncedAt.Equal(l.SyncedAt) {
		t.Errorf("times read back as %v and %v, want %v and %v", got.RemoteUpdated, got.SyncedAt, l.RemoteUpdated, l.SyncedAt)
	}
	epoch := l
	epoch.ItemID, epoch.RemoteID, epoch.RemoteUpdated, epoch.SyncedAt = "BL-2", "2", time.Unix(0, 0), time.Time{}
	if err := st.Tx(ctx, func(tx store.Tx) error { return tx.PutLink(ctx, epoch) }); err != nil {
		t.Fatal(err)
	}
	if got := readLink(t, st, "jira", "BL-2"); !got.RemoteUpdated.Equal(time.Unix(0, 0)) || got.RemoteUpdated.IsZero() || !got.SyncedAt.IsZero() {
		t.Errorf("the Unix epoch and the zero time read back as %v and %v", got.RemoteUpdated, got.SyncedAt)
	}

	bad := l
	bad.RemoteUpdated = time.Date(12026, 1, 1, 0, 0, 0, 0, time.UTC)
	err := st.Tx(ctx, func(tx store.Tx) error { return tx.PutLink(ctx, bad) })
	if err == nil || !strings.Contains(err.Error(), "remote_updated") {
		t.Errorf("PutLink with a time in the year 12026 returned %v, want an error naming the field", err)
	}
}

func TestCorruptRowsAreErrorsNotPanics(t *testing.T) {
	path := filepath.Join(t.TempDir(), "backlogd.db")
	st := open(t, path)
	ctx := t.Context()
	if err := st.Tx(ctx, func(tx store.Tx) error {
		if _, err := tx.PutItem(ctx, backlog.Item{ID: "BL-1", Kind: backlog.Task, Title: "T", Status: backlog.Todo}); err != nil {
			return err
		}
		return tx.PutLink(ctx, store.Link{Target: "jira", ItemID: "BL-1", RemoteID: "1", Base: backlog.Fields{"title": "T"}})
	}); err != nil {
		t.Fatal(err)
	}
	db := raw(t, path)
	exec(t, db, "UPDATE items SET data = ?", []byte(`{"title": 42`))
	exec(t, db, "UPDATE links SET base = ?", []byte{1, 200, 1, 3})
	for name, call := range map[string]func(store.Tx) error{
		"Item":         func(tx store.Tx) error { _, err := tx.Item(ctx, "BL-1"); return err },
		"Items":        func(tx store.Tx) error { _, err := tx.Items(ctx); return err },
		"Link":         func(tx store.Tx) error { _, err := tx.Link(ctx, "jira", "BL-1"); return err },
		"LinkByRemote": func(tx store.Tx) error { _, err := tx.LinkByRemote(ctx, "jira", "1"); return err },
		"Links":        func(tx store.Tx) error { _, err := tx.Links(ctx, ""); return err },
	} {
		if err := st.Tx(ctx, call); err == nil || !strings.Contains(err.Error(), "BL-1") {
			t.Errorf("%s of a corrupt row returned %v, want an error naming the row", name, err)
		}
	}
}
