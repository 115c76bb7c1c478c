package github

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/backlogd/backlogd/connectors"
	"github.com/backlogd/backlogd/connectors/connectortest"
	"github.com/backlogd/backlogd/connectors/github/githubfake"
)

// fixedClock starts fake time at a round instant; the fake's Advance moves it.
func fixedClock() func() time.Time {
	t0 := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	return func() time.Time { return t0 }
}

// drain calls Changes until it says it caught up, returning the ids in
// order and the last cursor.
func drain(t testing.TB, c *Connector, cursor string) ([]string, string) {
	t.Helper()
	var ids []string
	for i := 0; ; i++ {
		if i > 1000 {
			t.Fatal("Changes never caught up")
		}
		p, err := c.Changes(context.Background(), cursor)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range p.Records {
			ids = append(ids, r.ID)
		}
		cursor = p.Cursor
		if !p.More {
			return ids, cursor
		}
	}
}

func TestChangesListsEveryIssueOnceAcrossPages(t *testing.T) {
	tests := []struct {
		name string
		// perSecond issues are created in each second of fake time.
		perSecond, issues, prs int
	}{
		{name: "issues updated in different seconds", perSecond: 1, issues: 8, prs: 3},
		{name: "issues sharing seconds across page boundaries", perSecond: 2, issues: 9, prs: 2},
		{name: "more issues in one second than fit on a page", perSecond: 100, issues: 10, prs: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, srv := newFake(t, githubfake.Options{Now: fixedClock()}, func(cfg *Config) { cfg.PageSize = 3 })
			var want []string
			for i := 0; i < tt.issues+tt.prs; i++ {
				if i > 0 && i%tt.perSecond == 0 {
					srv.Advance(time.Second)
				}
				if i%4 == 3 && tt.prs > 0 {
					tt.prs--
					srv.AddPullRequest(fmt.Sprintf("PR %d", i))
					continue
				}
				want = append(want, strconv.Itoa(srv.AddIssue(githubfake.Issue{Title: fmt.Sprintf("Issue %d", i)})))
			}
			got, _ := drain(t, c, "")
			slices.SortFunc(got, func(a, b string) int { x, _ := strconv.Atoi(a); y, _ := strconv.Atoi(b); return x - y })
			if !slices.Equal(got, want) {
				t.Errorf("listed %v, want every issue once and no pull request: %v", got, want)
			}
		})
	}
}

func TestChangesReportsEditsAndIdlePollsCostNoQuota(t *testing.T) {
	c, srv := newFake(t, githubfake.Options{Now: fixedClock()}, func(cfg *Config) { cfg.PageSize = 3 })
	for i := 0; i < 7; i++ {
		srv.AddIssue(githubfake.Issue{Title: fmt.Sprintf("Issue %d", i)})
		srv.Advance(time.Second)
	}
	_, cursor := drain(t, c, "")

	// The first poll after a listing re-reads the overlap window and
	// learns its ETag; from then on an idle poll is a free 304.
	ids, cursor := drain(t, c, cursor)
	if len(ids) != 0 {
		t.Fatalf("an idle poll returned %v again", ids)
	}
	srv.ResetStats()
	for i := 0; i < 5; i++ {
		ids, cursor = drain(t, c, cursor)
		if len(ids) != 0 {
			t.Fatalf("idle poll %d returned %v", i, ids)
		}
	}
	st := srv.Stats()
	if st.Counted != 0 || st.NotModified != 5 {
		t.Errorf("5 idle polls: %d counted requests and %d 304s; want 0 and 5", st.Counted, st.NotModified)
	}

	t.Run("an edit in the same second as the last update is still reported", func(t *testing.T) {
		srv.Edit(7, func(is *githubfake.Issue) { is.Title = "Edited in the same second" })
		ids, next := drain(t, c, cursor)
		if !slices.Equal(ids, []string{"7"}) {
			t.Fatalf("after editing #7: %v", ids)
		}
		cursor = next
	})
	t.Run("edits a person makes later are reported once each", func(t *testing.T) {
		srv.Advance(10 * time.Second)
		srv.Edit(2, func(is *githubfake.Issue) { is.Labels = []string{"bug"} })
		srv.AddComment(5, "carol", "Still broken")
		srv.AddPullRequest("not an issue")
		ids, next := drain(t, c, cursor)
		if !slices.Equal(ids, []string{"2", "5"}) {
			t.Fatalf("after editing #2 and commenting on #5: %v", ids)
		}
		if again, _ := drain(t, c, next); len(again) != 0 {
			t.Errorf("the next poll returned %v again", again)
		}
		cursor = next
	})
	t.Run("an issue edited while a listing is under way appears later", func(t *testing.T) {
		srv.Advance(10 * time.Second)
		for n := 1; n <= 4; n++ {
			srv.Edit(n, func(is *githubfake.Issue) { is.Body = "sweep" })
		}
		p, err := c.Changes(context.Background(), cursor)
		if err != nil || !p.More {
			t.Fatalf("first page: more %v, %v; want more pages", p.More, err)
		}
		srv.Advance(time.Second)
		srv.Edit(1, func(is *githubfake.Issue) { is.Body = "edited during the listing" }) // moves to the end
		recs := p.Records
		for cur := p.Cursor; p.More; cur = p.Cursor {
			if p, err = c.Changes(context.Background(), cur); err != nil {
				t.Fatal(err)
			}
			recs = append(recs, p.Records...)
		}
		last := map[string]string{}
		for _, r := range recs {
			last[r.ID] = r.Fields.Get("body")
		}
		for _, id := range []string{"2", "3", "4"} {
			if last[id] != "sweep" {
				t.Errorf("#%s: %q, want its sweep edit", id, last[id])
			}
		}
		if last["1"] != "edited during the listing" {
			t.Errorf("#1 last read as %q; want the edit made during the listing", last["1"])
		}
	})
}

