package jira

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/backlogd/backlogd/connectors"
	"github.com/backlogd/backlogd/connectors/transport"
)

// Classify is the transport classifier for Jira's rate limits
// (https://developer.atlassian.com/cloud/jira/platform/rate-limiting/):
//
//   - 429 with Retry-After (seconds) and, on Cloud, X-RateLimit-Reset
//     (an ISO 8601 time), X-RateLimit-Remaining and RateLimit-Reason;
//   - 503 with Retry-After (Data Center's rate limiting and maintenance).
//
// RateLimit-Reason names which of Cloud's independent limits was hit, and
// so how much of the target to slow down: jira-burst-based (per second,
// per endpoint and method) slows that endpoint, jira-per-issue-on-write
// spaces out writes to that issue, the quota limits (hourly, per tenant
// or app) pause the whole target.
func Classify(resp *http.Response, _ []byte) transport.Decision {
	d := transport.Decision{Remaining: -1}
	h := resp.Header
	if v, err := strconv.Atoi(h.Get("X-RateLimit-Remaining")); err == nil {
		d.Remaining = v
	}
	d.Reset = parseReset(h.Get("X-RateLimit-Reset"))
	ra, hasRA := transport.ParseRetryAfter(h.Get("Retry-After"), time.Now())
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		d.Limited = true
	case resp.StatusCode == http.StatusServiceUnavailable && hasRA:
		d.Limited = true
	default:
		return d
	}
	switch {
	case hasRA:
		d.RetryAfter = ra
	case !d.Reset.IsZero():
		// The reset is in whole minutes or seconds: a second more keeps
		// us from arriving early.
		d.RetryAfter = max(time.Until(d.Reset)+time.Second, time.Second)
	}
	reason := strings.TrimSpace(h.Get("RateLimit-Reason"))
	d.Scope = scopeOf(reason)
	if reason != "" {
		d.Reason = fmt.Sprintf("Jira rate limit %s (HTTP %d)", reason, resp.StatusCode)
	} else {
		d.Reason = fmt.Sprintf("Jira HTTP %d", resp.StatusCode)
	}
	return d
}

// scopeOf maps a RateLimit-Reason to the part of the target it covers.
// Unknown reasons, and none, slow the whole target: the safe reading.
func scopeOf(reason string) connectors.Scope {
	r := strings.ToLower(reason)
	switch {
	case strings.Contains(r, "per-issue-on-write"):
		return connectors.ScopeRecord
	case strings.Contains(r, "burst"):
		return connectors.ScopeEndpoint
	}
	return connectors.ScopeTarget
}

// parseReset reads X-RateLimit-Reset: Cloud sends an ISO 8601 time
// ("2026-11-24T10:15Z"); an epoch in seconds is accepted too.
func parseReset(v string) time.Time {
	if v == "" {
		return time.Time{}
	}
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04Z07:00", "2006-01-02T15:04:05.000Z07:00", "2006-01-02T15:04Z"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t
		}
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil && n > 1e9 {
		return time.Unix(n, 0)
	}
	return time.Time{}
}
