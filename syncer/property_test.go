package syncer_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/backlogd/backlogd/backlog"
	"github.com/backlogd/backlogd/connectors"
	"github.com/backlogd/backlogd/syncer"
	"pgregory.net/rapid"
)

// The properties below drive the test world (world_test.go) with random
// interleavings of edits on every side, webhook deliveries in random
// order, duplicated and lost, partial drains and full syncs, and check
// what a user relies on once things settle:
//
//   - convergence: every target holds what the canonical backlog says;
//   - no duplicate: no marker on two records of one tracker;
//   - no lost update: the last edit of a field survives, wherever it was
//     made, when nobody else edits that field;
//   - isolation: an item outside a client's scope, a private field and an
//     internal comment never reach that client's tracker.

// participant is a side that can edit a field: the canonical backlog or
// one of the world's trackers.
type participant string

const canonical participant = "canonical"

// propField is a field the properties edit, with its native name on each
// tracker that maps it.
type propField struct {
	f      backlog.Field
	native map[participant]string // tracker → native field ("labels:phase/" for a template)
}

var propFields = []propField{
	{backlog.FieldTitle, map[participant]string{"home": "title", "acme": "summary", "globex": "title"}},
	{backlog.FieldPhase, map[participant]string{"home": "phase", "acme": "labels:phase/", "globex": "phase"}},
	{backlog.FieldTeams, map[participant]string{"home": "teams", "globex": "teams"}},
	{backlog.FieldPoints, map[participant]string{"home": "estimate.points", "acme": "points"}},
}

// propItems are in every client's scope whatever the edits do (phases
// stay in build and test_feedback), so every tracker holds them all.
var propItems = []string{"BL-1", "BL-2", "BL-3"}

func propSeed(w *world) {
	var items []backlog.Item
	for i, id := range propItems {
		items = append(items, backlog.Item{
			ID: id, Kind: backlog.Story, Title: "item " + strconv.Itoa(i+1), Status: backlog.Todo, Phase: backlog.Build,
			Clients: []string{"acme", "globex"}, Teams: []string{"backend"}, Estimate: backlog.Estimate{Points: 1},
		})
	}
	w.put(items...)
	w.sync()
}

// drawValue draws a value for f, canonically encoded. Titles are unique
// so that a lost update cannot hide behind an equal value.
func drawValue(t *rapid.T, f backlog.Field, n *int) string {
	switch f {
	case backlog.FieldTitle:
		*n++
		return "title " + strconv.Itoa(*n)
	case backlog.FieldPhase:
		return string(rapid.SampledFrom([]backlog.Phase{backlog.Build, backlog.TestFeedback}).Draw(t, "phase"))
	case backlog.FieldTeams:
		teams := rapid.SliceOfNDistinct(rapid.SampledFrom([]string{"backend", "qa", "web"}), 0, 3, rapid.ID[string]).Draw(t, "teams")
		return backlog.EncodeList(f, teams)
	case backlog.FieldPoints:
		return strconv.Itoa(rapid.IntRange(1, 13).Draw(t, "points"))
	}
	panic("no generator for " + string(f))
}

// editAt makes an edit as the participant would: canonically through the
// store, in a tracker as a person in it.
func editAt(t *rapid.T, w *world, p participant, id string, pf propField, value string) {
	if p == canonical {
		w.edit(id, func(it *backlog.Item) {
			if err := it.Set(pf.f, value); err != nil {
				t.Fatalf("set %s: %v", pf.f, err)
			}
		})
		return
	}
	tr := w.trackers[string(p)]
	var rec connectors.Record
	for _, r := range tr.Records() {
		if r.Marker == id {
			rec = r
		}
	}
	if rec.ID == "" {
		t.Fatalf("%s has no record of %s", p, id)
	}
	native := pf.native[p]
	var vals []string
	if pf.f.IsList() {
		vals, _ = backlog.DecodeList(value)
	} else if value != "" {
		vals = []string{value}
	}
	if name, prefix, ok := strings.Cut(native, ":"); ok {
		// A template on a shared multi-valued field: swap our values only.
		kept := slices.DeleteFunc(slices.Clone(rec.Fields[name]), func(v string) bool { return strings.HasPrefix(v, prefix) })
		for _, v := range vals {
			kept = append(kept, prefix+v)
		}
		tr.Edit(rec.ID, connectors.Fields{name: kept})
		return
	}
	tr.Edit(rec.ID, connectors.Fields{native: vals})
}

