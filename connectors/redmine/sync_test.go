package redmine_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/backlogd/backlogd/backlog"
	"github.com/backlogd/backlogd/connectors"
	"github.com/backlogd/backlogd/connectors/redmine"
)

// TestTwoWaySyncWithRedmine runs the syncer with the client of
// configs/examples/clients/redmine.yaml and the product owner's own
// Redmine, against the fake and against a real Redmine.
func TestTwoWaySyncWithRedmine(t *testing.T) {
	eachBackend(t, testTwoWaySync)
}

const z = "\u200b" // what neutralises a mention or a reference

// dueDate is two months ahead: Redmine starts an issue on the day it is
// created and refuses a due date before its start.
var dueDate = time.Now().UTC().AddDate(0, 2, 0).Format(time.DateOnly)

func umbrellaBacklog() []backlog.Item {
	due, _ := backlog.ParseDate(dueDate)
	return []backlog.Item{
		{Kind: backlog.Story, Title: "Patient portal login", Status: backlog.Todo, Phase: backlog.Build, Clients: []string{"umbrella"},
			Description: "Uses the hospital SSO, see #12.\nAsk @alice or @dave.", Priority: backlog.High, Assignee: "alice", Due: due,
			Estimate: backlog.Estimate{Effort: 1.5, Cost: backlog.Money{Amount: "3000", Currency: "EUR"}}},
		{Kind: backlog.Bug, Title: "Lab results load slowly", Status: backlog.InProgress, Phase: backlog.TestFeedback, Clients: []string{"umbrella"},
			Priority: backlog.Highest},
		{Kind: backlog.Task, Title: "Kick-off workshop", Status: backlog.Done, Phase: backlog.Kickoff, Clients: []string{"umbrella"}},
		{Kind: backlog.Story, Title: "Internal tooling", Status: backlog.Todo, Phase: backlog.Build, Clients: []string{"globex"}},
	}
}

// notes lists a record's comments as "author: body", private ones marked.
func notes(r connectors.Record) []string {
	var out []string
	for _, c := range r.Comments {
		s := c.Author + ": " + c.Body
		if c.Internal {
			s = "(private) " + s
		}
		out = append(out, s)
	}
	return out
}

