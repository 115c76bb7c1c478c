package github

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/backlogd/backlogd/connectors"
	"github.com/backlogd/backlogd/connectors/github/githubfake"
)

func TestFailuresTellTheSyncerWhatToDo(t *testing.T) {
	ctx := context.Background()
	title := func(s string) connectors.Fields { f := connectors.Fields{}; f.Set("title", s); return f }
	tests := []struct {
		name string
		// arrange prepares the fake after issue #1 exists; act is the call.
		arrange func(*githubfake.Server)
		act     func(*Connector) error
		check   func(*testing.T, error)
	}{
		{
			name:    "a bad token is terminal for the whole target and says to check the token",
			arrange: func(s *githubfake.Server) { s.RejectNext() },
			act:     func(c *Connector) error { _, err := c.Get(ctx, "1"); return err },
			check:   scoped(connectors.ScopeTarget, "token"),
		},
		{
			name:    "a permission the token lacks is terminal for the endpoint and says what to grant",
			arrange: func(s *githubfake.Server) { s.FailNext(403) },
			act:     func(c *Connector) error { _, err := c.Update(ctx, "1", "", title("Not allowed"), ""); return err },
			check:   scoped(connectors.ScopeEndpoint, "read/write access"),
		},
		{
			name: "an assignee without access is terminal and names the field",
			act: func(c *Connector) error {
				f := title("Assign a stranger")
				f.Set("assignees", "mallory")
				_, err := c.Create(ctx, "BL-9", f)
				return err
			},
			check: terminal("assignees"),
		},
		{
			name:  "an empty title is terminal",
			act:   func(c *Connector) error { _, err := c.Update(ctx, "1", "", title(" "), ""); return err },
			check: terminal("title"),
		},
		{
			name: "a milestone that does not exist is terminal and says to create it",
			act: func(c *Connector) error {
				f := title("x")
				f.Set("milestone", "v9")
				_, err := c.Create(ctx, "BL-9", f)
				return err
			},
			check: terminal("create it"),
		},
		{
			name: "an issue type on a repository without types is terminal",
			act: func(c *Connector) error {
				f := title("x")
				f.Set("type", "Bug")
				_, err := c.Create(ctx, "BL-9", f)
				return err
			},
			check: terminal("422"),
		},
		{
			name:    "a deleted issue is not found",
			arrange: func(s *githubfake.Server) { s.Delete(1) },
			act:     func(c *Connector) error { _, err := c.Get(ctx, "1"); return err },
			check:   notFound,
		},
		{
			name:    "a transferred issue is not found here",
			arrange: func(s *githubfake.Server) { s.Transfer(1) },
			act:     func(c *Connector) error { _, err := c.Get(ctx, "1"); return err },
			check:   notFound,
		},
		{
			name:    "a pull request number is not an issue",
			arrange: func(s *githubfake.Server) { s.AddPullRequest("PR") },
			act:     func(c *Connector) error { _, err := c.Get(ctx, "2"); return err },
			check:   notFound,
		},
		{
			name:    "a secondary limit without Retry-After waits at least a minute",
			arrange: func(s *githubfake.Server) { s.SecondaryLimitNext(403, 0) },
			act:     func(c *Connector) error { _, err := c.Get(ctx, "1"); return err },
			check:   limited(time.Minute, 2*time.Minute),
		},
		{
			name:    "a 429 secondary limit without Retry-After waits at least a minute",
			arrange: func(s *githubfake.Server) { s.SecondaryLimitNext(429, 0) },
			act:     func(c *Connector) error { _, err := c.Get(ctx, "1"); return err },
			check:   limited(time.Minute, 2*time.Minute),
		},
		{
			name:    "a secondary limit with a long Retry-After waits that long",
			arrange: func(s *githubfake.Server) { s.SecondaryLimitNext(403, 3*time.Minute) },
			act:     func(c *Connector) error { _, err := c.Get(ctx, "1"); return err },
			check:   limited(3*time.Minute, 3*time.Minute),
		},
		{
			name:    "a 429 with a long Retry-After waits that long",
			arrange: func(s *githubfake.Server) { s.RateLimitNext(2 * time.Minute) },
			act:     func(c *Connector) error { _, err := c.Get(ctx, "1"); return err },
			check:   limited(2*time.Minute, 2*time.Minute),
		},
		{
			name:    "an exhausted quota waits until the reset",
			arrange: func(s *githubfake.Server) { s.SetQuotaRemaining(0) },
			act:     func(c *Connector) error { _, err := c.Get(ctx, "1"); return err },
			check:   limited(50*time.Minute, 61*time.Minute),
		},
		{
			name:    "a 429 with a short Retry-After is retried inside the call",
			arrange: func(s *githubfake.Server) { s.RateLimitNext(time.Second) },
			act:     func(c *Connector) error { _, err := c.Get(ctx, "1"); return err },
			check:   func(t *testing.T, err error) { noError(t, err) },
		},
		{
			name: "an internal comment is never published",
			act: func(c *Connector) error {
				_, err := c.CreateComment(ctx, "1", connectors.Comment{Body: "cost: 12k", Internal: true})
				return err
			},
			check: terminal("internal"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, srv := newFake(t, githubfake.Options{})
			srv.AddIssue(githubfake.Issue{Title: "Existing"})
			if tt.arrange != nil {
				tt.arrange(srv)
			}
			tt.check(t, tt.act(c))
		})
	}
}

