package github_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/backlogd/backlogd/backlog"
	"github.com/backlogd/backlogd/connectors/github/githubfake"
)

// What a sync costs on GitHub, counted by the fake per class of request.
// "quota" is what GitHub charges: a conditional request answered 304 is
// free. The tests below hold the goals of issue 5; TestMeasureSync
// prints the figures:
//
//	BACKLOGD_MEASURE=1 go test -run TestMeasureSync -v ./connectors/github/
//	go test -run '^$' -bench WebhookToCanonical -benchtime 200x ./connectors/github/

// stories makes n stories of client acme: every fifth with a comment,
// sub-issues of the first (an epic).
func stories(n int) []backlog.Item {
	items := []backlog.Item{{Kind: backlog.Epic, Title: "Storefront", Status: backlog.InProgress, Phase: backlog.Build, Clients: []string{"acme"}}}
	for i := 1; i < n; i++ {
		it := backlog.Item{
			Kind: backlog.Story, Title: fmt.Sprintf("Story %d", i), Status: []backlog.Status{backlog.Todo, backlog.InProgress, backlog.Done}[i%3],
			Phase: backlog.Build, Clients: []string{"acme"}, Labels: []string{"shop"}, Teams: []string{"web"},
			Description: fmt.Sprintf("As a shopper I want feature %d.", i), Estimate: backlog.Estimate{Points: float64(i%8 + 1)},
		}
		if i%4 == 0 {
			it.Parent = "BL-1"
		}
		if i%5 == 0 {
			it.Comments = []backlog.Comment{{ID: "c1", Author: "alice", Body: "Agreed with the client.", Created: time.Now().UTC().Truncate(time.Second), Visibility: backlog.VisibilityClient}}
		}
		items = append(items, it)
	}
	return items
}

// cost is one scenario's requests.
type cost struct {
	what string
	st   githubfake.Stats
}

func (c cost) String() string {
	var ks []string
	for k, v := range c.st.ByClass {
		ks = append(ks, fmt.Sprintf("%s=%d", k, v))
	}
	slices.Sort(ks)
	return fmt.Sprintf("%-58s requests=%-4d quota=%-4d 304=%-4d %s", c.what, c.st.Requests, c.st.Counted, c.st.NotModified, strings.Join(ks, " "))
}

// measure runs f and returns what it cost on the fake.
func (w *world) measure(what string, f func()) cost {
	w.t.Helper()
	w.srv.ResetStats()
	f()
	return cost{what, w.srv.Stats()}
}

// idlePoll is the daemon's poll of the GitHub target when nothing changed.
func (w *world) idlePoll() { w.t.Helper(); w.canon().IdlePoll(worldTarget, w.conn) }

// editOnGitHub renames n linked issues as a person would.
func (w *world) editOnGitHub(ids []string, suffix string) {
	w.srv.Advance(2 * time.Second)
	for _, id := range ids {
		w.srv.Edit(w.number(id), func(is *githubfake.Issue) { is.Title += suffix })
	}
}

// scenarios runs the sync scenarios of the figures on a world of n
// projected items and returns their costs.
func scenarios(t testing.TB, n int) []cost {
	w := newWorld(t, worldOptions{})
	ids := w.put(stories(n)...)
	var out []cost
	out = append(out, w.measure(fmt.Sprintf("%d items: initial projection (creates)", n), w.sync))
	out = append(out, w.measure(fmt.Sprintf("%d items: webhook echoes of the projection", n), w.deliver))
	// Creating that many issues takes minutes at GitHub's pace.
	w.srv.Advance(time.Minute)
	// The cursor predates the creates: the next poll lists them once,
	// and the one after that learns the ETag of the new window.
	out = append(out, w.measure(fmt.Sprintf("%d items: first full cycle after the projection", n), w.sync))
	out = append(out, w.measure(fmt.Sprintf("%d items: first idle poll (learns the window's ETag)", n), w.idlePoll))
	out = append(out, w.measure(fmt.Sprintf("%d items: idle poll", n), w.idlePoll))
	out = append(out, w.measure(fmt.Sprintf("%d items: idle full cycle (poll + sweep of every item)", n), w.sync))

	changed := ids[2:7]
	w.editOnGitHub(changed, " (edited on GitHub)")
	out = append(out, w.measure(fmt.Sprintf("%d items: 5 issues edited on GitHub, by webhook", n), w.deliver))
	w.srv.DropNextDeliveries(5)
	w.editOnGitHub(changed, " again")
	out = append(out, w.measure(fmt.Sprintf("%d items: 5 issues edited on GitHub, webhooks lost, by poll", n), w.sync))
	out = append(out, w.measure(fmt.Sprintf("%d items: 5 canonical edits pushed", n), func() {
		for _, id := range changed {
			w.edit(id, func(it *backlog.Item) { it.Title += " (edited in the backlog)" })
		}
		if err := w.s.Drain(context.Background()); err != nil {
			t.Fatal(err)
		}
	}))
	out = append(out, w.measure(fmt.Sprintf("%d items: webhook echoes of the 5 pushes", n), w.deliver))
	w.srv.Advance(time.Minute)
	out = append(out, w.measure(fmt.Sprintf("%d items: first full cycle after the pushes (its poll lists them)", n), w.sync))
	out = append(out, w.measure(fmt.Sprintf("%d items: next poll (learns the window's ETag)", n), w.idlePoll))
	out = append(out, w.measure(fmt.Sprintf("%d items: idle full cycle after the changes", n), w.sync))
	return out
}

