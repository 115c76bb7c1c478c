package github

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/backlogd/backlogd/connectors"
)

// cursor is the state of Changes between calls, stored by the syncer as
// an opaque string.
type cursor struct {
	// Since is the listing's since parameter (zero: from the beginning).
	Since time.Time `json:"since,omitzero"`
	// Page is the page to read at Since (0 or 1: the first). Pages
	// advance by moving Since to the last updated_at seen, which is
	// immune to issues moving to the end of the listing while it is read;
	// page numbers are only used when a whole page shares one second.
	Page int `json:"page,omitempty"`
	// ByCreated is set while paging through such a second: the issues
	// updated since Since are then listed in creation order, which an
	// edit does not change. Paging by number in update order would skip
	// an issue whenever one already read is edited and moves to the end.
	ByCreated bool `json:"by_created,omitempty"`
	// PerPage is the page size of such a pass's next request (0: the
	// configured one). GitHub pages by number, so each page starts at a
	// multiple of its size; the pass varies the size so that every page
	// starts a few issues before the previous one ended (see passPage).
	PerPage int `json:"per_page,omitempty"`
	// PassStart is GitHub's clock (the Date header) when the pass in
	// creation order began: an issue edited during the pass, after the
	// pass read it, was updated at or after it, so Since never moves
	// past it when the pass ends.
	PassStart time.Time `json:"pass_start,omitzero"`
	// ETag of the answer to the request ETagFor, sent back as
	// If-None-Match when that request is made again.
	ETag    string `json:"etag,omitempty"`
	ETagFor string `json:"etag_for,omitempty"`
	// Seen maps issue numbers to the updated_at already returned, for
	// updates at or after Since: the overlap GitHub returns again.
	Seen map[int]time.Time `json:"seen,omitempty"`
	// Sums holds a digest of each issue in Seen as it was returned: an
	// edit made in the same second keeps updated_at (GitHub's resolution
	// is one second) but not the digest, so it is returned again rather
	// than dropped as a repeat. Cursors written before it have none, and
	// fall back to updated_at alone.
	Sums map[int]uint32 `json:"sums,omitempty"`
	// Full is set while a listing from the start of the repository is
	// under way, and Pass names the connector (process) that began it:
	// when it catches up in that same connector, every issue's marker was
	// seen by it. A listing begun by an earlier process (the cursor
	// outlives a restart) or another replica leaves the index incomplete:
	// the pages it read before are in no memory here.
	Full bool   `json:"full,omitempty"`
	Pass string `json:"pass,omitempty"`
}

