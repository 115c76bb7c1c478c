package syncer

import (
	"context"
	"errors"
	"fmt"

	"github.com/backlogd/backlogd/backlog"
	"github.com/backlogd/backlogd/connectors"
	"github.com/backlogd/backlogd/syncer/store"
)

// Comments are merged by identity rather than field by field: each link
// ties a canonical comment to a tracker comment with the body both agreed
// on. A new tracker comment is pulled; a new allowed canonical comment is
// pushed; an edit flows from the side that changed; a deletion flows both
// ways. An internal comment is never pushed to a client that may not see
// it, and if a comment becomes internal after it was sent, it is deleted
// from the client's tracker.

type commentOpKind int

const (
	commentCreate commentOpKind = iota
	commentUpdate
	commentDelete
)

type commentOp struct {
	kind    commentOpKind
	comment backlog.Comment
	link    store.CommentLink
}

// mergeComments pulls tracker-side comment changes into item and returns
// whether it changed, with the comment links as they stand after the pull.
func (s *Syncer) mergeComments(_ context.Context, t *target, item *backlog.Item, rec connectors.Record, links []store.CommentLink) (bool, []store.CommentLink) {
	if !t.caps.Comments || rec.Comments == nil {
		return false, links
	}
	c := t.client
	remote := make(map[string]connectors.Comment, len(rec.Comments))
	for _, r := range rec.Comments {
		remote[r.ID] = r
	}
	index := func(id string) int {
		for i := range item.Comments {
			if item.Comments[i].ID == id {
				return i
			}
		}
		return -1
	}
	pulled := false
	seen := map[string]bool{}
	var out []store.CommentLink
	for _, l := range links {
		r, rok := remote[l.RemoteID]
		i := index(l.CommentID)
		seen[l.RemoteID] = true
		switch {
		case !rok && i >= 0 && !item.Comments[i].Deleted:
			// Deleted in the tracker: delete it canonically too.
			item.Comments[i].Deleted = true
			pulled = true
			continue
		case !rok:
			continue
		case i >= 0 && !item.Comments[i].Deleted && c.CommentAllowed(item.Comments[i]):
			body := c.FromComment(r).Body
			if body != l.Base && item.Comments[i].Body == l.Base {
				item.Comments[i].Body = body
				l.Base = body
				pulled = true
			}
		}
		out = append(out, l)
	}
	linked := map[string]bool{}
	for _, l := range out {
		linked[l.CommentID] = true
	}
	for _, r := range rec.Comments {
		if seen[r.ID] {
			continue
		}
		in := c.FromComment(r)
		// An unlinked tracker comment may be one we created just before a
		// crash, or one pulled by a reconcile that failed before it stored
		// the comment links: adopt the matching canonical comment instead
		// of pulling a copy of it. The match is in canonical text, as
		// Verify compares: the native body of a canonical comment is not
		// what the client typed when it holds a mention or a reference the
		// mapping neutralises (#12, @dave), while reading the tracker's
		// body back gives the canonical one either way.
		match := -1
		for i, cm := range item.Comments {
			if !linked[cm.ID] && !cm.Deleted && c.CommentAllowed(cm) && in.Body == cm.Body {
				match = i
				break
			}
		}
		if match >= 0 {
			linked[item.Comments[match].ID] = true
			out = append(out, store.CommentLink{CommentID: item.Comments[match].ID, RemoteID: r.ID, Base: item.Comments[match].Body})
			continue
		}
		in.ID = item.NextCommentID()
		if in.Created.IsZero() {
			in.Created = s.now()
		}
		item.Comments = append(item.Comments, in)
		linked[in.ID] = true
		out = append(out, store.CommentLink{CommentID: in.ID, RemoteID: r.ID, Base: in.Body})
		pulled = true
	}
	return pulled, out
}

// planComments lists the comment writes the tracker needs.
func (s *Syncer) planComments(t *target, item backlog.Item, rec connectors.Record, links []store.CommentLink) []commentOp {
	if !t.caps.Comments || rec.Comments == nil {
		return nil
	}
	byComment := map[string]store.CommentLink{}
	for _, l := range links {
		byComment[l.CommentID] = l
	}
	var ops []commentOp
	for _, cm := range item.Comments {
		allowed := !cm.Deleted && t.client.CommentAllowed(cm)
		l, linked := byComment[cm.ID]
		switch {
		case allowed && !linked:
			ops = append(ops, commentOp{kind: commentCreate, comment: cm})
		case linked && !allowed && t.caps.DeleteComments:
			ops = append(ops, commentOp{kind: commentDelete, comment: cm, link: l})
		case linked && allowed && cm.Body != l.Base && t.caps.EditComments:
			ops = append(ops, commentOp{kind: commentUpdate, comment: cm, link: l})
		}
	}
	return ops
}

// applyComments performs the planned comment writes and returns the
// links updated with each one that succeeded.
func (s *Syncer) applyComments(ctx context.Context, t *target, recordID string, ops []commentOp, links []store.CommentLink) ([]store.CommentLink, error) {
	for _, op := range ops {
		switch op.kind {
		case commentCreate:
			rc, err := t.conn.CreateComment(ctx, recordID, t.client.ToComment(op.comment))
			if err = t.wrote(err); err != nil {
				return links, fmt.Errorf("comment %s on %s: %w", op.comment.ID, t.name, err)
			}
			links = append(links, store.CommentLink{CommentID: op.comment.ID, RemoteID: rc.ID, Base: op.comment.Body})
		case commentUpdate:
			err := t.wrote(t.conn.UpdateComment(ctx, recordID, op.link.RemoteID, t.client.ToComment(op.comment).Body))
			if err != nil && !errors.Is(err, connectors.ErrNotFound) {
				return links, fmt.Errorf("edit comment %s on %s: %w", op.comment.ID, t.name, err)
			}
			for i := range links {
				if links[i].CommentID == op.comment.ID {
					links[i].Base = op.comment.Body
				}
			}
		case commentDelete:
			err := t.wrote(t.conn.DeleteComment(ctx, recordID, op.link.RemoteID))
			if err != nil && !errors.Is(err, connectors.ErrNotFound) {
				return links, fmt.Errorf("delete comment %s on %s: %w", op.comment.ID, t.name, err)
			}
			kept := links[:0]
			for _, l := range links {
				if l.CommentID != op.comment.ID {
					kept = append(kept, l)
				}
			}
			links = kept
		}
	}
	return links, nil
}
