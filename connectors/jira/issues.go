package jira

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"

	gojira "github.com/andygrunwald/go-jira"
	"github.com/backlogd/backlogd/connectors"
)

var issueRefRE = regexp.MustCompile(`^(?:[0-9]+|[A-Za-z][A-Za-z0-9_]*-[0-9]+)$`)

// issuePath is the API path of an issue in the body-carrying version.
func issuePath(m *meta, id string) string {
	return "rest/api/" + m.api + "/issue/" + url.PathEscape(id)
}

// getIssue reads one issue by id or key: every field, the marker
// property and, when asked, the transitions available now. Reads by key
// are consistent; only search lags behind writes.
func (c *Connector) getIssue(ctx context.Context, m *meta, id string, transitions bool) (*issue, error) {
	if !issueRefRE.MatchString(id) {
		return nil, fmt.Errorf("jira: %q is not an issue id or key: %w", id, connectors.ErrNotFound)
	}
	q := url.Values{"fields": {"*all"}, "properties": {markerProperty}}
	if transitions {
		q.Set("expand", "transitions.fields")
	}
	var is issue
	if err := c.do(ctx, call{op: "read issue " + id, method: http.MethodGet, path: issuePath(m, id), query: q, out: &is}); err != nil {
		return nil, err
	}
	return &is, nil
}

// Get implements connectors.Connector: the issue with its comments, in one
// request unless it has more comments than Jira embeds.
func (c *Connector) Get(ctx context.Context, id string) (connectors.Record, error) {
	m, err := c.metadata(ctx)
	if err != nil {
		return connectors.Record{}, err
	}
	is, err := c.getIssue(ctx, m, id, false)
	if err != nil {
		return connectors.Record{}, err
	}
	return c.complete(ctx, m, is)
}

// complete turns a fully read issue into a record with its comments.
func (c *Connector) complete(ctx context.Context, m *meta, is *issue) (connectors.Record, error) {
	rec, err := c.record(ctx, m, is)
	if err != nil {
		return connectors.Record{}, err
	}
	var page commentPage
	if raw := is.Fields["comment"]; len(raw) > 0 && string(raw) != "null" {
		if err := json.Unmarshal(raw, &page); err != nil {
			return connectors.Record{}, fmt.Errorf("jira: read the comments of %s: %w", is.Key, err)
		}
	}
	all := page.Comments
	// Jira embeds a limited number of comments: page through the rest.
	for len(all) < page.Total {
		var more commentPage
		q := url.Values{"startAt": {strconv.Itoa(len(all))}, "maxResults": {"100"}}
		if err := c.do(ctx, call{op: "list the comments of " + is.Key, method: http.MethodGet, path: issuePath(m, is.ID) + "/comment", query: q, out: &more}); err != nil {
			return connectors.Record{}, err
		}
		if len(more.Comments) == 0 {
			break
		}
		all = append(all, more.Comments...)
		page.Total = more.Total
	}
	rec.Comments = []connectors.Comment{}
	for i := range all {
		cm, err := c.comment(ctx, m, &all[i])
		if err != nil {
			return connectors.Record{}, fmt.Errorf("jira: read comment %s of %s: %w", all[i].ID, is.Key, err)
		}
		rec.Comments = append(rec.Comments, cm)
	}
	return rec, nil
}

type commentPage struct {
	Comments []jiraComment `json:"comments"`
	Total    int           `json:"total"`
}

type jiraComment struct {
	ID         string                    `json:"id"`
	Author     *gojira.User              `json:"author"`
	Body       json.RawMessage           `json:"body"`
	Created    json.RawMessage           `json:"created"`
	Updated    json.RawMessage           `json:"updated"`
	Visibility *gojira.CommentVisibility `json:"visibility"`
}

// comment turns a Jira comment into a record comment; any visibility
// restriction makes it internal. It fails when a mention in the body
// could not be looked up (see fromJira).
func (c *Connector) comment(ctx context.Context, m *meta, jc *jiraComment) (connectors.Comment, error) {
	author := ""
	if jc.Author != nil {
		author = c.users.seen(m.cloud, jc.Author)
	}
	body, err := c.fromJira(ctx, m, jc.Body)
	if err != nil {
		return connectors.Comment{}, err
	}
	return connectors.Comment{
		ID:       jc.ID,
		Author:   author,
		Body:     body,
		Created:  parseTime(jc.Created),
		Updated:  parseTime(jc.Updated),
		Internal: jc.Visibility != nil && jc.Visibility.Value != "",
	}, nil
}