func terminal(mentions string) func(*testing.T, error) {
	return func(t *testing.T, err error) {
		t.Helper()
		if !connectors.IsTerminal(err) {
			t.Fatalf("err = %v, want a terminal error", err)
		}
		if !strings.Contains(err.Error(), mentions) {
			t.Errorf("error %q does not mention %q", err, mentions)
		}
	}
}

// scoped is terminal(mentions), covering scope of the target.
func scoped(scope connectors.Scope, mentions string) func(*testing.T, error) {
	return func(t *testing.T, err error) {
		t.Helper()
		terminal(mentions)(t, err)
		if got, _ := connectors.TerminalScope(err); got != scope {
			t.Errorf("error %q covers %q, want %q", err, got, scope)
		}
	}
}

func notFound(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, connectors.ErrNotFound) {
		t.Fatalf("err = %v, want ErrNotFound", err)
	}
}

func noError(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func limited(lo, hi time.Duration) func(*testing.T, error) {
	return func(t *testing.T, err error) {
		t.Helper()
		wait, ok := connectors.RetryAfter(err)
		if !ok {
			t.Fatalf("err = %v, want a rate limit", err)
		}
		if wait < lo-time.Second || wait > hi+time.Second {
			t.Errorf("RetryAfter = %v, want between %v and %v", wait, lo, hi)
		}
	}
}

func TestRateLimitedTargetMakesNoRequestsUntilItMayAgain(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		arrange func(*githubfake.Server)
	}{
		{"after a secondary limit", func(s *githubfake.Server) { s.SecondaryLimitNext(403, 0) }},
		{"when the quota runs low, before it runs out", func(s *githubfake.Server) { s.SetQuotaRemaining(60) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, srv := newFake(t, githubfake.Options{})
			srv.AddIssue(githubfake.Issue{Title: "Existing"})
			tt.arrange(srv)
			_, _ = c.Get(ctx, "1")
			before := srv.Stats().Requests
			_, err := c.Get(ctx, "1")
			if _, ok := connectors.RetryAfter(err); !ok {
				t.Fatalf("err = %v, want a rate limit while the target is paused", err)
			}
			if got := srv.Stats().Requests; got != before {
				t.Errorf("%d requests reached GitHub while paused", got-before)
			}
			if c.Transport().PausedUntil().IsZero() {
				t.Error("the target is not paused")
			}
		})
	}
	t.Run("with plenty of quota left nothing is paused", func(t *testing.T) {
		c, srv := newFake(t, githubfake.Options{})
		srv.AddIssue(githubfake.Issue{Title: "Existing"})
		srv.SetQuotaRemaining(500)
		if _, err := c.Get(ctx, "1"); err != nil {
			t.Fatal(err)
		}
		if !c.Transport().PausedUntil().IsZero() {
			t.Error("paused with 10% of the quota left")
		}
	})
}

