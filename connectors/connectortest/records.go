package connectortest

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/backlogd/backlogd/connectors"
)

func (s *suite) capabilities(t *testing.T) {
	c, ctx := s.connect(t)
	// Some connectors fill Capabilities on first use (names loaded from
	// the tracker): read them after a call.
	rec, _, sample := s.create(t, ctx, c)
	rec = get(t, ctx, c, rec.ID)
	caps := c.Capabilities()
	if again := c.Capabilities(); !reflect.DeepEqual(caps, again) {
		t.Errorf("Capabilities changed between two calls:\n%+v\n%+v", caps, again)
	}

	seen := map[string]bool{}
	for _, f := range caps.Fields {
		if f.Name == "" {
			t.Errorf("a field spec has no name: %+v", f)
		}
		if seen[f.Name] {
			t.Errorf("field %q is declared twice", f.Name)
		}
		seen[f.Name] = true
	}
	if len(caps.Fields) > 0 {
		// A connector declaring fields is checked against them; one
		// declaring none is free-form and accepts any name.
		if f, ok := caps.Field(s.h.TitleField); !ok || f.ReadOnly || f.Multi {
			t.Errorf("TitleField %q must be declared single-valued and writable; got %+v (declared %v)", s.h.TitleField, f, ok)
		}
		if s.h.MultiField != "" {
			if f, ok := caps.Field(s.h.MultiField); !ok || !f.Multi || f.ReadOnly {
				t.Errorf("MultiField %q must be declared Multi and writable; got %+v (declared %v)", s.h.MultiField, f, ok)
			}
		}
		for _, name := range sample.Names() {
			f, ok := caps.Field(name)
			switch {
			case !ok:
				t.Errorf("Sample writes field %q, which Capabilities does not declare", name)
				continue
			case f.ReadOnly:
				t.Errorf("Sample writes field %q, which Capabilities declares read-only", name)
			case !f.Multi && len(sample[name]) > 1:
				t.Errorf("Sample writes %d values to %q, which Capabilities declares single-valued", len(sample[name]), name)
			}
			for _, v := range sample[name] {
				if len(f.Values) > 0 && !slices.Contains(f.Values, v) {
					t.Errorf("Sample writes %q to %q, which is not among its declared values %q", v, name, f.Values)
				}
			}
		}
		for _, name := range rec.Fields.Names() {
			if _, ok := caps.Field(name); !ok {
				t.Errorf("records carry field %q, which Capabilities does not declare (a mapping naming it would be refused)", name)
			}
		}
	}
	if s.h.MultiField != "" && len(sample[s.h.MultiField]) < 2 {
		t.Errorf("the harness's Sample gives MultiField %q %d value(s); give it at least two so their order is tested", s.h.MultiField, len(sample[s.h.MultiField]))
	}
	if !caps.Comments && (caps.InternalComments || caps.EditComments || caps.DeleteComments) {
		t.Errorf("Capabilities say no comments but internal %v, edit %v, delete %v", caps.InternalComments, caps.EditComments, caps.DeleteComments)
	}
	if _, ok := c.(connectors.WebhookReceiver); caps.Webhooks && !ok {
		t.Error("Capabilities say Webhooks but the connector does not implement connectors.WebhookReceiver")
	}
}

