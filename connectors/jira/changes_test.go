package jira

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/backlogd/backlogd/connectors"
	"github.com/backlogd/backlogd/connectors/connectortest"
	"github.com/backlogd/backlogd/connectors/jira/jirafake"
)

// fixedClock is a fake clock base: 09:30:20 UTC is 10:30 in Paris, the
// fake user's zone.
func fixedClock() func() time.Time {
	at := time.Date(2026, 3, 2, 9, 30, 20, 0, time.UTC)
	return func() time.Time { return at }
}

func TestChangesQueriesInTheUsersTimeZone(t *testing.T) {
	flavors(t, func(t *testing.T, fl jirafake.Flavor) {
		c, srv := newFake(t, jirafake.Options{Flavor: fl, Now: fixedClock()})
		srv.AddIssue(jirafake.Issue{Summary: "x"})
		_, cursor := drain(t, c, "")
		drain(t, c, cursor)
		qs := srv.Queries()
		// 10:30 Paris, one minute of overlap: from 10:29.
		want := `project = "ACME" AND updated >= "2026-03-02 10:29" ORDER BY updated ASC, key ASC`
		if qs[len(qs)-1] != want {
			t.Errorf("JQL %q, want %q", qs[len(qs)-1], want)
		}
	})
	t.Run("time_zone overrides the user's", func(t *testing.T) {
		c, srv := newFake(t, jirafake.Options{Flavor: jirafake.Cloud, Now: fixedClock()}, func(cfg *Config) { cfg.TimeZone = "America/New_York" })
		srv.AddIssue(jirafake.Issue{Summary: "x"})
		_, cursor := drain(t, c, "")
		drain(t, c, cursor)
		if qs := srv.Queries(); !strings.Contains(qs[len(qs)-1], `"2026-03-02 04:29"`) {
			t.Errorf("JQL %q", qs[len(qs)-1])
		}
	})
}

func TestChanges(t *testing.T) {
	ctx := context.Background()
	flavors(t, func(t *testing.T, fl jirafake.Flavor) {
		t.Run("two edits within one minute are both listed, each once", func(t *testing.T) {
			c, srv := newFake(t, jirafake.Options{Flavor: fl, Now: fixedClock()})
			key := srv.AddIssue(jirafake.Issue{Summary: "x"})
			_, cursor := drain(t, c, "")
			srv.Advance(time.Second)
			srv.Edit(key, func(is *jirafake.Issue) { is.Summary = "one" })
			ids, cursor := drain(t, c, cursor)
			srv.Advance(time.Second)
			srv.Edit(key, func(is *jirafake.Issue) { is.Summary = "two" })
			ids2, cursor := drain(t, c, cursor)
			idle, _ := drain(t, c, cursor)
			if len(ids) != 1 || len(ids2) != 1 || len(idle) != 0 {
				t.Errorf("first edit %v, second %v, idle %v", ids, ids2, idle)
			}
		})
		t.Run("a write the index shows late is listed once it shows", func(t *testing.T) {
			c, srv := newFake(t, jirafake.Options{Flavor: fl, IndexLag: 2})
			key := srv.AddIssue(jirafake.Issue{Summary: "x"})
			srv.AddIssue(jirafake.Issue{Summary: "y"})
			var cursor string
			for range 3 {
				_, cursor = drain(t, c, cursor)
			}
			srv.Edit(key, func(is *jirafake.Issue) { is.Summary = "late" })
			var got []string
			for range 4 {
				var ids []string
				ids, cursor = drain(t, c, cursor)
				got = append(got, ids...)
			}
			if len(got) != 1 {
				t.Fatalf("listed %v; want the edited issue once", got)
			}
			if r, _ := c.Get(ctx, got[0]); r.Fields.Get(FieldSummary) != "late" {
				t.Errorf("listed %+v", r)
			}
		})
		t.Run("an issue moved to another project leaves the listing and reads as gone", func(t *testing.T) {
			c, srv := newFake(t, jirafake.Options{Flavor: fl})
			key := srv.AddIssue(jirafake.Issue{Summary: "x"})
			ids, cursor := drain(t, c, "")
			srv.Edit(key, func(is *jirafake.Issue) { is.Key = "OTHER-1" })
			if again, _ := drain(t, c, cursor); len(again) != 0 {
				t.Errorf("listed %v", again)
			}
			if _, err := c.Get(ctx, ids[0]); !errors.Is(err, connectors.ErrNotFound) {
				t.Errorf("Get of a moved issue: %v", err)
			}
		})
		t.Run("an import in one minute pages on instead of asking again", func(t *testing.T) {
			c, srv := newFake(t, jirafake.Options{Flavor: fl, Now: fixedClock()}, func(cfg *Config) { cfg.PageSize = 10 })
			for range 25 {
				srv.AddIssue(jirafake.Issue{Summary: "x"})
			}
			ids, _ := drain(t, c, "")
			if len(ids) != 25 || len(srv.Queries()) != 3 {
				t.Errorf("%d issues in %d searches", len(ids), len(srv.Queries()))
			}
			slices.Sort(ids)
			if len(slices.Compact(ids)) != 25 {
				t.Errorf("duplicates in %v", ids)
			}
		})
	})
	t.Run("a cursor from elsewhere is a terminal error", func(t *testing.T) {
		c, _ := newFake(t, jirafake.Options{Flavor: jirafake.Cloud})
		if _, err := c.Changes(ctx, "not-a-cursor"); !connectors.IsTerminal(err) {
			t.Errorf("got %v", err)
		}
	})
	t.Run("Changes records carry no comments: Get loads them", func(t *testing.T) {
		c, srv := newFake(t, jirafake.Options{Flavor: jirafake.DataCenter})
		key := srv.AddIssue(jirafake.Issue{Summary: "x"})
		srv.AddComment(key, "alice", []byte(`"hello"`), nil)
		p, err := c.Changes(ctx, "")
		if err != nil || len(p.Records) != 1 || p.Records[0].Comments != nil {
			t.Errorf("page %+v, %v", p, err)
		}
	})
}

