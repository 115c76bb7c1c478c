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
// an offset into that window, and the (id, updated_on) pairs already
// returned whose updated_on falls in the overlap Redmine's filter gives
// ("updated_on>=T" is "> T-1s" in SQL, so the second before T is listed
// again). Encoded as "v1 SINCE OFFSET id:unix,id:unix".
type cursor struct {
	since  int64 // unix seconds; 0 means from the beginning
	offset int
	seen   map[int]int64
}

func parseCursor(s string) (cursor, error) {
	c := cursor{seen: map[int]int64{}}
	if s == "" {
		return c, nil
	}
	parts := strings.Split(s, " ")
	if len(parts) != 4 || parts[0] != "v1" {
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
			id, u, ok := strings.Cut(p, ":")
			n, err1 := strconv.Atoi(id)
			t, err2 := strconv.ParseInt(u, 10, 64)
			if !ok || err1 != nil || err2 != nil {
				return c, fmt.Errorf("cursor %q: bad entry %q", s, p)
			}
			c.seen[n] = t
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
		fmt.Fprintf(&b, "%d:%d", id, c.seen[id])
	}
	seen := b.String()
	if seen == "" {
		seen = "-"
	}
	return fmt.Sprintf("v1 %d %d %s", c.since, c.offset, seen)
}

// keepFrom drops seen pairs older than the overlap of a window at since.
func (c *cursor) keepFrom(since int64) {
	for id, u := range c.seen {
		if u < since-1 {
			delete(c.seen, id)
		}
	}
}

// Changes implements connectors.Connector: issues of the project, closed
// ones included (status_id=*), by updated_on ascending, one page per call.
//
// Paging by offset alone would skip an issue whenever one listed earlier
// is edited and moves to the end; so the window start moves forward to
// the newest updated_on of each page, and the offset is only used while a
// page holds nothing newer (many issues in the same second), backing up a
// little to absorb such moves. Pairs already returned are dropped.
// Comments are not loaded (Get does); a note edited in place does not
// change the issue's updated_on, so only the periodic full sweep sees it.
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
		cu = cursor{seen: map[int]int64{}}
	}
	q := url.Values{
		"project_id": {strconv.Itoa(m.projectID)},
		"status_id":  {"*"},
		"sort":       {"updated_on,id"},
		"limit":      {strconv.Itoa(c.cfg.PageSize)},
		"offset":     {strconv.Itoa(cu.offset)},
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
		if (cu.since > 0 && u < cu.since-1) || cu.seen[is.ID] == u {
			continue
		}
		cu.seen[is.ID] = u
		newest = max(newest, u)
		page.Records = append(page.Records, c.record(m, is))
	}
	n := len(l.Issues)
	page.More = n > 0 && cu.offset+n < l.TotalCount
	switch {
	case !page.More || newest > cu.since:
		cu.since, cu.offset = newest, 0
	default:
		// A full page of one second: step through it by offset.
		cu.offset += max(1, n-min(n/4, 10))
	}
	cu.keepFrom(cu.since)
	page.Cursor = cu.String()
	return page, nil
}