func (s *suite) createAndGet(t *testing.T) {
	c, ctx := s.connect(t)
	caps := c.Capabilities()
	created, m, sample := s.create(t, ctx, c)
	check := func(how string, r connectors.Record) {
		t.Helper()
		caps = c.Capabilities()
		if r.Marker != m {
			t.Errorf("%s: marker %q, want %q", how, r.Marker, m)
		}
		if diff := s.diffFields(caps, sample, r.Fields, sample.Names()); len(diff) > 0 {
			t.Errorf("%s: the sample's fields did not round-trip:\n  %s", how, strings.Join(diff, "\n  "))
		}
		if r.Version == "" {
			t.Errorf("%s: the record has no Version; the syncer needs one to tell a changed record", how)
		}
		if r.Updated.IsZero() {
			t.Errorf("%s: the record has no Updated time", how)
		}
	}
	check("the record Create returned", created)
	got := get(t, ctx, c, created.ID)
	check("Get after Create", got)
	if caps.Comments && got.Comments == nil {
		t.Error("Get returned nil Comments; Get always loads comments when the connector has them (an empty list when there are none)")
	}
	if got.Version != created.Version {
		t.Errorf("Get right after Create has version %q, Create returned %q: nothing changed in between", got.Version, created.Version)
	}
	// Multi-valued fields come back in an order of the connector's
	// choosing, but always the same one: the syncer compares them in order.
	again := get(t, ctx, c, created.ID)
	for _, name := range got.Fields.Names() {
		if !slices.Equal(got.Fields[name], again.Fields[name]) {
			t.Errorf("two Gets of an unchanged record disagree on %s: %q then %q", name, got.Fields[name], again.Fields[name])
		}
		if !slices.Equal(got.Fields[name], created.Fields[name]) && sameValues(true, got.Fields[name], created.Fields[name]) {
			t.Errorf("Create and Get return %s in different orders: %q and %q", name, created.Fields[name], got.Fields[name])
		}
	}
}

func (s *suite) findByMarker(t *testing.T) {
	c, ctx := s.connect(t)
	rec, m, sample := s.create(t, ctx, c)
	s.create(t, ctx, c) // another record, which must not be found instead
	got, err := c.FindByMarker(ctx, m)
	if err != nil {
		t.Fatalf("FindByMarker(%s) right after creating it: %v (the syncer asks exactly then, after a crash)", m, err)
	}
	if got.ID != rec.ID || got.Marker != m {
		t.Errorf("FindByMarker(%s) = record %s with marker %q, want %s", m, got.ID, got.Marker, rec.ID)
	}
	if got.Fields.Get(s.h.TitleField) != sample.Get(s.h.TitleField) {
		t.Errorf("FindByMarker(%s) returned title %q, want %q", m, got.Fields.Get(s.h.TitleField), sample.Get(s.h.TitleField))
	}
	_, err = c.FindByMarker(ctx, s.marker())
	wantNotFound(t, "FindByMarker of a marker no record carries", err)
}

func (s *suite) update(t *testing.T) {
	c, ctx := s.connect(t)
	rec, m, _ := s.create(t, ctx, c)
	before := get(t, ctx, c, rec.ID)
	s.settle()
	title := before.Fields.Get(s.h.TitleField) + " (updated)"
	upd := connectors.Fields{}
	upd.Set(s.h.TitleField, title)
	returned, err := c.Update(ctx, rec.ID, before.Version, upd, "")
	if err != nil {
		t.Fatalf("Update(%s, %v): %v", rec.ID, upd, err)
	}
	if returned.ID != rec.ID || returned.Fields.Get(s.h.TitleField) != title {
		t.Errorf("Update returned record %s titled %q, want %s titled %q", returned.ID, returned.Fields.Get(s.h.TitleField), rec.ID, title)
	}
	after := get(t, ctx, c, rec.ID)
	caps := c.Capabilities()
	if got := after.Fields.Get(s.h.TitleField); got != title {
		t.Errorf("after Update the title is %q, want %q", got, title)
	}
	if diff := s.diffFields(caps, before.Fields, after.Fields, nil, s.h.TitleField); len(diff) > 0 {
		t.Errorf("Update of %s alone changed other fields:\n  %s", s.h.TitleField, strings.Join(diff, "\n  "))
	}
	if after.Marker != m {
		t.Errorf("Update lost the marker: %q, want %q", after.Marker, m)
	}
	if before.Version != "" && after.Version == before.Version {
		t.Errorf("Update changed the title but the version stayed %q", after.Version)
	}
	if returned.Version != after.Version {
		t.Errorf("Update returned version %q, a Get right after reads %q", returned.Version, after.Version)
	}

	if s.h.MultiField == "" {
		return
	}
	cur := after.Fields[s.h.MultiField]
	var values []string
	for i := range 8 {
		v := s.h.Sample(1000 + i)[s.h.MultiField]
		if !sameValues(true, v, cur) {
			values = v
			break
		}
	}
	if values == nil {
		t.Logf("every sample gives %s the same values %q; not updating it alone", s.h.MultiField, cur)
		return
	}
	s.settle()
	upd = connectors.Fields{}
	upd.Set(s.h.MultiField, values...)
	if _, err := c.Update(ctx, rec.ID, after.Version, upd, ""); err != nil {
		t.Fatalf("Update(%s, %v): %v", rec.ID, upd, err)
	}
	final := get(t, ctx, c, rec.ID)
	if !sameValues(true, final.Fields[s.h.MultiField], values) {
		t.Errorf("after Update %s is %q, want %q in any order", s.h.MultiField, final.Fields[s.h.MultiField], values)
	}
	if diff := s.diffFields(caps, after.Fields, final.Fields, nil, s.h.MultiField); len(diff) > 0 {
		t.Errorf("Update of %s alone changed other fields:\n  %s", s.h.MultiField, strings.Join(diff, "\n  "))
	}
}

