package syncer

import (
	"context"
	"errors"
	"slices"

	"github.com/backlogd/backlogd/backlog"
	"github.com/backlogd/backlogd/connectors"
	"github.com/backlogd/backlogd/syncer/store"
)

// The parent field is a reference: canonically it holds an item id
// (BL-7), in a tracker the id of the parent's record there (#12, ACME-3).
// The merge runs in canonical space on the parent as this target can see
// it: a parent the client does not see (out of its scope, deleted there)
// reads as no parent, so hiding an epic from a client never clears a
// story's canonical parent. Values go through the target's links on the
// way in and out of the mapping.

// parentRefs is one key's view of its parent on one target.
type parentRefs struct {
	// synced is false when the client does not sync the parent field;
	// every other member is then unused.
	synced bool
	// visible is the canonical parent as the target sees it ("" for none).
	visible string
	// pending means the parent is in the target's scope but has no record
	// there yet: the field waits until the parent is created.
	pending bool
	// toRemote and toCanon translate the ids looked up so far (nil
	// until the first).
	toRemote map[string]string
	toCanon  map[string]string
}

// parentRefs resolves the item's parent and the base's parent on target t.
func (s *Syncer) parentRefs(ctx context.Context, t *target, it backlog.Item, base backlog.Fields) (parentRefs, error) {
	p := parentRefs{synced: t.client.Syncs(backlog.FieldParent)}
	if !p.synced {
		return p, nil
	}
	ids := compactIDs(it.Parent, base[backlog.FieldParent])
	if len(ids) == 0 {
		return p, nil // no parent either side: nothing to translate
	}
	p.toRemote, p.toCanon = map[string]string{}, map[string]string{}
	err := s.store.Tx(ctx, func(tx store.Tx) error {
		for _, id := range ids {
			l, err := tx.Link(ctx, t.name, id)
			switch {
			case err == nil && l.State == store.LinkActive:
				p.toRemote[id], p.toCanon[l.RemoteID] = l.RemoteID, id
				continue
			case err != nil && !errors.Is(err, store.ErrNotFound):
				return err
			}
			if id != it.Parent {
				continue
			}
			// Not linked: pending while the target should get the parent.
			if err == nil && l.State == store.LinkGone {
				continue
			}
			parent, perr := tx.Item(ctx, id)
			switch {
			case perr == nil && t.client.InScope(parent):
				p.pending = true
			case perr != nil && !errors.Is(perr, store.ErrNotFound):
				return perr
			}
		}
		return nil
	})
	if err != nil {
		return p, err
	}
	if _, linked := p.toRemote[it.Parent]; linked {
		p.visible = it.Parent
	}
	return p, nil
}

// canonical translates the parent of a record read through the mapping
// (a record id) to a canonical id. ok is false for a record backlogd does
// not know, an edit the canonical backlog cannot express.
func (s *Syncer) canonicalParent(ctx context.Context, t *target, p *parentRefs, remoteID string) (string, bool, error) {
	if remoteID == "" {
		return "", true, nil
	}
	if id, ok := p.toCanon[remoteID]; ok {
		return id, true, nil
	}
	var id string
	err := s.store.Tx(ctx, func(tx store.Tx) error {
		l, err := tx.LinkByRemote(ctx, t.name, remoteID)
		if err == nil && l.State == store.LinkActive {
			id = l.ItemID
			return nil
		}
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		return err
	})
	if err != nil || id == "" {
		return "", false, err
	}
	if p.toCanon == nil {
		p.toRemote, p.toCanon = map[string]string{}, map[string]string{}
	}
	p.toCanon[remoteID], p.toRemote[id] = id, remoteID
	return id, true, nil
}

// native returns f with the parent translated to a record id of the
// target ("" when the parent has none there).
func (p *parentRefs) native(f backlog.Fields) backlog.Fields {
	if !p.synced {
		return f
	}
	v, ok := f[backlog.FieldParent]
	if !ok || v == "" {
		return f // no parent: "" on every target
	}
	out := f.Clone()
	out[backlog.FieldParent] = p.toRemote[v]
	return out
}

// remoteView reads a record through the client's mapping into canonical
// space: the parent as a canonical id. It also returns the record's own
// parent value (a record id) and whether it could be translated.
func (s *Syncer) remoteView(ctx context.Context, t *target, p *parentRefs, rec connectors.Record, base backlog.Fields) (remote backlog.Fields, nativeParent string, known bool, err error) {
	nb := base
	if base != nil {
		nb = p.native(base)
	}
	remote, err = t.client.FromRecord(rec, nb)
	if err != nil {
		return nil, "", false, connectors.Terminal(err)
	}
	if !p.synced {
		return remote, "", true, nil
	}
	nativeParent = remote[backlog.FieldParent]
	id, known, err := s.canonicalParent(ctx, t, p, nativeParent)
	if err != nil {
		return nil, "", false, err
	}
	if known {
		remote[backlog.FieldParent] = id
	}
	return remote, nativeParent, known, nil
}

func compactIDs(ids ...string) []string {
	var out []string
	for _, id := range ids {
		if id != "" && !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

// waitFor remembers that child waits for parent to get a record on the
// target, so that creating the parent schedules the child again. The
// parent may have been linked since the child looked: then the child is
// scheduled at once (registering first, checking second, means one of
// the two always sees the other).
func (s *Syncer) waitFor(ctx context.Context, t *target, parent, child string) {
	t.mu.Lock()
	if t.waiting == nil {
		t.waiting = map[string][]string{}
	}
	if !slices.Contains(t.waiting[parent], child) {
		t.waiting[parent] = append(t.waiting[parent], child)
	}
	t.mu.Unlock()
	linked := false
	_ = s.store.Tx(ctx, func(tx store.Tx) error {
		l, err := tx.Link(ctx, t.name, parent)
		linked = err == nil && l.State == store.LinkActive
		return nil
	})
	if linked {
		t.queue.Add(child)
	}
}

// releaseChildren schedules the children waiting for parent.
func (t *target) releaseChildren(parent string) {
	t.mu.Lock()
	children := t.waiting[parent]
	delete(t.waiting, parent)
	t.mu.Unlock()
	for _, c := range children {
		t.queue.Add(c)
	}
}
