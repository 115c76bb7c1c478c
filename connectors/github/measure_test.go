package github

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/backlogd/backlogd/connectors/github/githubfake"
)

// TestMeasureRequests prints what the syncer's use of the connector costs
// on GitHub, counted by the fake: an initial import (list the changes,
// then read each record as reconcile does), an idle poll, and a poll
// after five issues changed. Run it with
//
//	BACKLOGD_MEASURE=1 go test -run TestMeasureRequests -v ./connectors/github/
func TestMeasureRequests(t *testing.T) {
	if os.Getenv("BACKLOGD_MEASURE") == "" {
		t.Skip("set BACKLOGD_MEASURE=1 to print request counts")
	}
	ctx := context.Background()
	for _, n := range []int{40, 150} {
		c, srv := newFake(t, githubfake.Options{Now: fixedClock()})
		for i := 0; i < n; i++ {
			if i%3 == 0 {
				srv.Advance(time.Second)
			}
			num := srv.AddIssue(githubfake.Issue{Title: fmt.Sprintf("Issue %d", i), Labels: []string{"phase/build"}})
			if i%5 == 0 {
				srv.AddComment(num, "carol", "feedback")
			}
			if i%10 == 0 {
				srv.AddPullRequest("PR")
			}
		}
		srv.Advance(time.Minute)
		cycle := func(label string, cursor string) string {
			srv.ResetStats()
			ids, next := drain(t, c, cursor)
			for _, id := range ids {
				if _, err := c.Get(ctx, id); err != nil {
					t.Fatal(err)
				}
			}
			st := srv.Stats()
			fmt.Printf("%-34s records=%-4d requests=%-4d quota=%-4d 304=%-3d %s\n", fmt.Sprintf("%d issues: %s", n, label), len(ids), st.Requests, st.Counted, st.NotModified, classes(st))
			return next
		}
		cur := cycle("initial import", "")
		cur = cycle("first poll after import", cur)
		cur = cycle("idle poll", cur)
		edited := 0
		for _, is := range srv.Issues() {
			if !is.PullRequest && is.Number%7 == 0 && edited < 5 {
				srv.Edit(is.Number, func(is *githubfake.Issue) { is.Title += " (edited)" })
				edited++
			}
		}
		srv.Advance(time.Minute)
		cur = cycle("5 issues changed", cur)
		cur = cycle("first poll after the change", cur)
		cycle("idle poll", cur)
		srv.ResetStats()
		ids := 0
		for _, is := range srv.Issues() {
			if !is.PullRequest {
				if _, err := c.Get(ctx, fmt.Sprint(is.Number)); err != nil {
					t.Fatal(err)
				}
				ids++
			}
		}
		st := srv.Stats()
		fmt.Printf("%-34s records=%-4d requests=%-4d quota=%-4d 304=%-3d %s\n", fmt.Sprintf("%d issues: re-read all unchanged", n), ids, st.Requests, st.Counted, st.NotModified, classes(st))
	}
}

func classes(st githubfake.Stats) string {
	var ks []string
	for k, v := range st.ByClass {
		ks = append(ks, fmt.Sprintf("%s=%d", k, v))
	}
	slices.Sort(ks)
	return strings.Join(ks, " ")
}
