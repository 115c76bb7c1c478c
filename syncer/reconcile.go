package syncer

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/backlogd/backlogd/backlog"
	"github.com/backlogd/backlogd/connectors"
	"github.com/backlogd/backlogd/mapping"
	"github.com/backlogd/backlogd/syncer/store"
)

// Reconcile results, used in logs and as the metric's result label.
const (
	resultNone     = "ok"
	resultPushed   = "pushed"
	resultPulled   = "pulled"
	resultBoth     = "pushed_pulled"
	resultCreated  = "created"
	resultRelinked = "relinked"
	resultConflict = "conflict"
	resultUnlinked = "unlinked"
	resultGone     = "gone"
)

// view is one key as it is now: what the store holds and what the
// tracker holds.
type view struct {
	item    backlog.Item
	hasItem bool
	link    store.Link
	hasLink bool
	parked  map[backlog.Field]store.Conflict // open manual conflicts by field
	intents []store.Intent
	// relinked says the link names a record other than the stored link's
	// (found by marker): sync stores it whatever the merge finds.
	relinked bool
}

func (s *Syncer) read(ctx context.Context, t *target, id string) (view, error) {
	var v view
	err := s.store.Tx(ctx, func(tx store.Tx) error {
		it, err := tx.Item(ctx, id)
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return err
		default:
			v.item, v.hasItem = it, true
		}
		l, err := tx.Link(ctx, t.name, id)
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return err
		default:
			v.link, v.hasLink = l, true
		}
		// Only this key's: a reconcile must not cost more as the conflict
		// queue and the outbox grow.
		conflicts, err := tx.ConflictsOf(ctx, t.name, id)
		if err != nil {
			return err
		}
		for _, c := range conflicts {
			if v.parked == nil {
				v.parked = map[backlog.Field]store.Conflict{}
			}
			v.parked[c.Field] = c
		}
		v.intents, err = tx.IntentsOf(ctx, t.name, id)
		return err
	})
	return v, err
}

// reconcile makes one (item, target) key right: level-triggered, it reads
// both sides as they are now and writes only what differs.
func (s *Syncer) reconcile(ctx context.Context, t *target, id string) (string, error) {
	v, err := s.read(ctx, t, id)
	if err != nil {
		return "", err
	}
	if !v.hasItem {
		return resultNone, s.ack(ctx, v.intentIDs()...) // an id nobody knows (a stale webhook): nothing to do
	}
	inScope := t.client.InScope(v.item)
	active := v.hasLink && v.link.State == store.LinkActive

	if !active {
		// An intent left by a run that stopped mid-write is settled here
		// too when the write is no longer wanted (the item left the scope
		// meanwhile), or the outbox would never drain.
		if !inScope {
			return resultNone, s.ack(ctx, v.intentIDs()...)
		}
		if v.hasLink && v.link.State == store.LinkGone && t.client.OnRemoteDelete != mapping.DeleteRecreate {
			return resultNone, s.ack(ctx, v.intentIDs()...)
		}
		return s.createOrRelink(ctx, t, v)
	}

	rec, err := t.conn.Get(ctx, v.link.RemoteID)
	err = t.read(err)
	if errors.Is(err, connectors.ErrNotFound) {
		return s.remoteMissing(ctx, t, v, inScope, err)
	}
	if err != nil {
		return "", fmt.Errorf("read %s %s: %w", t.name, v.link.RemoteID, err)
	}
	if !inScope {
		return s.scopeExit(ctx, t, v, rec)
	}
	return s.sync(ctx, t, v, rec)
}

