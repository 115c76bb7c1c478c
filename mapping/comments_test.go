package mapping

import (
	"testing"
	"time"

	"github.com/backlogd/backlogd/backlog"
	"github.com/backlogd/backlogd/connectors"
	"pgregory.net/rapid"
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

func TestMarkupMentionsAndReferences(t *testing.T) {
	c := &Client{Users: map[string]string{"alice": "alice-gh", "bob": "bobdev"}}
	const z = "\u200b"
	tests := []struct {
		name, canonical, tracker string
	}{
		{"an issue reference is neutralised so it links to no unrelated issue", "fixed with #12", "fixed with #" + z + "12"},
		{"references in a row and at the start of a line are all neutralised", "#1 #2,#3\n(#40)", "#" + z + "1 #" + z + "2,#" + z + "3\n(#" + z + "40)"},
		{"a mapped mention becomes the tracker login, an unmapped one is neutralised", "@alice and @carol", "@alice-gh and @" + z + "carol"},
		{"an HTML entity is not a reference", "5 &#8364; each", "5 &#8364; each"},
		{"a number glued to letters is not a reference", "see #12abc and C#7", "see #12abc and C#7"},
		{"a heading is not a reference", "# 12 steps", "# 12 steps"},
		{"URLs are left alone", "https://shop.example/#12 and https://medium.com/@alice/post and www.x.org/@bob", "https://shop.example/#12 and https://medium.com/@alice/post and www.x.org/@bob"},
		{"link destinations are left alone, link text is not", "[see #3](../docs/#3)", "[see #" + z + "3](../docs/#3)"},
		{"code spans are left alone", "run `git log @alice #1` then ``a`b #2`` #3", "run `git log @alice #1` then ``a`b #2`` #" + z + "3"},
		{"fenced code blocks are left alone", "before #1\n```python\n@decorator\nx = 1 #2\n```\nafter @bob", "before #" + z + "1\n```python\n@decorator\nx = 1 #2\n```\nafter @bobdev"},
		{"paths and e-mail addresses are not mentions", "node_modules/@types and alice@example.com", "node_modules/@types and alice@example.com"},
		{"a sentence ending after a mention keeps its full stop", "ask @bob.", "ask @bobdev."},
		{"text without tokens is unchanged", "plain *Markdown*", "plain *Markdown*"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := c.toText(tt.canonical, nil); got != tt.tracker {
				t.Errorf("to the tracker: %q\nwant %q", got, tt.tracker)
			}
			if back := c.fromText(tt.tracker); back != tt.canonical {
				t.Errorf("back from the tracker: %q\nwant %q", back, tt.canonical)
			}
		})
	}
	t.Run("a comment's references are neutralised too", func(t *testing.T) {
		rc := c.ToComment(backlog.Comment{Author: "bob", Body: "dup of #7, cc @alice", Visibility: backlog.VisibilityClient})
		if rc.Body != "dup of #"+z+"7, cc @alice-gh" || rc.Author != "bobdev" {
			t.Errorf("ToComment = %+v", rc)
		}
		if back := c.FromComment(rc); back.Body != "dup of #7, cc @alice" || back.Author != "bob" {
			t.Errorf("FromComment = %+v", back)
		}
	})
	t.Run("a neutralised tracker login is restored as written, not mapped", func(t *testing.T) {
		// Canonical text that names a tracker login (not a canonical
		// user) comes back as it was.
		if got := c.fromText(c.toText("thanks @alice-gh", nil)); got != "thanks @alice-gh" {
			t.Errorf("round trip = %q", got)
		}
	})
}

func TestMarkupInDescriptions(t *testing.T) {
	c := githubClient()
	const z = "\u200b"
	it := sampleItem()
	it.Description = "Blocked by #12, ask @alice or @dave."
	it.Acceptance = []string{"works like #4"}
	c.Fields[backlog.FieldAcceptance] = []FieldMap{{Field: "checklist", Line: 13}}
	p := c.Project(it)

	t.Run("a new record's body and criteria have references neutralised and users mapped", func(t *testing.T) {
		got := c.ToRecord(p, nil)
		if want := "Blocked by #" + z + "12, ask @alice-gh or @" + z + "dave."; got.Get("body") != want {
			t.Errorf("body = %q, want %q", got.Get("body"), want)
		}
		if want := "works like #" + z + "4"; got.Get("checklist") != want {
			t.Errorf("checklist = %q, want %q", got.Get("checklist"), want)
		}
		back, err := c.FromRecord(connectors.Record{Fields: got}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if back[backlog.FieldDescription] != p[backlog.FieldDescription] || back[backlog.FieldAcceptance] != p[backlog.FieldAcceptance] {
			t.Errorf("read back %q and %q, want %q and %q", back[backlog.FieldDescription], back[backlog.FieldAcceptance], p[backlog.FieldDescription], p[backlog.FieldAcceptance])
		}
	})
	t.Run("what a person typed in the tracker is never rewritten", func(t *testing.T) {
		// A GitHub user writes a real reference and a real mention; read
		// back and rendered again, the body must not change, or the
		// syncer would write it and break the user's link.
		typed := connectors.Fields{"body": {"Same as #12, says @dave and @alice-gh"}}
		rec := c.ToRecord(p, nil)
		rec["body"] = typed["body"]
		canon, err := c.FromRecord(connectors.Record{Fields: rec}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if want := "Same as #12, says @dave and @alice"; canon[backlog.FieldDescription] != want {
			t.Errorf("canonical description = %q, want %q", canon[backlog.FieldDescription], want)
		}
		if again := c.ToRecord(canon, rec); again.Get("body") != typed.Get("body") {
			t.Errorf("rendered again: %q, want the body as the person typed it", again.Get("body"))
		}
		// The same text sent to another tracker, which holds none of it,
		// is neutralised there.
		if other := c.ToRecord(canon, nil); other.Get("body") != "Same as #"+z+"12, says @"+z+"dave and @alice-gh" {
			t.Errorf("for a tracker without the text: %q", other.Get("body"))
		}
	})
	t.Run("a canonical edit keeps the record's own tokens and neutralises new ones", func(t *testing.T) {
		cur := connectors.Fields{"body": {"Same as #12"}}
		edit := p.Clone()
		edit[backlog.FieldDescription] = "Same as #12, and #13"
		if got := c.ToRecord(edit, cur).Get("body"); got != "Same as #12, and #"+z+"13" {
			t.Errorf("body = %q", got)
		}
	})
}

// TestMarkupRoundTrips checks, for random Markdown-ish text, that what
// backlogd sends a tracker reads back as the canonical text, and that it
// holds no live reference and no live mention but of mapped users.
func TestMarkupRoundTrips(t *testing.T) {
	c := &Client{Users: map[string]string{"al": "al-gh", "bo": "bodev"}}
	mapped := map[string]bool{"al-gh": true, "bodev": true}
	rapid.Check(t, func(t *rapid.T) {
		s := rapid.StringMatching("([a-z0-9 .,@#&/`\n-]|al|bo|```|https://|\u00e9){0,40}").Draw(t, "text")
		out := c.toText(s, nil)
		if back := c.fromText(out); back != s {
			t.Fatalf("toText(%q) = %q reads back as %q", s, out, back)
		}
		for _, tk := range scanTokens(out) {
			if !tk.neutral && !(tk.sigil == '@' && mapped[tk.name]) {
				t.Fatalf("toText(%q) = %q holds a live token %q", s, out, tk.text)
			}
		}
	})
}