// deliverSome hands pending webhooks over in a random order, sending some
// twice and losing some: polling and sweeps must repair what is lost.
func deliverSome(t *rapid.T, w *world) {
	w.mu.Lock()
	ds := w.pending
	w.pending = nil
	w.mu.Unlock()
	idx := make([]int, len(ds))
	for i := range idx {
		idx[i] = i
	}
	order := rapid.Permutation(idx).Draw(t, "delivery order")
	ctx := context.Background()
	for i, j := range order {
		d := ds[j]
		switch rapid.IntRange(0, 5).Draw(t, fmt.Sprintf("fate%d", i)) {
		case 0: // lost
			continue
		case 1: // delivered twice
			w.s.Webhook(ctx, d.target, d.header, d.body)
		}
		if code, msg := w.s.Webhook(ctx, d.target, d.header, d.body); code >= 300 {
			t.Fatalf("webhook to %s refused: %d %s", d.target, code, msg)
		}
	}
}

// settle runs full syncs until an idle one, as the daemon's sweep would.
func settle(t *rapid.T, w *world) {
	for range 3 {
		w.resetCalls()
		if err := w.s.SyncOnce(context.Background()); err != nil {
			t.Fatalf("SyncOnce: %v", err)
		}
		idle := true
		for name := range w.trackers {
			idle = idle && w.calls(name).Writes() == 0
		}
		if idle {
			return
		}
	}
	t.Fatalf("three full syncs in a row still wrote: the targets do not converge")
}

func checkConverged(t *rapid.T, w *world) {
	drift, err := w.s.Verify(context.Background())
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if len(drift) > 0 {
		lines := make([]string, len(drift))
		for i, d := range drift {
			lines[i] = d.String()
		}
		t.Fatalf("the targets did not converge:\n%s", strings.Join(lines, "\n"))
	}
	for name := range w.trackers {
		ms := w.markers(name)
		if c := slices.Compact(slices.Clone(ms)); len(c) != len(ms) {
			t.Fatalf("%s holds a duplicate: markers %v", name, ms)
		}
	}
}

// TestPropertyNoLostUpdate gives every (item, field) one owner: the only
// side that edits it. Whatever the interleaving of edits, deliveries and
// syncs, the owner's last edit is what every side ends up with.
func TestPropertyNoLostUpdate(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		w := newWorld(t, worldOptions{webhooks: true})
		propSeed(w)
		type key struct {
			id string
			f  backlog.Field
		}
		owner := map[key]participant{}
		last := map[key]string{}
		for _, id := range propItems {
			for _, pf := range propFields {
				sides := []participant{canonical}
				for p := range pf.native {
					sides = append(sides, p)
				}
				slices.Sort(sides)
				k := key{id, pf.f}
				owner[k] = rapid.SampledFrom(sides).Draw(rt, "owner "+id+" "+string(pf.f))
				last[k] = w.item(id).Get(pf.f)
			}
		}
		n := 0
		steps := rapid.IntRange(5, 25).Draw(rt, "steps")
		for range steps {
			switch rapid.IntRange(0, 9).Draw(rt, "action") {
			case 0, 1, 2, 3, 4:
				id := rapid.SampledFrom(propItems).Draw(rt, "item")
				pf := rapid.SampledFrom(propFields).Draw(rt, "field")
				k := key{id, pf.f}
				v := drawValue(rt, pf.f, &n)
				editAt(rt, w, owner[k], id, pf, v)
				last[k] = v
			case 5, 6:
				deliverSome(rt, w)
			case 7, 8:
				if err := w.s.Drain(context.Background()); err != nil {
					rt.Fatal(err)
				}
			case 9:
				if err := w.s.SyncOnce(context.Background()); err != nil {
					rt.Fatal(err)
				}
			}
		}
		deliverSome(rt, w)
		settle(rt, w)
		checkConverged(rt, w)
		if cs := w.conflicts(); len(cs) > 0 {
			rt.Fatalf("%d conflicts parked though no field had two editors: %+v", len(cs), cs)
		}
		for k, want := range last {
			if got := w.item(k.id).Get(k.f); got != want {
				rt.Fatalf("%s %s = %q, want %q, the last edit (made by %s): an update was lost", k.id, k.f, got, want, owner[k])
			}
		}
	})
}