// remoteMissing handles a linked record the tracker reports as not found.
// A 404 alone does not say the record was deleted: GitHub and Jira also
// answer 404 for a record the token lost access to, and marking the link
// gone then would unlink it for good (or, under recreate, duplicate it
// once access is back). So the tracker must confirm: it still answers
// listings (the target's last poll succeeded), and no record carries the
// item's marker. A record found by marker under another id was moved (a
// GitHub transfer, a Jira project move) and is followed; anything else is
// a transient error, retried with back-off.
func (s *Syncer) remoteMissing(ctx context.Context, t *target, v view, inScope bool, getErr error) (string, error) {
	if !t.listingWorks() {
		return "", fmt.Errorf("read %s %s: %v; not taken as a deletion while the target's last listing failed too (a token that lost access reads every record as not found)",
			t.name, v.link.RemoteID, getErr)
	}
	rec, err := t.conn.FindByMarker(ctx, v.item.ID)
	err = t.read(err)
	switch {
	case errors.Is(err, connectors.ErrNotFound):
		return s.remoteGone(ctx, t, v)
	case err != nil:
		return "", fmt.Errorf("read %s %s: %v; looking for its marker %s to confirm the deletion: %w", t.name, v.link.RemoteID, getErr, v.item.ID, err)
	case rec.ID == v.link.RemoteID:
		return "", fmt.Errorf("read %s %s: %v, yet a search finds it by its marker %s: taken as transient", t.name, v.link.RemoteID, getErr, v.item.ID)
	}
	if other, err := s.activeLinkOf(ctx, t, rec.ID); err != nil {
		return "", err
	} else if other != "" && other != v.item.ID {
		return "", connectors.Terminalf("%s %s (%s) carries the marker of %s but is linked to %s; "+
			"set its marker back to %s, or cancel the item that duplicates it", t.name, rec.Key, rec.ID, v.item.ID, other, other)
	}
	s.log.Info("record moved: following it by its marker", "target", t.name, "item", v.item.ID, "from", v.link.RemoteID, "to", rec.ID)
	// The fields' base still holds (the record moved with them); comment
	// ids may not survive a move, and a comment link whose tracker comment
	// is missing would read as a deletion, so the comments are matched
	// again by their text.
	v.link.RemoteID, v.link.RemoteKey, v.link.URL, v.link.Comments = rec.ID, rec.Key, rec.URL, nil
	v.relinked = true
	if !inScope {
		return s.scopeExit(ctx, t, v, rec)
	}
	res, err := s.sync(ctx, t, v, rec)
	if err == nil && res == resultNone {
		res = resultRelinked
	}
	return res, err
}

// createOrRelink links an in-scope item that has no record yet. It looks
// for a record carrying the item's marker first, so a create interrupted
// by a crash, a wiped store or a lost cursor never makes a duplicate.
func (s *Syncer) createOrRelink(ctx context.Context, t *target, v view) (string, error) {
	rec, err := t.conn.FindByMarker(ctx, v.item.ID)
	err = t.read(err)
	switch {
	case err == nil:
		if other, err := s.activeLinkOf(ctx, t, rec.ID); err != nil {
			return "", err
		} else if other != "" && other != v.item.ID {
			// A record is one item's: the store refuses a second active
			// link to it, and retrying would only be refused again. A
			// person copied the marker, or an earlier backlogd adopted the
			// record twice (schema step 3 kept the other item's link).
			return "", connectors.Terminalf("%s %s (%s) carries the marker of %s but is linked to %s; "+
				"set its marker back to %s, or cancel the item that duplicates it", t.name, rec.Key, rec.ID, v.item.ID, other, other)
		}
		v.link = store.Link{Target: t.name, ItemID: v.item.ID, RemoteID: rec.ID}
		v.hasLink, v.relinked = true, true
		s.metrics.Created(t.name, "relinked")
		res, err := s.sync(ctx, t, v, rec)
		if err == nil {
			t.releaseChildren(v.item.ID)
			if res == resultNone {
				res = resultRelinked
			}
		}
		return res, err
	case !errors.Is(err, connectors.ErrNotFound):
		return "", fmt.Errorf("find %s marker on %s: %w", v.item.ID, t.name, err)
	}

	refs, err := s.parentRefs(ctx, t, v.item, nil)
	if err != nil {
		return "", err
	}
	proj := t.client.Project(v.item)
	if refs.synced {
		proj[backlog.FieldParent] = refs.visible
		if refs.pending {
			// Created without its parent for now; linked to it once the
			// parent has a record.
			s.waitFor(ctx, t, v.item.Parent, v.item.ID)
		}
	}
	native := t.client.ToRecord(refs.native(proj), nil)
	intent, err := s.announce(ctx, t, v, store.OpCreate)
	if err != nil {
		return "", err
	}
	rec, err = t.conn.Create(ctx, v.item.ID, native)
	if err = t.wrote(err); err != nil {
		s.refused(ctx, intent, err)
		return "", fmt.Errorf("create %s on %s: %w", v.item.ID, t.name, err)
	}
	s.metrics.Created(t.name, "created")
	link := store.Link{
		Target: t.name, ItemID: v.item.ID, RemoteID: rec.ID, RemoteKey: rec.Key, URL: rec.URL,
		State: store.LinkActive, Base: proj, RemoteVersion: rec.Version, RemoteUpdated: rec.Updated, SyncedAt: s.now(),
	}
	if err := s.commit(ctx, link, append(v.intentIDs(), intent)...); err != nil {
		return "", err
	}
	t.releaseChildren(v.item.ID)
	// Comments go in a second step, through the normal path, so that a
	// crash here leaves a linked record and nothing to duplicate.
	if s.hasCommentsToPush(t, v.item) {
		t.queue.Add(v.item.ID)
	}
	return resultCreated, nil
}