// An edit moves an issue to the end of the update order. While a page
// full of one second is paged through by number, that shifts the rest of
// the second back by one and an issue not yet read would be skipped; the
// conformance suite found it losing issue #5 below.
func TestChangesLosesNoIssueEditedWhileOneSecondIsPaged(t *testing.T) {
	c, srv := newFake(t, githubfake.Options{Now: fixedClock()}, func(cfg *Config) { cfg.PageSize = 3 })
	for i := 1; i <= 7; i++ {
		srv.AddIssue(githubfake.Issue{Title: fmt.Sprintf("Issue %d", i)})
	}
	titles := map[string]string{}
	cursor := ""
	for page := 1; ; page++ {
		p, err := c.Changes(context.Background(), cursor)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range p.Records {
			titles[r.ID] = r.Fields.Get(FieldTitle)
		}
		cursor = p.Cursor
		if !p.More {
			break
		}
		if page <= 2 {
			// After page 1 a person edits #3, after page 2 #4: both were
			// just read and move to the end.
			srv.Advance(time.Second)
			n := page + 2
			srv.Edit(n, func(is *githubfake.Issue) { is.Title = fmt.Sprintf("Issue %d, edited", n) })
		}
	}
	ids, _ := drain(t, c, cursor)
	for _, id := range ids {
		r, err := c.Get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		titles[id] = r.Fields.Get(FieldTitle)
	}
	for i := 1; i <= 7; i++ {
		want := fmt.Sprintf("Issue %d", i)
		if i == 3 || i == 4 {
			want += ", edited"
		}
		if got := titles[strconv.Itoa(i)]; got != want {
			t.Errorf("#%d last listed as %q, want %q", i, got, want)
		}
	}
}

// While one second is paged in creation order, an issue the pass already
// read may be edited; when the pass ends, the cursor must not move past
// that edit even if a much later one was listed meanwhile.
func TestChangesKeepsAnEditMadeBehindAPassInCreationOrder(t *testing.T) {
	c, srv := newFake(t, githubfake.Options{Now: fixedClock()}, func(cfg *Config) { cfg.PageSize = 3 })
	for i := 1; i <= 7; i++ {
		srv.AddIssue(githubfake.Issue{Title: fmt.Sprintf("Issue %d", i)})
	}
	cursor := ""
	for range 3 { // through the first page of the pass, which reads #1
		p, err := c.Changes(context.Background(), cursor)
		if err != nil || !p.More {
			t.Fatalf("more %v, %v; want more pages", p.More, err)
		}
		cursor = p.Cursor
	}
	srv.Advance(time.Second)
	srv.Edit(1, func(is *githubfake.Issue) { is.Title = "Issue 1, edited behind the pass" })
	srv.Advance(10 * time.Second)
	srv.Edit(7, func(is *githubfake.Issue) { is.Title = "Issue 7, edited ten seconds later" })
	first, cursor := drain(t, c, cursor)
	later, _ := drain(t, c, cursor)
	if !slices.Contains(first, "7") {
		t.Errorf("the rest of the listing returned %v, want #7 among them", first)
	}
	if !slices.Contains(append(first, later...), "1") {
		t.Errorf("#1 was edited after the pass read it and never listed again: %v, then %v", first, later)
	}
}