// TestPropertyConflictsSettle lets every side edit every field. However
// edits collide, the world settles: no drift outside the fields parked
// for a person, no duplicate, every value one that somebody wrote, and
// settling the parked conflicts brings every side in step.
func TestPropertyConflictsSettle(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		policy := rapid.SampledFrom([]string{"canonical-wins", "tracker-wins", "latest-wins"}).Draw(rt, "acme policy")
		w := newWorld(t, worldOptions{webhooks: true, acmePolicy: policy})
		propSeed(w)
		written := map[string]bool{}
		for _, it := range w.items() {
			written[it.Title] = true
		}
		n := 0
		sides := []participant{canonical, "home", "acme", "globex"}
		steps := rapid.IntRange(5, 25).Draw(rt, "steps")
		for range steps {
			switch rapid.IntRange(0, 6).Draw(rt, "action") {
			case 0, 1, 2, 3:
				id := rapid.SampledFrom(propItems).Draw(rt, "item")
				pf := propFields[0] // titles: unique values show where each came from
				p := rapid.SampledFrom(sides).Draw(rt, "side")
				v := drawValue(rt, pf.f, &n)
				written[v] = true
				editAt(rt, w, p, id, pf, v)
			case 4:
				deliverSome(rt, w)
			case 5:
				if err := w.s.Drain(context.Background()); err != nil {
					rt.Fatal(err)
				}
			case 6:
				if err := w.s.SyncOnce(context.Background()); err != nil {
					rt.Fatal(err)
				}
			}
		}
		deliverSome(rt, w)
		settle(rt, w)
		for _, it := range w.items() {
			if !written[it.Title] {
				rt.Fatalf("%s title %q was never written by anybody", it.ID, it.Title)
			}
		}
		// Globex (manual) may have parked titles: a person takes a side.
		for _, c := range w.conflicts() {
			take := rapid.SampledFrom([]string{"canonical", "tracker"}).Draw(rt, "take")
			if _, err := syncer.ResolveConflict(context.Background(), w.st, c.ID, take); err != nil {
				rt.Fatalf("resolve %d: %v", c.ID, err)
			}
		}
		settle(rt, w)
		if cs := w.conflicts(); len(cs) > 0 {
			rt.Fatalf("conflicts left after resolving every one: %+v", cs)
		}
		checkConverged(rt, w)
	})
}

// TestPropertyIsolation creates random items with random clients,
// phases, costs and comments, edits them at random, and checks that no
// client tracker ever holds an item outside its scope, a cost, or an
// internal comment.
func TestPropertyIsolation(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		w := newWorld(t, worldOptions{})
		count := rapid.IntRange(1, 8).Draw(rt, "items")
		var items []backlog.Item
		for i := range count {
			it := backlog.Item{
				ID: "BL-" + strconv.Itoa(i+1), Kind: rapid.SampledFrom(backlog.Kinds).Draw(rt, "kind"),
				Title: "item " + strconv.Itoa(i+1), Status: rapid.SampledFrom(backlog.Statuses).Draw(rt, "status"),
				Phase:   rapid.SampledFrom(backlog.Phases).Draw(rt, "phase"),
				Clients: rapid.SliceOfDistinct(rapid.SampledFrom([]string{"acme", "globex", "initech"}), rapid.ID[string]).Draw(rt, "clients"),
				Estimate: backlog.Estimate{Cost: backlog.Money{
					Amount: "9" + rapid.StringMatching(`[0-9]{3}\.[0-9]{2}`).Draw(rt, "cost"), Currency: "CHF"}},
			}
			for j := range rapid.IntRange(0, 3).Draw(rt, "comments") {
				it.Comments = append(it.Comments, backlog.Comment{
					ID: "c" + strconv.Itoa(j+1), Author: "alice", Body: fmt.Sprintf("note %d of %s", j+1, it.ID),
					Visibility: rapid.SampledFrom([]backlog.Visibility{backlog.VisibilityClient, backlog.VisibilityInternal}).Draw(rt, "visibility"),
				})
			}
			items = append(items, it)
		}
		w.put(items...)
		w.sync()
		// Random later edits: move items between clients and phases.
		for range rapid.IntRange(0, 5).Draw(rt, "edits") {
			id := rapid.SampledFrom(items).Draw(rt, "edited").ID
			w.edit(id, func(it *backlog.Item) {
				it.Clients = rapid.SliceOfDistinct(rapid.SampledFrom([]string{"acme", "globex"}), rapid.ID[string]).Draw(rt, "new clients")
				it.Phase = rapid.SampledFrom(backlog.Phases).Draw(rt, "new phase")
			})
			w.sync()
		}
		byID := map[string]backlog.Item{}
		for _, it := range w.items() {
			byID[it.ID] = it
		}
		for _, name := range []string{"acme", "globex"} {
			for _, r := range w.trackers[name].Records() {
				it := byID[r.Marker]
				text := fmt.Sprint(r.Fields)
				if strings.Contains(text, "CHF") || strings.Contains(text, it.Estimate.Cost.Amount) {
					rt.Fatalf("%s %s carries the private cost: %v", name, r.Marker, r.Fields)
				}
				for _, c := range r.Comments {
					for _, cm := range it.Comments {
						if cm.Internal() && strings.Contains(c.Body, cm.Body) {
							rt.Fatalf("%s %s shows internal comment %s", name, r.Marker, cm.ID)
						}
					}
				}
			}
		}
		checkConverged(rt, w)
	})
}