// markerProperties is the create body's entity properties.
func markerProperties(marker string) []gojira.EntityProperty {
	return []gojira.EntityProperty{{Key: markerProperty, Value: map[string]string{"id": marker}}}
}

// Create implements connectors.Connector. The marker travels in the
// create itself, as an entity property and (unless marker_label is off)
// a label, so no crash can leave an issue without it. A status other
// than the workflow's initial one is reached by transitions afterwards.
func (c *Connector) Create(ctx context.Context, marker string, fields connectors.Fields) (connectors.Record, error) {
	if !validMarker(marker) {
		return connectors.Record{}, connectors.Terminalf("jira: create: marker %q must be a canonical id of letters, digits and . _ : -", marker)
	}
	m, err := c.metadata(ctx)
	if err != nil {
		return connectors.Record{}, err
	}
	fields = fields.Clone()
	// An unset field on create means "the project's default": Jira
	// refuses an empty priority, say, where it would pick its default.
	for name, vs := range fields {
		if len(vs) == 0 && name != FieldLabels {
			delete(fields, name)
		}
	}
	if fields.Get(FieldIssueType) == "" {
		fields.Set(FieldIssueType, c.cfg.DefaultIssueType)
	}
	if _, ok := fields[FieldLabels]; !ok && *c.cfg.MarkerLabel {
		fields[FieldLabels] = nil // written with the marker label
	}
	op := "create the issue for " + marker
	if fields.Get(FieldSummary) == "" {
		return connectors.Record{}, connectors.Terminalf("jira: %s: the summary is empty; Jira requires one", op)
	}
	w, err := c.encode(ctx, m, fields, marker)
	if err != nil {
		return connectors.Record{}, fmt.Errorf("jira: %s: %w", op, err)
	}
	w.fields["project"] = map[string]string{"key": c.cfg.Project}
	var created struct {
		ID  string `json:"id"`
		Key string `json:"key"`
	}
	body := map[string]any{"fields": w.fields, "properties": markerProperties(marker)}
	if err := c.do(ctx, call{op: op, method: http.MethodPost, path: "rest/api/" + m.api + "/issue", in: body, out: &created}); err != nil {
		return connectors.Record{}, err
	}
	c.remember(created.ID, created.Key)
	c.noteMarker(marker, created.ID, true)
	// Read back by id, never by search: the index lags behind the create.
	is, err := c.getIssue(ctx, m, created.ID, w.hasStatus)
	if err != nil {
		return connectors.Record{}, err
	}
	if w.hasStatus && label(is.Fields["status"]) != w.status {
		if err := c.moveTo(ctx, m, is, w); err != nil {
			return connectors.Record{}, err
		}
		return c.Get(ctx, created.ID)
	}
	return c.complete(ctx, m, is)
}

