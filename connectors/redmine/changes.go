package redmine

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/backlogd/backlogd/connectors"
)

// cursor is where Changes continues: a window start in whole UTC seconds,
// an offset into the listing, and the issues already returned whose
// updated_on falls in the overlap Redmine's filter gives
// ("updated_on>=T" is "> T-1s" in SQL, so the second before T is listed
// again), with the digest of the fields each was returned with: an edit
// in the same second keeps updated_on but not the digest. pass is set
// while a crowded second is paged by id (see Changes): the newest
// updated_on in the project when that pass began. Encoded as
// "v1 SINCE OFFSET id:unix:digest,id:unix:digest", or during a pass
// "v2 SINCE OFFSET PASS id:unix:digest,..."; entries written before
// digests were kept ("id:unix") match on updated_on alone.
type cursor struct {
	since  int64 // unix seconds; 0 means from the beginning
	offset int
	pass   int64 // > 0 while paging by id
	seen   map[int]seenAt
}

// seenAt is what a cursor remembers of an issue it returned.
type seenAt struct {
	updated int64  // updated_on, unix seconds
	digest  string // connectors.Digest of its fields and marker; "" unknown
}

// repeats reports whether an issue listed with updated_on u and digest
// d is one already returned (or older than it).
func (c cursor) repeats(id int, u int64, d string) bool {
	s, ok := c.seen[id]
	return ok && (u < s.updated || u == s.updated && (s.digest == "" || s.digest == d))
}

func parseCursor(s string) (cursor, error) {
	c := cursor{seen: map[int]seenAt{}}
	if s == "" {
		return c, nil
	}
	parts := strings.Split(s, " ")
	switch {
	case len(parts) == 4 && parts[0] == "v1":
	case len(parts) == 5 && parts[0] == "v2":
		var err error
		if c.pass, err = strconv.ParseInt(parts[3], 10, 64); err != nil || c.pass <= 0 {
			return c, fmt.Errorf("cursor %q: bad pass", s)
		}
		parts = append(parts[:3], parts[4])
	default:
		return c, fmt.Errorf("cursor %q is not a Redmine cursor", s)
	}
	var err error
	if c.since, err = strconv.ParseInt(parts[1], 10, 64); err != nil {
		return c, fmt.Errorf("cursor %q: bad time", s)
	}
	if c.offset, err = strconv.Atoi(parts[2]); err != nil || c.offset < 0 {
		return c, fmt.Errorf("cursor %q: bad offset", s)
	}
	if parts[3] != "-" {
		for _, p := range strings.Split(parts[3], ",") {
			id, rest, ok := strings.Cut(p, ":")
			u, d, _ := strings.Cut(rest, ":")
			n, err1 := strconv.Atoi(id)
			t, err2 := strconv.ParseInt(u, 10, 64)
			if !ok || err1 != nil || err2 != nil || !isHex(d) {
				return c, fmt.Errorf("cursor %q: bad entry %q", s, p)
			}
			c.seen[n] = seenAt{updated: t, digest: d}
		}
	}
	return c, nil
}

