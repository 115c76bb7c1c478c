package jira

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/backlogd/backlogd/connectors"
	"github.com/backlogd/backlogd/connectors/jira/jirafake"
)

func TestClassify(t *testing.T) {
	reset := time.Now().Add(90 * time.Second).UTC()
	tests := []struct {
		name      string
		status    int
		header    http.Header
		limited   bool
		scope     connectors.Scope
		waitAbout time.Duration
	}{
		{"a burst limit slows one endpoint", 429, header("Retry-After", "3", "RateLimit-Reason", "jira-burst-based"), true, connectors.ScopeEndpoint, 3 * time.Second},
		{"a per-issue write limit spaces out writes to that issue", 429, header("Retry-After", "10", "RateLimit-Reason", "jira-per-issue-on-write"), true, connectors.ScopeRecord, 10 * time.Second},
		{"a tenant quota pauses the whole target", 429, header("Retry-After", "600", "RateLimit-Reason", "jira-quota-tenant-based"), true, connectors.ScopeTarget, 10 * time.Minute},
		{"a 429 without a reason pauses the whole target", 429, header("Retry-After", "5"), true, connectors.ScopeTarget, 5 * time.Second},
		{"X-RateLimit-Reset, an ISO time, says when without Retry-After", 429, header("X-RateLimit-Reset", reset.Format("2006-01-02T15:04:05Z")), true, connectors.ScopeTarget, 90 * time.Second},
		{"a 503 with Retry-After is a limit", 503, header("Retry-After", "20"), true, connectors.ScopeTarget, 20 * time.Second},
		{"a 503 without Retry-After is an outage for the 5xx back-off", 503, header(), false, "", 0},
		{"a 403 is a permission problem, not a limit", 403, header(), false, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Classify(&http.Response{StatusCode: tt.status, Header: tt.header}, nil)
			if d.Limited != tt.limited || d.Scope != tt.scope {
				t.Fatalf("got %+v", d)
			}
			if tt.limited && (d.RetryAfter < tt.waitAbout-2*time.Second || d.RetryAfter > tt.waitAbout+2*time.Second) {
				t.Errorf("wait %v, want about %v", d.RetryAfter, tt.waitAbout)
			}
		})
	}
}

func TestLimitsReachTheSyncer(t *testing.T) {
	ctx := context.Background()
	setup := func(t *testing.T) (*Connector, *jirafake.Server, string, *counter) {
		obs := newCounter()
		c, srv := newFake(t, jirafake.Options{Flavor: jirafake.Cloud}, func(cfg *Config) { cfg.Observer = obs })
		r, err := c.Create(ctx, "BL-1", fields(FieldSummary, "x"))
		if err != nil {
			t.Fatal(err)
		}
		return c, srv, r.ID, obs
	}
	t.Run("a long burst limit is a rate limit on the endpoint; other calls go on", func(t *testing.T) {
		c, srv, id, _ := setup(t)
		srv.RateLimitNext(time.Minute, "jira-burst-based")
		_, err := c.Get(ctx, id)
		var rl *connectors.RateLimitError
		if !errors.As(err, &rl) || rl.Scope != connectors.ScopeEndpoint || rl.RetryAfter < 59*time.Second || connectors.IsTerminal(err) {
			t.Fatalf("got %v", err)
		}
		if _, err := c.Get(ctx, id); err != nil {
			t.Errorf("the target was paused for an endpoint's limit: %v", err)
		}
	})
	t.Run("a per-issue write limit names the record scope", func(t *testing.T) {
		c, srv, id, _ := setup(t)
		srv.RateLimitNext(time.Minute, "jira-per-issue-on-write")
		_, err := c.Get(ctx, id)
		var rl *connectors.RateLimitError
		if !errors.As(err, &rl) || rl.Scope != connectors.ScopeRecord {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("an exhausted quota pauses the target without sending more requests", func(t *testing.T) {
		c, srv, id, _ := setup(t)
		srv.RateLimitNext(time.Hour, "jira-quota-global-based")
		if _, err := c.Get(ctx, id); err == nil {
			t.Fatal("no error")
		}
		before := srv.Stats().Requests
		_, err := c.Get(ctx, id)
		if d, ok := connectors.RetryAfter(err); !ok || d < 59*time.Minute {
			t.Errorf("the next call: %v", err)
		}
		if srv.Stats().Requests != before {
			t.Errorf("a paused target still sent %d requests", srv.Stats().Requests-before)
		}
	})
	t.Run("a short Retry-After is waited out inside the call", func(t *testing.T) {
		c, srv, id, obs := setup(t)
		srv.RateLimitNext(time.Second, "jira-burst-based")
		if _, err := c.Get(ctx, id); err != nil {
			t.Fatalf("got %v", err)
		}
		if obs.byKind["read 429"] != 1 || obs.byKind["read 200"] < 2 {
			t.Errorf("requests %v", obs.byKind)
		}
	})
	t.Run("a 503 with Retry-After is honoured like a 429", func(t *testing.T) {
		c, srv, id, _ := setup(t)
		srv.UnavailableNext(10 * time.Minute)
		_, err := c.Get(ctx, id)
		if d, ok := connectors.RetryAfter(err); !ok || d < 9*time.Minute {
			t.Errorf("got %v", err)
		}
	})
	t.Run("a 500 on a read is retried with back-off", func(t *testing.T) {
		c, srv, id, obs := setup(t)
		srv.FailNext(http.StatusInternalServerError)
		if _, err := c.Get(ctx, id); err != nil {
			t.Fatalf("got %v", err)
		}
		if obs.byKind["read 500"] != 1 {
			t.Errorf("requests %v", obs.byKind)
		}
	})
	t.Run("a 500 on a create is not retried: the issue may exist", func(t *testing.T) {
		c, srv, _, _ := setup(t)
		srv.FailNext(http.StatusBadGateway)
		before := srv.Stats().ByClass["create_issue"]
		_, err := c.Create(ctx, "BL-2", fields(FieldSummary, "y"))
		if err == nil || connectors.IsTerminal(err) {
			t.Fatalf("got %v; want a retryable error", err)
		}
		if n := srv.Stats().ByClass["create_issue"] - before; n != 1 {
			t.Errorf("%d create requests", n)
		}
	})
	t.Run("401 and 403 are terminal, for the target and the endpoint, and say what to fix", func(t *testing.T) {
		c, srv, id, _ := setup(t)
		srv.RejectNext()
		_, err := c.Get(ctx, id)
		if scope, _ := connectors.TerminalScope(err); scope != connectors.ScopeTarget || !strings.Contains(err.Error(), "HTTP 401") || strings.Contains(err.Error(), jirafake.APIToken) {
			t.Errorf("401: %v (scope %q); want terminal for the whole target", err, scope)
		}
		srv.FailNext(http.StatusForbidden)
		_, err = c.Get(ctx, id)
		if scope, _ := connectors.TerminalScope(err); scope != connectors.ScopeEndpoint || !strings.Contains(err.Error(), "HTTP 403") {
			t.Errorf("403: %v (scope %q); want terminal for the endpoint", err, scope)
		}
	})
}
