package github

import (
	"context"
	"slices"
	"testing"

	"github.com/backlogd/backlogd/connectors"
	"github.com/backlogd/backlogd/connectors/github/githubfake"
)

func TestMarkerRoundTripsThroughTheBody(t *testing.T) {
	tests := []struct {
		name, text, id string
	}{
		{"a plain body keeps its text", "Steps to reproduce", "BL-42"},
		{"an empty body holds only the marker", "", "BL-1"},
		{"a body ending in newlines keeps them", "list:\n- a\n\n", "BL-7"},
		{"a body with CRLF line ends keeps them", "line one\r\nline two", "acme.BL-3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text, id := parseBody(appendMarker(tt.text, tt.id))
			if text != tt.text || id != tt.id {
				t.Errorf("parseBody(appendMarker(%q, %q)) = %q, %q", tt.text, tt.id, text, id)
			}
		})
	}
	reads := []struct {
		name, body, text, id string
	}{
		{"the web UI's CRLF before the marker is removed with it", "Hello\r\n\r\n<!-- backlogd:id=BL-9 -->", "Hello", "BL-9"},
		{"a marker a user moved to the top is found and removed", "<!-- backlogd:id=BL-9 -->\n\nHello", "\n\nHello", "BL-9"},
		{"a body without a marker has none", "Hello <!-- a comment -->", "Hello <!-- a comment -->", ""},
		{"a marker-like comment with spaces in the id is not a marker", "<!-- backlogd:id=BL 9 -->", "<!-- backlogd:id=BL 9 -->", ""},
	}
	for _, tt := range reads {
		t.Run(tt.name, func(t *testing.T) {
			text, id := parseBody(tt.body)
			if text != tt.text || id != tt.id {
				t.Errorf("parseBody(%q) = %q, %q; want %q, %q", tt.body, text, id, tt.text, tt.id)
			}
		})
	}
}

func TestMarkerIsRepairedOnTheNextWriteOfTheBody(t *testing.T) {
	ctx := context.Background()
	c, srv := newFake(t, githubfake.Options{})
	f := connectors.Fields{}
	f.Set("title", "Checkout breaks")
	f.Set("body", "Original text")
	rec, err := c.Create(ctx, "BL-42", f)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := srv.Issue(1); got.Body != "Original text\n\n<!-- backlogd:id=BL-42 -->" {
		t.Fatalf("created body %q does not end with the marker", got.Body)
	}
	// A user rewrites the description and drops the hidden comment.
	srv.Edit(1, func(is *githubfake.Issue) { is.Body = "Rewritten by hand" })
	read, err := c.Get(ctx, rec.ID)
	if err != nil {
		t.Fatal(err)
	}
	if read.Marker != "" || read.Fields.Get("body") != "Rewritten by hand" {
		t.Fatalf("after the user's edit: marker %q, body %q; want no marker and the user's text", read.Marker, read.Fields.Get("body"))
	}
	up := connectors.Fields{}
	up.Set("body", "Rewritten, then synced")
	after, err := c.Update(ctx, rec.ID, read.Version, up, "")
	if err != nil {
		t.Fatal(err)
	}
	if after.Marker != "BL-42" || after.Fields.Get("body") != "Rewritten, then synced" {
		t.Errorf("after the write: marker %q, body %q; want BL-42 back and the marker hidden", after.Marker, after.Fields.Get("body"))
	}

	t.Run("a connector that never saw the marker cannot invent it, and an Update with the marker repairs it", func(t *testing.T) {
		fresh, err := New(c.cfg)
		if err != nil {
			t.Fatal(err)
		}
		srv.Edit(1, func(is *githubfake.Issue) { is.Body = "Lost again" })
		got, err := fresh.Update(ctx, rec.ID, "", up, "")
		if err != nil {
			t.Fatal(err)
		}
		if got.Marker != "" {
			t.Fatalf("marker %q appeared from nowhere", got.Marker)
		}
		if _, err := fresh.Update(ctx, rec.ID, "", nil, "BL-42"); err != nil {
			t.Fatal(err)
		}
		got, err = fresh.Get(ctx, rec.ID)
		if err != nil || got.Marker != "BL-42" || got.Fields.Get("body") != "Rewritten, then synced" {
			t.Fatalf("after Update with the marker: %+v, %v", got, err)
		}
	})
	t.Run("writing other fields leaves the body and its marker alone", func(t *testing.T) {
		before, _ := srv.Issue(1)
		up := connectors.Fields{}
		up.Set("labels", "bug")
		if _, err := c.Update(ctx, rec.ID, "", up, ""); err != nil {
			t.Fatal(err)
		}
		if after, _ := srv.Issue(1); after.Body != before.Body {
			t.Errorf("body changed from %q to %q", before.Body, after.Body)
		}
	})
}

// Adopting an issue writes the marker into its body; when the syncer
// pushes missing defaults at the same time, both must go in one PATCH
// (GitHub counts every PATCH against 80 content writes a minute).
func TestAMarkerToWriteGoesInThePatchOfTheFields(t *testing.T) {
	ctx := context.Background()
	c, srv := newFake(t, githubfake.Options{})
	n := srv.AddIssue(githubfake.Issue{Title: "Filed by a person", Body: "Seen on staging.", Labels: []string{"type/bug"}, User: "acme-qa"})
	rec, err := c.Get(ctx, "1")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		fields connectors.Fields
		marker string
		body   string
	}{
		{"labels and the marker: the body is written back with it", connectors.Fields{"labels": {"status/todo", "type/bug"}}, "BL-7",
			"Seen on staging.\n\n<!-- backlogd:id=BL-7 -->"},
		{"a new body and the marker", connectors.Fields{"body": {"Seen on staging and production."}}, "BL-8",
			"Seen on staging and production.\n\n<!-- backlogd:id=BL-8 -->"},
		{"the marker alone", nil, "BL-9", "Seen on staging and production.\n\n<!-- backlogd:id=BL-9 -->"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv.ResetStats()
			got, err := c.Update(ctx, rec.ID, "", tt.fields, tt.marker)
			if err != nil {
				t.Fatal(err)
			}
			if st := srv.Stats(); st.ByClass["update_issue"] != 1 {
				t.Errorf("%d PATCHes (%v), want 1", st.ByClass["update_issue"], st.ByClass)
			}
			is, _ := srv.Issue(n)
			if is.Body != tt.body || got.Marker != tt.marker {
				t.Errorf("body %q, marker read back %q; want %q and %s", is.Body, got.Marker, tt.body, tt.marker)
			}
			if want := tt.fields["labels"]; want != nil && !slices.Equal(got.Fields["labels"], want) {
				t.Errorf("labels %q, want %q", got.Fields["labels"], want)
			}
		})
	}
	t.Run("the marker the issue already carries writes nothing", func(t *testing.T) {
		srv.ResetStats()
		if _, err := c.Update(ctx, rec.ID, "", nil, "BL-9"); err != nil {
			t.Fatal(err)
		}
		if patches := srv.Stats().ByClass["update_issue"]; patches != 0 {
			t.Errorf("%d PATCHes, want none", patches)
		}
	})
}
