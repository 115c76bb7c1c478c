package connectortest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/backlogd/backlogd/connectors"
)

// subtestTimeout bounds one subtest, so a connector that hangs fails
// with a message instead of stalling the whole test binary.
const subtestTimeout = 5 * time.Minute

// Run runs the conformance suite against the connectors h.New makes. Each
// subtest starts from a fresh connector (h.New) and only looks at the
// records it created, so the project may hold others. Subtests run one
// after the other: the hooks act on the connector made last.
func Run(t *testing.T, h Harness) {
	t.Helper()
	if h.New == nil || h.Sample == nil || h.TitleField == "" {
		t.Fatal("connectortest: the harness needs New, Sample and TitleField")
	}
	if h.PageSize < 0 {
		t.Fatalf("connectortest: the harness's PageSize is %d; use 0 for a connector that does not page", h.PageSize)
	}
	s := &suite{h: h, run: strconv.FormatInt(time.Now().UnixNano()%(1<<40), 36)}
	for _, st := range []struct {
		name string
		run  func(*testing.T)
	}{
		{"capabilities are consistent with the records read back", s.capabilities},
		{"a created record reads back with its fields and marker", s.createAndGet},
		{"FindByMarker finds a record by its marker and nothing by an unused one", s.findByMarker},
		{"Update changes only the given fields", s.update},
		{"fields declared multi-valued keep several values", s.multiValued},
		{"a stale version is refused with ErrConflict or not checked at all", s.staleVersion},
		{"Update writes a marker with the fields, or alone in place of the old one", s.updateMarker},
		{"Changes from the beginning pages over every record once", s.changesPaging},
		{"an edit after catching up appears in the next listing from the saved cursor", s.changesAfterEdit},
		{"a record edited during a paged listing is not lost", s.changesEditDuringListing},
		{"an idle listing from a caught-up cursor returns no record again", s.changesIdle},
		{"a second edit in the same second shows in the next listing with a new Version", s.changesSameSecond},
		{"a create whose answer was lost is found by its marker and not made twice", s.lostCreate},
		{"comments are created, read back, edited and deleted as the capabilities say", s.comments},
		{"internal comments are kept only where the tracker can hide them", s.internalComments},
		{"a nonsense id is not found", s.nonsenseID},
		{"a record deleted in the tracker is not found", s.deleted},
		{"a rate limit reports how long to wait", s.rateLimit},
		{"a refused request is a terminal error", s.rejected},
		{"concurrent calls are safe", s.concurrent},
		{"an unsigned webhook delivery is refused", s.webhook},
	} {
		t.Run(st.name, st.run)
	}
}

// suite is one run of the conformance suite.
type suite struct {
	h   Harness
	run string // makes this run's markers unique on a shared server
	seq atomic.Int64
	idx atomic.Int64
}

// marker returns a canonical id no other record carries.
func (s *suite) marker() string { return fmt.Sprintf("CT-%s-%d", s.run, s.seq.Add(1)) }

// sample returns the next sample's fields (a copy the caller may keep).
func (s *suite) sample() connectors.Fields {
	return s.h.Sample(int(s.idx.Add(1) - 1)).Clone()
}

// connect makes a fresh connector and a context bounded for one subtest.
func (s *suite) connect(t *testing.T) (connectors.Connector, context.Context) {
	t.Helper()
	c := s.h.New(t)
	if c == nil {
		t.Fatal("connectortest: the harness's New returned no connector")
	}
	ctx, cancel := context.WithTimeout(t.Context(), subtestTimeout)
	t.Cleanup(cancel)
	return c, ctx
}

// create makes one record from the next sample and returns it with the
// marker and fields it was created with.
func (s *suite) create(t *testing.T, ctx context.Context, c connectors.Connector) (connectors.Record, string, connectors.Fields) {
	t.Helper()
	m, f := s.marker(), s.sample()
	r, err := c.Create(ctx, m, f.Clone())
	if err != nil {
		t.Fatalf("Create(%s, %v): %v", m, f, err)
	}
	if r.ID == "" {
		t.Fatalf("Create(%s) returned a record without an ID: %+v", m, r)
	}
	return r, m, f
}

// createN makes n records and returns their ids and markers, by id.
func (s *suite) createN(t *testing.T, ctx context.Context, c connectors.Connector, n int) ([]string, map[string]string) {
	t.Helper()
	var ids []string
	markers := map[string]string{}
	for range n {
		r, m, _ := s.create(t, ctx, c)
		if _, dup := markers[r.ID]; dup {
			t.Fatalf("Create(%s) returned id %s, which an earlier Create returned too", m, r.ID)
		}
		ids = append(ids, r.ID)
		markers[r.ID] = m
	}
	return ids, markers
}

