package jira

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"

	gojira "github.com/andygrunwald/go-jira"
	"github.com/backlogd/backlogd/connectors"
)

var commentIDRE = regexp.MustCompile(`^[0-9]+$`)

// CreateComment implements connectors.Connector. An internal comment is
// restricted to the role or group of internal_visibility, so only the
// product owner's side of the project sees it.
func (c *Connector) CreateComment(ctx context.Context, recordID string, cm connectors.Comment) (connectors.Comment, error) {
	m, err := c.metadata(ctx)
	if err != nil {
		return connectors.Comment{}, err
	}
	if !issueRefRE.MatchString(recordID) {
		return connectors.Comment{}, fmt.Errorf("jira: comment on %q: not an issue id: %w", recordID, connectors.ErrNotFound)
	}
	body := map[string]any{"body": c.toJira(ctx, m, cm.Body)}
	if body["body"] == nil {
		return connectors.Comment{}, connectors.Terminalf("jira: comment on %s: the comment is empty; Jira refuses empty comments", recordID)
	}
	if cm.Internal {
		kind, name := c.cfg.visibility()
		body["visibility"] = gojira.CommentVisibility{Type: kind, Value: name}
	}
	var out jiraComment
	if err := c.do(ctx, call{op: "comment on " + recordID, method: http.MethodPost, path: issuePath(m, recordID) + "/comment", in: body, out: &out}); err != nil {
		return connectors.Comment{}, err
	}
	got, err := c.comment(ctx, m, &out)
	if err != nil {
		// The comment exists: failing now would have the syncer send it
		// again. Its body is what was sent; the next read renders it.
		got = connectors.Comment{ID: out.ID, Body: cm.Body, Created: parseTime(out.Created), Updated: parseTime(out.Updated), Internal: cm.Internal}
		if out.Author != nil {
			got.Author = c.users.seen(m.cloud, out.Author)
		}
	}
	return got, nil
}

// UpdateComment implements connectors.Connector. Jira replaces a
// comment's visibility on edit, so an edit that omitted it would publish
// an internal comment: the comment is read first and its restriction
// sent again.
func (c *Connector) UpdateComment(ctx context.Context, recordID, commentID, body string) error {
	m, err := c.metadata(ctx)
	if err != nil {
		return err
	}
	if !issueRefRE.MatchString(recordID) || !commentIDRE.MatchString(commentID) {
		return fmt.Errorf("jira: edit comment %q on %q: %w", commentID, recordID, connectors.ErrNotFound)
	}
	path := issuePath(m, recordID) + "/comment/" + url.PathEscape(commentID)
	var cur jiraComment
	if err := c.do(ctx, call{op: "read comment " + commentID + " on " + recordID, method: http.MethodGet, path: path, out: &cur}); err != nil {
		return err
	}
	in := map[string]any{"body": c.toJira(ctx, m, body)}
	if in["body"] == nil {
		return connectors.Terminalf("jira: edit comment %s on %s: the new text is empty; Jira refuses empty comments (delete it instead)", commentID, recordID)
	}
	if cur.Visibility != nil && cur.Visibility.Value != "" {
		in["visibility"] = cur.Visibility
	}
	return c.do(ctx, call{op: "edit comment " + commentID + " on " + recordID, method: http.MethodPut, path: path, in: in})
}

// DeleteComment implements connectors.Connector.
func (c *Connector) DeleteComment(ctx context.Context, recordID, commentID string) error {
	m, err := c.metadata(ctx)
	if err != nil {
		return err
	}
	if !issueRefRE.MatchString(recordID) || !commentIDRE.MatchString(commentID) {
		return fmt.Errorf("jira: delete comment %q on %q: %w", commentID, recordID, connectors.ErrNotFound)
	}
	return c.do(ctx, call{op: "delete comment " + commentID + " on " + recordID, method: http.MethodDelete,
		path: issuePath(m, recordID) + "/comment/" + url.PathEscape(commentID)})
}
