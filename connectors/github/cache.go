package github

import (
	"bytes"
	"container/list"
	"io"
	"net/http"
	"strings"
	"sync"
)

// etagCache makes re-reads of one issue, its parent and its comments
// conditional: GitHub answers 304 for what did not change, and a 304 is
// not counted against the quota. The syncer re-reads records a lot (every
// webhook, including the echo of its own writes, and every sweep), so this
// keeps those reads free. Listings are left alone: Changes keeps its own
// ETag in the cursor.
type etagCache struct {
	mu    sync.Mutex
	max   int
	order *list.List // of *cached, most recent first
	byURL map[string]*list.Element
}

type cached struct {
	url    string
	etag   string
	header http.Header
	body   []byte
}

func newETagCache(max int) *etagCache {
	return &etagCache{max: max, order: list.New(), byURL: map[string]*list.Element{}}
}

// cacheable reports whether a request reads one issue or what hangs off it.
func cacheable(req *http.Request) bool {
	if req.Method != http.MethodGet || req.Header.Get("If-None-Match") != "" {
		return false
	}
	_, rest, ok := strings.Cut(req.URL.Path, "/issues/")
	return ok && rest != "" && rest[0] >= '0' && rest[0] <= '9'
}

func (c *etagCache) get(url string) *cached {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.byURL[url]; ok {
		c.order.MoveToFront(e)
		return e.Value.(*cached)
	}
	return nil
}

func (c *etagCache) put(v *cached) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.byURL[v.url]; ok {
		e.Value = v
		c.order.MoveToFront(e)
		return
	}
	c.byURL[v.url] = c.order.PushFront(v)
	for c.order.Len() > c.max {
		old := c.order.Remove(c.order.Back()).(*cached)
		delete(c.byURL, old.url)
	}
}

func (c *etagCache) drop(url string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.byURL[url]; ok {
		c.order.Remove(e)
		delete(c.byURL, url)
	}
}

// roundTrip sends req conditionally when a cached answer exists, and
// turns a 304 into that answer.
func (c *etagCache) roundTrip(next http.RoundTripper, req *http.Request) (*http.Response, error) {
	url := req.URL.String()
	prev := c.get(url)
	if prev != nil {
		req = req.Clone(req.Context())
		req.Header.Set("If-None-Match", prev.etag)
	}
	resp, err := next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	switch {
	case resp.StatusCode == http.StatusNotModified && prev != nil:
		resp.Body.Close()
		h := prev.header.Clone()
		for k, v := range resp.Header { // fresh quota headers
			h[k] = v
		}
		return &http.Response{
			Status: "200 OK", StatusCode: http.StatusOK, Proto: resp.Proto, ProtoMajor: resp.ProtoMajor, ProtoMinor: resp.ProtoMinor,
			Header: h, Body: io.NopCloser(bytes.NewReader(prev.body)), ContentLength: int64(len(prev.body)), Request: resp.Request,
		}, nil
	case resp.StatusCode == http.StatusOK && resp.Header.Get("ETag") != "":
		body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
		resp.Body.Close()
		if err != nil {
			return nil, err
		}
		c.put(&cached{url: url, etag: resp.Header.Get("ETag"), header: resp.Header.Clone(), body: body})
		resp.Body = io.NopCloser(bytes.NewReader(body))
		return resp, nil
	default:
		c.drop(url)
		return resp, nil
	}
}
