package syncer

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/backlogd/backlogd/backlog"
	"github.com/backlogd/backlogd/connectors"
	"github.com/backlogd/backlogd/syncer/store"
)

// Drift is one way a target differs from what the canonical backlog says
// it should hold.
type Drift struct {
	Target string `json:"target"`
	Item   string `json:"item,omitempty"`
	Record string `json:"record,omitempty"`
	// Problem says what differs, in a sentence.
	Problem string `json:"problem"`
}

func (d Drift) String() string {
	where := d.Target
	if d.Item != "" {
		where += " " + d.Item
	}
	if d.Record != "" {
		where += " (" + d.Record + ")"
	}
	return where + ": " + d.Problem
}

// Verify reads every target in full and reports where it is not in step
// with the canonical backlog: an in-scope item without a record, an
// out-of-scope item still linked, two records carrying one marker (a
// duplicate), a synced field whose tracker value differs, a comment
// missing, or an internal comment where it must not be. Fields waiting
// in the conflict queue are not drift. It writes nothing; it costs one
// full listing and one read per linked record, so it is for tests, the
// demo and audits, not for every cycle.
func (s *Syncer) Verify(ctx context.Context) ([]Drift, error) {
	var (
		items     []backlog.Item
		links     []store.Link
		conflicts []store.Conflict
	)
	err := s.store.Tx(ctx, func(tx store.Tx) error {
		var err error
		if items, err = tx.Items(ctx); err != nil {
			return err
		}
		if links, err = tx.Links(ctx, ""); err != nil {
			return err
		}
		conflicts, err = tx.Conflicts(ctx)
		return err
	})
	if err != nil {
		return nil, err
	}
	var out []Drift
	for _, name := range s.order {
		d, err := s.verifyTarget(ctx, s.targets[name], items, links, conflicts)
		if err != nil {
			return nil, fmt.Errorf("verify %s: %w", name, err)
		}
		out = append(out, d...)
	}
	slices.SortStableFunc(out, func(a, b Drift) int {
		return cmp.Or(cmp.Compare(a.Target, b.Target), backlog.CompareIDs(a.Item, b.Item), cmp.Compare(a.Problem, b.Problem))
	})
	return out, nil
}

func (s *Syncer) verifyTarget(ctx context.Context, t *target, items []backlog.Item, links []store.Link, conflicts []store.Conflict) ([]Drift, error) {
	var out []Drift
	add := func(item, record, format string, args ...any) {
		out = append(out, Drift{Target: t.name, Item: item, Record: record, Problem: fmt.Sprintf(format, args...)})
	}
	// Every record of the target, for duplicates.
	byMarker := map[string][]string{}
	seen := map[string]bool{}
	cursor := ""
	for {
		page, err := t.conn.Changes(ctx, cursor)
		if err != nil {
			return nil, fmt.Errorf("list records: %w", err)
		}
		for _, r := range page.Records {
			if seen[r.ID] {
				continue
			}
			seen[r.ID] = true
			if r.Marker != "" {
				byMarker[r.Marker] = append(byMarker[r.Marker], cmp.Or(r.Key, r.ID))
			}
		}
		cursor = page.Cursor
		if !page.More {
			break
		}
	}
	for _, m := range slices.Sorted(maps.Keys(byMarker)) {
		if recs := byMarker[m]; len(recs) > 1 {
			add(m, strings.Join(recs, ", "), "%d records carry the marker of one item", len(recs))
		}
	}

	linkOf := map[string]store.Link{}
	for _, l := range links {
		if l.Target == t.name {
			linkOf[l.ItemID] = l
		}
	}
	parked := map[string]map[backlog.Field]bool{}
	for _, c := range conflicts {
		if c.Target == t.name {
			if parked[c.ItemID] == nil {
				parked[c.ItemID] = map[backlog.Field]bool{}
			}
			parked[c.ItemID][c.Field] = true
		}
	}
	for _, it := range items {
		l, linked := linkOf[it.ID]
		active := linked && l.State == store.LinkActive
		inScope := t.client.InScope(it)
		switch {
		case inScope && !active:
			if linked && l.State == store.LinkGone {
				continue // deleted in the tracker; on_remote_delete decides
			}
			add(it.ID, "", "in the client's scope but has no record")
			continue
		case !inScope && active:
			add(it.ID, l.RemoteKey, "out of the client's scope but still linked")
			continue
		case !active:
			continue
		}
		rec, err := t.conn.Get(ctx, l.RemoteID)
		if errors.Is(err, connectors.ErrNotFound) {
			add(it.ID, l.RemoteKey, "linked record is gone")
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", l.RemoteID, err)
		}
		d, err := s.verifyRecord(ctx, t, it, l, rec, parked[it.ID])
		if err != nil {
			return nil, err
		}
		for _, p := range d {
			add(it.ID, cmp.Or(rec.Key, rec.ID), "%s", p)
		}
	}
	return out, nil
}

// verifyRecord compares one linked record with its item.
func (s *Syncer) verifyRecord(ctx context.Context, t *target, it backlog.Item, l store.Link, rec connectors.Record, parked map[backlog.Field]bool) ([]string, error) {
	var out []string
	c := t.client
	refs, err := s.parentRefs(ctx, t, it, l.Base)
	if err != nil {
		return nil, err
	}
	want := c.Project(it)
	if refs.synced {
		want[backlog.FieldParent] = refs.visible
	}
	got, _, _, err := s.remoteView(ctx, t, &refs, rec, l.Base)
	if err != nil {
		return []string{err.Error()}, nil
	}
	for _, f := range c.Synced() {
		if parked[f] || (f == backlog.FieldParent && refs.pending) {
			continue
		}
		if want[f] != got[f] {
			out = append(out, fmt.Sprintf("%s is %q in the tracker, %q canonically", f, got[f], want[f]))
		}
	}
	if rec.Marker != it.ID {
		out = append(out, fmt.Sprintf("marker is %q, want %q", rec.Marker, it.ID))
	}
	if !t.caps.Comments || rec.Comments == nil {
		return out, nil
	}
	// Compare in canonical text: a tracker comment keeps what its author
	// typed (their own #12, a mention backlogd does not map), which
	// ToComment would render differently.
	bodies := map[string]int{}
	for _, rc := range rec.Comments {
		bodies[c.FromComment(rc).Body]++
	}
	for _, cm := range it.Comments {
		if cm.Deleted {
			continue
		}
		body := cm.Body
		switch {
		case !c.CommentAllowed(cm) && bodies[body] > 0:
			out = append(out, fmt.Sprintf("internal comment %s reached the tracker", cm.ID))
		case c.CommentAllowed(cm) && bodies[body] == 0:
			out = append(out, fmt.Sprintf("comment %s is missing", cm.ID))
		}
	}
	return out, nil
}
