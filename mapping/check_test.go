package mapping

import (
	"strings"
	"testing"

	"github.com/backlogd/backlogd/backlog"
	"github.com/backlogd/backlogd/connectors"
)

func TestCheck(t *testing.T) {
	caps := connectors.Capabilities{Fields: []connectors.FieldSpec{
		{Name: "title"}, {Name: "body"}, {Name: "state", Values: []string{"open", "closed"}},
		{Name: "labels", Multi: true}, {Name: "Story Points"}, {Name: "assignees", Multi: true},
		{Name: "created", ReadOnly: true},
	}}
	tests := []struct {
		name string
		edit func(*Client)
		want []string
	}{
		{name: "a mapping the tracker supports passes", edit: func(*Client) {}},
		{
			name: "internal comments for a tracker that cannot hide them",
			edit: func(c *Client) { c.InternalComments, c.internalLine = true, 7 },
			want: []string{"clients/acme.yaml:7: internal_comments: true, but target acme-github cannot keep comments from the client's view; set internal_comments: false (internal comments then stay home)"},
		},
		{
			name: "a native field the tracker lacks",
			edit: func(c *Client) { c.Fields[backlog.FieldDue] = []FieldMap{{Field: "due_on", Line: 20}} },
			want: []string{`clients/acme.yaml:20: fields.due: target acme-github has no field "due_on"; use one of title, body, state, labels, Story Points, assignees, created`},
		},
		{
			name: "pushing into a read-only field",
			edit: func(c *Client) { c.Fields[backlog.FieldDue] = []FieldMap{{Field: "created", Line: 21}} },
			want: []string{"clients/acme.yaml:21: fields.due: \"created\" is read-only in target acme-github; add `direction: from-tracker` or map another field"},
		},
		{
			name: "reading a read-only field is fine",
			edit: func(c *Client) {
				c.Fields[backlog.FieldDue] = []FieldMap{{Field: "created", Line: 21, Direction: FromTracker}}
			},
		},
		{
			name: "a status the tracker does not accept, including one passed through",
			edit: func(c *Client) { delete(c.Fields[backlog.FieldStatus][0].Values, "cancelled") },
			want: []string{`clients/acme.yaml:5: fields.status: target acme-github does not accept "cancelled" in "state"; map it to one of open, closed`},
		},
		{
			name: "a tracker value listed after the first that the tracker does not have",
			edit: func(c *Client) {
				c.Fields[backlog.FieldStatus][0].Aliases = map[string][]string{"done": {"resolved"}, "todo": {"closed"}}
			},
			want: []string{`clients/acme.yaml:5: fields.status: target acme-github does not accept "resolved" in "state"; map it to one of open, closed`},
		},
		{
			name: "a list into a single-valued field",
			edit: func(c *Client) { c.Fields[backlog.FieldTeams] = []FieldMap{{Field: "body", Line: 8}} },
			want: []string{`clients/acme.yaml:8: fields.teams: "body" holds a single value in target acme-github but the mapping puts several values in it; map it to a multi-valued field such as labels`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := githubClient()
			tt.edit(c)
			err := c.Check(caps)
			var got []string
			if err != nil {
				got = strings.Split(err.Error(), "\n")
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("Check\n got %q\nwant %q", got, tt.want)
			}
		})
	}
	t.Run("a tracker that declares no fields accepts any name", func(t *testing.T) {
		if err := githubClient().Check(connectors.Capabilities{}); err != nil {
			t.Error(err)
		}
	})
}
