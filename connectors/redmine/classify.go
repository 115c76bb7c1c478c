package redmine

import (
	"fmt"
	"net/http"
	"time"

	"github.com/backlogd/backlogd/connectors/transport"
)

// Classify reads rate-limit signals from a Redmine response. Redmine core
// never limits; a reverse proxy in front of it (nginx limit_req, a
// maintenance page) answers 429, or 503 with Retry-After. A 503 without
// Retry-After is an outage, left to the transport's 5xx retries.
func Classify(resp *http.Response, _ []byte) transport.Decision {
	d := transport.Decision{Remaining: -1}
	ra, hasRA := transport.ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		d.Limited, d.RetryAfter = true, ra
	case resp.StatusCode == http.StatusServiceUnavailable && hasRA:
		d.Limited, d.RetryAfter = true, ra
	}
	if d.Limited {
		d.Reason = fmt.Sprintf("HTTP %d from Redmine or its proxy", resp.StatusCode)
	}
	return d
}
