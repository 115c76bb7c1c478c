package mapping

import (
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/backlogd/backlogd/backlog"
	"github.com/backlogd/backlogd/connectors"
	"pgregory.net/rapid"
)

// Tests of the shortcuts that keep projection cheap: the layout cache,
// the scope projection and the list decoding fast path. Each must give
// exactly what the long way gives.

func TestLayoutCacheFollowsEdits(t *testing.T) {
	it := sampleItem()
	tests := []struct {
		name string
		edit func(*Client)
	}{
		{"a value map edited in place", func(c *Client) { c.Fields[backlog.FieldStatus][0].Values["in_review"] = "review" }},
		{"a value removed from a map", func(c *Client) { delete(c.Fields[backlog.FieldStatus][0].Values, "done") }},
		{"a field mapped elsewhere", func(c *Client) { c.Fields[backlog.FieldTitle] = []FieldMap{{Field: "summary", Line: 3}} }},
		{"a template changed", func(c *Client) { c.Fields[backlog.FieldPhase][0].Template = "stage:{value}" }},
		{"a field made private", func(c *Client) { c.Private = append(c.Private, backlog.FieldPoints) }},
		{"a field no longer private", func(c *Client) { c.Private = nil }},
		{"a user renamed", func(c *Client) { c.Users["alice"] = "alice-2" }},
		{"a direction changed", func(c *Client) { c.Fields[backlog.FieldTitle][0].Direction = FromTracker }},
	}
	for _, tt := range tests {
		t.Run(tt.name+" is seen by the next call", func(t *testing.T) {
			c := githubClient()
			before := c.ToRecord(c.Project(it), nil)
			tt.edit(c)
			// fresh has the edited content and has never been laid out.
			fresh := githubClient()
			tt.edit(fresh)
			got, want := c.ToRecord(c.Project(it), nil), fresh.ToRecord(fresh.Project(it), nil)
			if !maps.EqualFunc(got, want, slices.Equal) {
				t.Errorf("after the edit ToRecord = %v, want %v (before the edit: %v)", got, want, before)
			}
			rec := connectors.Record{Fields: want}
			gotBack, err1 := c.FromRecord(rec, nil)
			wantBack, err2 := fresh.FromRecord(rec, nil)
			if (err1 == nil) != (err2 == nil) || !gotBack.Equal(wantBack) {
				t.Errorf("after the edit FromRecord = %v, %v, want %v, %v", gotBack, err1, wantBack, err2)
			}
		})
	}
	t.Run("an alias added, or a list edited in place, is seen by the next read", func(t *testing.T) {
		// The kind on labels beside the plain labels: which of them owns
		// a label is worked out from the aliases when the layout is built.
		withKind := func(alias string) *Client {
			c := githubClient()
			c.Fields[backlog.FieldKind] = []FieldMap{{Field: "labels", Line: 13,
				Values: map[string]string{"bug": "bug", "story": "story", "task": "task", "epic": "epic"}}}
			if alias != "" {
				c.Fields[backlog.FieldKind][0].Aliases = map[string][]string{"bug": {alias}}
			}
			return c
		}
		c := withKind("")
		rec := connectors.Record{Fields: c.ToRecord(c.Project(it), nil)}
		rec.Fields["labels"] = append(rec.Fields["labels"], "defect")
		read := func(c *Client) backlog.Fields {
			t.Helper()
			got, err := c.FromRecord(rec, nil)
			if err != nil {
				t.Fatal(err)
			}
			return got
		}
		if got := read(c); got[backlog.FieldKind] != "story" || got[backlog.FieldLabels] != `["defect","ux"]` {
			t.Fatalf("before any alias: kind %s, labels %s", got[backlog.FieldKind], got[backlog.FieldLabels])
		}
		c.Fields[backlog.FieldKind][0].Aliases = map[string][]string{"bug": {"defect"}}
		if got, want := read(c), read(withKind("defect")); !got.Equal(want) {
			t.Errorf("after adding the alias FromRecord = %v, want %v", got, want)
		}
		c.Fields[backlog.FieldKind][0].Aliases["bug"][0] = "fault"
		if got, want := read(c), read(withKind("fault")); !got.Equal(want) {
			t.Errorf("after renaming the alias in place FromRecord = %v, want %v", got, want)
		}
	})
	t.Run("a client never shares value maps with another through the cache", func(t *testing.T) {
		a, b := githubClient(), githubClient()
		wantB := b.ToRecord(b.Project(it), nil)
		a.ToRecord(a.Project(it), nil)
		a.Fields[backlog.FieldStatus][0].Values["in_review"] = "scribbled"
		if got := b.ToRecord(b.Project(it), nil); !maps.EqualFunc(got, wantB, slices.Equal) {
			t.Errorf("editing one client changed another's records: %v, want %v", got, wantB)
		}
	})
	t.Run("concurrent calls agree", func(t *testing.T) {
		c := githubClient()
		want := githubClient().ToRecord(c.Project(it), nil)
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for range 50 {
					if got := c.ToRecord(c.Project(it), nil); !maps.EqualFunc(got, want, slices.Equal) {
						t.Errorf("ToRecord = %v, want %v", got, want)
						return
					}
				}
			})
		}
		wg.Wait()
	})
}

