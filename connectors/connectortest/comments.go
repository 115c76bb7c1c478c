package connectortest

import (
	"errors"
	"testing"

	"github.com/backlogd/backlogd/connectors"
)

// findComment returns the comment with id on r.
func findComment(r connectors.Record, id string) (connectors.Comment, bool) {
	for _, cm := range r.Comments {
		if cm.ID == id {
			return cm, true
		}
	}
	return connectors.Comment{}, false
}

func wantUnsupported(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, connectors.ErrUnsupported) {
		t.Errorf("%s where Capabilities say it is not supported: %v; want an error wrapping connectors.ErrUnsupported", what, err)
	}
}

func (s *suite) comments(t *testing.T) {
	c, ctx := s.connect(t)
	rec, _, _ := s.create(t, ctx, c)
	caps := c.Capabilities()
	if !caps.Comments {
		_, err := c.CreateComment(ctx, rec.ID, connectors.Comment{Body: "A comment"})
		wantUnsupported(t, "CreateComment", err)
		return
	}
	first, err := c.CreateComment(ctx, rec.ID, connectors.Comment{Body: "A comment from the conformance suite\nwith a second line."})
	if err != nil {
		t.Fatalf("CreateComment(%s): %v", rec.ID, err)
	}
	if first.ID == "" {
		t.Fatalf("CreateComment returned a comment without an ID: %+v", first)
	}
	second, err := c.CreateComment(ctx, rec.ID, connectors.Comment{Body: "Another comment"})
	if err != nil {
		t.Fatalf("CreateComment(%s), the second: %v", rec.ID, err)
	}
	if second.ID == first.ID {
		t.Fatalf("two comments got the same ID %q", first.ID)
	}
	got := get(t, ctx, c, rec.ID)
	for _, want := range []connectors.Comment{first, second} {
		cm, ok := findComment(got, want.ID)
		switch {
		case !ok:
			t.Errorf("Get does not return comment %s; it returns %+v", want.ID, got.Comments)
		case cm.Body != want.Body:
			t.Errorf("comment %s reads back %q, want %q", want.ID, cm.Body, want.Body)
		case cm.Internal:
			t.Errorf("comment %s was created public and reads back internal", want.ID)
		case cm.Created.IsZero():
			t.Errorf("comment %s has no Created time", want.ID)
		}
	}

	if caps.EditComments {
		body := "An edited comment\nstill with two lines."
		if err := c.UpdateComment(ctx, rec.ID, first.ID, body); err != nil {
			t.Fatalf("UpdateComment(%s, %s): %v", rec.ID, first.ID, err)
		}
		got = get(t, ctx, c, rec.ID)
		if cm, ok := findComment(got, first.ID); !ok || cm.Body != body {
			t.Errorf("after UpdateComment comment %s reads %+v (found %v), want body %q", first.ID, cm, ok, body)
		}
		if cm, ok := findComment(got, second.ID); !ok || cm.Body != second.Body {
			t.Errorf("UpdateComment of %s changed comment %s: %+v (found %v)", first.ID, second.ID, cm, ok)
		}
	} else {
		wantUnsupported(t, "UpdateComment", c.UpdateComment(ctx, rec.ID, first.ID, "edited"))
	}

	if caps.DeleteComments {
		if err := c.DeleteComment(ctx, rec.ID, first.ID); err != nil {
			t.Fatalf("DeleteComment(%s, %s): %v", rec.ID, first.ID, err)
		}
		got = get(t, ctx, c, rec.ID)
		if cm, ok := findComment(got, first.ID); ok {
			t.Errorf("comment %s is still there after DeleteComment: %+v", first.ID, cm)
		}
		if _, ok := findComment(got, second.ID); !ok {
			t.Errorf("DeleteComment of %s also removed comment %s", first.ID, second.ID)
		}
	} else {
		wantUnsupported(t, "DeleteComment", c.DeleteComment(ctx, rec.ID, first.ID))
	}
}

func (s *suite) internalComments(t *testing.T) {
	c, ctx := s.connect(t)
	rec, _, _ := s.create(t, ctx, c)
	caps := c.Capabilities()
	if !caps.Comments {
		t.Skip("the connector has no comments")
	}
	const body = "An internal comment that must never reach a client"
	cm, err := c.CreateComment(ctx, rec.ID, connectors.Comment{Body: body, Internal: true})
	got := get(t, ctx, c, rec.ID)
	if !caps.InternalComments {
		if err == nil {
			t.Errorf("CreateComment of an internal comment succeeded (%+v) although the tracker cannot hide it: it is now public", cm)
		}
		for _, x := range got.Comments {
			if x.Body == body {
				t.Errorf("an internal comment was published on a tracker that cannot hide it: %+v", x)
			}
		}
		return
	}
	if err != nil {
		t.Fatalf("CreateComment(%s) of an internal comment: %v", rec.ID, err)
	}
	if !cm.Internal {
		t.Errorf("CreateComment returned the internal comment as public: %+v", cm)
	}
	if x, ok := findComment(got, cm.ID); !ok || !x.Internal {
		t.Errorf("Get returns the internal comment %s as %+v (found %v), want it internal", cm.ID, x, ok)
	}
}
