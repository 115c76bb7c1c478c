package syncer

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/backlogd/backlogd/backlog"
	"github.com/backlogd/backlogd/connectors"
	"github.com/backlogd/backlogd/mapping"
	"github.com/backlogd/backlogd/syncer/store"
)

// Detection only enqueues keys; it never decides. Polling lists changed
// records from the target's cursor, webhooks name records to re-read, and
// both route each record to the item it is linked to — or, for a record
// nobody linked, to adoption.

// connectedKey is the cursor slot holding when a target was first
// connected, which adopt: new compares record creation times against.
func connectedKey(target string) string { return target + "#connected" }

func (s *Syncer) pollLoop(ctx context.Context, t *target) {
	for {
		err := s.PollTarget(ctx, t)
		wait := t.poll
		if err != nil && s.leases != nil && s.leases.fenced(t, err) {
			err = nil // the lease moved on: not the tracker's failure
		}
		if err != nil && ctx.Err() == nil {
			if d, ok := connectors.RetryAfter(err); ok {
				wait = max(wait, d)
			}
			t.setPollError(err)
			s.log.Warn("poll failed", "target", t.name, "error", err, "retry_after", wait)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// PollTarget lists a target's changes from its cursor until caught up and
// routes each changed record. The cursor is stored after every page.
func (s *Syncer) PollTarget(ctx context.Context, t *target) error {
	connected, err := s.connectedAt(ctx, t)
	if err != nil {
		return err
	}
	var cursor string
	if err := s.store.Tx(ctx, func(tx store.Tx) error {
		cursor, err = tx.Cursor(ctx, t.name)
		return err
	}); err != nil {
		return err
	}
	for {
		page, err := t.conn.Changes(ctx, cursor)
		if err != nil {
			if ctx.Err() == nil {
				t.setListing(false)
			}
			return fmt.Errorf("list changes: %w", err)
		}
		for _, rec := range page.Records {
			err := s.route(ctx, t, rec, connected)
			switch {
			case errors.Is(err, store.ErrStale):
				// Raced twice by other writers of the record: a worker takes
				// it from here, with the retries of any stale reconcile,
				// rather than the poll failing on it.
				t.queue.Add(remoteKeyPrefix + rec.ID)
			case connectors.IsTerminal(err):
				// This record cannot be taken in as it is (a bad marker, an
				// adoption the mapping refuses): retrying will not help, and
				// failing the poll would list this page again forever,
				// starving every record after it. It is listed again when
				// someone edits it.
				s.metrics.Reconciled(t.name, t.client.ID, "terminal", 0)
				s.log.Warn("record skipped: retrying will not help until the record or the config changes",
					"target", t.name, "record", rec.ID, "error", err)
			case err != nil:
				return err
			}
		}
		if page.Cursor != cursor {
			cursor = page.Cursor
			if err := s.store.Tx(ctx, func(tx store.Tx) error { return tx.PutCursor(ctx, t.name, cursor) }); err != nil {
				return err
			}
		}
		if !page.More {
			break
		}
	}
	t.mu.Lock()
	t.lastPoll, t.reached, t.pollError, t.listing = s.now(), true, "", true
	t.mu.Unlock()
	s.metrics.FullSync(t.name, s.now())
	return nil
}

// connectedAt returns (and on first use records) when the target was
// first connected.
func (s *Syncer) connectedAt(ctx context.Context, t *target) (time.Time, error) {
	var at time.Time
	err := s.store.Tx(ctx, func(tx store.Tx) error {
		v, err := tx.Cursor(ctx, connectedKey(t.name))
		if err != nil {
			return err
		}
		if v != "" {
			at, err = time.Parse(time.RFC3339Nano, v)
			return err
		}
		at = s.now()
		return tx.PutCursor(ctx, connectedKey(t.name), at.Format(time.RFC3339Nano))
	})
	return at, err
}

// route enqueues the item a record belongs to, relinks a marked record
// the store lost, or adopts an unmarked one.
//
// Two routes of one record may run at once (a webhook's remote: key on a
// worker while the poll lists the record): the one that adopts second is
// refused by the store with ErrStale, and reads again, finding the
// other's link. Should that read be refused too, the record is left to a
// worker as a remote: key, which retries it like any stale reconcile.
func (s *Syncer) route(ctx context.Context, t *target, rec connectors.Record, connected time.Time) error {
	err := s.routeOnce(ctx, t, rec, connected)
	if errors.Is(err, store.ErrStale) {
		err = s.routeOnce(ctx, t, rec, connected)
	}
	return err
}

func (s *Syncer) routeOnce(ctx context.Context, t *target, rec connectors.Record, connected time.Time) error {
	var (
		link    store.Link
		linked  bool
		item    backlog.Item
		hasItem bool
	)
	err := s.store.Tx(ctx, func(tx store.Tx) error {
		l, err := tx.LinkByRemote(ctx, t.name, rec.ID)
		switch {
		case err == nil:
			link, linked = l, true
			return nil
		case !errors.Is(err, store.ErrNotFound):
			return err
		}
		if rec.Marker == "" {
			return nil
		}
		it, err := tx.Item(ctx, rec.Marker)
		switch {
		case err == nil:
			item, hasItem = it, true
		case !errors.Is(err, store.ErrNotFound):
			return err
		}
		return nil
	})
	if err != nil {
		return err
	}
	switch {
	case linked && link.State == store.LinkActive && rec.Version != "" && rec.Version == link.RemoteVersion:
		// The record is as the last reconcile read or wrote it: our own
		// write coming back, or the overlap of a listing. Connectors change
		// a record's version whenever anything of it changes, comments
		// included, so there is nothing new to read.
		s.metrics.EchoSuppressed(t.name)
	case linked:
		t.queue.Add(link.ItemID)
	case hasItem:
		// A record we created, whose link the store lost (or never
		// recorded: a crash right after the create). Reconcile finds it
		// by marker and relinks it.
		t.queue.Add(item.ID)
	case rec.Marker != "":
		// Marked with an id this store never had: another daemon's, or a
		// store that was wiped. Restoring it as that id keeps every
		// tracker's marker valid. It is still an adoption, so the client's
		// rule decides; and the id must be one a store could have handed
		// out, since storing it raises the id sequence past it.
		if !s.adoptable(t, rec, connected, true) {
			return nil
		}
		if err := restorableID(rec.Marker); err != nil {
			return connectors.Terminal(fmt.Errorf("record %s (%s) on %s not restored: %w", rec.Key, rec.ID, t.name, err))
		}
		return s.adopt(ctx, t, rec, rec.Marker)
	case s.adoptable(t, rec, connected, false):
		return s.adopt(ctx, t, rec, "")
	}
	return nil
}

// maxRestoredNumber bounds the number of an id restored from a marker. A
// marker is text anyone editing the record can write; storing an item
// under BL-9223372036854775800 would raise the id sequence to the end of
// its range, and every id allocated after it would fail. A billion items
// is far beyond any backlog.
const maxRestoredNumber = 1_000_000_000

// restorableID checks that a marker names an id a store could have
// handed out.
func restorableID(id string) error {
	if !backlog.ValidID(id) {
		return fmt.Errorf("its marker %q is not a canonical id (like BL-42)", id)
	}
	digits := id[strings.LastIndexByte(id, '-')+1:]
	if n, err := strconv.ParseInt(digits, 10, 64); err != nil || n > maxRestoredNumber {
		return fmt.Errorf("its marker %s is beyond the ids backlogd hands out (up to %d); remove or correct the marker", id, maxRestoredNumber)
	}
	return nil
}

// adoptable applies the client's adopt rule to a record no link knows;
// marked says it carries a marker backlogd may have written.
func (s *Syncer) adoptable(t *target, rec connectors.Record, connected time.Time, marked bool) bool {
	c := t.client
	switch c.Adopt {
	case mapping.AdoptNone:
		return false
	case mapping.AdoptAll:
	default: // new
		// Trackers keep creation times in whole seconds: a record of the
		// second the client was connected in counts as new. A marked
		// record was one of ours whatever its age (a wiped store restores
		// records created before it): "new" keeps a tracker's existing
		// issues out, and it is not one of those.
		if !marked && !rec.Created.IsZero() && rec.Created.Before(connected.Truncate(time.Second)) {
			return false
		}
	}
	if c.AdoptFilter != nil {
		fields, err := c.FromRecord(rec, nil)
		if err != nil || !c.AdoptFilter.Match(fields) {
			return false
		}
	}
	return true
}

// adopt turns a tracker record into a canonical item (with id, or a new
// one), links it and enqueues it everywhere; the marker is written back
// by the reconcile that follows.
func (s *Syncer) adopt(ctx context.Context, t *target, rec connectors.Record, id string) error {
	c := t.client
	fields, err := c.FromRecord(rec, nil)
	if err != nil {
		s.log.Warn("record not adopted: it does not read through the client's mapping", "target", t.name, "record", rec.ID, "error", err)
		return nil
	}
	if slices.Contains(c.Synced(), backlog.FieldParent) {
		// The record's parent is a record id; keep it only when that
		// record is linked to a canonical item.
		refs := parentRefs{synced: true, toRemote: map[string]string{}, toCanon: map[string]string{}}
		id, known, err := s.canonicalParent(ctx, t, &refs, fields[backlog.FieldParent])
		if err != nil {
			return err
		}
		if !known {
			id = ""
		}
		fields[backlog.FieldParent] = id
	}
	item := backlog.Item{Kind: backlog.Task, Status: backlog.Todo}
	if err := item.Apply(c.AdoptDefaults); err != nil {
		return connectors.Terminal(fmt.Errorf("%s: adopt defaults: %w", c.File, err))
	}
	// A field the record leaves empty keeps its default: a GitHub issue
	// without a status label is still a todo, not an invalid item.
	// The base is what the record shows, so the defaults it lacked are
	// pushed to it by the reconcile that follows.
	base := fields.Clone()
	for f, v := range fields {
		if v == "" {
			delete(fields, f)
		}
	}
	if err := item.Apply(fields); err != nil {
		s.log.Warn("record not adopted", "target", t.name, "record", rec.ID, "error", err)
		return nil
	}
	if fields[backlog.FieldClients] == "" && !item.HasClient(c.ID) {
		item.Clients = append(item.Clients, c.ID)
	}
	adopted, linked := false, ""
	err = s.store.Tx(ctx, func(tx store.Tx) error {
		// The route that chose adoption read the links in a transaction of
		// its own; another route of the record may have adopted it since.
		// Reading it again here, where the link is written, makes the
		// store refuse this transaction (ErrStale) if the record gets a
		// link before it commits; the store's one-active-link-per-record
		// rule catches what a snapshot cannot see.
		switch l, err := tx.LinkByRemote(ctx, t.name, rec.ID); {
		case err == nil:
			linked = l.ItemID
			return nil
		case !errors.Is(err, store.ErrNotFound):
			return err
		}
		if id == "" {
			if id, err = tx.NextItemID(ctx); err != nil {
				return err
			}
		} else if _, err := tx.Item(ctx, id); err == nil {
			return nil // restored meanwhile
		}
		item.ID = id
		if err := item.Validate(); err != nil {
			return connectors.Terminal(fmt.Errorf("adopt %s from %s: %w", rec.ID, t.name, err))
		}
		stored, err := tx.PutItem(ctx, item)
		if err != nil {
			return err
		}
		item = stored
		adopted = true
		// Linking in the same transaction means a crash can never leave an
		// adopted record without its link, so it is never adopted twice.
		return tx.PutLink(ctx, store.Link{
			Target: t.name, ItemID: item.ID, RemoteID: rec.ID, RemoteKey: rec.Key, URL: rec.URL,
			State: store.LinkActive, Base: base, RemoteVersion: rec.Version,
			RemoteUpdated: rec.Updated, SyncedAt: s.now(),
		})
	})
	if err != nil {
		if connectors.IsTerminal(err) {
			s.log.Warn("record not adopted", "target", t.name, "record", rec.ID, "error", err)
			return nil
		}
		return err
	}
	if linked != "" {
		t.queue.Add(linked) // adopted meanwhile: reconcile it like any linked record
		return nil
	}
	if adopted {
		s.metrics.Created(t.name, "adopted")
		s.log.Info("adopted", "target", t.name, "record", rec.ID, "item", item.ID)
		s.Enqueue(item.ID)
	}
	return nil
}

// reconcileRemote handles a webhook's record id that no link knows: read
// it and route it like a polled record.
func (s *Syncer) reconcileRemote(ctx context.Context, t *target, id string) (string, error) {
	rec, err := t.conn.Get(ctx, id)
	err = t.read(err)
	if errors.Is(err, connectors.ErrNotFound) {
		return resultNone, nil
	}
	if err != nil {
		return "", err
	}
	connected, err := s.connectedAt(ctx, t)
	if err != nil {
		return "", err
	}
	return resultNone, s.route(ctx, t, rec, connected)
}

// Webhook handles a delivery for target: it verifies, de-duplicates and
// enqueues, never calling the tracker, so it answers in milliseconds. It
// returns the HTTP status to answer with and a short reason.
func (s *Syncer) Webhook(ctx context.Context, target string, header http.Header, body []byte) (int, string) {
	t, ok := s.targets[target]
	if !ok {
		return http.StatusNotFound, "unknown target"
	}
	recv, ok := t.conn.(connectors.WebhookReceiver)
	if !ok {
		s.metrics.Webhook(target, "ignored")
		return http.StatusNotFound, "target does not take webhooks"
	}
	d, err := recv.ParseWebhook(header, body)
	switch {
	case errors.Is(err, connectors.ErrBadSignature):
		s.metrics.Webhook(target, "bad_signature")
		s.log.Warn("webhook rejected: bad signature", "target", target)
		return http.StatusUnauthorized, "signature missing or wrong"
	case err != nil:
		s.metrics.Webhook(target, "error")
		return http.StatusBadRequest, "cannot read delivery: " + err.Error()
	}
	if s.leases != nil && !s.leases.owns(target) {
		// Another replica owns the target: record the delivery for it.
		return s.leases.forwardWebhook(ctx, t, d)
	}
	if d.ID != "" {
		var seen bool
		err := s.store.Tx(ctx, func(tx store.Tx) error {
			var err error
			seen, err = tx.SeeDelivery(ctx, target, d.ID, s.now())
			return err
		})
		if err != nil {
			s.metrics.Webhook(target, "error")
			return http.StatusServiceUnavailable, "store unavailable"
		}
		if seen {
			s.metrics.Webhook(target, "duplicate")
			return http.StatusOK, "duplicate delivery"
		}
	}
	ids := append(append([]string(nil), d.RecordIDs...), d.Deleted...)
	if len(ids) == 0 {
		s.metrics.Webhook(target, "ignored")
		return http.StatusOK, "nothing to sync"
	}
	for _, id := range ids {
		var itemID string
		_ = s.store.Tx(ctx, func(tx store.Tx) error {
			l, err := tx.LinkByRemote(ctx, target, id)
			if err == nil {
				itemID = l.ItemID
			}
			return nil
		})
		if itemID != "" {
			t.queue.Add(itemID)
		} else {
			t.queue.Add(remoteKeyPrefix + id)
		}
	}
	s.metrics.Webhook(target, "accepted")
	return http.StatusAccepted, "queued"
}
