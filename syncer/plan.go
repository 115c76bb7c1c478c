package syncer

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/backlogd/backlogd/backlog"
	"github.com/backlogd/backlogd/connectors"
	"github.com/backlogd/backlogd/syncer/store"
)

// A plan is a sync run against a scratch copy of the store, with every
// connector wrapped so reads reach the tracker and writes are only
// recorded. Running the real reconcile code is what keeps `plan` honest:
// it cannot disagree with what `run` would do.

// Change is one write a sync would make.
type Change struct {
	Target string `json:"target"`
	// Op is create, update, comment, set-marker, adopt or pull.
	Op string `json:"op"`
	// Item is the canonical id (for creates and updates), Record the
	// tracker's id or key.
	Item   string `json:"item,omitempty"`
	Record string `json:"record,omitempty"`
	// Fields are the native fields written, rendered "name: value".
	Fields []string `json:"fields,omitempty"`
}

// Plan is what a sync would change, per target.
type Plan struct {
	Changes []Change `json:"changes"`
	// Adopted lists canonical items the sync would create from records.
	Adopted []Change `json:"adopted,omitempty"`
	// Pulled lists canonical items a tracker edit would change.
	Pulled []Change `json:"pulled,omitempty"`
	// Conflicts counts fields that would be parked for a person.
	Conflicts []store.Conflict `json:"conflicts,omitempty"`
}

// String renders the plan for a terminal, grouped by target.
func (p Plan) String() string {
	var b strings.Builder
	all := append(append(append([]Change(nil), p.Adopted...), p.Pulled...), p.Changes...)
	if len(all) == 0 && len(p.Conflicts) == 0 {
		return "No changes: every target is in step with the canonical backlog.\n"
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].Target < all[j].Target })
	last := ""
	for _, c := range all {
		if c.Target != last {
			fmt.Fprintf(&b, "\n%s\n", c.Target)
			last = c.Target
		}
		subject := c.Item
		if c.Record != "" {
			if subject != "" {
				subject += " "
			}
			subject += "(" + c.Record + ")"
		}
		fmt.Fprintf(&b, "  %-10s %s\n", c.Op, subject)
		for _, f := range c.Fields {
			fmt.Fprintf(&b, "      %s\n", f)
		}
	}
	for _, c := range p.Conflicts {
		fmt.Fprintf(&b, "\nconflict on %s %s field %s: canonical %q, tracker %q\n", c.Target, c.ItemID, c.Field, c.Canonical, c.Remote)
	}
	return b.String()
}

// Plan computes what SyncOnce would change without writing anywhere:
// scratch must be an empty store; the real store's state is copied into
// it and the sync runs there against read-only connectors.
func (s *Syncer) Plan(ctx context.Context, scratch store.Store) (Plan, error) {
	if err := copyStore(ctx, s.store, scratch, s.order); err != nil {
		return Plan{}, fmt.Errorf("plan: copy state: %w", err)
	}
	rec := &recorder{}
	conns := map[string]connectors.Connector{}
	for name, t := range s.targets {
		conns[name] = &dryRun{Connector: t.conn, target: name, rec: rec, created: map[string]connectors.Record{}}
	}
	before, err := itemsByID(ctx, scratch)
	if err != nil {
		return Plan{}, err
	}
	dry, err := New(s.cfg, scratch, conns, Options{Logger: s.log, Now: s.now})
	if err != nil {
		return Plan{}, err
	}
	if err := dry.SyncOnce(ctx); err != nil {
		return Plan{}, err
	}
	after, err := itemsByID(ctx, scratch)
	if err != nil {
		return Plan{}, err
	}
	p := Plan{Changes: rec.changes}
	var links []store.Link
	err = scratch.Tx(ctx, func(tx store.Tx) error {
		var err error
		if links, err = tx.Links(ctx, ""); err != nil {
			return err
		}
		p.Conflicts, err = tx.Conflicts(ctx)
		return err
	})
	if err != nil {
		return Plan{}, err
	}
	// An adopted item came from the one target whose link the dry run
	// did not make by a create (the others it was projected onto).
	created := map[[2]string]bool{}
	for _, c := range rec.changes {
		if c.Op == "create" {
			created[[2]string{c.Target, c.Item}] = true
		}
	}
	origin := map[string]string{}
	for _, l := range links {
		if _, ok := origin[l.ItemID]; !ok && !created[[2]string{l.Target, l.ItemID}] {
			origin[l.ItemID] = l.Target
		}
	}
	for _, id := range sortedIDs(after) {
		it := after[id]
		old, existed := before[id]
		if !existed {
			p.Adopted = append(p.Adopted, Change{Target: origin[id], Op: "adopt", Item: id, Fields: []string{"title: " + it.Title}})
			continue
		}
		var fields []string
		for _, f := range backlog.AllFields {
			if a, b := old.Get(f), it.Get(f); a != b {
				fields = append(fields, fmt.Sprintf("%s: %q → %q", f, a, b))
			}
		}
		if len(it.Comments) > len(old.Comments) {
			fields = append(fields, fmt.Sprintf("comments: +%d", len(it.Comments)-len(old.Comments)))
		}
		if len(fields) > 0 {
			p.Pulled = append(p.Pulled, Change{Target: "canonical", Op: "pull", Item: id, Fields: fields})
		}
	}
	return p, nil
}

