package redmine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/backlogd/backlogd/connectors"
)

// apiError is a 422 answer: Redmine's validation messages. An empty list
// is what a stale lock_version produces (ActiveRecord::StaleObjectError).
type apiError struct {
	Errors []string `json:"errors"`
}

func (e *apiError) Error() string {
	if len(e.Errors) == 0 {
		return "Redmine refused the write without a reason (a concurrent edit)"
	}
	return "Redmine refused it: " + strings.Join(e.Errors, "; ")
}

// call is one request to the REST API.
type call struct {
	method string
	path   string // below the base URL, like /issues/12.json
	query  url.Values
	in     any // JSON body, nil for none
	out    any // decoded answer, nil to ignore
	// cache makes a GET conditional (If-None-Match) and answers a 304
	// from the body stored with its ETag.
	cache bool
}

// do sends one request and maps Redmine's statuses to the connector's
// errors: 401 terminal for the whole target, 403 terminal for the
// endpoint (connectors.TerminalError.Scope), 404 ErrNotFound, 422
// *apiError, 429/503 with Retry-After a rate limit. The caller adds what
// it was doing.
func (c *Connector) do(ctx context.Context, k call) error {
	if c.pace != nil {
		if err := c.pace.Wait(ctx); err != nil {
			return err
		}
	}
	u := c.cfg.URL + k.path
	if len(k.query) > 0 {
		// Encode turns ">=" into %3E%3D, which Redmine's filters need.
		u += "?" + k.query.Encode()
	}
	var body io.Reader
	if k.in != nil {
		b, err := json.Marshal(k.in)
		if err != nil {
			return fmt.Errorf("encode request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, k.method, u, body)
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("X-Redmine-API-Key", c.cfg.APIKey.Reveal())
	req.Header.Set("Accept", "application/json")
	if k.in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	var cached *etagEntry
	if k.cache && k.method == http.MethodGet {
		if cached = c.etags.get(u); cached != nil {
			req.Header.Set("If-None-Match", cached.etag)
		}
	}
	resp, err := c.http.Do(req)
	if err != nil {
		var rl *connectors.RateLimitError
		if errors.As(err, &rl) {
			return rl
		}
		// The URL may carry nothing secret (the key is a header), but keep
		// the error short: method and path.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("%s %s: %w", k.method, k.path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return fmt.Errorf("%s %s: read answer: %w", k.method, k.path, err)
	}
	switch s := resp.StatusCode; {
	case s == http.StatusNotModified && cached != nil:
		data = cached.body
	case s >= 200 && s < 300:
		if et := resp.Header.Get("ETag"); k.cache && et != "" && k.method == http.MethodGet {
			c.etags.put(u, et, data)
		}
	case s == http.StatusUnauthorized:
		return connectors.ScopedTerminalf(connectors.ScopeTarget, "the API key was refused (HTTP 401): check api_key, that its user is active, and that the REST API is enabled in Administration › Settings › API")
	case s == http.StatusForbidden:
		return connectors.ScopedTerminalf(connectors.ScopeEndpoint, "%s %s: the API key's user may not do this in project %s (HTTP 403): give its role the permission (view/add/edit issues, notes) or use another key", k.method, k.path, c.cfg.Project)
	case s == http.StatusNotFound:
		return connectors.ErrNotFound
	case s == http.StatusUnprocessableEntity:
		e := &apiError{}
		if err := json.Unmarshal(data, e); err != nil {
			return fmt.Errorf("%s %s: HTTP 422 with an unreadable body: %.200q", k.method, k.path, data)
		}
		return e
	default:
		if rl := c.http.RateLimitFrom(resp); rl != nil {
			return rl
		}
		return fmt.Errorf("%s %s: HTTP %d: %.200s", k.method, k.path, s, bytes.TrimSpace(data))
	}
	if k.out != nil && len(bytes.TrimSpace(data)) > 0 {
		if err := json.Unmarshal(data, k.out); err != nil {
			return fmt.Errorf("%s %s: decode answer: %w", k.method, k.path, err)
		}
	}
	return nil
}

// etagCache keeps the last body of conditional GETs by URL. Redmine sends
// weak ETags computed from the body (Rack::ETag) and answers 304 to a
// matching If-None-Match: an idle poll costs one cheap request.
type etagCache struct {
	mu      sync.Mutex
	max     int
	entries map[string]*etagEntry
	order   []string // insertion order, for eviction
}

type etagEntry struct {
	etag string
	body []byte
}

func newETagCache(max int) *etagCache {
	return &etagCache{max: max, entries: map[string]*etagEntry{}}
}

func (e *etagCache) get(u string) *etagEntry {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.entries[u]
}

func (e *etagCache) put(u, etag string, body []byte) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.entries[u]; !ok {
		e.order = append(e.order, u)
	}
	e.entries[u] = &etagEntry{etag: etag, body: body}
	for len(e.order) > e.max {
		delete(e.entries, e.order[0])
		e.order = e.order[1:]
	}
}
