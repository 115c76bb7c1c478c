package jira

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/backlogd/backlogd/connectors"
)

// searchFields are the fields searches return: every navigable field
// (custom ones included), without comments, which Get reads.
const searchFields = "*navigable,-comment"

// searchPage is one page of a search, on either product.
type searchPage struct {
	issues []issue
	// next is Cloud's nextPageToken; startAt and total Data Center's.
	next    string
	startAt int
	total   int
	more    bool
}

// search runs one page of a JQL query. Cloud removed /rest/api/{2,3}/search
// (CHANGE-2046, 410 Gone since 2025): it pages /rest/api/3/search/jql with
// nextPageToken and says isLast, never a total. go-jira v1.17.0's
// SearchV2JQL drops the token, so the request is built here. Data Center
// keeps /rest/api/2/search with startAt and total.
func (c *Connector) search(ctx context.Context, m *meta, op, jql, token string, startAt, max int, fields string) (searchPage, error) {
	q := url.Values{"jql": {jql}, "maxResults": {strconv.Itoa(max)}, "fields": {fields}, "properties": {markerProperty}}
	var p searchPage
	if m.cloud {
		if token != "" {
			q.Set("nextPageToken", token)
		}
		var res struct {
			Issues        []issue `json:"issues"`
			NextPageToken string  `json:"nextPageToken"`
			IsLast        bool    `json:"isLast"`
		}
		if err := c.do(ctx, call{op: op, method: http.MethodGet, path: "rest/api/3/search/jql", query: q, out: &res}); err != nil {
			return p, err
		}
		p.issues, p.next = res.Issues, res.NextPageToken
		p.more = !res.IsLast && res.NextPageToken != ""
		return p, nil
	}
	q.Set("startAt", strconv.Itoa(startAt))
	var res struct {
		StartAt int     `json:"startAt"`
		Total   int     `json:"total"`
		Issues  []issue `json:"issues"`
	}
	if err := c.do(ctx, call{op: op, method: http.MethodGet, path: "rest/api/2/search", query: q, out: &res}); err != nil {
		return p, err
	}
	p.issues, p.startAt, p.total = res.Issues, res.StartAt, res.Total
	p.more = len(res.Issues) > 0 && res.StartAt+len(res.Issues) < res.Total
	return p, nil
}

// step is how far Data Center's startAt moves after a page of n issues:
// a little less than the page, so an issue that shifts back because one
// listed before it was edited (and moved to the end) or deleted is still
// read; the overlap is dropped as repeats. Cloud's nextPageToken cannot
// back up.
func step(n int) int { return max(1, n-min(n/4, 10)) }

