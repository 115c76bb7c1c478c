package jira

import (
	"context"
	"errors"
	"testing"

	"github.com/backlogd/backlogd/connectors"
	"github.com/backlogd/backlogd/connectors/jira/jirafake"
)

func TestCommentVisibility(t *testing.T) {
	ctx := context.Background()
	flavors(t, func(t *testing.T, fl jirafake.Flavor) {
		c, srv := newFake(t, jirafake.Options{Flavor: fl})
		r, _ := c.Create(ctx, "BL-1", fields(FieldSummary, "x"))
		t.Run("an internal comment is restricted to the configured role", func(t *testing.T) {
			cm, err := c.CreateComment(ctx, r.ID, connectors.Comment{Body: "cost is 3 days", Internal: true})
			if err != nil || !cm.Internal {
				t.Fatalf("got %+v, %v", cm, err)
			}
			is, _ := srv.Issue(r.ID)
			if v := is.Comments[0].Visibility; v == nil || v.Type != "role" || v.Value != "Administrators" {
				t.Errorf("stored visibility %+v", v)
			}
		})
		t.Run("editing an internal comment keeps it internal", func(t *testing.T) {
			is, _ := srv.Issue(r.ID)
			id := itoa(is.Comments[0].ID)
			if err := c.UpdateComment(ctx, r.ID, id, "cost is 4 days"); err != nil {
				t.Fatal(err)
			}
			got, _ := c.Get(ctx, r.ID)
			if len(got.Comments) != 1 || !got.Comments[0].Internal || got.Comments[0].Body != "cost is 4 days" {
				t.Errorf("after the edit: %+v", got.Comments)
			}
		})
		t.Run("a comment restricted in Jira, to a group, reads as internal", func(t *testing.T) {
			srv.AddComment(r.ID, srv.UserID(jirafake.Alice), jiraBody(srv, "for admins"), &jirafake.Visibility{Type: "group", Value: "jira-administrators"})
			got, _ := c.Get(ctx, r.ID)
			last := got.Comments[len(got.Comments)-1]
			if !last.Internal || last.Body != "for admins" || last.Author == "" {
				t.Errorf("read %+v", last)
			}
		})
		t.Run("a deleted comment or issue is not found", func(t *testing.T) {
			if err := c.DeleteComment(ctx, r.ID, "999999"); !errors.Is(err, connectors.ErrNotFound) {
				t.Errorf("delete: %v", err)
			}
			if err := c.UpdateComment(ctx, r.ID, "not-an-id", "x"); !errors.Is(err, connectors.ErrNotFound) {
				t.Errorf("edit: %v", err)
			}
		})
		t.Run("an empty comment is refused before Jira sees it", func(t *testing.T) {
			if _, err := c.CreateComment(ctx, r.ID, connectors.Comment{Body: " \n"}); !connectors.IsTerminal(err) {
				t.Errorf("got %v", err)
			}
		})
	})
	t.Run("more comments than Jira embeds are paged in", func(t *testing.T) {
		c, srv := newFake(t, jirafake.Options{Flavor: jirafake.DataCenter})
		key := srv.AddIssue(jirafake.Issue{Summary: "busy"})
		for i := range 120 {
			srv.AddComment(key, "bob", []byte(`"comment `+itoa(i)+`"`), nil)
		}
		got, err := c.Get(ctx, key)
		if err != nil || len(got.Comments) != 120 || got.Comments[119].Body != "comment 119" {
			t.Errorf("%d comments, %v", len(got.Comments), err)
		}
	})
	t.Run("a bad visibility setting is Jira's 400, terminal", func(t *testing.T) {
		c, _ := newFake(t, jirafake.Options{Flavor: jirafake.Cloud}, func(cfg *Config) { cfg.InternalVisibility = "role:Nobody" })
		r, _ := c.Create(ctx, "BL-1", fields(FieldSummary, "x"))
		if _, err := c.CreateComment(ctx, r.ID, connectors.Comment{Body: "x", Internal: true}); !connectors.IsTerminal(err) {
			t.Errorf("got %v", err)
		}
	})
}

func itoa(n int) string {
	const digits = "0123456789"
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{digits[n%10]}, b...)
	}
	return string(b)
}