func testTwoWaySync(t *testing.T, b redmine.TestBackend) {
	// Pages of 3 issues, so that listings page even in this small world.
	w := newWorld(t, b, worldOptions{pageSize: 3})
	ids := w.put(umbrellaBacklog()...)
	w.sync()
	login, slow := ids[0], ids[1]

	t.Run("the client's items become issues, with tracker, status, phase, hours and people mapped", func(t *testing.T) {
		r := w.mustIssue(w.clientRead, login)
		want := map[string]string{
			"subject": "Patient portal login", "tracker": "Feature", "status": "New", "Phase": "Build",
			"estimated_hours": "12", "priority": "High", "assigned_to": "alice", "due_date": dueDate,
			"description": "Uses the hospital SSO, see #" + z + "12.\nAsk @alice or @" + z + "dave.",
		}
		for k, v := range want {
			if got := r.Fields.Get(k); got != v {
				t.Errorf("%s = %q, want %q", k, got, v)
			}
		}
		bug := w.mustIssue(w.clientRead, slow)
		if bug.Fields.Get("tracker") != "Bug" || bug.Fields.Get("status") != "In Progress" || bug.Fields.Get("priority") != "Immediate" || bug.Fields.Get("Phase") != "Test & feedback" {
			t.Errorf("bug issue %v", bug.Fields)
		}
		for _, id := range ids[2:] {
			if _, ok := w.issue(w.clientRead, id); ok {
				t.Errorf("%s is out of the client's scope but has an issue", id)
			}
		}
		for _, id := range ids {
			w.mustIssue(w.homeRead, id) // the product owner sees everything
		}
	})

	// updated is every issue's updated_on, to show what a sync touched.
	updated := func() map[string]time.Time {
		out := map[string]time.Time{}
		for _, id := range ids {
			for name, rd := range map[string]*redmine.Connector{"client": w.clientRead, "home": w.homeRead} {
				if r, ok := w.issue(rd, id); ok {
					out[name+" "+id] = r.Updated
				}
			}
		}
		return out
	}
	noWrites := func(t *testing.T, what string) {
		t.Helper()
		before := updated()
		b.Settle() // a PUT now would move updated_on by a second at least
		w.clientN.reset()
		w.homeN.reset()
		w.sync()
		if n, m := w.clientN.get("writes"), w.homeN.get("writes"); n+m != 0 {
			t.Errorf("%s: %d writes to the client's Redmine (%v), %d to the home one (%v); want none", what, n, w.clientN, m, w.homeN)
		}
		if after := updated(); !mapsEqual(before, after) {
			t.Errorf("%s: updated_on moved: %v -> %v", what, before, after)
		}
	}

	t.Run("a second sync sends no PUT and moves no updated_on", func(t *testing.T) {
		noWrites(t, "second sync")
		w.converged()
	})

	t.Run("an edit made in the client's Redmine is pulled, and reaches the home Redmine", func(t *testing.T) {
		b.Settle()
		e := connectors.Fields{}
		e.Set("subject", "Patient portal sign-in")
		e.Set("status", "Feedback")
		w.alice.Edit(t, w.mustIssue(w.clientRead, login).ID, e)
		w.sync()
		it := w.item(login)
		if it.Title != "Patient portal sign-in" || it.Status != backlog.InReview {
			t.Errorf("canonical item %q %s, want the subject and status set in Redmine", it.Title, it.Status)
		}
		if h := w.mustIssue(w.homeRead, login); h.Fields.Get("subject") != "Patient portal sign-in" || h.Fields.Get("status") != "Feedback" {
			t.Errorf("home issue %q %q", h.Fields.Get("subject"), h.Fields.Get("status"))
		}
	})

	t.Run("a canonical edit is pushed with one PUT per Redmine", func(t *testing.T) {
		w.edit(slow, func(it *backlog.Item) { it.Title, it.Estimate.Effort = "Lab results load in 10 s", 2 })
		w.clientN.reset()
		w.homeN.reset()
		w.sync()
		if n, m := w.clientN.get("update_issue"), w.homeN.get("update_issue"); n != 1 || m != 1 {
			t.Errorf("%d PUTs to the client's Redmine, %d to the home one; want one each", n, m)
		}
		for name, rd := range map[string]*redmine.Connector{"client": w.clientRead, "home": w.homeRead} {
			r := w.mustIssue(rd, slow)
			if r.Fields.Get("subject") != "Lab results load in 10 s" || r.Fields.Get("estimated_hours") != "16" {
				t.Errorf("%s issue: subject %q, estimated_hours %q", name, r.Fields.Get("subject"), r.Fields.Get("estimated_hours"))
			}
		}
	})

	t.Run("a canonical edit neither Redmine shows is not written", func(t *testing.T) {
		w.edit(login, func(it *backlog.Item) { it.Labels = append(it.Labels, "portal") })
		noWrites(t, "an unmapped field")
		w.edit(login, func(it *backlog.Item) { it.Priority = backlog.Low })
		w.sync()
		// low and lowest are both Redmine's Low.
		w.edit(login, func(it *backlog.Item) { it.Priority = backlog.Lowest })
		noWrites(t, "a priority that maps to the same Redmine value")
	})

	t.Run("comments travel both ways, internal ones only as private notes of the home Redmine", func(t *testing.T) {
		at := time.Now().UTC().Truncate(time.Second)
		w.edit(login, func(it *backlog.Item) {
			it.Comments = append(it.Comments,
				backlog.Comment{ID: "c1", Author: "alice", Created: at, Body: "Please test on staging, @carol.", Visibility: backlog.VisibilityClient},
				backlog.Comment{ID: "c2", Author: "alice", Created: at, Body: "The hospital pays late; keep the scope tight.", Visibility: backlog.VisibilityInternal})
		})
		w.sync()
		if got := notes(w.mustIssue(w.clientRead, login)); !slices.Equal(got, []string{"admin: Please test on staging, @bob."}) {
			t.Errorf("client notes %q, want the client comment only, its mention mapped", got)
		}
		home := notes(w.mustIssue(w.homeRead, login))
		if !slices.Contains(home, "(private) admin: The hospital pays late; keep the scope tight.") || len(home) != 2 {
			t.Errorf("home notes %q, want both, the internal one private", home)
		}

		b.Settle()
		w.alice.Comment(t, w.mustIssue(w.clientRead, login).ID, "Works on staging.")
		w.aliceHome.CommentPrivately(t, w.mustIssue(w.homeRead, login).ID, "Umbrella may cancel phase 2.")
		w.sync()
		cs := w.item(login).Comments
		var canon []string
		for _, c := range cs {
			canon = append(canon, string(c.Visibility)+" "+c.Author+": "+c.Body)
		}
		for _, want := range []string{"client alice: Works on staging.", "internal alice: Umbrella may cancel phase 2."} {
			if !slices.Contains(canon, want) {
				t.Errorf("canonical comments %q, want %q among them", canon, want)
			}
		}
		if got := notes(w.mustIssue(w.clientRead, login)); len(got) != 2 || slices.ContainsFunc(got, func(s string) bool { return strings.Contains(s, "cancel") }) {
			t.Errorf("client notes %q: the private note reached the client", got)
		}
		if got := notes(w.mustIssue(w.homeRead, login)); !slices.Contains(got, "admin: Works on staging.") {
			t.Errorf("home notes %q, want the client's note", got)
		}
		noWrites(t, "a sync after the comments")
		w.converged()
	})

	t.Run("a status and a priority Redmine has two of read as one canonical value, and are left as set", func(t *testing.T) {
		// The example maps done: [Resolved, Closed] and highest:
		// [Immediate, Urgent]; the bug is highest, in progress.
		b.Settle()
		e := connectors.Fields{}
		e.Set("status", "Closed")
		e.Set("priority", "Urgent")
		w.alice.Edit(t, w.mustIssue(w.clientRead, slow).ID, e)
		w.clientN.reset()
		w.sync()
		if n := w.clientN.get("update_issue"); n != 0 {
			t.Errorf("pulling the edit sent %d PUTs to the client's Redmine; want none", n)
		}
		if it := w.item(slow); it.Status != backlog.Done || it.Priority != backlog.Highest || len(w.parked()) != 0 {
			t.Errorf("canonical status %s, priority %s, parked %q; want done, highest and nothing parked", it.Status, it.Priority, w.parked())
		}
		if r := w.mustIssue(w.clientRead, slow); r.Fields.Get("status") != "Closed" || r.Fields.Get("priority") != "Urgent" {
			t.Errorf("client issue status %q, priority %q; want Closed and Urgent, as set", r.Fields.Get("status"), r.Fields.Get("priority"))
		}
		if h := w.mustIssue(w.homeRead, slow); h.Fields.Get("status") != "Resolved" {
			t.Errorf("home issue status %q; want Resolved, home's done", h.Fields.Get("status"))
		}
		noWrites(t, "a sync after Closed and Urgent were set")

		w.edit(slow, func(it *backlog.Item) { it.Status = backlog.InProgress })
		w.sync()
		if r := w.mustIssue(w.clientRead, slow); r.Fields.Get("status") != "In Progress" || r.Fields.Get("priority") != "Urgent" {
			t.Errorf("client issue status %q, priority %q; want the new In Progress, and Urgent left", r.Fields.Get("status"), r.Fields.Get("priority"))
		}
		w.edit(slow, func(it *backlog.Item) { it.Status = backlog.Done })
		w.sync()
		if r := w.mustIssue(w.clientRead, slow); r.Fields.Get("status") != "Resolved" {
			t.Errorf("client issue status %q; want Resolved, the first value of done", r.Fields.Get("status"))
		}
		noWrites(t, "a sync after the canonical edits")
	})

	t.Run("a status a map leaves out parks the item, naming the value, until it moves on", func(t *testing.T) {
		// The home Redmine's map (world_test.go) lists no Closed.
		b.Settle()
		e := connectors.Fields{}
		e.Set("status", "Closed")
		w.aliceHome.Edit(t, w.mustIssue(w.homeRead, slow).ID, e)
		w.sync()
		parked := w.parkedOn(homeTarget)
		if len(parked) != 1 || !strings.Contains(parked[0], slow) || !strings.Contains(parked[0], `"Closed"`) || !strings.Contains(parked[0], "home.yaml") {
			t.Errorf("parked %q, want %s, naming the value and the client file", parked, slow)
		}
		if it := w.item(slow); it.Status != backlog.Done {
			t.Errorf("canonical status %s changed", it.Status)
		}
		b.Settle()
		e.Set("status", "Rejected")
		w.aliceHome.Edit(t, w.mustIssue(w.homeRead, slow).ID, e)
		w.sync()
		if it := w.item(slow); it.Status != backlog.Cancelled || len(w.parkedOn(homeTarget)) != 0 {
			t.Errorf("canonical status %s, parked %q; want cancelled and nothing parked", it.Status, w.parkedOn(homeTarget))
		}
		if r := w.mustIssue(w.clientRead, slow); r.Fields.Get("status") != "Rejected" {
			t.Errorf("client issue status %q; want Rejected", r.Fields.Get("status"))
		}
	})
	w.converged()
}

func mapsEqual(a, b map[string]time.Time) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !b[k].Equal(v) {
			return false
		}
	}
	return true
}
