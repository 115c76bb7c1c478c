package connectortest

import (
	"fmt"
	"slices"
	"strconv"
	"testing"

	"github.com/backlogd/backlogd/connectors"
)

// crossPages is how many records make a listing cross pages.
func (s *suite) crossPages() int {
	if s.h.PageSize == 0 {
		return 5
	}
	return 2*s.h.PageSize + 1
}

func (s *suite) changesPaging(t *testing.T) {
	c, ctx := s.connect(t)
	ids, markers := s.createN(t, ctx, c, s.crossPages())
	l := drain(t, ctx, c, "")
	n := count(l.records, ids)
	for _, id := range ids {
		switch n[id] {
		case 0:
			t.Errorf("record %s (%s) is missing from a full listing of %d pages", id, markers[id], l.pages)
		case 1:
		default:
			t.Errorf("record %s appears %d times in one listing although it did not change: the connector must drop what it already returned", id, n[id])
		}
	}
	for _, r := range l.records {
		if m, ours := markers[r.ID]; ours && r.Marker != m {
			t.Errorf("Changes lists record %s with marker %q, want %q (the syncer would adopt it again)", r.ID, r.Marker, m)
		}
		if r.Version == "" {
			t.Errorf("Changes lists record %s without a Version", r.ID)
		}
	}
	if s.h.PageSize > 0 {
		if l.maxPage > s.h.PageSize {
			t.Errorf("a page of Changes held %d records; the harness says the connector's page size is %d (is the connector configured with it?)", l.maxPage, s.h.PageSize)
		}
		if l.pages < 2 {
			t.Errorf("%d records came in %d page(s); with a page size of %d the listing must page", len(ids), l.pages, s.h.PageSize)
		}
	}
}

func (s *suite) changesAfterEdit(t *testing.T) {
	c, ctx := s.connect(t)
	ids, _ := s.createN(t, ctx, c, max(3, s.h.PageSize+1))
	l := drain(t, ctx, c, "")
	if miss := missing(l.records, ids); len(miss) > 0 {
		t.Fatalf("the first listing misses records %v", miss)
	}
	edited := ids[0]
	f := connectors.Fields{}
	f.Set(s.h.TitleField, "Edited after the listing caught up")
	s.edit(t, ctx, c, edited, f)

	next := drain(t, ctx, c, l.cursor)
	r, ok := last(next.records, edited)
	switch {
	case !ok:
		t.Errorf("record %s was edited after the listing caught up, but the next listing from the saved cursor does not show it", edited)
	case r.Fields.Get(s.h.TitleField) != f.Get(s.h.TitleField):
		t.Errorf("the next listing shows record %s titled %q, want the edit's %q", edited, r.Fields.Get(s.h.TitleField), f.Get(s.h.TitleField))
	}
	for id, k := range count(next.records, ids[1:]) {
		t.Errorf("record %s did not change but the next listing returns it %d time(s) again", id, k)
	}
	// A listing from the beginning made after the edit shows every record
	// once, the edited one as it is now.
	full := drain(t, ctx, c, "")
	for _, id := range ids {
		if k := count(full.records, []string{id})[id]; k != 1 {
			t.Errorf("a full listing after an edit returns record %s %d times, want once", id, k)
		}
	}
	if r, ok := last(full.records, edited); ok && r.Fields.Get(s.h.TitleField) != f.Get(s.h.TitleField) {
		t.Errorf("a full listing after the edit shows record %s titled %q, want %q", edited, r.Fields.Get(s.h.TitleField), f.Get(s.h.TitleField))
	}
}

func (s *suite) changesEditDuringListing(t *testing.T) {
	c, ctx := s.connect(t)
	ids, _ := s.createN(t, ctx, c, s.crossPages())
	titles := map[string]string{} // edited id to its new title
	editedOn := map[string]int{}  // edited id to the page it was edited after
	var records []connectors.Record
	pageOf := map[int]int{} // index in records to page number
	cursor := ""
	for page := 1; page <= maxPages; page++ {
		p, err := c.Changes(ctx, cursor)
		if err != nil {
			t.Fatalf("Changes (page %d): %v", page, err)
		}
		for _, r := range p.Records {
			pageOf[len(records)] = page
			records = append(records, r)
		}
		cursor = p.Cursor
		if !p.More {
			break
		}
		// A person edits a record this page just returned, while the
		// listing is under way: it moves to the end of the order.
		for _, r := range slices.Backward(p.Records) {
			if _, done := titles[r.ID]; done || !slices.Contains(ids, r.ID) {
				continue
			}
			f := connectors.Fields{}
			f.Set(s.h.TitleField, "Edited during the listing, after page "+strconv.Itoa(page))
			s.edit(t, ctx, c, r.ID, f)
			titles[r.ID], editedOn[r.ID] = f.Get(s.h.TitleField), page
			break
		}
	}
	if len(titles) == 0 {
		t.Fatalf("no page of the listing returned one of the suite's records before the last page; %d records in the listing", len(records))
	}
	// An edit made during the listing may also show on the next call.
	after := drain(t, ctx, c, cursor)
	for _, r := range after.records {
		pageOf[len(records)] = maxPages + 1
		records = append(records, r)
	}
	if miss := missing(records, ids); len(miss) > 0 {
		t.Errorf("records %v never appear in a listing during which others were edited", miss)
	}
	for id, title := range titles {
		found := false
		for i, r := range records {
			if r.ID == id && pageOf[i] > editedOn[id] && r.Fields.Get(s.h.TitleField) == title {
				found = true
			}
		}
		if !found {
			t.Errorf("record %s was edited after page %d and never appears later with its new title %q", id, editedOn[id], title)
		}
	}
}

