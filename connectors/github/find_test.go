package github

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/backlogd/backlogd/connectors"
	"github.com/backlogd/backlogd/connectors/github/githubfake"
)

func TestFindByMarkerSeesACreateMadeAMomentAgo(t *testing.T) {
	ctx := context.Background()
	// The search index lags a minute behind, as GitHub's does.
	c, srv := newFake(t, githubfake.Options{Now: fixedClock(), SearchLag: time.Minute})

	t.Run("an issue just created by the token's user is found without the search API", func(t *testing.T) {
		f := connectors.Fields{}
		f.Set("title", "Fresh")
		srv.CrashAfterNextCreate()
		if _, err := c.Create(ctx, "BL-7", f); err == nil {
			t.Fatal("the create's answer was lost, yet Create reported success")
		}
		srv.ResetStats()
		rec, err := c.FindByMarker(ctx, "BL-7")
		if err != nil {
			t.Fatal(err)
		}
		if rec.Marker != "BL-7" || rec.Fields.Get("title") != "Fresh" {
			t.Errorf("found %+v", rec)
		}
		if n := srv.Stats().ByClass["search"]; n != 0 {
			t.Errorf("asked the lagging search API %d times", n)
		}
		if n := len(srv.Issues()); n != 1 {
			t.Errorf("%d issues on GitHub after one create whose answer was lost, want 1", n)
		}
	})
	t.Run("an older issue created by someone else is found through search", func(t *testing.T) {
		srv.AddIssue(githubfake.Issue{Title: "Adopted long ago", User: "carol", Body: "Text\n\n<!-- backlogd:id=BL-3 -->"})
		srv.Advance(2 * time.Minute)
		rec, err := c.FindByMarker(ctx, "BL-3")
		if err != nil {
			t.Fatal(err)
		}
		if rec.Fields.Get("title") != "Adopted long ago" {
			t.Errorf("found %+v", rec)
		}
	})
	t.Run("a marker that is only a prefix of another does not match", func(t *testing.T) {
		srv.AddIssue(githubfake.Issue{Title: "Other", User: "carol", Body: "<!-- backlogd:id=BL-30 -->"})
		srv.Advance(2 * time.Minute)
		rec, err := c.FindByMarker(ctx, "BL-3")
		if err != nil || rec.Fields.Get("title") != "Adopted long ago" {
			t.Errorf("found %q, %v; want the issue marked BL-3", rec.Fields.Get("title"), err)
		}
	})
	t.Run("a pull request carrying a marker is not a record", func(t *testing.T) {
		n := srv.AddPullRequest("PR")
		srv.Edit(n, func(is *githubfake.Issue) { is.Body = "<!-- backlogd:id=BL-99 -->"; is.User = "backlogd-bot" })
		srv.Advance(2 * time.Minute)
		if _, err := c.FindByMarker(ctx, "BL-99"); !errors.Is(err, connectors.ErrNotFound) {
			t.Fatalf("err = %v, want ErrNotFound", err)
		}
	})
	t.Run("an unknown marker is not found", func(t *testing.T) {
		if _, err := c.FindByMarker(ctx, "BL-404"); !errors.Is(err, connectors.ErrNotFound) {
			t.Fatalf("err = %v, want ErrNotFound", err)
		}
	})
}

func TestRecordFieldsRoundTrip(t *testing.T) {
	t.Run("on a server that reports parent_issue_url", func(t *testing.T) { testRecordFieldsRoundTrip(t, false) })
	t.Run("on a server without parent_issue_url", func(t *testing.T) { testRecordFieldsRoundTrip(t, true) })
}