// adoption measures onboarding a repository of n issues (adopt: all)
// that lack a default (their status label): each is written once, the
// label and the marker in one PATCH.
func adoption(t testing.TB, n int) []cost {
	return adoptionOf(t, n, "", "phase/build", "type/story")
}

// markerOnlyAdoption is adoption of issues that show every default:
// only the marker is written.
func markerOnlyAdoption(t testing.TB, n int) []cost {
	return adoptionOf(t, n, " (only the marker missing)", "phase/build", "status/todo", "type/story")
}

func adoptionOf(t testing.TB, n int, what string, labels ...string) []cost {
	w := newWorld(t, worldOptions{client: func(s string) string {
		return strings.Replace(s, "  mode: new                   # issues opened after backlogd was connected\n  filter: kind = bug          # ...that carry the type/bug label\n", "  mode: all\n", 1)
	}})
	for i := 0; i < n; i++ {
		num := w.srv.AddIssue(githubfake.Issue{Title: fmt.Sprintf("Issue %d", i), Body: "Reported by the client.", Labels: labels, User: "acme-qa"})
		if i%5 == 0 {
			w.srv.AddComment(num, "acme-qa", "More details.")
		}
		if i%10 == 0 {
			w.srv.AddPullRequest("A pull request")
		}
	}
	w.srv.Advance(time.Minute)
	out := []cost{w.measure(fmt.Sprintf("%d issues%s: adoption of an existing repository", n, what), w.sync)}
	if got := len(w.items()); got != n {
		t.Fatalf("adopted %d items, want %d", got, n)
	}
	for _, is := range w.srv.Issues() {
		if !is.PullRequest && !strings.Contains(is.Body, "<!-- backlogd:id=") {
			t.Fatalf("issue #%d was adopted but carries no marker: %q", is.Number, is.Body)
		}
	}
	out = append(out, w.measure(fmt.Sprintf("%d issues%s: webhook echoes of the adoption", n, what), w.deliver))
	w.srv.Advance(time.Minute)
	out = append(out, w.measure(fmt.Sprintf("%d issues%s: first full cycle after adoption (lists the marked issues)", n, what), w.sync))
	out = append(out, w.measure(fmt.Sprintf("%d issues%s: next poll (learns the window's ETag)", n, what), w.idlePoll))
	out = append(out, w.measure(fmt.Sprintf("%d issues%s: idle full cycle after adoption", n, what), w.sync))
	return out
}

func find(t *testing.T, cs []cost, suffix string) githubfake.Stats {
	t.Helper()
	for _, c := range cs {
		if strings.HasSuffix(c.what, suffix) {
			return c.st
		}
	}
	t.Fatalf("no scenario %q", suffix)
	return githubfake.Stats{}
}