func (s *suite) changesIdle(t *testing.T) {
	c, ctx := s.connect(t)
	ids, _ := s.createN(t, ctx, c, max(3, s.h.PageSize+1))
	l := drain(t, ctx, c, "")
	if miss := missing(l.records, ids); len(miss) > 0 {
		t.Fatalf("the first listing misses records %v", miss)
	}
	cursor := l.cursor
	for round := 1; round <= 2; round++ {
		idle := drain(t, ctx, c, cursor)
		for id, k := range count(idle.records, ids) {
			t.Errorf("idle listing %d from a caught-up cursor returns unchanged record %s %d time(s)", round, id, k)
		}
		cursor = idle.cursor
	}
	// The cursor of idle listings still sees the next change.
	f := connectors.Fields{}
	f.Set(s.h.TitleField, "Edited after idle listings")
	s.edit(t, ctx, c, ids[len(ids)-1], f)
	if _, ok := last(drain(t, ctx, c, cursor).records, ids[len(ids)-1]); !ok {
		t.Errorf("after idle listings an edit of %s does not appear from their cursor", ids[len(ids)-1])
	}
}

// missing returns the ids of ids that no record in records has.
func missing(records []connectors.Record, ids []string) []string {
	n := count(records, ids)
	var out []string
	for _, id := range ids {
		if n[id] == 0 {
			out = append(out, id)
		}
	}
	return out
}

// changesSameSecond checks the Version contract on trackers whose times
// have whole seconds: two edits in the second of the listing before them
// each show in the next listing, each with a Version of its own, and Get
// gives the Version the listing gave. The syncer skips a listed record
// whose Version it already has, so an edit that kept the Version would be
// lost. No Settle: the edits must land in the same second when the
// tracker is fast enough, which is the case under test.
func (s *suite) changesSameSecond(t *testing.T) {
	c, ctx := s.connect(t)
	rec, _, _ := s.create(t, ctx, c)
	l := drain(t, ctx, c, "")
	listed, ok := last(l.records, rec.ID)
	if !ok {
		t.Fatalf("a full listing misses record %s", rec.ID)
	}
	if got := get(t, ctx, c, rec.ID); got.Version != listed.Version {
		t.Errorf("record %s: Get gives Version %q and Changes %q for the same state; the syncer would read every listed record again", rec.ID, got.Version, listed.Version)
	}
	versions := map[string]string{listed.Version: "the listing before the edits"}
	cursor := l.cursor
	for i, title := range []string{"First edit in the listing's second", "Second edit in the same second"} {
		f := connectors.Fields{}
		f.Set(s.h.TitleField, title)
		if s.h.Edit != nil {
			s.h.Edit(t, rec.ID, f.Clone())
		} else if _, err := c.Update(ctx, rec.ID, "", f.Clone(), ""); err != nil {
			t.Fatalf("Update(%s) standing in for a person's edit: %v", rec.ID, err)
		}
		next := drain(t, ctx, c, cursor)
		cursor = next.cursor
		r, ok := last(next.records, rec.ID)
		switch {
		case !ok:
			t.Fatalf("edit %d of record %s (%q) is not in the next listing: an edit in the same second as the one before it is lost", i+1, rec.ID, title)
		case r.Fields.Get(s.h.TitleField) != title:
			t.Fatalf("the listing after edit %d shows record %s titled %q, want %q", i+1, rec.ID, r.Fields.Get(s.h.TitleField), title)
		}
		if before, dup := versions[r.Version]; dup {
			t.Errorf("after edit %d record %s has Version %q, the same as after %s: the syncer skips a listed record whose Version it has", i+1, rec.ID, r.Version, before)
		}
		versions[r.Version] = fmt.Sprintf("edit %d", i+1)
		if got := get(t, ctx, c, rec.ID); got.Version != r.Version {
			t.Errorf("after edit %d, Get gives Version %q and Changes %q", i+1, got.Version, r.Version)
		}
	}
}