// jqlString quotes a JQL value.
func jqlString(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// jqlMinute writes t as JQL reads dates: minutes in the user's time zone.
// Near a daylight saving change a local time can name two instants (the
// repeated hour in autumn) and Jira may read the later one: the bound is
// then moved an hour earlier, which only lists a few issues again.
func jqlMinute(m *meta, t time.Time) string {
	_, off := t.In(m.loc).Zone()
	_, before := t.Add(-2 * time.Hour).In(m.loc).Zone()
	_, after := t.Add(2 * time.Hour).In(m.loc).Zone()
	if off != before || off != after {
		t = t.Add(-time.Hour)
	}
	return t.In(m.loc).Format("2006-01-02 15:04")
}

// cursor is the state of Changes between calls, stored by the syncer as
// an opaque string.
type cursor struct {
	V int `json:"v"`
	// Since is the newest updated time returned (zero: from the start).
	Since time.Time `json:"since,omitzero"`
	// Window is the lower bound of the query being paged, and Token or
	// StartAt where its next page starts.
	Window  time.Time `json:"window,omitzero"`
	Token   string    `json:"token,omitempty"`
	StartAt int       `json:"start,omitempty"`
	// Seen holds issue ids and the updated time (Unix ms) already
	// returned, for updates inside the window: the overlap Jira returns
	// again. Sums holds the digest of each as returned (its Version's):
	// on a site whose times have whole seconds an edit in the same second
	// keeps the time but not the digest. Cursors written before it have
	// none, and match on the time alone.
	Seen map[string]int64  `json:"seen,omitempty"`
	Sums map[string]string `json:"sums,omitempty"`
}

// repeats reports whether a listed record is one already returned (or
// an older state of it, from an index that lags).
func (c cursor) repeats(rec connectors.Record) bool {
	ms := rec.Updated.UnixMilli()
	seen, ok := c.Seen[rec.ID]
	if !ok || ms > seen {
		return false
	}
	if ms < seen {
		return true
	}
	sum, known := c.Sums[rec.ID]
	_, d, _ := strings.Cut(rec.Version, "~")
	return !known || sum == d
}

// forgetBefore drops the issues returned with an updated time before
// from, the lower bound of the next query: it cannot list them again
// unless they change, and then their time is newer. Done whenever the
// window moves, so a long first listing does not carry every issue it
// listed in the cursor the syncer stores after each page.
func (c *cursor) forgetBefore(from time.Time) {
	for id, ms := range c.Seen {
		if time.UnixMilli(ms).Before(from) {
			delete(c.Seen, id)
			delete(c.Sums, id)
		}
	}
}

func decodeCursor(s string) (cursor, error) {
	c := cursor{V: 1}
	if s == "" {
		return c, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		err = json.Unmarshal(b, &c)
	}
	if err != nil || c.V != 1 {
		return cursor{}, connectors.Terminalf("jira: changes: the cursor is not one this connector wrote; reset the target's cursor (backlogd resync --target)")
	}
	return c, nil
}

func (c cursor) encode() string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

// window is the lower bound a query from since uses: Overlap earlier, to
// the minute (JQL's resolution), so writes the index shows late and
// writes within the same minute are asked for again.
func (c *Connector) window(since time.Time) time.Time {
	if since.IsZero() {
		return time.Time{}
	}
	return since.Add(-c.cfg.Overlap).Truncate(time.Minute)
}

// Changes implements connectors.Connector: issues of the project by
// updated time, oldest first, one page per call, with JQL
//
//	project = "ACME" AND updated >= "2026-11-24 10:14" ORDER BY updated ASC, key ASC
//
// in the user's time zone. Paging deep into one query skips an issue
// whenever one already listed is edited and moves to the end, so a page
// whose newest update lies well past the window starts a new, narrower
// query; token or startAt paging is used while most of a page lies within
// the overlap of its newest update (an import, many edits in a minute),
// where the overlap of the next call brings back what a move skipped;
// Data Center's startAt pages also overlap a little, for a burst longer
// than that overlap. What was already returned is dropped (by id,
// updated time and digest). Comments are not loaded (Get does).
func (c *Connector) Changes(ctx context.Context, cur string) (connectors.Page, error) {
	m, err := c.metadata(ctx)
	if err != nil {
		return connectors.Page{}, err
	}
	cs, err := decodeCursor(cur)
	if err != nil {
		return connectors.Page{}, err
	}
	if cs.Seen == nil {
		cs.Seen = map[string]int64{}
	}
	if cs.Sums == nil {
		cs.Sums = map[string]string{}
	}
	query := func() (searchPage, error) {
		paging := cs.Token != "" || cs.StartAt > 0
		if !paging {
			cs.Window = c.window(cs.Since)
		}
		jql := "project = " + jqlString(c.cfg.Project)
		if !cs.Window.IsZero() {
			jql += " AND updated >= " + jqlString(jqlMinute(m, cs.Window))
		}
		jql += " ORDER BY updated ASC, key ASC"
		return c.search(ctx, m, "list issues changed since "+cs.Window.UTC().Format(time.RFC3339), jql, cs.Token, cs.StartAt, c.cfg.PageSize, searchFields)
	}
	p, err := query()
	var br *badRequest
	if err != nil && cs.Token != "" && errors.As(err, &br) {
		// Cloud's nextPageToken expires (a listing resumed after an
		// outage, a restart): ask the window again from its start, which
		// goes no later than where the token was; Seen drops repeats.
		c.log.Info("jira: the page token of a listing was refused; listing its window again", "error", err)
		cs.Token, cs.StartAt = "", 0
		p, err = query()
	}
	if err != nil {
		return connectors.Page{}, err
	}
	var page connectors.Page
	newest := cs.Since
	for i := range p.issues {
		rec, err := c.record(ctx, m, &p.issues[i])
		if err != nil {
			if isNotFound(err) {
				continue // moved out of the project while listed
			}
			return connectors.Page{}, err
		}
		if cs.repeats(rec) {
			continue
		}
		cs.Seen[rec.ID] = rec.Updated.UnixMilli()
		_, cs.Sums[rec.ID], _ = strings.Cut(rec.Version, "~")
		if rec.Updated.After(newest) {
			newest = rec.Updated
		}
		page.Records = append(page.Records, rec)
	}
	// Restart from the newest update when that skips most of what the
	// narrower query would list again; otherwise page on (many updates
	// within the overlap, an import).
	relisted := 0
	for i := range p.issues {
		if !parseTime(p.issues[i].Fields["updated"]).Before(c.window(newest)) {
			relisted++
		}
	}
	switch {
	case p.more && c.window(newest).After(cs.Window) && relisted <= len(p.issues)/2:
		cs.Since, cs.Token, cs.StartAt = newest, "", 0
		cs.forgetBefore(c.window(cs.Since))
		page.More = true
	case p.more:
		cs.Since = newest
		cs.Token, cs.StartAt = p.next, p.startAt+step(len(p.issues))
		page.More = true
	default:
		cs.Since, cs.Token, cs.StartAt = newest, "", 0
		cs.forgetBefore(c.window(cs.Since))
	}
	page.Cursor = cs.encode()
	c.log.Debug("jira: changes", "records", len(page.Records), "more", page.More, "window", cs.Window)
	return page, nil
}