func (c cursor) String() string {
	ids := make([]int, 0, len(c.seen))
	for id := range c.seen {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var b strings.Builder
	for i, id := range ids {
		if i > 0 {
			b.WriteByte(',')
		}
		e := c.seen[id]
		fmt.Fprintf(&b, "%d:%d", id, e.updated)
		if e.digest != "" {
			b.WriteString(":" + e.digest)
		}
	}
	seen := b.String()
	if seen == "" {
		seen = "-"
	}
	if c.pass > 0 {
		return fmt.Sprintf("v2 %d %d %d %s", c.since, c.offset, c.pass, seen)
	}
	return fmt.Sprintf("v1 %d %d %s", c.since, c.offset, seen)
}

func isHex(s string) bool {
	for _, r := range s {
		if !('0' <= r && r <= '9' || 'a' <= r && r <= 'f') {
			return false
		}
	}
	return true
}

// keepFrom drops seen entries older than the overlap of a window at since.
func (c *cursor) keepFrom(since int64) {
	for id, e := range c.seen {
		if e.updated < since-1 {
			delete(c.seen, id)
		}
	}
}

// Changes implements connectors.Connector: issues of the project, closed
// ones included (status_id=*), by updated_on ascending, one page per call.
//
// Paging by offset in that order would skip an issue whenever one listed
// earlier is edited and moves to the end; so the window start moves
// forward to the newest updated_on of each page instead. When a whole
// page holds nothing newer than the window start (many issues saved in
// one second), the issues updated since then are paged by id, an order
// edits do not change, backing up a little at each page to absorb issues
// deleted or moved out of the project meanwhile. That pass ends with the
// window at the newest updated_on the project had when it began, so an
// issue edited behind the pass is listed again. Pairs already returned
// are dropped, unless the issue's digest changed: an edit in the second
// of the one returned keeps updated_on. Comments are not loaded (Get
// does); a note edited in place does not change the issue's updated_on,
// nor one added in the second of the change before it, so only the
// periodic full sweep sees those.
func (c *Connector) Changes(ctx context.Context, cur string) (connectors.Page, error) {
	m, err := c.metadata(ctx)
	if err != nil {
		return connectors.Page{}, err
	}
	cu, err := parseCursor(cur)
	if err != nil {
		// A cursor from another connector or version: start over; the
		// syncer drops what it already knows.
		c.log.Warn("redmine: unreadable cursor; listing from the beginning", "error", err)
		cu = cursor{seen: map[int]seenAt{}}
	}
	q := url.Values{
		"project_id": {strconv.Itoa(m.projectID)},
		"status_id":  {"*"},
		"sort":       {"updated_on,id"},
		"limit":      {strconv.Itoa(c.cfg.PageSize)},
		"offset":     {strconv.Itoa(cu.offset)},
	}
	if cu.pass > 0 {
		q.Set("sort", "id")
	}
	if cu.since > 0 {
		q.Set("updated_on", ">="+time.Unix(cu.since, 0).UTC().Format(time.RFC3339))
	}
	var l issueList
	if err := c.do(ctx, call{method: http.MethodGet, path: "/issues.json", query: q, out: &l, cache: true}); err != nil {
		return connectors.Page{}, fmt.Errorf("redmine: list issues of %s changed since %s: %w", c.cfg.Project, time.Unix(cu.since, 0).UTC().Format(time.RFC3339), err)
	}
	var page connectors.Page
	newest := cu.since
	for i := range l.Issues {
		is := &l.Issues[i]
		u := is.UpdatedOn.Unix()
		if cu.since > 0 && u < cu.since-1 {
			continue
		}
		rec := c.record(m, is)
		_, d, _ := strings.Cut(rec.Version, "~")
		if cu.repeats(is.ID, u, d) {
			continue
		}
		cu.seen[is.ID] = seenAt{updated: u, digest: d}
		newest = max(newest, u)
		page.Records = append(page.Records, rec)
	}
	n := len(l.Issues)
	more := n > 0 && cu.offset+n < l.TotalCount
	page.More = more
	switch {
	case cu.pass > 0 && more:
		cu.offset += step(n)
	case cu.pass > 0:
		// Every issue updated since the window start was listed, or was
		// edited during the pass and so updated at or after its start.
		cu.since, cu.offset, cu.pass = max(cu.since, cu.pass), 0, 0
	case !more || newest > cu.since:
		cu.since, cu.offset = newest, 0
	default:
		// A full page of one second: page the window by id from here.
		pass, err := c.newestUpdate(ctx, m)
		if err != nil {
			return connectors.Page{}, fmt.Errorf("redmine: list issues of %s changed since %s: %w", c.cfg.Project, time.Unix(cu.since, 0).UTC().Format(time.RFC3339), err)
		}
		cu.pass, cu.offset = max(pass, cu.since), 0
	}
	cu.keepFrom(cu.since)
	page.Cursor = cu.String()
	return page, nil
}

// step is how far a pass by id moves after a page of n issues: a little
// less than the page, so an issue that shifts back because one before it
// was deleted or moved to another project is still read.
func step(n int) int { return max(1, n-min(n/4, 10)) }

// newestUpdate returns the newest updated_on (unix seconds) among the
// project's issues, 0 when it has none.
func (c *Connector) newestUpdate(ctx context.Context, m *meta) (int64, error) {
	q := url.Values{
		"project_id": {strconv.Itoa(m.projectID)},
		"status_id":  {"*"},
		"sort":       {"updated_on:desc,id:desc"},
		"limit":      {"1"},
	}
	var l issueList
	if err := c.do(ctx, call{method: http.MethodGet, path: "/issues.json", query: q, out: &l, cache: true}); err != nil {
		return 0, err
	}
	if len(l.Issues) == 0 {
		return 0, nil
	}
	return l.Issues[0].UpdatedOn.Unix(), nil
}