func testRecordFieldsRoundTrip(t *testing.T, noParentURL bool) {
	ctx := context.Background()
	c, srv := newFake(t, githubfake.Options{Collaborators: []string{"alice", "bob"}, IssueTypes: []string{"Bug", "Feature"}, NoParentURL: noParentURL})
	srv.AddMilestone("Sprint 1")
	parent := connectors.Fields{}
	parent.Set("title", "Epic")
	p, err := c.Create(ctx, "BL-1", parent)
	if err != nil {
		t.Fatal(err)
	}
	f := connectors.Fields{}
	f.Set("title", "Story")
	f.Set("body", "As a *user*…")
	f.Set("labels", "phase/build", "kind/story")
	f.Set("assignees", "bob", "alice")
	f.Set("milestone", "Sprint 1")
	f.Set("type", "Feature")
	f.Set("parent", p.ID)
	rec, err := c.Create(ctx, "BL-2", f)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"title": {"Story"}, "body": {"As a *user*…"}, "state": {"open"},
		"labels": {"kind/story", "phase/build"}, "assignees": {"alice", "bob"},
		"milestone": {"Sprint 1"}, "type": {"Feature"}, "parent": {p.ID},
	}
	for name, v := range want {
		if got := rec.Fields[name]; len(got) != len(v) || (len(v) > 0 && got[0] != v[0]) || (len(v) > 1 && got[1] != v[1]) {
			t.Errorf("%s = %q, want %q", name, got, v)
		}
	}
	if rec.Key != "#"+rec.ID || rec.Marker != "BL-2" {
		t.Errorf("key %q, marker %q", rec.Key, rec.Marker)
	}

	steps := []struct {
		name  string
		set   map[string][]string
		check map[string]string
	}{
		{"closing as not planned keeps the reason", map[string][]string{"state": {"closed"}, "state_reason": {"not_planned"}},
			map[string]string{"state": "closed", "state_reason": "not_planned"}},
		{"reopening marks the issue reopened", map[string][]string{"state": {"open"}},
			map[string]string{"state": "open", "state_reason": "reopened"}},
		{"clearing milestone, type, parent and labels unsets them", map[string][]string{"milestone": nil, "type": nil, "parent": nil, "labels": nil},
			map[string]string{"milestone": "", "type": "", "parent": "", "labels": ""}},
		{"setting the parent again links the sub-issue", map[string][]string{"parent": {p.ID}},
			map[string]string{"parent": p.ID}},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			up := connectors.Fields{}
			for k, v := range s.set {
				up.Set(k, v...)
			}
			got, err := c.Update(ctx, rec.ID, "", up, "")
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range s.check {
				if got.Fields.Get(k) != v {
					t.Errorf("%s = %q, want %q", k, got.Fields.Get(k), v)
				}
			}
			if got.Fields.Get("title") != "Story" || got.Marker != "BL-2" {
				t.Errorf("untouched fields changed: %+v", got)
			}
		})
	}
	t.Run("comments are created, edited, deleted and read back with the issue", func(t *testing.T) {
		cm, err := c.CreateComment(ctx, rec.ID, connectors.Comment{Body: "First"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.CreateComment(ctx, rec.ID, connectors.Comment{Body: "Second"}); err != nil {
			t.Fatal(err)
		}
		if err := c.UpdateComment(ctx, rec.ID, cm.ID, "First, edited"); err != nil {
			t.Fatal(err)
		}
		got, err := c.Get(ctx, rec.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Comments) != 2 || got.Comments[0].Body != "First, edited" || got.Comments[0].Author != "backlogd-bot" {
			t.Fatalf("comments %+v", got.Comments)
		}
		if err := c.DeleteComment(ctx, rec.ID, cm.ID); err != nil {
			t.Fatal(err)
		}
		if err := c.DeleteComment(ctx, rec.ID, cm.ID); !errors.Is(err, connectors.ErrNotFound) {
			t.Errorf("deleting twice: %v, want ErrNotFound", err)
		}
		got, _ = c.Get(ctx, rec.ID)
		if len(got.Comments) != 1 || got.Comments[0].Body != "Second" {
			t.Errorf("after delete: %+v", got.Comments)
		}
	})
}

func TestFindByMarkerAnswersFromAFullListing(t *testing.T) {
	ctx := context.Background()
	c, srv := newFake(t, githubfake.Options{Now: fixedClock()})
	srv.AddIssue(githubfake.Issue{Title: "Marked by a previous run", User: "carol", Body: "Text\n\n<!-- backlogd:id=BL-1 -->"})
	srv.AddIssue(githubfake.Issue{Title: "Unmarked"})
	title := connectors.Fields{}
	title.Set("title", "New")

	t.Run("before a full listing, GitHub is asked", func(t *testing.T) {
		srv.ResetStats()
		if _, err := c.FindByMarker(ctx, "BL-9"); !errors.Is(err, connectors.ErrNotFound) {
			t.Fatalf("err = %v, want ErrNotFound", err)
		}
		if st := srv.Stats(); st.ByClass["search"] != 1 {
			t.Errorf("%v; want the slow path, with a search", st.ByClass)
		}
	})
	drain(t, c, "")
	t.Run("after it, a marker no issue carries costs one page of recent issues and no search", func(t *testing.T) {
		srv.ResetStats()
		if _, err := c.FindByMarker(ctx, "BL-9"); !errors.Is(err, connectors.ErrNotFound) {
			t.Fatalf("err = %v, want ErrNotFound", err)
		}
		// The recent issues are asked because another replica, or this
		// daemon before a restart, may have created it since the listing.
		if st := srv.Stats(); st.ByClass["search"] != 0 || st.ByClass["list_issues"] != 1 || st.Requests != 1 {
			t.Errorf("%d requests (%v), want one listing of recent issues", st.Requests, st.ByClass)
		}
	})
	t.Run("a listed marker is read back with one issue read", func(t *testing.T) {
		srv.ResetStats()
		rec, err := c.FindByMarker(ctx, "BL-1")
		if err != nil || rec.Fields.Get("title") != "Marked by a previous run" {
			t.Fatalf("found %+v, %v", rec, err)
		}
		if st := srv.Stats(); st.ByClass["search"] != 0 || st.ByClass["list_issues"] != 0 {
			t.Errorf("%v; want no listing and no search", st.ByClass)
		}
	})
	t.Run("an issue this connector created is found", func(t *testing.T) {
		if _, err := c.Create(ctx, "BL-2", title); err != nil {
			t.Fatal(err)
		}
		if rec, err := c.FindByMarker(ctx, "BL-2"); err != nil || rec.Marker != "BL-2" {
			t.Errorf("found %+v, %v", rec, err)
		}
	})
	t.Run("a create whose answer was lost is still found", func(t *testing.T) {
		srv.CrashAfterNextCreate()
		if _, err := c.Create(ctx, "BL-3", title); err == nil {
			t.Fatal("the create's answer was lost, yet Create reported success")
		}
		rec, err := c.FindByMarker(ctx, "BL-3")
		if err != nil || rec.Marker != "BL-3" {
			t.Fatalf("found %+v, %v; a retry would make a duplicate", rec, err)
		}
	})
	t.Run("a refused create leaves nothing to find", func(t *testing.T) {
		bad := title.Clone()
		bad.Set("assignees", "nobody-with-access")
		if _, err := c.Create(ctx, "BL-4", bad); !connectors.IsTerminal(err) {
			t.Fatalf("err = %v, want a terminal 422", err)
		}
		srv.ResetStats()
		if _, err := c.FindByMarker(ctx, "BL-4"); !errors.Is(err, connectors.ErrNotFound) || srv.Stats().ByClass["search"] != 0 {
			t.Errorf("err = %v after %v; want ErrNotFound without a search", err, srv.Stats().ByClass)
		}
	})
	t.Run("a marker a person removed is looked up on GitHub again", func(t *testing.T) {
		srv.Edit(1, func(is *githubfake.Issue) { is.Body = "Text" })
		srv.ResetStats()
		if _, err := c.FindByMarker(ctx, "BL-1"); !errors.Is(err, connectors.ErrNotFound) {
			t.Fatalf("err = %v, want ErrNotFound", err)
		}
		if st := srv.Stats(); st.ByClass["search"] != 1 {
			t.Errorf("%v; want the slow path", st.ByClass)
		}
	})
}

// TestFindByMarkerNeverTrustsAnIndexOfPartOfTheRepository: the syncer asks
// FindByMarker before a create to learn whether a crashed run or another
// replica made it already. An in-memory index may answer yes; a no must
// come from GitHub, or the create is made twice.
func TestFindByMarkerNeverTrustsAnIndexOfPartOfTheRepository(t *testing.T) {
	ctx := context.Background()
	t.Run("after a restart that finished a listing the previous run began", func(t *testing.T) {
		c1, srv := newFake(t, githubfake.Options{Now: fixedClock()}, func(cfg *Config) { cfg.PageSize = 2 })
		// An issue adopted long ago by a previous run, on the first page.
		srv.AddIssue(githubfake.Issue{Title: "Adopted", User: "carol", Body: "Text\n\n<!-- backlogd:id=BL-5 -->"})
		for i := range 4 {
			srv.Advance(time.Second)
			srv.AddIssue(githubfake.Issue{Title: fmt.Sprintf("Other %d", i), User: "carol"})
		}
		p, err := c1.Changes(ctx, "")
		if err != nil || !p.More {
			t.Fatalf("first page: more %v, %v", p.More, err)
		}
		// The daemon restarts: the new process goes on from the stored
		// cursor and never sees the first page.
		c2 := connectFake(t, srv, func(cfg *Config) { cfg.PageSize = 2 })
		drain(t, c2, p.Cursor)
		rec, err := c2.FindByMarker(ctx, "BL-5")
		if err != nil || rec.Fields.Get("title") != "Adopted" {
			t.Fatalf("FindByMarker(BL-5) = %q, %v; the syncer would create a duplicate", rec.Fields.Get("title"), err)
		}
	})
	t.Run("after another replica created the issue since this one's last listing", func(t *testing.T) {
		a, srv := newFake(t, githubfake.Options{Now: fixedClock(), SearchLag: time.Minute})
		srv.AddIssue(githubfake.Issue{Title: "Existing"})
		drain(t, a, "")
		b := connectFake(t, srv)
		f := connectors.Fields{}
		f.Set("title", "Made by replica B")
		made, err := b.Create(ctx, "BL-99", f)
		if err != nil {
			t.Fatal(err)
		}
		rec, err := a.FindByMarker(ctx, "BL-99")
		if err != nil || rec.ID != made.ID {
			t.Fatalf("A.FindByMarker(BL-99) = %q, %v; want B's issue #%s, or A makes a duplicate", rec.ID, err, made.ID)
		}
	})
}