// activeLinkOf returns the item whose active link holds the record on t
// ("" for none).
func (s *Syncer) activeLinkOf(ctx context.Context, t *target, remoteID string) (string, error) {
	var id string
	err := s.store.Tx(ctx, func(tx store.Tx) error {
		l, err := tx.LinkByRemote(ctx, t.name, remoteID)
		switch {
		case err == nil && l.State == store.LinkActive:
			id = l.ItemID
		case err != nil && !errors.Is(err, store.ErrNotFound):
			return err
		}
		return nil
	})
	return id, err
}

func (s *Syncer) hasCommentsToPush(t *target, it backlog.Item) bool {
	if !t.caps.Comments {
		return false
	}
	for _, c := range it.Comments {
		if !c.Deleted && t.client.CommentAllowed(c) {
			return true
		}
	}
	return false
}

// announce writes an outbox intent before a remote write of the key v
// reads. A pending intent of the same operation, left by an attempt that
// failed or was cut short, already announces it: the key is retried
// until its write is recorded, and one intent says so as well as many (a
// write retried on every sweep would otherwise add one each time).
func (s *Syncer) announce(ctx context.Context, t *target, v view, op store.IntentOp) (int64, error) {
	for _, in := range v.intents {
		if in.Op == op {
			return in.ID, nil
		}
	}
	var intentID int64
	err := s.store.Tx(ctx, func(tx store.Tx) error {
		var err error
		intentID, err = tx.AddIntent(ctx, store.Intent{Target: t.name, ItemID: v.item.ID, Op: op, Created: s.now()})
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("outbox: %w", err)
	}
	return intentID, nil
}

// refused settles the intent of a write the tracker refused: a terminal
// error means the tracker wrote nothing, so nothing is in flight, and the
// key is parked until the config or the item changes. Other errors (a
// timeout, a 502) leave the outcome unknown and the intent pending.
func (s *Syncer) refused(ctx context.Context, intent int64, err error) {
	if !connectors.IsTerminal(err) {
		return
	}
	if aerr := s.ack(ctx, intent); aerr != nil {
		// Left pending: the next attempt reuses it, or the next start
		// reconciles the key once more.
		s.log.Debug("could not settle the intent of a refused write", "intent", intent, "error", aerr)
	}
}

// intentIDs lists the key's pending intents.
func (v view) intentIDs() []int64 {
	ids := make([]int64, len(v.intents))
	for i, in := range v.intents {
		ids[i] = in.ID
	}
	return ids
}

// ack acknowledges intents that need no write any more.
func (s *Syncer) ack(ctx context.Context, ids ...int64) error {
	if len(ids) == 0 {
		return nil
	}
	return s.store.Tx(ctx, func(tx store.Tx) error {
		for _, id := range ids {
			if err := tx.DeleteIntent(ctx, id); err != nil {
				return err
			}
		}
		return nil
	})
}

// commit stores a link and acknowledges intents in one transaction.
func (s *Syncer) commit(ctx context.Context, l store.Link, intents ...int64) error {
	return s.store.Tx(ctx, func(tx store.Tx) error {
		if err := tx.PutLink(ctx, l); err != nil {
			return err
		}
		for _, id := range intents {
			if id == 0 {
				continue
			}
			if err := tx.DeleteIntent(ctx, id); err != nil {
				return err
			}
		}
		return nil
	})
}

// remoteGone handles a linked record that the tracker no longer has.
func (s *Syncer) remoteGone(ctx context.Context, t *target, v view) (string, error) {
	s.metrics.RemoteDeleted(t.name)
	v.link.State = store.LinkGone
	if err := s.commit(ctx, v.link, v.intentIDs()...); err != nil {
		return "", err
	}
	if t.client.OnRemoteDelete == mapping.DeleteRecreate && t.client.InScope(v.item) {
		t.queue.Add(v.item.ID)
	}
	return resultGone, nil
}

// scopeExit applies the client's on_scope_exit to an item that left it.
func (s *Syncer) scopeExit(ctx context.Context, t *target, v view, rec connectors.Record) (string, error) {
	if t.client.OnScopeExit == mapping.ExitClose || t.client.OnScopeExit == mapping.ExitDelete {
		// Delete is not part of the connector contract: deleting a client's
		// record is never worth the risk, so delete closes like close does.
		if err := s.closeRemote(ctx, t, v, rec); err != nil {
			return "", err
		}
	}
	v.link.State = store.LinkUnlinked
	v.link.SyncedAt = s.now()
	if err := s.commit(ctx, v.link, v.intentIDs()...); err != nil {
		return "", err
	}
	return resultUnlinked, nil
}

func (s *Syncer) closeRemote(ctx context.Context, t *target, v view, rec connectors.Record) error {
	closing := t.client.Syncs(backlog.FieldStatus)
	if !closing {
		return nil
	}
	status := t.client.CloseStatus
	if status == "" {
		status = backlog.Cancelled
	}
	proj, err := t.client.FromRecord(rec, v.link.Base)
	if err != nil {
		return connectors.Terminal(err)
	}
	proj[backlog.FieldStatus] = string(status)
	want := t.client.ToRecord(proj, rec.Fields)
	diff := nativeDiff(want, rec.Fields)
	if len(diff) == 0 {
		return nil
	}
	intent, err := s.announce(ctx, t, v, store.OpClose)
	if err != nil {
		return err
	}
	_, err = t.conn.Update(ctx, rec.ID, rec.Version, diff, "")
	if err = t.wrote(err); err != nil {
		s.refused(ctx, intent, err)
		return fmt.Errorf("close %s on %s: %w", v.item.ID, t.name, err)
	}
	return s.store.Tx(ctx, func(tx store.Tx) error { return tx.DeleteIntent(ctx, intent) })
}

// nativeDiff returns the native fields of want that differ from have.
func nativeDiff(want, have connectors.Fields) connectors.Fields {
	diff := connectors.Fields{}
	for name, vs := range want {
		if !slices.Equal(vs, have[name]) && !(len(vs) == 0 && len(have[name]) == 0) {
			diff[name] = vs
		}
	}
	return diff
}

// sync runs the 3-way merge of a linked key and applies it: pulls into
// the canonical item first (optimistically, so a concurrent edit makes us
// read again rather than lose it), then the push to the tracker, then the
// new base.
func (s *Syncer) sync(ctx context.Context, t *target, v view, rec connectors.Record) (string, error) {
	c := t.client
	base := v.link.Base
	refs, err := s.parentRefs(ctx, t, v.item, base)
	if err != nil {
		return "", err
	}
	canonical := c.Project(v.item)
	if refs.synced {
		canonical[backlog.FieldParent] = refs.visible
	}
	remote, nativeParent, known, err := s.remoteView(ctx, t, &refs, rec, base)
	if err != nil {
		return "", fmt.Errorf("read %s (%s) through client %s: %w", rec.Key, rec.ID, c.ID, err)
	}
	// A parent that is not on the tracker yet, or a parent a person chose
	// that backlogd does not know, is left as the tracker has it.
	holdParent := refs.synced && (refs.pending || !known)
	if refs.pending {
		s.waitFor(ctx, t, v.item.Parent, v.item.ID)
	}
	in := mergeInput{
		Base: base, Canonical: canonical, Remote: remote, Policy: c.Policy,
		CanonicalUpdated: v.item.Updated, RemoteUpdated: rec.Updated,
	}
	if len(v.parked) > 0 {
		in.Parked = make(map[backlog.Field]bool, len(v.parked))
		for f := range v.parked {
			in.Parked[f] = true
		}
	}
	synced := c.Synced()
	in.Rules = make([]fieldRule, 0, len(synced))
	for _, f := range synced {
		if holdParent && f == backlog.FieldParent {
			continue
		}
		in.Rules = append(in.Rules, fieldRule{Field: f, Direction: c.DirectionOf(f)})
	}
	m := merge(in)
	agreed := refs.native(m.Agreed)
	if holdParent {
		agreed[backlog.FieldParent] = nativeParent
		if p, ok := base[backlog.FieldParent]; ok {
			m.Base[backlog.FieldParent] = p
		}
	}

	link := v.link
	link.State = store.LinkActive
	link.RemoteKey, link.URL = rec.Key, rec.URL
	link.LastError = ""

	// 1. Pull: remote values and remote comments into the canonical item.
	item := v.item.Clone()
	pulledComments, links := s.mergeComments(ctx, t, &item, rec, link.Comments)
	pulled := len(m.Pull) > 0 || pulledComments
	if pulled {
		if err := item.Apply(m.Pull); err != nil {
			return "", connectors.Terminal(fmt.Errorf("pull %s from %s: %w", v.item.ID, t.name, err))
		}
		if err := item.Validate(); err != nil {
			return "", connectors.Terminal(fmt.Errorf("pull %s from %s would make the item invalid: %w; fix the record or the client's value map", v.item.ID, t.name, err))
		}
	}

	// 2. Push: native fields that differ, and comments to create or edit.
	want := c.ToRecord(agreed, rec.Fields)
	diff := nativeDiff(want, rec.Fields)
	commentOps := s.planComments(t, item, rec, links)
	pushing := len(diff) > 0 || len(commentOps) > 0 || (rec.Marker == "" && rec.ID != "")

	// Store the pull before writing to the tracker: if the item moved
	// meanwhile, PutItem fails with ErrStale and the key is read again,
	// having written nothing remote. Pulled comments are stored with
	// their comment links, in the same transaction: a push that fails
	// next, or a crash, must not leave canonical comments that nothing
	// ties to the tracker comments they came from, or the next reconcile
	// pulls them again. The rest of the link (base, version) is only
	// stored once the push is done.
	if pulled || conflictsChanged(v.parked, in, m) {
		err := s.store.Tx(ctx, func(tx store.Tx) error {
			if pulled {
				stored, err := tx.PutItem(ctx, item)
				if err != nil {
					return err
				}
				item = stored
			}
			if pulledComments {
				pending := link
				pending.Comments = links
				if err := tx.PutLink(ctx, pending); err != nil {
					return err
				}
			}
			return s.saveConflicts(ctx, tx, t, v, m, in)
		})
		if err != nil {
			return "", err
		}
		if pulled {
			for _, f := range m.Pull.Names() {
				s.metrics.FieldsChanged(t.name, c.ID, "pulled", fieldGroup(f), 1)
			}
			// Fan out: every other target sees the change.
			for name, o := range s.targets {
				if name != t.name {
					o.queue.Add(item.ID)
				}
			}
		}
	}

	var intent int64
	recheck := false
	if pushing {
		if intent, err = s.announce(ctx, t, v, store.OpUpdate); err != nil {
			return "", err
		}
		// A record without the marker (adopted, or a person removed it)
		// gets it back so a lost link can always be found again. It goes
		// in the same Update as the fields: the connector knows where the
		// tracker keeps the marker, and on GitHub (the body) and Redmine
		// (a custom field) that is the same request, so adopting a record
		// that lacks defaults costs one write, not two. The record Update
		// returns carries the marker, so its echo is recognised too.
		mark := ""
		if rec.Marker == "" && rec.ID != "" {
			mark = item.ID
		}
		if len(diff) > 0 || mark != "" {
			updated, err := t.conn.Update(ctx, rec.ID, rec.Version, diff, mark)
			if err = t.wrote(err); err != nil {
				s.refused(ctx, intent, err)
				if len(diff) == 0 {
					return "", fmt.Errorf("repair marker of %s on %s: %w", item.ID, t.name, err)
				}
				return "", fmt.Errorf("update %s on %s: %w", item.ID, t.name, err)
			}
			rec.Version, rec.Updated = updated.Version, updated.Updated
			// The record as the write left it holds more than the write
			// when a person edited it meanwhile: its version, stored below,
			// includes that edit, so the edit's listing would pass for our
			// own echo. Reconcile again to merge it now.
			recheck = len(nativeDiff(want, updated.Fields)) > 0
			if len(diff) > 0 {
				for _, f := range m.Push.Names() {
					s.metrics.FieldsChanged(t.name, c.ID, "pushed", fieldGroup(f), 1)
				}
			}
		}
		if links, err = s.applyComments(ctx, t, rec.ID, commentOps, links); err != nil {
			// Record what did happen so no comment is created twice.
			link.Comments = links
			_ = s.commit(ctx, link)
			return "", err
		}
	} else if rec.Version != link.RemoteVersion && link.RemoteVersion != "" && !pulled {
		// The record changed but merges to nothing: our own write coming
		// back (or an edit that changed nothing we sync).
		s.metrics.EchoSuppressed(t.name)
	}

	link.Base = m.Base
	link.Comments = links
	link.RemoteVersion, link.RemoteUpdated = rec.Version, rec.Updated
	if pushing || pulled || v.relinked || !link.Base.Equal(v.link.Base) || link.State != v.link.State || len(v.intents) > 0 ||
		link.RemoteVersion != v.link.RemoteVersion || !slices.Equal(link.Comments, v.link.Comments) ||
		link.LastError != v.link.LastError {
		link.SyncedAt = s.now()
		acks := []int64{intent}
		for _, in := range v.intents {
			acks = append(acks, in.ID)
		}
		if err := s.commit(ctx, link, acks...); err != nil {
			return "", err
		}
	}

	if recheck {
		t.queue.Add(item.ID)
	}
	switch {
	case len(m.Conflicts) > 0:
		return resultConflict, nil
	case pushing && pulled:
		return resultBoth, nil
	case pushing:
		return resultPushed, nil
	case pulled:
		return resultPulled, nil
	}
	return resultNone, nil
}

// conflictsChanged reports whether the conflict queue needs a write: a
// new conflict, a parked one that the two sides settled by themselves, or
// a parked one whose values moved on (what `backlogd conflicts` shows and
// what resolving it takes must be the values as they are now).
func conflictsChanged(parked map[backlog.Field]store.Conflict, in mergeInput, m mergeResult) bool {
	if len(m.Conflicts) > 0 {
		return true
	}
	for f, c := range parked {
		if in.Canonical[f] == in.Remote[f] || c.Canonical != in.Canonical[f] || c.Remote != in.Remote[f] {
			return true
		}
	}
	return false
}

// saveConflicts parks new manual conflicts and closes those the sides
// resolved by themselves.
func (s *Syncer) saveConflicts(ctx context.Context, tx store.Tx, t *target, v view, m mergeResult, in mergeInput) error {
	for _, f := range m.Conflicts {
		_, err := tx.PutConflict(ctx, store.Conflict{
			Target: t.name, Client: t.client.ID, ItemID: v.item.ID, Field: f,
			Base: in.Base[f], Canonical: in.Canonical[f], Remote: in.Remote[f], Created: s.now(),
		})
		if err != nil {
			return err
		}
	}
	for f, c := range v.parked {
		switch {
		case in.Canonical[f] == in.Remote[f]:
			if err := tx.DeleteConflict(ctx, c.ID); err != nil {
				return err
			}
		case c.Canonical != in.Canonical[f] || c.Remote != in.Remote[f]:
			// Still in conflict, with newer values on one side or both.
			c.Canonical, c.Remote = in.Canonical[f], in.Remote[f]
			if _, err := tx.PutConflict(ctx, c); err != nil {
				return err
			}
		}
	}
	return nil
}
