package connectortest

import (
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/backlogd/backlogd/connectors"
)

func (s *suite) lostCreate(t *testing.T) {
	skipWithout(t, "CrashAfterNextCreate", s.h.CrashAfterNextCreate == nil)
	c, ctx := s.connect(t)
	s.create(t, ctx, c) // first use: whatever the connector loads lazily
	m, f := s.marker(), s.sample()
	s.h.CrashAfterNextCreate(t)
	r, err := c.Create(ctx, m, f.Clone())
	if err == nil {
		t.Fatalf("Create(%s) succeeded (record %s) although CrashAfterNextCreate should lose its answer: the hook did not take effect", m, r.ID)
	}
	if connectors.IsTerminal(err) {
		t.Errorf("a create whose answer was lost is reported terminal (%v); the syncer must look the marker up and retry, not park the item", err)
	}
	// The syncer that retries may be another process (a restart, a lease
	// handed over): ask a connector that remembers nothing of the create.
	finder, who := c, "the connector that made the create"
	if s.h.Reconnect != nil {
		finder, who = s.h.Reconnect(t, c), "a new connector on the same project"
	}
	got, err := finder.FindByMarker(ctx, m)
	if err != nil {
		t.Fatalf("FindByMarker(%s), asked of %s, after a create whose answer was lost: %v; the syncer would create a duplicate", m, who, err)
	}
	if got.Marker != m || got.Fields.Get(s.h.TitleField) != f.Get(s.h.TitleField) {
		t.Errorf("FindByMarker(%s) found record %s with marker %q titled %q, want the lost create's title %q", m, got.ID, got.Marker, got.Fields.Get(s.h.TitleField), f.Get(s.h.TitleField))
	}
	// The connector itself must not have retried the create.
	n := 0
	for _, r := range drain(t, ctx, c, "").records {
		if r.Marker == m {
			n++
		}
	}
	if n != 1 {
		t.Errorf("after one Create whose answer was lost, %d records carry its marker %s; want exactly 1 (a POST must never be retried blindly)", n, m)
	}
}

func (s *suite) nonsenseID(t *testing.T) {
	c, ctx := s.connect(t)
	s.create(t, ctx, c)
	upd := connectors.Fields{}
	upd.Set(s.h.TitleField, "Never written")
	for _, id := range []string{"no-such-record-" + s.run, "999999999"} {
		_, err := c.Get(ctx, id)
		wantNotFound(t, fmt.Sprintf("Get(%q)", id), err)
		_, err = c.Update(ctx, id, "", upd.Clone(), "")
		wantNotFound(t, fmt.Sprintf("Update(%q)", id), err)
		_, err = c.Update(ctx, id, "", nil, s.marker())
		wantNotFound(t, fmt.Sprintf("Update(%q) of a marker alone", id), err)
	}
}

func (s *suite) deleted(t *testing.T) {
	skipWithout(t, "Delete", s.h.Delete == nil)
	c, ctx := s.connect(t)
	rec, m, _ := s.create(t, ctx, c)
	kept, _, _ := s.create(t, ctx, c)
	s.h.Delete(t, rec.ID)
	_, err := c.Get(ctx, rec.ID)
	wantNotFound(t, "Get of a deleted record", err)
	upd := connectors.Fields{}
	upd.Set(s.h.TitleField, "Written to a deleted record")
	_, err = c.Update(ctx, rec.ID, "", upd, "")
	wantNotFound(t, "Update of a deleted record", err)
	_, err = c.FindByMarker(ctx, m)
	wantNotFound(t, "FindByMarker of a deleted record's marker", err)
	l := drain(t, ctx, c, "")
	if _, ok := last(l.records, rec.ID); ok {
		t.Errorf("a full listing still returns deleted record %s", rec.ID)
	}
	if _, ok := last(l.records, kept.ID); !ok {
		t.Errorf("a full listing misses record %s after another was deleted", kept.ID)
	}
	get(t, ctx, c, kept.ID)
}