func TestContentCreationIsPacedUnderTheSecondaryLimit(t *testing.T) {
	ctx := context.Background()
	c, srv := newFake(t, githubfake.Options{}, func(cfg *Config) { cfg.CreatesPerMinute, cfg.CreatesPerHour = 8, 480 })
	srv.AddIssue(githubfake.Issue{Title: "Existing"})
	var created int
	var err error
	for i := 0; i < 10; i++ {
		if _, err = c.CreateComment(ctx, "1", connectors.Comment{Body: "hi"}); err != nil {
			break
		}
		created++
	}
	// 8 a minute with a burst of 1: the first goes at once, the next
	// would wait over 8 s, longer than a call sleeps through, so it is
	// handed back to the syncer instead.
	if created != 1 {
		t.Errorf("%d comments created before pacing pushed back, want 1", created)
	}
	var rl *connectors.RateLimitError
	if !errors.As(err, &rl) || rl.Scope != connectors.ScopeEndpoint {
		t.Fatalf("err = %v, want an endpoint-scoped rate limit that leaves reads alone", err)
	}
	if _, err := c.Get(ctx, "1"); err != nil {
		t.Errorf("reads are paced too: %v", err)
	}
}

// TestSecondaryLimitIsNeverAPermissionError: after a secondary limit,
// go-github refuses requests itself until the limit's end, with a fake 403
// that has no headers and no body. Each call inside that window must be a
// rate limit the syncer waits out, never a terminal "the token may not do
// this" that parks the item until someone looks, and the wait must be the
// one GitHub asked for (or the client's back-off), not the primary quota's
// reset an hour away.
func TestSecondaryLimitIsNeverAPermissionError(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name       string
		status     int
		retryAfter time.Duration
		lo, hi     time.Duration // the first call's wait
	}{
		{"a 403 without Retry-After", 403, 0, time.Minute, 2 * time.Minute},
		{"a 403 with a Retry-After longer than a call sleeps", 403, 30 * time.Second, 30 * time.Second, 30 * time.Second},
		{"a 429 without Retry-After", 429, 0, time.Minute, 2 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, srv := newFake(t, githubfake.Options{})
			srv.AddIssue(githubfake.Issue{Title: "Existing"})
			srv.SecondaryLimitNext(tt.status, tt.retryAfter)
			for i, call := range []string{"the call that met the limit", "a call inside the limit's window"} {
				_, err := c.Get(ctx, "1")
				if connectors.IsTerminal(err) {
					t.Fatalf("%s: %v is terminal; a secondary limit is waited out, not parked", call, err)
				}
				wait, ok := connectors.RetryAfter(err)
				if !ok {
					t.Fatalf("%s: err = %v, want a rate limit", call, err)
				}
				if i == 0 && (wait < tt.lo-time.Second || wait > tt.hi+time.Second) {
					t.Errorf("%s: RetryAfter = %v, want between %v and %v", call, wait, tt.lo, tt.hi)
				}
				if i == 1 && wait > tt.hi+time.Second {
					t.Errorf("%s: RetryAfter = %v; GitHub asked for at most %v (X-RateLimit-Reset is the primary quota's, not this limit's)", call, wait, tt.hi)
				}
				var rl *connectors.RateLimitError
				if errors.As(err, &rl) && (rl.Scope != connectors.ScopeTarget || !strings.Contains(rl.Reason, "secondary rate limit")) {
					t.Errorf("%s: scope %q, reason %q; want the target paused for GitHub's secondary rate limit", call, rl.Scope, rl.Reason)
				}
			}
			if c.Transport().PausedUntil().IsZero() {
				t.Error("the target is not paused")
			}
		})
	}
}