func (s *suite) multiValued(t *testing.T) {
	c, ctx := s.connect(t)
	rec, _, _ := s.create(t, ctx, c)
	caps := c.Capabilities()
	tested := 0
	for _, f := range caps.Fields {
		if !f.Multi || f.ReadOnly || len(f.Values) < 2 {
			continue // without declared values the suite cannot pick valid ones
		}
		values := []string{f.Values[len(f.Values)-1], f.Values[0]}
		upd := connectors.Fields{}
		upd.Set(f.Name, values...)
		if _, err := c.Update(ctx, rec.ID, "", upd, ""); err != nil {
			t.Errorf("Update(%s) of multi-valued %s with two of its declared values %q: %v", rec.ID, f.Name, values, err)
			continue
		}
		got := get(t, ctx, c, rec.ID)
		if !sameValues(true, got.Fields[f.Name], values) {
			t.Errorf("multi-valued %s was written %q and reads back %q", f.Name, values, got.Fields[f.Name])
		}
		tested++
	}
	if tested == 0 {
		t.Skip("no writable multi-valued field declares its values (the harness's MultiField is tested with Sample's values)")
	}
}

func (s *suite) staleVersion(t *testing.T) {
	c, ctx := s.connect(t)
	rec, _, _ := s.create(t, ctx, c)
	read := get(t, ctx, c, rec.ID)
	if read.Version == "" {
		t.Skip("the connector reports no versions")
	}
	person := connectors.Fields{}
	person.Set(s.h.TitleField, read.Fields.Get(s.h.TitleField)+" (a person's edit)")
	s.edit(t, ctx, c, rec.ID, person)
	ours := connectors.Fields{}
	ours.Set(s.h.TitleField, read.Fields.Get(s.h.TitleField)+" (a stale write)")
	_, err := c.Update(ctx, rec.ID, read.Version, ours, "")
	now := get(t, ctx, c, rec.ID)
	switch {
	case err == nil:
		if now.Fields.Get(s.h.TitleField) != ours.Get(s.h.TitleField) {
			t.Errorf("Update with a stale version succeeded but the title is %q, want %q", now.Fields.Get(s.h.TitleField), ours.Get(s.h.TitleField))
		}
	case errors.Is(err, connectors.ErrConflict):
		if now.Fields.Get(s.h.TitleField) != person.Get(s.h.TitleField) {
			t.Errorf("Update with a stale version was refused but the title is %q, want the person's %q", now.Fields.Get(s.h.TitleField), person.Get(s.h.TitleField))
		}
	default:
		t.Errorf("Update with a stale version: %v; want success (no locking) or an error wrapping connectors.ErrConflict", err)
	}
}