// digest sums what a listing shows of an issue that an edit can change.
func digest(is *issue) uint32 {
	h := fnv.New32a()
	put := func(s string) {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	put(is.GetTitle())
	put(is.GetBody())
	put(is.GetState())
	put(is.GetStateReason())
	for _, l := range is.Labels {
		put(l.GetName())
	}
	put("|")
	for _, a := range is.Assignees {
		put(a.GetLogin())
	}
	put("|")
	put(is.GetMilestone().GetTitle())
	if is.Type != nil {
		put(is.Type.Name)
	}
	put(strconv.Itoa(is.GetComments()))
	put(string(is.ParentIssueURL))
	return h.Sum32()
}

// forgetBefore drops the issues returned with an updated_at before
// since: a query from since cannot list them again unless they change,
// and then their updated_at is newer. Done whenever since moves, so a
// long first listing does not carry every issue it listed in the cursor
// the syncer stores after each page.
func (c *cursor) forgetBefore(since time.Time) {
	for n, t := range c.Seen {
		if t.Before(since) {
			delete(c.Seen, n)
			delete(c.Sums, n)
		}
	}
}

func decodeCursor(s string) (cursor, error) {
	var c cursor
	if s == "" {
		return c, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		err = json.Unmarshal(b, &c)
	}
	if err != nil {
		return cursor{}, connectors.Terminalf("github: changes: cursor %.20q… is not one this connector wrote; reset the target's cursor (backlogd resync --target)", s)
	}
	return c, nil
}

func (c cursor) encode() string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

// key names the request the cursor makes next.
func (c cursor) key() string {
	k := c.Since.UTC().Format(time.RFC3339) + "#" + strconv.Itoa(max(c.Page, 1))
	if c.ByCreated {
		k += "#created#" + strconv.Itoa(c.PerPage)
	}
	return k
}

// passPage returns the page and page size that read on from a page of
// a pass in creation order which began at item start (0-based) and held
// n items, size being the largest page. The new page starts before the
// old one ended (by at least one item, and at most a quarter of the
// largest page),
// so an issue that shifts back because one read before it was deleted or
// transferred is still read; the overlap is dropped as repeats. GitHub's
// page p of per_page q starts at (p-1)*q: among the starts and sizes that
// fit, the one reading furthest is taken, which keeps pages nearly full.
func passPage(start, n, size int) (page, perPage int) {
	end := start + n
	back := max(1, size/4)
	best, bestQ := end, 0
	for q := size; q > best-end; q-- {
		// The highest multiple of q that starts before end.
		x := (end - 1) / q * q
		if x >= end-back && x+q > best {
			best, bestQ = x+q, q
		}
	}
	if bestQ == 0 {
		// Pages of one item: nothing to overlap with that moves on.
		return end + 1, 1
	}
	return (best-bestQ)/bestQ + 1, bestQ
}

// Changes implements connectors.Connector. It lists issues (and drops
// pull requests) by update time, oldest first; see the package
// documentation for the cursor and the conditional requests.
func (c *Connector) Changes(ctx context.Context, cur string) (connectors.Page, error) {
	cs, err := decodeCursor(cur)
	if err != nil {
		return connectors.Page{}, err
	}
	if cur == "" {
		cs.Full, cs.Pass = true, c.pass
	}
	q := url.Values{}
	q.Set("state", "all")
	q.Set("sort", "updated")
	if cs.ByCreated {
		q.Set("sort", "created")
	}
	q.Set("direction", "asc")
	perPage := c.cfg.PageSize
	if cs.ByCreated && cs.PerPage > 0 {
		perPage = cs.PerPage
	}
	q.Set("per_page", strconv.Itoa(perPage))
	if !cs.Since.IsZero() {
		q.Set("since", cs.Since.UTC().Format(time.RFC3339))
	}
	if cs.Page > 1 {
		q.Set("page", strconv.Itoa(cs.Page))
	}
	var hdr []string
	if cs.ETag != "" && cs.ETagFor == cs.key() {
		// Weak ETags (W/"…") go back exactly as received.
		hdr = []string{"If-None-Match", cs.ETag}
	}
	var issues []*issue
	resp, err := c.call(ctx, "list changed issues", http.MethodGet, c.repoPath()+"/issues?"+q.Encode(), nil, &issues, hdr...)
	if errors.Is(err, errNotModified) {
		// Nothing changed, and GitHub did not count the request.
		c.log.Debug("changes: not modified", "since", cs.Since)
		return connectors.Page{Cursor: cur}, nil
	}
	if err != nil {
		return connectors.Page{}, err
	}
	if tag := resp.Header.Get("ETag"); tag != "" {
		cs.ETag, cs.ETagFor = tag, cs.key()
	}
	if cs.Seen == nil {
		cs.Seen = map[int]time.Time{}
	}
	if cs.Sums == nil {
		cs.Sums = map[int]uint32{}
	}
	page := connectors.Page{}
	var last time.Time
	for _, is := range issues {
		up := is.GetUpdatedAt().UTC()
		last = up
		if is.IsPullRequest() {
			continue
		}
		n, sum := is.GetNumber(), digest(is)
		if seen, ok := cs.Seen[n]; ok && !up.After(seen) {
			if old, known := cs.Sums[n]; !known || old == sum {
				continue
			}
		}
		cs.Seen[n], cs.Sums[n] = up, sum
		page.Records = append(page.Records, c.record(is))
	}
	switch {
	case resp.NextPage != 0 && cs.ByCreated:
		cs.Page, cs.PerPage = passPage((max(cs.Page, 1)-1)*perPage, len(issues), c.cfg.PageSize)
		page.More = true
	case resp.NextPage != 0 && last.After(cs.Since):
		cs.Since, cs.Page = last, 1
		cs.forgetBefore(cs.Since)
		page.More = true
	case resp.NextPage != 0:
		// A whole page shares the second Since: page through everything
		// updated since then in creation order.
		cs.ByCreated, cs.Page, cs.PerPage = true, 1, 0
		cs.PassStart = cs.Since
		if d, err := http.ParseTime(resp.Header.Get("Date")); err == nil && d.After(cs.Since) {
			cs.PassStart = d.UTC()
		}
		page.More = true
	default:
		// Caught up: stay a little behind the newest update, for writes
		// GitHub shows late, and drop what falls out of the window.
		var newest time.Time
		for _, t := range cs.Seen {
			if t.After(newest) {
				newest = t
			}
		}
		pass, passStart := cs.ByCreated, cs.PassStart
		if pass && newest.After(passStart) {
			newest = passStart
		}
		cs.Page, cs.ByCreated, cs.PassStart, cs.PerPage = 1, false, time.Time{}, 0
		since := newest.Add(-c.cfg.CursorLag)
		// Once GitHub's clock is a lag past the newest update, no write
		// can still show up behind it: the window moves past the newest
		// second, where it is empty and stays put, so idle polls are free
		// 304s however many issues the last burst touched (a window of
		// more than a page is never answered 304). A pass in creation
		// order must have begun that late too, or an edit it made in the
		// newest second would fall behind the window.
		lag := newest.Add(c.cfg.CursorLag)
		if d, err := http.ParseTime(resp.Header.Get("Date")); err == nil && !newest.IsZero() && !d.Before(lag) && (!pass || !passStart.Before(lag)) {
			since = newest.Truncate(time.Second).Add(time.Second)
		}
		if since.After(cs.Since) {
			cs.Since = since
		}
		cs.forgetBefore(cs.Since)
		if cs.Full && cs.Pass == c.pass {
			c.mu.Lock()
			c.index.complete = true
			c.mu.Unlock()
		}
		cs.Full, cs.Pass = false, ""
	}
	page.Cursor = cs.encode()
	return page, nil
}

// FindByMarker implements connectors.Connector. The syncer asks it
// before a create whose outcome it does not know (a crash, a lease
// handed over to another replica), so a wrong "not found" makes a
// duplicate; it therefore trusts the connector's own index (see
// markerIndex) only for what it holds. An issue it listed or created with
// the marker is read back by number and returned when it still carries
// it; any other answer comes from GitHub. The search API is eventually
// consistent: an issue created a second ago is not in its index yet, and
// that is exactly the case the syncer asks about. So the issues the
// token's user created most recently are scanned first, a consistent
// listing that sees creates made a moment ago by this process, an
// earlier one or another replica; the search API is asked only when they
// do not hold the marker (older issues, issues adopted from other users),
// and not even then once this connector listed the whole repository
// itself: an older issue with the marker would have been in that
// listing.
func (c *Connector) FindByMarker(ctx context.Context, marker string) (connectors.Record, error) {
	if !validMarker(marker) {
		return connectors.Record{}, fmt.Errorf("github: find marker %q: %w", marker, connectors.ErrNotFound)
	}
	c.mu.Lock()
	n, known := c.index.byMarker[marker]
	c.mu.Unlock()
	if known {
		rec, err := c.Get(ctx, strconv.Itoa(n))
		switch {
		case err == nil && rec.Marker == marker:
			return rec, nil
		case err != nil && !errors.Is(err, connectors.ErrNotFound):
			return connectors.Record{}, err
		}
		// Gone, or a person removed the marker: ask GitHub.
	}
	login, err := c.user(ctx)
	if err != nil {
		return connectors.Record{}, err
	}
	for page := 1; page != 0 && page <= c.cfg.RecentScan; {
		q := url.Values{"creator": {login}, "state": {"all"}, "sort": {"created"}, "direction": {"desc"},
			"per_page": {"100"}, "page": {strconv.Itoa(page)}}
		var issues []*issue
		resp, err := c.call(ctx, "list recent issues for marker "+marker, http.MethodGet, c.repoPath()+"/issues?"+q.Encode(), nil, &issues)
		if err != nil {
			return connectors.Record{}, err
		}
		for _, is := range issues {
			if _, m := parseBody(is.GetBody()); m == marker && !is.IsPullRequest() {
				return c.complete(ctx, is)
			}
		}
		page = resp.NextPage
	}
	c.mu.Lock()
	sure := c.index.complete && !c.index.uncertain[marker] && !known
	c.mu.Unlock()
	if sure {
		return connectors.Record{}, fmt.Errorf("github: find marker %s in %s/%s: not on the token user's recent issues, nor on any issue this connector listed: %w", marker, c.cfg.Owner, c.cfg.Repo, connectors.ErrNotFound)
	}
	q := fmt.Sprintf("repo:%s/%s is:issue in:body %q", c.cfg.Owner, c.cfg.Repo, searchPhrase(marker))
	var res struct {
		Items []*issue `json:"items"`
	}
	if _, err := c.call(ctx, "search marker "+marker, http.MethodGet, "search/issues?per_page=100&q="+url.QueryEscape(q), nil, &res); err != nil {
		return connectors.Record{}, err
	}
	// The search is by words: check the marker really is there.
	for _, is := range res.Items {
		if _, m := parseBody(is.GetBody()); m == marker && !is.IsPullRequest() && c.inRepo(is) {
			full, err := c.getIssue(ctx, is.GetNumber())
			if err != nil {
				return connectors.Record{}, err
			}
			return c.complete(ctx, full)
		}
	}
	return connectors.Record{}, fmt.Errorf("github: find marker %s in %s/%s: %w", marker, c.cfg.Owner, c.cfg.Repo, connectors.ErrNotFound)
}