func (s *suite) rateLimit(t *testing.T) {
	skipWithout(t, "RateLimitNext", s.h.RateLimitNext == nil)
	c, ctx := s.connect(t)
	rec, _, _ := s.create(t, ctx, c)
	// Long enough that no connector sleeps through it inside the call.
	const wait = 2 * time.Minute
	s.h.RateLimitNext(t, wait)
	_, err := c.Get(ctx, rec.ID)
	if err == nil {
		t.Fatalf("Get(%s) succeeded although the tracker answered with a rate limit of %s", rec.ID, wait)
	}
	d, ok := connectors.RetryAfter(err)
	switch {
	case !ok:
		t.Errorf("a rate limit came back as %v; want a *connectors.RateLimitError", err)
	case d < wait/2:
		t.Errorf("the tracker asked to wait %s and the connector reports %s: the syncer would come back too early", wait, d)
	}
	if connectors.IsTerminal(err) {
		t.Errorf("a rate limit is reported terminal: %v", err)
	}
	// The next call either works or reports the pause still running.
	if _, err := c.Get(ctx, rec.ID); err != nil {
		if d, ok := connectors.RetryAfter(err); !ok || d <= 0 {
			t.Errorf("the call after a rate limit: %v; want success or a rate limit with a wait", err)
		}
	}
}

func (s *suite) rejected(t *testing.T) {
	skipWithout(t, "RejectNext", s.h.RejectNext == nil)
	c, ctx := s.connect(t)
	rec, _, sample := s.create(t, ctx, c)
	s.h.RejectNext(t)
	_, err := c.Get(ctx, rec.ID)
	if !connectors.IsTerminal(err) {
		t.Errorf("Get after the tracker refused the request: %v; want a *connectors.TerminalError", err)
	}
	s.h.RejectNext(t)
	upd := connectors.Fields{}
	upd.Set(s.h.TitleField, "Refused write")
	_, err = c.Update(ctx, rec.ID, "", upd, "")
	if !connectors.IsTerminal(err) {
		t.Errorf("Update after the tracker refused the request: %v; want a *connectors.TerminalError", err)
	}
	if got := get(t, ctx, c, rec.ID); got.Fields.Get(s.h.TitleField) != sample.Get(s.h.TitleField) {
		t.Errorf("a refused Update changed the title to %q", got.Fields.Get(s.h.TitleField))
	}
}

func (s *suite) concurrent(t *testing.T) {
	c, ctx := s.connect(t)
	const n = 4
	type made struct {
		rec    connectors.Record
		marker string
		title  string
	}
	out := make([]made, n)
	var wg sync.WaitGroup
	for i := range n {
		m, f := s.marker(), s.sample()
		out[i] = made{marker: m, title: f.Get(s.h.TitleField)}
		wg.Go(func() {
			r, err := c.Create(ctx, m, f)
			if err != nil {
				t.Errorf("concurrent Create(%s): %v", m, err)
			}
			out[i].rec = r
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	ids := map[string]bool{}
	for _, o := range out {
		if ids[o.rec.ID] {
			t.Fatalf("two concurrent Creates returned id %s", o.rec.ID)
		}
		ids[o.rec.ID] = true
	}
	for _, o := range out {
		wg.Go(func() {
			r, err := c.Get(ctx, o.rec.ID)
			if err != nil || r.Fields.Get(s.h.TitleField) != o.title {
				t.Errorf("concurrent Get(%s) = %q, %v; want title %q", o.rec.ID, r.Fields.Get(s.h.TitleField), err, o.title)
			}
		})
		wg.Go(func() {
			r, err := c.FindByMarker(ctx, o.marker)
			if err != nil || r.ID != o.rec.ID {
				t.Errorf("concurrent FindByMarker(%s) = %s, %v; want %s", o.marker, r.ID, err, o.rec.ID)
			}
		})
		wg.Go(func() {
			if _, err := c.Changes(ctx, ""); err != nil {
				t.Errorf("concurrent Changes: %v", err)
			}
		})
	}
	wg.Wait()
}

func (s *suite) webhook(t *testing.T) {
	c, _ := s.connect(t)
	wr, ok := c.(connectors.WebhookReceiver)
	if !ok {
		t.Skip("the connector does not receive webhooks")
	}
	for _, h := range []http.Header{{}, {"X-Hub-Signature-256": {"sha256=00"}, "X-Signature": {"00"}}} {
		if _, err := wr.ParseWebhook(h, []byte(`{"action":"edited","issue":{"number":1},"id":"1"}`)); !errors.Is(err, connectors.ErrBadSignature) {
			t.Errorf("ParseWebhook of an unsigned or wrongly signed delivery (header %v): %v; want an error wrapping connectors.ErrBadSignature", h, err)
		}
	}
}