// updateMarker checks the marker Update writes for the syncer, on an
// adopted record or one a person stripped of its marker: with fields,
// alone (moving the record to a new marker, which FindByMarker must see
// at once in place of the old one), and again when the record already
// carries it, which must write nothing (the version stays, so nothing
// echoes back).
func (s *suite) updateMarker(t *testing.T) {
	c, ctx := s.connect(t)
	caps := c.Capabilities()
	rec, old, _ := s.create(t, ctx, c)
	before := get(t, ctx, c, rec.ID)
	s.settle()
	m := s.marker()
	title := before.Fields.Get(s.h.TitleField) + " (marked)"
	upd := connectors.Fields{}
	upd.Set(s.h.TitleField, title)
	returned, err := c.Update(ctx, rec.ID, before.Version, upd, m)
	if err != nil {
		t.Fatalf("Update(%s, %v, marker %s): %v", rec.ID, upd, m, err)
	}
	after := get(t, ctx, c, rec.ID)
	if after.Marker != m || returned.Marker != m {
		t.Errorf("after Update with marker %s: Update returned marker %q, Get reads %q", m, returned.Marker, after.Marker)
	}
	if got := after.Fields.Get(s.h.TitleField); got != title {
		t.Errorf("after Update with a marker the title is %q, want %q", got, title)
	}
	if diff := s.diffFields(caps, before.Fields, after.Fields, nil, s.h.TitleField); len(diff) > 0 {
		t.Errorf("Update of %s and the marker changed other fields:\n  %s", s.h.TitleField, strings.Join(diff, "\n  "))
	}
	if returned.Version != after.Version {
		t.Errorf("Update with a marker returned version %q, a Get right after reads %q (the syncer would take its own write for a person's)", returned.Version, after.Version)
	}
	if got, err := c.FindByMarker(ctx, m); err != nil || got.ID != rec.ID {
		t.Errorf("FindByMarker(%s) right after Update wrote it = %s, %v; want %s", m, got.ID, err, rec.ID)
	}
	_, err = c.FindByMarker(ctx, old)
	wantNotFound(t, "FindByMarker of the marker Update replaced", err)

	s.settle()
	alone := s.marker()
	returned, err = c.Update(ctx, rec.ID, after.Version, nil, alone)
	if err != nil {
		t.Fatalf("Update(%s) of marker %s alone: %v", rec.ID, alone, err)
	}
	marked := get(t, ctx, c, rec.ID)
	if marked.Marker != alone || returned.Marker != alone {
		t.Errorf("after Update of marker %s alone: Update returned marker %q, Get reads %q", alone, returned.Marker, marked.Marker)
	}
	if diff := s.diffFields(caps, after.Fields, marked.Fields, nil); len(diff) > 0 {
		t.Errorf("Update of the marker alone changed fields:\n  %s", strings.Join(diff, "\n  "))
	}
	if returned.Version != marked.Version {
		t.Errorf("Update of the marker alone returned version %q, a Get right after reads %q", returned.Version, marked.Version)
	}
	if got, err := c.FindByMarker(ctx, alone); err != nil || got.ID != rec.ID || got.Marker != alone {
		t.Errorf("FindByMarker(%s) right after Update wrote it alone = record %s with marker %q, %v; want %s", alone, got.ID, got.Marker, err, rec.ID)
	}
	_, err = c.FindByMarker(ctx, m)
	wantNotFound(t, "FindByMarker of the marker an Update of the marker alone replaced", err)

	again, err := c.Update(ctx, rec.ID, marked.Version, nil, alone)
	if err != nil {
		t.Fatalf("Update(%s) of the marker it already carries: %v", rec.ID, err)
	}
	if now := get(t, ctx, c, rec.ID); again.Marker != alone || now.Marker != alone || now.Version != marked.Version {
		t.Errorf("Update of the marker the record already carries: returned marker %q, Get reads %q, version %q then %q; want %s and no write", again.Marker, now.Marker, marked.Version, now.Version, alone)
	}
}