// settle waits out the tracker's clock resolution.
func (s *suite) settle() {
	if s.h.Settle != nil {
		s.h.Settle()
	}
}

// edit changes a record as a person in the tracker would (through
// Update when the harness has no Edit hook), after settling so the edit
// reads as newer than what was listed before.
func (s *suite) edit(t *testing.T, ctx context.Context, c connectors.Connector, id string, f connectors.Fields) {
	t.Helper()
	s.settle()
	if s.h.Edit != nil {
		s.h.Edit(t, id, f.Clone())
		return
	}
	if _, err := c.Update(ctx, id, "", f.Clone(), ""); err != nil {
		t.Fatalf("Update(%s, %v) standing in for a person's edit (the harness has no Edit hook): %v", id, f, err)
	}
}

// get reads a record and fails the test when that fails.
func get(t *testing.T, ctx context.Context, c connectors.Connector, id string) connectors.Record {
	t.Helper()
	r, err := c.Get(ctx, id)
	if err != nil {
		t.Fatalf("Get(%s): %v", id, err)
	}
	if r.ID != id {
		t.Fatalf("Get(%s) returned the record with id %q", id, r.ID)
	}
	return r
}

// multi reports whether name holds several values: declared so, or the
// harness's MultiField.
func (s *suite) multi(caps connectors.Capabilities, name string) bool {
	if name == s.h.MultiField {
		return true
	}
	f, ok := caps.Field(name)
	return ok && f.Multi
}

// sameValues compares a field's values: exactly, or as sets for
// multi-valued fields (connectors choose their own stable order).
func sameValues(multi bool, a, b []string) bool {
	if len(a) == 0 && len(b) == 0 {
		return true
	}
	if !multi {
		return slices.Equal(a, b)
	}
	x, y := slices.Sorted(slices.Values(a)), slices.Sorted(slices.Values(b))
	return slices.Equal(x, y)
}

// sameFields reports the fields (of names, or of both records when names
// is nil) whose values differ, skipping those in except.
func (s *suite) diffFields(caps connectors.Capabilities, want, got connectors.Fields, names []string, except ...string) []string {
	if names == nil {
		names = want.Names()
		for _, n := range got.Names() {
			if _, ok := want[n]; !ok {
				names = append(names, n)
			}
		}
	}
	var out []string
	for _, n := range names {
		if slices.Contains(except, n) {
			continue
		}
		if !sameValues(s.multi(caps, n), want[n], got[n]) {
			out = append(out, fmt.Sprintf("%s: want %q, got %q", n, want[n], got[n]))
		}
	}
	return out
}

// listing is one full listing: Changes called until More is false.
type listing struct {
	records []connectors.Record
	pages   int
	maxPage int // most records on one page
	cursor  string
}

// maxPages bounds a listing, for a connector whose More never ends.
const maxPages = 10000

// drain lists Changes from cursor until caught up. It always makes at
// least one call.
func drain(t *testing.T, ctx context.Context, c connectors.Connector, cursor string) listing {
	t.Helper()
	l := listing{cursor: cursor}
	for l.pages < maxPages {
		p, err := c.Changes(ctx, l.cursor)
		if err != nil {
			t.Fatalf("Changes (page %d of a listing from cursor %.40q): %v", l.pages+1, cursor, err)
		}
		l.pages++
		l.records = append(l.records, p.Records...)
		l.maxPage = max(l.maxPage, len(p.Records))
		l.cursor = p.Cursor
		if !p.More {
			return l
		}
	}
	t.Fatalf("Changes still said More after %d pages", maxPages)
	return l
}

// count returns how often each id of ids appears in records.
func count(records []connectors.Record, ids []string) map[string]int {
	n := map[string]int{}
	for _, r := range records {
		if slices.Contains(ids, r.ID) {
			n[r.ID]++
		}
	}
	return n
}

// last returns the last record with id in records.
func last(records []connectors.Record, id string) (connectors.Record, bool) {
	for _, r := range slices.Backward(records) {
		if r.ID == id {
			return r, true
		}
	}
	return connectors.Record{}, false
}

// wantNotFound checks that err says "not found".
func wantNotFound(t *testing.T, what string, err error) {
	t.Helper()
	switch {
	case err == nil:
		t.Errorf("%s succeeded; want an error wrapping connectors.ErrNotFound", what)
	case !errors.Is(err, connectors.ErrNotFound):
		t.Errorf("%s: %v; want an error wrapping connectors.ErrNotFound", what, err)
	}
}

// skipWithout skips when the harness lacks a hook.
func skipWithout(t *testing.T, hook string, missing bool) {
	t.Helper()
	if missing {
		t.Skipf("the harness has no %s hook", hook)
	}
}
