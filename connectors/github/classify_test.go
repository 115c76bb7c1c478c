package github

import (
	"net/http"
	"strconv"
	"testing"
	"time"
)

func TestClassify(t *testing.T) {
	reset := time.Now().Add(10 * time.Minute).Unix()
	secondaryBody := `{"message":"You have exceeded a secondary rate limit. Please wait a few minutes before you try again.","documentation_url":"https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"}`
	docOnlyBody := `{"message":"Slow down","documentation_url":"https://docs.github.com/rest/overview/secondary-rate-limits"}`
	tests := []struct {
		name    string
		status  int
		header  http.Header
		body    string
		limited bool
		// wait: exact RetryAfter, or -1 for "about until reset"
		wait time.Duration
	}{
		{name: "a 403 with no quota left waits until the reset", status: 403,
			header: header("X-RateLimit-Remaining", "0", "X-RateLimit-Reset", strconv.FormatInt(reset, 10)),
			body:   `{"message":"API rate limit exceeded for user ID 1."}`, limited: true, wait: -1},
		{name: "a 429 with no quota left waits until the reset", status: 429,
			header:  header("X-RateLimit-Remaining", "0", "X-RateLimit-Reset", strconv.FormatInt(reset, 10)),
			limited: true, wait: -1},
		{name: "a 403 secondary limit without Retry-After lets the client back off from its minimum", status: 403,
			body: secondaryBody, limited: true, wait: 0},
		{name: "a 403 secondary limit with Retry-After obeys it", status: 403,
			header: header("Retry-After", "90"), body: secondaryBody, limited: true, wait: 90 * time.Second},
		{name: "a 429 secondary limit without Retry-After lets the client back off from its minimum", status: 429,
			body: secondaryBody, limited: true, wait: 0},
		{name: "a 429 secondary limit with Retry-After obeys it", status: 429,
			header: header("Retry-After", "30"), body: secondaryBody, limited: true, wait: 30 * time.Second},
		{name: "a 403 recognised by its documentation URL alone is a secondary limit", status: 403,
			body: docOnlyBody, limited: true, wait: 0},
		{name: "a secondary limit wins over quota headers that still show requests left", status: 403,
			header: header("X-RateLimit-Remaining", "4000", "X-RateLimit-Reset", strconv.FormatInt(reset, 10)),
			body:   secondaryBody, limited: true, wait: 0},
		{name: "a plain 429 with Retry-After waits that long", status: 429,
			header: header("Retry-After", "3"), body: `{"message":"Too Many Requests"}`, limited: true, wait: 3 * time.Second},
		{name: "a plain 403 is a permission problem, not a limit", status: 403,
			header: header("X-RateLimit-Remaining", "4999"),
			body:   `{"message":"Resource not accessible by personal access token"}`},
		{name: "a 403 with an unreadable body and quota left is not a limit", status: 403, body: "<html>nope</html>"},
		{name: "a 404 is not a limit", status: 404, body: `{"message":"Not Found"}`},
		{name: "a 200 with quota headers is not a limit but reports the quota", status: 200,
			header: header("X-RateLimit-Remaining", "12", "X-RateLimit-Reset", strconv.FormatInt(reset, 10))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := tt.header
			if h == nil {
				h = http.Header{}
			}
			d := Classify(&http.Response{StatusCode: tt.status, Header: h}, []byte(tt.body))
			if d.Limited != tt.limited {
				t.Fatalf("Limited = %v, want %v (reason %q)", d.Limited, tt.limited, d.Reason)
			}
			switch {
			case !tt.limited:
			case tt.wait == -1:
				if d.RetryAfter < 9*time.Minute || d.RetryAfter > 11*time.Minute {
					t.Errorf("RetryAfter = %v, want about 10m (until the reset)", d.RetryAfter)
				}
			case d.RetryAfter != tt.wait:
				t.Errorf("RetryAfter = %v, want %v", d.RetryAfter, tt.wait)
			}
			if tt.limited && d.Reason == "" {
				t.Error("a limit must say why, for logs")
			}
			if rem := h.Get("X-RateLimit-Remaining"); rem != "" && strconv.Itoa(d.Remaining) != rem {
				t.Errorf("Remaining = %d, want %s", d.Remaining, rem)
			}
		})
	}
}