func TestInScopeProjectsWhatTheScopeReads(t *testing.T) {
	items := []backlog.Item{sampleItem(), {}, {Kind: backlog.Bug, Clients: []string{"globex", "acme"}, Phase: backlog.Launch, Labels: []string{"a b", "x"}, Estimate: backlog.Estimate{Points: 3}}}
	for _, src := range []string{
		"all", "clients has acme", "not clients has acme", "kind = bug or phase in [build, launch]",
		"clients has globex and phase in [build, test_feedback]", "labels has \"a b\" and estimate.points = 3",
		"not (kind = story and status = in_review)", "estimate.cost = \"1200.50 EUR\"", "kind != bug",
	} {
		x, err := ParseExpr(src)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		c := &Client{Scope: x}
		for i, it := range items {
			if got, want := c.InScope(it), x.Match(it.Project()); got != want {
				t.Errorf("scope %q, item %d: InScope = %v, matching every field gives %v", src, i, got, want)
			}
		}
	}
	if (&Client{Scope: &Expr{}}).InScope(sampleItem()) {
		t.Error("a zero scope matches an item")
	}
}

func TestDecodeListMatchesDecodeList(t *testing.T) {
	for _, s := range []string{
		"", `["a"]`, `["a","b c"]`, `[""]`, `["",""]`, `[]`, `["a\"b"]`, `["a\\b"]`, `["\u003cb\u003e"]`,
		`["é","日本"]`, `["a" ,"b"]`, `["a","b"`, `["a"b"]`, "[\"a\tb\"]", "[\"\xff\"]", `[1]`, `nope`, `["a","b"]x`,
	} {
		got, gerr := decodeList(s)
		want, werr := backlog.DecodeList(s)
		if (gerr == nil) != (werr == nil) || !slices.Equal(got, want) {
			t.Errorf("decodeList(%q) = %q, %v; DecodeList gives %q, %v", s, got, gerr, want, werr)
		}
	}
	rapid.Check(t, func(t *rapid.T) {
		vs := rapid.SliceOf(rapid.String()).Draw(t, "values")
		for _, f := range []backlog.Field{backlog.FieldLabels, backlog.FieldAcceptance} {
			s := backlog.EncodeList(f, vs)
			got, gerr := decodeList(s)
			want, werr := backlog.DecodeList(s)
			if (gerr == nil) != (werr == nil) || !slices.Equal(got, want) {
				t.Fatalf("decodeList(%q) = %q, %v; DecodeList gives %q, %v", s, got, gerr, want, werr)
			}
		}
	})
}

func TestMarkupWithoutSigilsIsLeftAlone(t *testing.T) {
	// The shortcut skips the token scan of text holding no @ or #; text
	// holding one still goes through it.
	c := githubClient()
	it := sampleItem()
	it.Description = "Plain text, `code`, https://example.com/x and a [link](https://e.com)."
	if got := c.ToRecord(c.Project(it), nil).Get("body"); got != it.Description {
		t.Errorf("body = %q, want the text unchanged", got)
	}
	it.Description = "ask @alice"
	if got := c.ToRecord(c.Project(it), nil).Get("body"); !strings.Contains(got, "@alice-gh") {
		t.Errorf("body = %q, want the mention mapped", got)
	}
}
