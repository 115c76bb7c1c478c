package redmine_test

import (
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/backlogd/backlogd/backlog"
	"github.com/backlogd/backlogd/connectors"
	"github.com/backlogd/backlogd/connectors/redmine"
)

// TestMeasureSync prints what syncing the client of the example file
// costs in requests to Redmine, per class, through the syncer (the home
// backlog is a memory tracker, so every request counted is the client
// target's): onboarding a project of 150 issues (adopt: all), projecting
// 150 canonical items, idle cycles, and 5 changes each way.
//
//	BACKLOGD_MEASURE=1 BACKLOGD_REDMINE_URL=... BACKLOGD_REDMINE_API_KEY=... \
//	  go test -run TestMeasureSync -v ./connectors/redmine/
func TestMeasureSync(t *testing.T) {
	if os.Getenv("BACKLOGD_MEASURE") == "" {
		t.Skip("set BACKLOGD_MEASURE=1 to print request counts of the sync scenarios")
	}
	eachBackend(t, func(t *testing.T, b redmine.TestBackend) {
		const n = 150
		report := func(w *world, what string, f func()) {
			t.Helper()
			w.clientN.reset()
			start := time.Now()
			f()
			fmt.Printf("%-4s %-58s %v  %v\n", b.Name(), what, w.clientN, time.Since(start).Round(time.Millisecond))
		}

		// Onboarding: the project holds 150 issues people made.
		w := newWorld(t, b, worldOptions{memoryHome: true})
		for i := range n {
			redmine.AddUnmarked(t, w.clientRead, fmt.Sprintf("Issue %d", i), []string{"Bug", "Feature", "Support"}[i%3])
		}
		b.Settle()
		report(w, fmt.Sprintf("onboarding %d issues (adopt: all)", n), w.sync)
		if got := len(w.items()); got != n {
			t.Fatalf("adopted %d items, want %d", got, n)
		}
		b.Settle()
		report(w, "first full cycle after (its poll lists the markers)", w.sync)
		report(w, "idle poll", func() { idlePoll(w) })
		report(w, "idle full cycle (poll + sweep of every item)", w.sync)
		ids := make([]string, 0, 5)
		for _, it := range w.items()[:5] {
			ids = append(ids, it.ID)
		}
		b.Settle()
		for i, id := range ids {
			e := connectors.Fields{}
			e.Set("subject", "Edited in Redmine "+strconv.Itoa(i))
			w.alice.Edit(t, w.mustIssue(w.clientRead, id).ID, e)
		}
		report(w, "5 issues edited in Redmine, next full cycle", w.sync)
		for _, id := range ids {
			w.edit(id, func(it *backlog.Item) { it.Title += " (edited in the backlog)" })
		}
		report(w, "5 canonical edits, next full cycle", w.sync)
		b.Settle()
		report(w, "full cycle after (its poll lists the pushes)", w.sync)
		report(w, "idle full cycle", w.sync)

		// Projection: 150 canonical items onto an empty project.
		w = newWorld(t, b, worldOptions{memoryHome: true})
		items := make([]backlog.Item, 0, n)
		for i := range n {
			items = append(items, backlog.Item{Kind: backlog.Story, Title: fmt.Sprintf("Story %d", i), Phase: backlog.Build,
				Status: []backlog.Status{backlog.Todo, backlog.InProgress, backlog.Done}[i%3], Clients: []string{"umbrella"},
				Estimate: backlog.Estimate{Effort: float64(i%5) + 0.5}, Priority: backlog.Medium})
		}
		w.put(items...)
		report(w, fmt.Sprintf("projection of %d items (creates)", n), w.sync)
		b.Settle()
		report(w, "first full cycle after (its poll lists the creates)", w.sync)
		report(w, "idle full cycle", w.sync)
	})
}

// idlePoll is the daemon's poll of the client's Redmine when nothing changed.
func idlePoll(w *world) { w.t.Helper(); w.canon().IdlePoll(clientTarget, w.client) }

// TestSyncCostsOnRedmine holds the request goals of issue 7 on the fake
// and a real Redmine: no PUT in a cycle where nothing changed, and one
// PUT per change pushed.
func TestSyncCostsOnRedmine(t *testing.T) {
	eachBackend(t, func(t *testing.T, b redmine.TestBackend) {
		w := newWorld(t, b, worldOptions{memoryHome: true})
		var items []backlog.Item
		for i := range 12 {
			items = append(items, backlog.Item{Kind: backlog.Story, Title: fmt.Sprintf("Story %d", i), Phase: backlog.Build,
				Status: []backlog.Status{backlog.Todo, backlog.InProgress, backlog.Done}[i%3], Clients: []string{"umbrella"}})
		}
		ids := w.put(items...)
		w.sync()
		b.Settle()
		w.sync() // its poll lists the creates
		w.sync() // and this one learns the ETag of the listing's new window
		t.Run("an idle cycle writes nothing and re-reads nothing that did not change", func(t *testing.T) {
			w.clientN.reset()
			w.sync()
			if n := w.clientN.get("writes"); n != 0 {
				t.Errorf("%d writes (%v), want none", n, w.clientN)
			}
			// Every read of the cycle (the listing, one re-read per item)
			// is a conditional GET answered 304.
			if reads, nm := w.clientN.get("requests"), w.clientN.get("304"); nm != reads {
				t.Errorf("%d requests, %d answered 304 (%v); want all", reads, nm, w.clientN)
			}
		})
		t.Run("five canonical edits make five PUTs", func(t *testing.T) {
			for _, id := range ids[:5] {
				w.edit(id, func(it *backlog.Item) { it.Title += " (edited)" })
			}
			w.clientN.reset()
			w.sync()
			if n := w.clientN.get("update_issue"); n != 5 || w.clientN.get("writes") != 5 {
				t.Errorf("%v; want 5 PUTs and no other write", w.clientN)
			}
		})
	})
}