func TestChangesRefusesACursorItDidNotWrite(t *testing.T) {
	c, _ := newFake(t, githubfake.Options{})
	_, err := c.Changes(context.Background(), "not-a-cursor")
	if !connectors.IsTerminal(err) {
		t.Fatalf("err = %v, want a terminal error telling to reset the cursor", err)
	}
}

func TestChangesReportsAnEditInTheSecondOfTheLastListing(t *testing.T) {
	// GitHub's updated_at has one-second resolution: an edit in the
	// second the issue was last listed keeps its updated_at, and must not
	// be dropped as a repeat of what was already returned.
	c, srv := newFake(t, githubfake.Options{Now: fixedClock()})
	srv.AddIssue(githubfake.Issue{Title: "Created"})
	ids, cursor := drain(t, c, "")
	if !slices.Equal(ids, []string{"1"}) {
		t.Fatalf("first listing %v", ids)
	}
	srv.Edit(1, func(is *githubfake.Issue) { is.Title = "Edited in the same second" })
	ids, cursor = drain(t, c, cursor)
	if !slices.Equal(ids, []string{"1"}) {
		t.Fatalf("after an edit in the second #1 was listed in: %v, want [1]", ids)
	}
	if ids, _ = drain(t, c, cursor); len(ids) != 0 {
		t.Errorf("the next poll returned %v again", ids)
	}
	t.Run("a cursor written before digests still drops repeats", func(t *testing.T) {
		cs, err := decodeCursor(cursor)
		if err != nil {
			t.Fatal(err)
		}
		cs.Sums, cs.ETag = nil, "" // and no 304 to hide behind
		if ids, _ := drain(t, c, cs.encode()); len(ids) != 0 {
			t.Errorf("an old cursor returned %v again", ids)
		}
	})
}

func TestIdlePollsAfterABurstOfMoreThanAPageCostNoQuota(t *testing.T) {
	// A bulk edit can touch more issues in one second than a page holds.
	// While that second is inside the cursor's overlap window every poll
	// pages through it, and a listing of several pages is never answered
	// 304; once GitHub's clock is a lag past it, the window moves on.
	c, srv := newFake(t, githubfake.Options{Now: fixedClock()})
	for i := 0; i < 150; i++ {
		srv.AddIssue(githubfake.Issue{Title: fmt.Sprint("Issue ", i)})
	}
	ids, cursor := drain(t, c, "")
	if len(ids) != 150 {
		t.Fatalf("listed %d issues, want 150", len(ids))
	}
	srv.Advance(time.Minute)
	var counted []int
	for range 4 {
		srv.ResetStats()
		if ids, cursor = drain(t, c, cursor); len(ids) != 0 {
			t.Fatalf("an idle poll listed %v", ids)
		}
		counted = append(counted, srv.Stats().Counted)
	}
	if counted[2] != 0 || counted[3] != 0 {
		t.Errorf("quota counted by four idle polls a minute after the burst: %v; want the last ones free", counted)
	}
	srv.Edit(42, func(is *githubfake.Issue) { is.Title = "Edited after the burst" })
	if ids, _ = drain(t, c, cursor); !slices.Equal(ids, []string{"42"}) {
		t.Errorf("after an edit: %v, want [42]", ids)
	}
}

