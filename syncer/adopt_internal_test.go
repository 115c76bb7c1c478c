package syncer

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/backlogd/backlogd/backlog"
	"github.com/backlogd/backlogd/connectors"
	"github.com/backlogd/backlogd/connectors/memory"
	"github.com/backlogd/backlogd/syncer/store"
)

// adoptWorld is a client tracker that adopts every record and a home
// tracker that gets every item, over a SQLite store.
func adoptWorld(t *testing.T, client string) (*Syncer, store.Store, *memory.Tracker, *memory.Tracker) {
	t.Helper()
	dir := t.TempDir()
	cfg := LoadTestConfig(t, dir, map[string]string{
		"backlogd.yaml":  "data_dir: " + dir + "\ntargets:\n  - {name: c, kind: memory}\n  - {name: h, kind: memory}\n",
		"clients/c.yaml": client,
		"clients/h.yaml": "client: h\ntarget: h\nscope: all\nadopt: none\nfields:\n  title: title\n",
	})
	st := OpenTestStore(t, dir)
	c, h := memory.New(memory.Options{Name: "c"}), memory.New(memory.Options{Name: "h"})
	s, err := New(cfg, st, map[string]connectors.Connector{"c": c, "h": h}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s, st, c, h
}

const adoptAllClient = "client: c\ntarget: c\nscope: all\nadopt: {mode: all}\nfields:\n  title: title\n"

// A webhook's remote:<id> key and the poll's listing name the same new
// record at the same moment: the record becomes one canonical item, on
// one link, and one record on every other target.
func TestARecordRoutedTwiceAtOnceIsAdoptedOnce(t *testing.T) {
	s, st, c, h := adoptWorld(t, adoptAllClient)
	ctx := context.Background()
	tg := s.targets["c"]
	const records = 50
	for i := range records {
		rec := c.AddRecord("", connectors.Fields{"title": {"feedback " + string(rune('a'+i%26))}})
		var wg sync.WaitGroup
		start := make(chan struct{})
		var routeErr error
		wg.Go(func() { <-start; routeErr = s.route(ctx, tg, rec, time.Time{}) }) // the poll
		wg.Go(func() { <-start; s.process(ctx, tg, remoteKeyPrefix+rec.ID) })    // the webhook's key
		close(start)
		wg.Wait()
		if routeErr != nil {
			t.Fatalf("record %s: the poll's route failed: %v", rec.ID, routeErr)
		}
		var links []store.Link
		if err := st.Tx(ctx, func(tx store.Tx) (err error) { links, err = tx.Links(ctx, "c"); return err }); err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, l := range links {
			if l.RemoteID == rec.ID {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("record %s routed by the poll and a webhook at once has %d links, want 1 (one canonical item)", rec.ID, n)
		}
	}
	if err := s.SyncOnce(ctx); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := st.Tx(ctx, func(tx store.Tx) error { items, err := tx.Items(ctx); n = len(items); return err }); err != nil {
		t.Fatal(err)
	}
	if n != records || h.Len() != records {
		t.Errorf("%d client records became %d canonical items and %d home records, want %d of each", records, n, h.Len(), records)
	}
}

// A record carrying the marker of an item while another item's link has
// it (a person copied the marker) is not linked to both, nor retried in a
// loop: the item is parked with the reason.
func TestARecordMarkedForOneItemButLinkedToAnotherParksTheItem(t *testing.T) {
	s, st, c, _ := adoptWorld(t, adoptAllClient)
	ctx := context.Background()
	rec := c.AddRecord("", connectors.Fields{"title": {"feedback"}})
	if err := s.SyncOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if got, _ := c.Peek(rec.ID); got.Marker != "BL-1" {
		t.Fatalf("the adopted record carries marker %q, want BL-1", got.Marker)
	}
	if err := st.Tx(ctx, func(tx store.Tx) error {
		id, err := tx.NextItemID(ctx)
		if err != nil {
			return err
		}
		_, err = tx.PutItem(ctx, backlog.Item{ID: id, Kind: backlog.Task, Title: "another", Status: backlog.Todo})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	c.Mark(rec.ID, "BL-2")
	if err := s.SyncOnce(ctx); err != nil {
		t.Fatal(err)
	}
	var links []store.Link
	if err := st.Tx(ctx, func(tx store.Tx) (err error) { links, err = tx.Links(ctx, "c"); return err }); err != nil {
		t.Fatal(err)
	}
	for _, l := range links {
		if l.RemoteID == rec.ID && l.State == store.LinkActive && l.ItemID != "BL-1" {
			t.Errorf("record %s is linked to %s too", rec.ID, l.ItemID)
		}
	}
	parked := ""
	for _, ts := range s.Status() {
		if ts.Target == "c" {
			parked = strings.Join(ts.Parked, "; ")
		}
	}
	if !strings.Contains(parked, "BL-2: ") || !strings.Contains(parked, "linked to BL-1") {
		t.Errorf("target c parks %q, want BL-2 parked, naming BL-1's link", parked)
	}
}