// TestEveryWriteIsPaced: GitHub asks for at least a second between
// requests that change something, edits included, and a bulk edit that
// ignores it meets a secondary limit. Edits and deletions share the write
// pace with creations; reads never wait for it.
func TestEveryWriteIsPaced(t *testing.T) {
	ctx := context.Background()
	c, srv := newFake(t, githubfake.Options{}, func(cfg *Config) { cfg.WritesPerMinute = 6 })
	srv.AddIssue(githubfake.Issue{Title: "Existing"})
	rec, err := c.Get(ctx, "1")
	if err != nil {
		t.Fatal(err)
	}
	// 6 a minute with a burst of 1: the first edit goes at once, the next
	// write would wait 10 s, longer than a call sleeps through.
	if _, err := c.Update(ctx, "1", rec.Version, connectors.Fields{"title": {"Edited"}}, ""); err != nil {
		t.Fatalf("first edit: %v", err)
	}
	writes := []struct {
		name string
		do   func() error
	}{
		{"an edit", func() error {
			_, err := c.Update(ctx, "1", "", connectors.Fields{"title": {"Edited again"}}, "")
			return err
		}},
		{"a comment", func() error { _, err := c.CreateComment(ctx, "1", connectors.Comment{Body: "hi"}); return err }},
	}
	for _, w := range writes {
		err := w.do()
		var rl *connectors.RateLimitError
		if !errors.As(err, &rl) || rl.Scope != connectors.ScopeEndpoint || !strings.Contains(rl.Reason, "second between") {
			t.Errorf("%s right after an edit: err = %v, want the write pace as an endpoint-scoped rate limit", w.name, err)
		}
	}
	if got, err := c.Get(ctx, "1"); err != nil || !slices.Equal(got.Fields["title"], []string{"Edited"}) {
		t.Errorf("read after the paced writes: %v, %v; want the first edit, and reads never paced", got.Fields["title"], err)
	}
}

// TestAnUpdateNeverWritesOverAnEditMadeSinceTheRead: GitHub's PATCH has
// no version check, so Update makes one. A person's edit between the
// syncer's read and its write is refused as a conflict (the syncer reads
// again and merges it), not written over.
func TestAnUpdateNeverWritesOverAnEditMadeSinceTheRead(t *testing.T) {
	ctx := context.Background()
	c, srv := newFake(t, githubfake.Options{})
	f := connectors.Fields{}
	f.Set("title", "Checkout breaks")
	f.Set("body", "Original text")
	rec, err := c.Create(ctx, "BL-42", f)
	if err != nil {
		t.Fatal(err)
	}
	srv.Edit(1, func(is *githubfake.Issue) { is.Body = "Fixed a typo by hand\n\n<!-- backlogd:id=BL-42 -->" })
	for _, up := range []struct {
		name   string
		fields connectors.Fields
		marker string
	}{
		{"a write of the title", connectors.Fields{"title": {"Checkout breaks on Safari"}}, ""},
		{"a marker repair", connectors.Fields{}, "BL-42"},
	} {
		if _, err := c.Update(ctx, rec.ID, rec.Version, up.fields, up.marker); !errors.Is(err, connectors.ErrConflict) {
			t.Errorf("%s with the version read before the edit: err = %v, want ErrConflict", up.name, err)
		}
	}
	got, _ := srv.Issue(1)
	if got.Title != "Checkout breaks" || !strings.HasPrefix(got.Body, "Fixed a typo by hand") {
		t.Errorf("issue after the refused writes: title %q, body %q; want the person's edit intact", got.Title, got.Body)
	}
	read, err := c.Get(ctx, rec.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Update(ctx, rec.ID, read.Version, connectors.Fields{"title": {"Checkout breaks on Safari"}}, ""); err != nil {
		t.Errorf("the same write with the version read after the edit: %v", err)
	}
}

// TestTheWritesOfOneCallWaitTheirTurn: once a call has written (an issue
// created), its other writes (closing it, setting its parent) wait for
// the pace instead of failing, which would leave the call half done; and
// a write the call paced before it began does not wait again.
func TestTheWritesOfOneCallWaitTheirTurn(t *testing.T) {
	c, _ := newFake(t, githubfake.Options{}, func(cfg *Config) { cfg.WritesPerMinute = 6 })
	writes := []pacer{{c.writes, writeReason}}
	if err := c.paceRequest(context.Background(), writes); err != nil {
		t.Fatalf("first write: %v", err) // the burst of one
	}
	var rl *connectors.RateLimitError
	if err := c.paceRequest(context.Background(), writes); !errors.As(err, &rl) {
		t.Fatalf("a lone write 10 s early: %v, want a rate limit handed back", err)
	}
	ctx, cancel := context.WithTimeout(withPacedCall(context.Background(), 1), 100*time.Millisecond)
	defer cancel()
	if err := c.paceRequest(ctx, writes); err != nil {
		t.Errorf("a write its call paid for beforehand: %v, want no wait", err)
	}
	if err := c.paceRequest(ctx, writes); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a later write of the same call: %v, want it to wait (until its context ends here), not fail", err)
	}
}
