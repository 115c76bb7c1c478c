package redmine

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"

	"github.com/backlogd/backlogd/connectors"
	"github.com/backlogd/backlogd/connectors/transport"
)

// CreateComment implements connectors.Connector: a note on the issue
// (private_notes for an internal comment). Redmine answers 204 without
// the journal's id, so the issue is read back to find it.
func (c *Connector) CreateComment(ctx context.Context, recordID string, cm connectors.Comment) (connectors.Comment, error) {
	m, err := c.metadata(ctx)
	if err != nil {
		return connectors.Comment{}, err
	}
	if cm.Body == "" {
		return connectors.Comment{}, connectors.Terminalf("redmine: comment on issue #%s: the body is empty and Redmine would store no note", recordID)
	}
	body := map[string]any{"issue": map[string]any{"notes": cm.Body, "private_notes": cm.Internal}}
	// Each PUT with notes adds a note: one whose answer was lost must not
	// be sent again by the transport. The syncer retries later, and links
	// the note the first attempt made by its body instead of adding one.
	if err := c.put(transport.NotIdempotent(ctx), recordID, body); err != nil {
		return connectors.Comment{}, fmt.Errorf("redmine: comment on issue #%s: %w", recordID, err)
	}
	is, err := c.getIssue(ctx, recordID, true)
	if err != nil {
		return connectors.Comment{}, fmt.Errorf("redmine: comment on issue #%s: read it back: %w", recordID, err)
	}
	want := unCRLF(cm.Body)
	for _, j := range slices.Backward(is.Journals) {
		if j.User != nil && j.User.ID == m.me.ID && unCRLF(j.Notes) == want {
			return connectors.Comment{
				ID: strconv.Itoa(j.ID), Author: m.userName(j.User), Body: want,
				Created: j.CreatedOn.UTC(), Updated: j.CreatedOn.UTC(), Internal: j.PrivateNotes,
			}, nil
		}
	}
	return connectors.Comment{}, fmt.Errorf("redmine: comment on issue #%s: the note was sent but is not on the issue", recordID)
}

// UpdateComment implements connectors.Connector with PUT /journals/ID.json
// (Redmine 5.0 and later). The user needs the "Edit notes" permission.
func (c *Connector) UpdateComment(ctx context.Context, recordID, commentID, body string) error {
	if body == "" {
		return c.DeleteComment(ctx, recordID, commentID)
	}
	if err := c.putJournal(ctx, commentID, body); err != nil {
		return fmt.Errorf("redmine: edit note %s of issue #%s: %w", commentID, recordID, err)
	}
	return nil
}

// DeleteComment implements connectors.Connector. Redmine's API has no
// DELETE for journals: emptying the notes deletes a journal that holds
// nothing else, and leaves one that also records field changes without
// its note. Either way the comment is gone.
func (c *Connector) DeleteComment(ctx context.Context, recordID, commentID string) error {
	if err := c.putJournal(ctx, commentID, ""); err != nil {
		return fmt.Errorf("redmine: delete note %s of issue #%s: %w", commentID, recordID, err)
	}
	return nil
}

func (c *Connector) putJournal(ctx context.Context, id, notes string) error {
	if err := checkID(id, "journal"); err != nil {
		return err
	}
	err := c.do(ctx, call{method: http.MethodPut, path: "/journals/" + id + ".json", in: map[string]any{"journal": map[string]any{"notes": notes}}})
	return c.writeErr(err, "journal "+id)
}