// TestTheCursorStaysSmallDuringALongFirstListing: the syncer stores the
// cursor after every page. The issues already returned are kept only
// while a query can return them again (updated at or after since), so a
// first listing of a large repository does not write a cursor naming
// every issue it has listed so far.
func TestTheCursorStaysSmallDuringALongFirstListing(t *testing.T) {
	const pageSize, issues = 3, 60
	c, srv := newFake(t, githubfake.Options{Now: fixedClock()}, func(cfg *Config) { cfg.PageSize = pageSize })
	for i := range issues {
		srv.Advance(time.Second)
		srv.AddIssue(githubfake.Issue{Title: fmt.Sprintf("Issue %d", i)})
	}
	listed, most := connectortest.ListAll(t, c, func(cursor string) (int, error) {
		cs, err := decodeCursor(cursor)
		return len(cs.Seen), err
	})
	if listed != issues {
		t.Fatalf("listed %d issues, want %d", listed, issues)
	}
	if most > 2*pageSize {
		t.Errorf("a cursor held %d issues already returned; with a page of %d in distinct seconds it needs at most a page's worth", most, pageSize)
	}
}

// TestChangesLosesNoIssueWhenOneIsDeletedWhileOneSecondIsPaged: a second
// holding more than a page is paged by number in creation order. Deleting
// (or transferring) an issue the pass already read shifts the rest back
// by one, and an issue not yet read would fall between two pages: the
// pass must overlap its pages.
func TestChangesLosesNoIssueWhenOneIsDeletedWhileOneSecondIsPaged(t *testing.T) {
	for _, pageSize := range []int{3, 10} {
		t.Run(fmt.Sprintf("with pages of %d", pageSize), func(t *testing.T) {
			c, srv := newFake(t, githubfake.Options{Now: fixedClock()}, func(cfg *Config) { cfg.PageSize = pageSize })
			const issues = 40
			for i := 1; i <= issues; i++ {
				srv.AddIssue(githubfake.Issue{Title: fmt.Sprintf("Issue %d", i)})
			}
			seen := map[string]bool{}
			deleted := map[string]bool{}
			cursor := ""
			for page := 1; page < 1000; page++ {
				p, err := c.Changes(context.Background(), cursor)
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range p.Records {
					seen[r.ID] = true
				}
				cursor = p.Cursor
				if !p.More {
					break
				}
				// A person deletes the first issue of the page just read.
				if len(p.Records) > 0 && len(deleted) < 3 {
					n, _ := strconv.Atoi(p.Records[0].ID)
					srv.Delete(n)
					deleted[p.Records[0].ID] = true
				}
			}
			for i := 1; i <= issues; i++ {
				if id := strconv.Itoa(i); !seen[id] && !deleted[id] {
					t.Errorf("#%d was never listed", i)
				}
			}
		})
	}
}

func TestPassPagesOverlapAndMoveOn(t *testing.T) {
	for _, size := range []int{1, 2, 3, 10, 30, 100} {
		t.Run(fmt.Sprintf("pages of %d", size), func(t *testing.T) {
			const items = 20000
			requests, gaps := 0, 0
			for start, perPage := 0, size; ; requests++ {
				n := min(perPage, items-start)
				end := start + n
				if end >= items {
					break
				}
				next, q := passPage(start, n, size)
				x := (next - 1) * q
				switch {
				case q < 1 || q > size:
					t.Fatalf("after [%d,%d) per_page %d, outside 1..%d", start, end, q, size)
				case x+q <= end:
					t.Fatalf("after [%d,%d) the next page [%d,%d) reads nothing new", start, end, x, x+q)
				case x > end:
					t.Fatalf("after [%d,%d) the next page starts at %d: items skipped", start, end, x)
				case x < end-max(1, size/4):
					t.Fatalf("after [%d,%d) the next page starts at %d: more than a quarter of a page read again", start, end, x)
				case x == end:
					gaps++
				}
				start, perPage = x, q
			}
			t.Logf("%d requests, %d pages without overlap", requests, gaps)
			if size >= 30 && gaps > 0 {
				t.Errorf("%d pages did not overlap the one before", gaps)
			}
			// Overlap costs a little: at pages of 100 (the default) at most
			// a sixth more requests, at 30 a third.
			limit := items/size + items/size/6 + 2
			if size < 100 {
				limit = items/size + items/size/3 + 2
			}
			if size >= 30 && requests > limit {
				t.Errorf("%d requests for %d items in pages of %d, want at most %d", requests, items, size, limit)
			}
		})
	}
}
