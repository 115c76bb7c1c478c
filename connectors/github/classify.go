package github

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/backlogd/backlogd/connectors"
	"github.com/backlogd/backlogd/connectors/transport"
)

// Classify is the transport classifier for GitHub's rate-limit answers
// (https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api):
//
//   - a secondary limit: 403 or 429 whose body says "secondary rate limit"
//     or whose documentation_url ends in secondary-rate-limits (or the
//     older abuse-rate-limits). Its Retry-After is obeyed; without one
//     RetryAfter is 0, so the client waits its MinLimitWait (a minute for
//     GitHub) and backs off exponentially;
//   - the primary quota exhausted: 403 or 429 with X-RateLimit-Remaining: 0,
//     waiting until X-RateLimit-Reset;
//   - any other 429, with its Retry-After.
//
// A 403 that is none of these is a permission problem, not a limit.
// go-github's own error types cannot be used alone: they do not know 429.
func Classify(resp *http.Response, body []byte) transport.Decision {
	d := transport.Decision{Remaining: -1}
	if v, err := strconv.Atoi(resp.Header.Get("X-RateLimit-Remaining")); err == nil {
		d.Remaining = v
	}
	if v, err := strconv.ParseInt(resp.Header.Get("X-RateLimit-Reset"), 10, 64); err == nil {
		d.Reset = time.Unix(v, 0)
	}
	if resp.StatusCode != http.StatusForbidden && resp.StatusCode != http.StatusTooManyRequests {
		return d
	}
	ra, hasRA := transport.ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	switch {
	case isSecondary(body):
		d.Limited, d.Reason = true, fmt.Sprintf("GitHub secondary rate limit (HTTP %d)", resp.StatusCode)
		if hasRA {
			d.RetryAfter = ra
		}
	case d.Remaining == 0:
		d.Limited, d.Reason = true, fmt.Sprintf("GitHub API rate limit exhausted (HTTP %d)", resp.StatusCode)
		switch {
		case hasRA:
			d.RetryAfter = ra
		case !d.Reset.IsZero():
			// The reset is in whole seconds: one more keeps us from
			// arriving a moment early and burning a request.
			d.RetryAfter = max(time.Until(d.Reset)+time.Second, time.Second)
		}
	case resp.StatusCode == http.StatusTooManyRequests:
		d.Limited, d.Reason = true, "GitHub HTTP 429"
		d.RetryAfter = ra
	}
	if d.Limited {
		d.Scope = connectors.ScopeTarget
	}
	return d
}

// isSecondary recognises a secondary-limit body by its message or its
// documentation link.
func isSecondary(body []byte) bool {
	if len(body) == 0 {
		return false
	}
	if strings.Contains(strings.ToLower(string(body)), "secondary rate limit") {
		return true
	}
	var e struct {
		DocumentationURL string `json:"documentation_url"`
	}
	if json.Unmarshal(body, &e) != nil {
		return false
	}
	return strings.HasSuffix(e.DocumentationURL, "secondary-rate-limits") ||
		strings.HasSuffix(e.DocumentationURL, "#abuse-rate-limits")
}