func TestJQLBoundsAroundDaylightSavingChanges(t *testing.T) {
	paris, _ := time.LoadLocation("Europe/Paris")
	m := &meta{loc: paris}
	// 27 October 2030, 02:30 happens twice in Paris; 00:40 UTC is the
	// first 02:40, and Jira may read "02:40" as the second one.
	if got := jqlMinute(m, time.Date(2030, 10, 27, 0, 40, 0, 0, time.UTC)); got != "2030-10-27 01:40" {
		t.Errorf("near the change: %s", got)
	}
	if got := jqlMinute(m, time.Date(2030, 7, 1, 8, 15, 30, 0, time.UTC)); got != "2030-07-01 10:15" {
		t.Errorf("in summer: %s", got)
	}
}

// TestTheCursorStaysSmallDuringALongFirstListing: the syncer stores the
// cursor after every page; issues already returned are kept only while a
// query can list them again (inside the overlap), so a first listing of
// a large project does not write a cursor naming every issue so far.
func TestTheCursorStaysSmallDuringALongFirstListing(t *testing.T) {
	const pageSize, issues = 3, 30
	flavors(t, func(t *testing.T, fl jirafake.Flavor) {
		c, srv := newFake(t, jirafake.Options{Flavor: fl, Now: fixedClock()}, func(cfg *Config) { cfg.PageSize = pageSize })
		for range issues {
			srv.Advance(5 * time.Minute)
			srv.AddIssue(jirafake.Issue{Summary: "x"})
		}
		listed, most := connectortest.ListAll(t, c, func(cursor string) (int, error) {
			cs, err := decodeCursor(cursor)
			return len(cs.Seen), err
		})
		if listed != issues {
			t.Fatalf("listed %d issues, want %d", listed, issues)
		}
		if most > 2*pageSize {
			t.Errorf("a cursor held %d issues already returned; with a page of %d issues minutes apart it needs about a page's worth", most, pageSize)
		}
	})
}

// TestChangesLosesNoIssueEditedWhileADenseBurstIsPaged: while most of a
// page lies within the overlap (an import), Data Center's listing pages
// on with startAt. An issue already read that is edited moves to the end,
// shifting the rest back by one: without an overlap between pages, the
// issue then at the page boundary is skipped, and the burst is longer
// than the overlap the next call asks again.
func TestChangesLosesNoIssueEditedWhileADenseBurstIsPaged(t *testing.T) {
	ctx := context.Background()
	c, srv := newFake(t, jirafake.Options{Flavor: jirafake.DataCenter, Now: fixedClock()}, func(cfg *Config) { cfg.PageSize = 10 })
	var keys []string
	for range 200 {
		srv.Advance(2 * time.Second)
		keys = append(keys, srv.AddIssue(jirafake.Issue{Summary: "imported"}))
	}
	seen := map[string]bool{}
	cursor, edits := "", 0
	for range 1000 {
		p, err := c.Changes(ctx, cursor)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range p.Records {
			seen[r.Key] = true
		}
		cursor = p.Cursor
		if !p.More {
			break
		}
		if edits < 5 && len(p.Records) > 2 {
			// A person edits an issue this page just returned.
			srv.Advance(time.Second)
			srv.Edit(p.Records[1].Key, func(is *jirafake.Issue) { is.Summary = "edited" })
			edits++
		}
	}
	ids, _ := drain(t, c, cursor)
	for _, k := range keys {
		if !seen[k] {
			if r, err := c.Get(ctx, k); err == nil && !slices.Contains(ids, r.ID) {
				t.Errorf("%s was never listed", k)
			}
		}
	}
}

// TestChangesStartsTheWindowAgainWhenAPageTokenExpired: Cloud's
// nextPageToken expires; the search then answers 400. That is no reason
// to park the target's listing: the window is asked again from its
// start, and what was returned already is dropped.
func TestChangesStartsTheWindowAgainWhenAPageTokenExpired(t *testing.T) {
	ctx := context.Background()
	c, srv := newFake(t, jirafake.Options{Flavor: jirafake.Cloud, Now: fixedClock()}, func(cfg *Config) { cfg.PageSize = 3 })
	var keys []string
	for range 10 {
		keys = append(keys, srv.AddIssue(jirafake.Issue{Summary: "imported"}))
	}
	p, err := c.Changes(ctx, "")
	if err != nil || !p.More {
		t.Fatalf("first page: more %v, %v", p.More, err)
	}
	seen := map[string]int{}
	for _, r := range p.Records {
		seen[r.Key]++
	}
	srv.ExpirePageTokens()
	cursor := p.Cursor
	for range 100 {
		p, err := c.Changes(ctx, cursor)
		if err != nil {
			t.Fatalf("Changes after the page token expired: %v", err)
		}
		for _, r := range p.Records {
			seen[r.Key]++
		}
		cursor = p.Cursor
		if !p.More {
			break
		}
	}
	for _, k := range keys {
		if seen[k] != 1 {
			t.Errorf("%s listed %d times, want once", k, seen[k])
		}
	}
}