func itemsByID(ctx context.Context, st store.Store) (map[string]backlog.Item, error) {
	out := map[string]backlog.Item{}
	err := st.Tx(ctx, func(tx store.Tx) error {
		items, err := tx.Items(ctx)
		for _, it := range items {
			out[it.ID] = it
		}
		return err
	})
	return out, err
}

func sortedIDs(m map[string]backlog.Item) []string {
	ids := make([]string, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, backlog.CompareIDs)
	return ids
}

// copyStore copies everything a sync reads from src into dst.
func copyStore(ctx context.Context, src, dst store.Store, targets []string) error {
	var (
		items     []backlog.Item
		links     []store.Link
		conflicts []store.Conflict
		intents   []store.Intent
		cursors   = map[string]string{}
	)
	err := src.Tx(ctx, func(tx store.Tx) error {
		var err error
		if items, err = tx.Items(ctx); err != nil {
			return err
		}
		if links, err = tx.Links(ctx, ""); err != nil {
			return err
		}
		if conflicts, err = tx.Conflicts(ctx); err != nil {
			return err
		}
		if intents, err = tx.Intents(ctx, ""); err != nil {
			return err
		}
		for _, t := range targets {
			for _, k := range []string{t, connectedKey(t)} {
				if cursors[k], err = tx.Cursor(ctx, k); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return dst.Tx(ctx, func(tx store.Tx) error {
		// PutItem moves the scratch store's id sequence past every copied
		// id (the store contract), so an adoption gets a fresh one.
		for _, it := range items {
			it.Version = 0
			if _, err := tx.PutItem(ctx, it); err != nil {
				return err
			}
		}
		for _, l := range links {
			if err := tx.PutLink(ctx, l); err != nil {
				return err
			}
		}
		for _, c := range conflicts {
			if _, err := tx.PutConflict(ctx, c); err != nil {
				return err
			}
		}
		for _, in := range intents {
			if _, err := tx.AddIntent(ctx, in); err != nil {
				return err
			}
		}
		for k, v := range cursors {
			if v == "" {
				continue
			}
			if err := tx.PutCursor(ctx, k, v); err != nil {
				return err
			}
		}
		return nil
	})
}

// recorder collects the writes of a dry run.
type recorder struct {
	mu      sync.Mutex
	changes []Change
}

func (r *recorder) add(c Change) {
	r.mu.Lock()
	r.changes = append(r.changes, c)
	r.mu.Unlock()
}

// dryRun passes reads to the tracker and records writes. Records it
// "created" are remembered so the rest of the run can read them back.
type dryRun struct {
	connectors.Connector
	target string
	rec    *recorder

	mu      sync.Mutex
	created map[string]connectors.Record
	n       int
}

func renderFields(f connectors.Fields) []string {
	var out []string
	for _, name := range f.Names() {
		out = append(out, fmt.Sprintf("%s: %s", name, strings.Join(f[name], ", ")))
	}
	return out
}

func (d *dryRun) Get(ctx context.Context, id string) (connectors.Record, error) {
	d.mu.Lock()
	r, ok := d.created[id]
	d.mu.Unlock()
	if ok {
		return r, nil
	}
	return d.Connector.Get(ctx, id)
}

func (d *dryRun) FindByMarker(ctx context.Context, marker string) (connectors.Record, error) {
	d.mu.Lock()
	for _, r := range d.created {
		if r.Marker == marker {
			d.mu.Unlock()
			return r, nil
		}
	}
	d.mu.Unlock()
	return d.Connector.FindByMarker(ctx, marker)
}

func (d *dryRun) Create(_ context.Context, marker string, fields connectors.Fields) (connectors.Record, error) {
	d.mu.Lock()
	d.n++
	r := connectors.Record{ID: fmt.Sprintf("new-%d", d.n), Key: "(new)", Marker: marker, Fields: fields.Clone(), Comments: []connectors.Comment{}, Version: "planned"}
	d.created[r.ID] = r
	d.mu.Unlock()
	d.rec.add(Change{Target: d.target, Op: "create", Item: marker, Fields: renderFields(fields)})
	return r, nil
}

func (d *dryRun) Update(ctx context.Context, id, version string, fields connectors.Fields, marker string) (connectors.Record, error) {
	r, err := d.Get(ctx, id)
	if err != nil {
		return r, err
	}
	r.Fields = r.Fields.Clone()
	for k, v := range fields {
		r.Fields[k] = v
	}
	ch := Change{Target: d.target, Op: "update", Item: r.Marker, Record: r.Key, Fields: renderFields(fields)}
	if marker != "" && marker != r.Marker {
		// One write on the tracker: the marker goes with the fields.
		r.Marker, ch.Item = marker, marker
		if len(fields) == 0 {
			ch.Op = "set-marker"
		} else {
			ch.Fields = append(ch.Fields, "(marker "+marker+")")
		}
	}
	d.mu.Lock()
	d.created[id] = r
	d.mu.Unlock()
	d.rec.add(ch)
	return r, nil
}

func (d *dryRun) CreateComment(_ context.Context, recordID string, c connectors.Comment) (connectors.Comment, error) {
	d.rec.add(Change{Target: d.target, Op: "comment", Record: recordID, Fields: []string{"by " + c.Author + ": " + firstLine(c.Body)}})
	c.ID = "planned"
	return c, nil
}

func (d *dryRun) UpdateComment(_ context.Context, recordID, commentID, body string) error {
	d.rec.add(Change{Target: d.target, Op: "comment", Record: recordID, Fields: []string{"edit " + commentID + ": " + firstLine(body)}})
	return nil
}

func (d *dryRun) DeleteComment(_ context.Context, recordID, commentID string) error {
	d.rec.add(Change{Target: d.target, Op: "comment", Record: recordID, Fields: []string{"delete " + commentID}})
	return nil
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 60 {
		s = s[:57] + "..."
	}
	return s
}

// ResolveConflict settles a parked conflict by moving the link's base so
// the next reconcile sees only one side changed: taking the canonical
// value makes it a push, taking the tracker's makes it a pull. The
// values are the latest the syncer saw (a parked conflict is refreshed
// at every reconcile), and the canonical one is read afresh; if the
// tracker changed again since, the field is parked again with the new
// values rather than settled blindly.
func ResolveConflict(ctx context.Context, st store.Store, id int64, take string) (store.Conflict, error) {
	var c store.Conflict
	err := st.Tx(ctx, func(tx store.Tx) error {
		var err error
		if c, err = tx.Conflict(ctx, id); err != nil {
			return fmt.Errorf("conflict %d: %w; list open ones with `backlogd conflicts`", id, err)
		}
		l, err := tx.Link(ctx, c.Target, c.ItemID)
		if err != nil {
			return fmt.Errorf("conflict %d: link of %s on %s: %w", id, c.ItemID, c.Target, err)
		}
		if l.Base == nil {
			l.Base = backlog.Fields{}
		}
		switch take {
		case "canonical":
			l.Base[c.Field] = c.Remote
		case "tracker":
			l.Base[c.Field] = c.Canonical
			if it, err := tx.Item(ctx, c.ItemID); err == nil && c.Field != backlog.FieldParent {
				// The parent is in the target's view (see parents.go); every
				// other field projects as the item holds it.
				l.Base[c.Field] = it.Get(c.Field)
			}
		default:
			return fmt.Errorf("--take %q: want canonical or tracker", take)
		}
		if err := tx.PutLink(ctx, l); err != nil {
			return err
		}
		return tx.DeleteConflict(ctx, id)
	})
	return c, err
}