// TestSyncCostsOnGitHub holds the quota goals of issue 5.
func TestSyncCostsOnGitHub(t *testing.T) {
	cs := scenarios(t, 40)
	t.Run("adopting an issue costs one write, the defaults it lacked in the PATCH of its marker", func(t *testing.T) {
		for _, tt := range []struct {
			name  string
			adopt func(testing.TB, int) []cost
		}{
			{"issues without their status label", adoption},
			{"issues that only lack the marker", markerOnlyAdoption},
		} {
			t.Run(tt.name, func(t *testing.T) {
				as := tt.adopt(t, 40)
				// The echoes arrive while the adoption runs, or just after.
				adopt, echo := find(t, as, ": adoption of an existing repository"), find(t, as, ": webhook echoes of the adoption")
				if w, patches := writes(adopt)+writes(echo), adopt.ByClass["update_issue"]+echo.ByClass["update_issue"]; w != 40 || patches != 40 {
					t.Errorf("%d writes, %d of them PATCHes, to adopt 40 issues; want one PATCH each", w, patches)
				}
				if st := find(t, as, ": first full cycle after adoption (lists the marked issues)"); writes(st) != 0 {
					t.Errorf("the cycle after the adoption wrote %d times; want none", writes(st))
				}
			})
		}
	})
	t.Run("an idle poll costs no quota", func(t *testing.T) {
		if st := find(t, cs, ": idle poll"); st.Counted != 0 || st.Requests != 1 {
			t.Errorf("%d requests, %d counted; want one free 304", st.Requests, st.Counted)
		}
	})
	t.Run("an idle full cycle, sweep included, costs no quota", func(t *testing.T) {
		for _, s := range []string{"idle full cycle (poll + sweep of every item)", "idle full cycle after the changes"} {
			if st := find(t, cs, s); st.Counted != 0 || writes(st) != 0 {
				t.Errorf("%s: %d counted, %d writes; want none", s, st.Counted, writes(st))
			}
		}
	})
	t.Run("a change made on GitHub costs one read, and writes nothing back", func(t *testing.T) {
		for _, s := range []string{"by webhook", "webhooks lost, by poll"} {
			st := find(t, cs, "5 issues edited on GitHub, "+s)
			if writes(st) != 0 || st.Counted > 5+st.ByClass["list_issues"] {
				t.Errorf("%s: %d writes, %d counted; want none and at most 5 + the listing", s, writes(st), st.Counted)
			}
		}
	})
	t.Run("a canonical change costs one write, and its echo one read", func(t *testing.T) {
		// The echoes arrive while the pushes drain, or just after.
		push, echo := find(t, cs, "5 canonical edits pushed"), find(t, cs, "webhook echoes of the 5 pushes")
		if w := writes(push) + writes(echo); w != 5 {
			t.Errorf("%d writes, want 5", w)
		}
		if c := push.Counted + echo.Counted; c > 10 {
			t.Errorf("%d requests counted, want at most 5 writes and 5 echo reads (reads before a write are free 304s)", c)
		}
	})
}

func TestMeasureSync(t *testing.T) {
	if os.Getenv("BACKLOGD_MEASURE") == "" {
		t.Skip("set BACKLOGD_MEASURE=1 to print request counts of the sync scenarios")
	}
	for _, n := range []int{40, 150} {
		for _, c := range slices.Concat(scenarios(t, n), adoption(t, n), markerOnlyAdoption(t, n)) {
			fmt.Println(c)
		}
	}
}

// BenchmarkWebhookToCanonical measures how long an edit on GitHub takes
// to reach the canonical store through the daemon: the fake's delivery
// to /webhooks/acme-github, the queue, a worker's re-read and merge, the
// SQLite commit. Every fake answer takes 20 ms more, as a distant GitHub
// would. Reported: p50-ms and p99-ms over the b.N edits.
func BenchmarkWebhookToCanonical(b *testing.B) {
	w := newWorld(b, worldOptions{fake: githubfake.Options{Latency: 20 * time.Millisecond}})
	ids := w.put(stories(6)...)
	w.sync()
	w.deliver()
	pulled := make(chan struct{}, 16)
	w.m.mu.Lock()
	w.m.pulled = func() { pulled <- struct{}{} }
	w.m.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.s.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	// Let the start-up sweep finish.
	for w.queued() != 0 {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond)
	for len(pulled) > 0 {
		<-pulled
	}
	nums := make([]int, 0, 5)
	for _, id := range ids[1:] {
		nums = append(nums, w.number(id))
	}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		n := nums[i%len(nums)]
		start := time.Now()
		w.srv.Edit(n, func(is *githubfake.Issue) { is.Title = "Edit " + strconv.Itoa(i) })
		select {
		case <-pulled:
		case <-time.After(10 * time.Second):
			b.Fatalf("edit %d never reached the canonical store", i)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	pct := func(p float64) float64 {
		i := min(len(lat)-1, int(float64(len(lat))*p))
		return float64(lat[i].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}
