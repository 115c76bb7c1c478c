package mapping

import (
	"testing"
	"time"

	"github.com/backlogd/backlogd/backlog"
	"github.com/backlogd/backlogd/connectors"
)

func TestCommentAllowed(t *testing.T) {
	internal := backlog.Comment{Body: "margin is thin", Visibility: backlog.VisibilityInternal}
	client := backlog.Comment{Body: "ready for test", Visibility: backlog.VisibilityClient}
	tests := []struct {
		name     string
		internal bool
		c        backlog.Comment
		want     bool
	}{
		{"a client comment reaches a client tracker", false, client, true},
		{"an internal comment never reaches a client tracker", false, internal, false},
		{"an internal comment reaches the product owner's tracker", true, internal, true},
		{"a comment without visibility counts as internal", false, backlog.Comment{Body: "?"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &Client{InternalComments: tt.internal}
			if got := c.CommentAllowed(tt.c); got != tt.want {
				t.Errorf("CommentAllowed = %v; want %v", got, tt.want)
			}
		})
	}
}

func TestComments(t *testing.T) {
	c := &Client{Users: map[string]string{"alice": "alice-acme", "bob": "bob.acme"}}
	at := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name     string
		body     string
		wantBody string
	}{
		{"a mapped mention notifies the tracker user", "@alice please check", "@alice-acme please check"},
		{"a mention at the end of a sentence keeps its full stop", "thanks @bob.", "thanks @bob.acme."},
		{"an unmapped mention is neutralised", "cc @carol", "cc @\u200bcarol"},
		{"e-mail addresses are not mentions", "mail alice@example.com", "mail alice@example.com"},
		{"text without mentions is unchanged", "looks good", "looks good"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cm := backlog.Comment{ID: "c1", Author: "alice", Body: tt.body, Created: at, Visibility: backlog.VisibilityClient}
			rc := c.ToComment(cm)
			if rc.Body != tt.wantBody || rc.Author != "alice-acme" || rc.Internal || !rc.Created.Equal(at) {
				t.Errorf("ToComment = %+v; want body %q by alice-acme", rc, tt.wantBody)
			}
			back := c.FromComment(rc)
			if back.Body != tt.body || back.Author != "alice" || back.Visibility != backlog.VisibilityClient {
				t.Errorf("FromComment(ToComment(c)) = %+v; want the original body and author", back)
			}
		})
	}
	t.Run("an internal tracker comment reads as internal, its unknown author as is", func(t *testing.T) {
		got := c.FromComment(connectors.Comment{Author: "zed", Body: "hi @alice-acme", Internal: true, Created: at})
		if got.Visibility != backlog.VisibilityInternal || got.Author != "zed" || got.Body != "hi @alice" {
			t.Errorf("FromComment = %+v", got)
		}
	})
}
