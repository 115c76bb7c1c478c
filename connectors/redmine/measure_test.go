package redmine

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/backlogd/backlogd/connectors"
)

// TestMeasureLive counts requests by class against a real Redmine for the
// operations a sync cycle is made of. It only runs when
// BACKLOGD_REDMINE_URL is set; read the figures with -v.
func TestMeasureLive(t *testing.T) {
	b, ok := liveBackend(t)
	if !ok {
		t.Skip(liveSkip)
	}
	ctx := context.Background()
	obs := newCounter()
	c := b.connect(t, obs)
	c.cfg.PageSize = DefaultPageSize
	if err := c.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	report := func(what string, start time.Time) {
		t.Logf("%-34s reads %4d  writes %4d  (%d of the reads 304)  %v", what, obs.get("read"), obs.get("write"), obs.get("read 304"), time.Since(start).Round(time.Millisecond))
		obs.reset()
	}
	obs.reset()
	start := time.Now()
	var ids []string
	for i := range 150 {
		r, err := c.Create(ctx, "BL-"+strconv.Itoa(i), sample(i))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
	}
	report("create 150 issues", start)

	start = time.Now()
	got, cursor := drain(t, c, "")
	if len(got) != 150 {
		t.Fatalf("imported %d issues, want 150", len(got))
	}
	report("import 150 issues via Changes", start)

	start = time.Now()
	if again, _ := drain(t, c, cursor); len(again) != 0 {
		t.Fatalf("idle cycle listed %v", again)
	}
	report("idle Changes cycle (first)", start)
	start = time.Now()
	drain(t, c, cursor)
	report("idle Changes cycle (steady)", start)

	start = time.Now()
	for i, id := range ids[:5] {
		f := connectors.Fields{}
		f.Set(FieldSubject, "Updated "+strconv.Itoa(i))
		if _, err := c.Update(ctx, id, "", f, ""); err != nil {
			t.Fatal(err)
		}
	}
	report("5 updates", start)

	start = time.Now()
	for i, id := range ids[:5] {
		f := connectors.Fields{}
		f.Set(FieldSubject, "Updated "+strconv.Itoa(i)) // as the loop above left it
		if _, err := c.Update(ctx, id, "", f, ""); err != nil {
			t.Fatal(err)
		}
	}
	report("5 updates that change nothing", start)
}

// BenchmarkRedmineUpdateNoChange measures the cost of an echo: an Update
// whose fields already hold (one conditional read, no write).
func BenchmarkRedmineUpdateNoChange(b *testing.B) {
	c, _ := newFake(b, nil)
	ctx := context.Background()
	r, err := c.Create(ctx, "BL-1", sample(1))
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := c.Update(ctx, r.ID, "", sample(1), ""); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRedmineIdleChanges measures an idle poll against the fake.
func BenchmarkRedmineIdleChanges(b *testing.B) {
	c, _ := newFake(b, nil)
	ctx := context.Background()
	for i := range 20 {
		if _, err := c.Create(ctx, "BL-"+strconv.Itoa(i), sample(i)); err != nil {
			b.Fatal(err)
		}
	}
	p, err := c.Changes(ctx, "")
	for p.More && err == nil {
		p, err = c.Changes(ctx, p.Cursor)
	}
	cursor := p.Cursor
	b.ResetTimer()
	for b.Loop() {
		if _, err := c.Changes(ctx, cursor); err != nil {
			b.Fatal(err)
		}
	}
}
