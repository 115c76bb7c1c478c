package github

import (
	"context"
	"testing"

	"github.com/backlogd/backlogd/connectors/github/githubfake"
)

func TestRereadingAnUnchangedIssueCostsNoQuota(t *testing.T) {
	ctx := context.Background()
	c, srv := newFake(t, githubfake.Options{})
	p := srv.AddIssue(githubfake.Issue{Title: "Parent"})
	n := srv.AddIssue(githubfake.Issue{Title: "Child"})
	srv.Edit(n, func(is *githubfake.Issue) { is.Parent = p })
	srv.AddComment(n, "carol", "hello")
	if _, err := c.Get(ctx, "2"); err != nil {
		t.Fatal(err)
	}
	srv.ResetStats()
	rec, err := c.Get(ctx, "2")
	if err != nil {
		t.Fatal(err)
	}
	if st := srv.Stats(); st.Counted != 0 || st.NotModified != 3 {
		t.Errorf("re-read: %d counted, %d not modified; want 0 and 3", st.Counted, st.NotModified)
	}
	if rec.Fields.Get("title") != "Child" || rec.Fields.Get("parent") != "1" || len(rec.Comments) != 1 {
		t.Errorf("re-read from the cache gave %+v", rec)
	}
	srv.Edit(n, func(is *githubfake.Issue) { is.Title = "Child, renamed" })
	if rec, err = c.Get(ctx, "2"); err != nil || rec.Fields.Get("title") != "Child, renamed" {
		t.Errorf("after an edit: %q, %v; want the new title", rec.Fields.Get("title"), err)
	}
}