// Update implements connectors.Connector. It reads the issue first and
// writes only what differs (and nothing when nothing does), then moves
// the status through the workflow. Jira has no optimistic locking on
// edits: version (the updated time last read) is checked against the
// fresh read. Jira keeps the marker in an entity property (and a
// label), which take requests of their own: a marker to write is
// written after the fields, the property and the label each only where
// it is not already right, and other backlogd labels are removed.
func (c *Connector) Update(ctx context.Context, id, version string, fields connectors.Fields, marker string) (connectors.Record, error) {
	if marker != "" && !validMarker(marker) {
		return connectors.Record{}, connectors.Terminalf("jira: update %s: marker %q must be a canonical id of letters, digits and . _ : -", id, marker)
	}
	m, err := c.metadata(ctx)
	if err != nil {
		return connectors.Record{}, err
	}
	_, status := fields[FieldStatus]
	is, err := c.getIssue(ctx, m, id, status)
	if err != nil {
		return connectors.Record{}, err
	}
	cur, err := c.complete(ctx, m, is)
	if err != nil {
		return connectors.Record{}, err
	}
	if version != "" && version != cur.Version {
		return connectors.Record{}, fmt.Errorf("jira: update %s: changed at %s since read at %s: %w", cur.Key, cur.Version, version, connectors.ErrConflict)
	}
	changed := connectors.Fields{}
	for name, vs := range fields {
		if !slices.Equal(normalizedValue(m, name, vs), normalizedValue(m, name, cur.Fields[name])) {
			changed[name] = vs
		}
	}
	// The marker, from the issue just read: the property where it is not
	// right, and the label in the same PUT as the fields (or in the
	// labels the fields write).
	var setProp bool
	var labelOps []map[string]string
	if marker != "" {
		setProp, labelOps = c.markerWrites(is, marker)
	}
	if len(changed) == 0 && !setProp && len(labelOps) == 0 {
		if marker != "" {
			c.noteMarker(marker, is.ID, true)
		}
		return cur, nil
	}
	markerNow := cur.Marker
	if marker != "" {
		markerNow = marker
	}
	w, err := c.encode(ctx, m, changed, markerNow)
	if err != nil {
		return connectors.Record{}, fmt.Errorf("jira: update %s: %w", cur.Key, err)
	}
	if _, written := w.fields["labels"]; written {
		labelOps = nil // the labels written carry the marker's
	}
	if len(w.fields) > 0 || len(labelOps) > 0 {
		body := map[string]any{}
		if len(w.fields) > 0 {
			body["fields"] = w.fields
		}
		if len(labelOps) > 0 {
			body["update"] = map[string]any{"labels": labelOps}
		}
		if err := c.do(ctx, call{op: "update " + cur.Key, method: http.MethodPut, path: issuePath(m, is.ID), in: body}); err != nil {
			return connectors.Record{}, err
		}
	}
	switch {
	case w.hasStatus:
		if err := c.moveTo(ctx, m, is, w); err != nil {
			return connectors.Record{}, err
		}
	case w.hasRes:
		// No transition to carry it: set it directly, which works where
		// the edit screen has the field.
		var res any
		if w.resolution != "" {
			res = map[string]string{"name": w.resolution}
		}
		if err := c.do(ctx, call{op: "set the resolution of " + cur.Key, method: http.MethodPut, path: issuePath(m, is.ID), in: map[string]any{"fields": map[string]any{"resolution": res}}}); err != nil {
			return connectors.Record{}, fmt.Errorf("%w (Jira sets resolutions through transitions: map the status too)", err)
		}
	}
	if setProp {
		if err := c.do(ctx, call{op: "set marker " + marker + " on " + is.Key, method: http.MethodPut,
			path: "rest/api/2/issue/" + url.PathEscape(is.ID) + "/properties/" + markerProperty, in: map[string]string{"id": marker}}); err != nil {
			return connectors.Record{}, err
		}
	}
	if marker != "" {
		c.remember(is.ID, is.Key)
		c.noteMarker(marker, is.ID, true)
	}
	return c.Get(ctx, is.ID)
}

// markerWrites says what marking is as marker takes, from the issue as
// read (its labels and the marker property): whether the property must be
// set, and the label operations (add the marker's, remove other markers').
func (c *Connector) markerWrites(is *issue, marker string) (setProp bool, labelOps []map[string]string) {
	var prop struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(is.Properties[markerProperty], &prop)
	setProp = prop.ID != marker
	if !*c.cfg.MarkerLabel {
		return setProp, nil
	}
	var ls []string
	_ = json.Unmarshal(is.Fields["labels"], &ls)
	want := markerLabelPrefix + marker
	if !slices.Contains(ls, want) {
		labelOps = append(labelOps, map[string]string{"add": want})
	}
	for _, l := range ls {
		if rest, ok := cutMarkerLabel(l); ok && rest != marker {
			labelOps = append(labelOps, map[string]string{"remove": l})
		}
	}
	return setProp, labelOps
}

func cutMarkerLabel(l string) (string, bool) {
	if len(l) > len(markerLabelPrefix) && l[:len(markerLabelPrefix)] == markerLabelPrefix && validMarker(l[len(markerLabelPrefix):]) {
		return l[len(markerLabelPrefix):], true
	}
	return "", false
}
