package github

import (
	"context"
	"testing"

	"github.com/backlogd/backlogd/connectors/github/githubfake"
)

func TestRereadingAnUnchangedIssueCostsNoQuota(t *testing.T) {
	tests := []struct {
		name string
		opts githubfake.Options
		// requests of a re-read of a sub-issue with a comment, all 304
		want int
	}{
		{"the issue's parent_issue_url names its parent: issue and comments are re-read", githubfake.Options{}, 2},
		{"a server without parent_issue_url is asked for the parent as well", githubfake.Options{NoParentURL: true}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			c, srv := newFake(t, tt.opts)
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
			if st := srv.Stats(); st.Counted != 0 || st.NotModified != tt.want {
				t.Errorf("re-read: %d counted, %d not modified; want 0 and %d", st.Counted, st.NotModified, tt.want)
			}
			if rec.Fields.Get("title") != "Child" || rec.Fields.Get("parent") != "1" || len(rec.Comments) != 1 {
				t.Errorf("re-read from the cache gave %+v", rec)
			}
			srv.Edit(n, func(is *githubfake.Issue) { is.Title = "Child, renamed" })
			if rec, err = c.Get(ctx, "2"); err != nil || rec.Fields.Get("title") != "Child, renamed" {
				t.Errorf("after an edit: %q, %v; want the new title", rec.Fields.Get("title"), err)
			}
		})
	}
}

func TestReadingAnIssueWithoutParentOrCommentsIsOneRequest(t *testing.T) {
	ctx := context.Background()
	c, srv := newFake(t, githubfake.Options{})
	srv.AddIssue(githubfake.Issue{Title: "Alone"})
	rec, err := c.Get(ctx, "1")
	if err != nil {
		t.Fatal(err)
	}
	if st := srv.Stats(); st.Requests != 1 || st.ByClass["get_issue"] != 1 {
		t.Errorf("first read: %d requests (%v); want one issue read, no parent lookup", st.Requests, st.ByClass)
	}
	if rec.Fields.Get("parent") != "" || len(rec.Comments) != 0 {
		t.Errorf("read %+v", rec)
	}
	srv.ResetStats()
	if _, err := c.Get(ctx, "1"); err != nil {
		t.Fatal(err)
	}
	// Before parent_issue_url, GET .../parent answered this issue 404,
	// which has no ETag and cost one request of quota on every re-read.
	if st := srv.Stats(); st.Counted != 0 || st.Requests != 1 {
		t.Errorf("re-read: %d requests, %d counted; want 1 request answered 304", st.Requests, st.Counted)
	}
}
