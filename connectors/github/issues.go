package github

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/backlogd/backlogd/connectors"
	gh "github.com/google/go-github/v60/github"
)

// issue is an issue as the REST API returns it. go-github v60 knows no
// issue types and no sub-issues, so those are decoded here.
type issue struct {
	gh.Issue
	Type *struct {
		Name string `json:"name"`
	} `json:"type"`
	// ParentIssueURL is the API URL of the parent of a sub-issue, JSON
	// null for an issue without one, and absent (nil) on servers without
	// sub-issues, where GET .../issues/N/parent is the only way to know.
	ParentIssueURL json.RawMessage `json:"parent_issue_url"`
}

// parentFromURL returns the parent's number as the issue itself reports
// it, and whether it does. A parent in another repository is "": no
// record of this target can name it.
func (c *Connector) parentFromURL(is *issue) (string, bool) {
	if is.ParentIssueURL == nil {
		return "", false
	}
	var u *string
	if err := json.Unmarshal(is.ParentIssueURL, &u); err != nil {
		return "", false
	}
	if u == nil {
		return "", true
	}
	repo, num, ok := strings.Cut(*u, "/issues/")
	n, err := strconv.Atoi(num)
	if !ok || err != nil || n <= 0 {
		return "", false // not a shape we know: ask the endpoint
	}
	if !strings.HasSuffix(strings.ToLower(repo), strings.ToLower("/repos/"+c.cfg.Owner+"/"+c.cfg.Repo)) {
		return "", true
	}
	return strconv.Itoa(n), true
}

// issueRequest is the body of a create or edit. Pointers and RawFields
// keep "not sent" apart from "cleared".
type issueRequest struct {
	Title       *string   `json:"title,omitempty"`
	Body        *string   `json:"body,omitempty"`
	State       *string   `json:"state,omitempty"`
	StateReason *string   `json:"state_reason,omitempty"`
	Labels      *[]string `json:"labels,omitempty"`
	Assignees   *[]string `json:"assignees,omitempty"`
	// Milestone and Type are sent as null to clear them.
	Milestone nullable[int]    `json:"milestone,omitzero"`
	Type      nullable[string] `json:"type,omitzero"`
}

// nullable is a JSON value that is either absent (zero), null, or set.
type nullable[T any] struct {
	set   bool
	value *T
}

func (n nullable[T]) IsZero() bool { return !n.set }

func (n nullable[T]) MarshalJSON() ([]byte, error) {
	if n.value == nil {
		return []byte("null"), nil
	}
	return json.Marshal(*n.value)
}

func null[T any]() nullable[T]    { return nullable[T]{set: true} }
func some[T any](v T) nullable[T] { return nullable[T]{set: true, value: &v} }
func ptr[T any](v T) *T           { return &v }

// parseNumber reads a record id ("12", or the key "#12").
func parseNumber(id string) (int, error) {
	n, err := strconv.Atoi(strings.TrimPrefix(id, "#"))
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%q is not an issue number: %w", id, connectors.ErrNotFound)
	}
	return n, nil
}

// inRepo reports whether an issue still lives in the connector's
// repository. GitHub redirects a transferred issue's old number to its
// new home, and Go follows the redirect: what comes back is another
// repository's issue.
func (c *Connector) inRepo(is *issue) bool {
	u := is.GetRepositoryURL()
	if u == "" {
		return true
	}
	return strings.HasSuffix(strings.ToLower(u), strings.ToLower("/repos/"+c.cfg.Owner+"/"+c.cfg.Repo))
}

// record turns an issue into a record: no comments, and the parent only
// when the issue reports it (parent_issue_url).
func (c *Connector) record(is *issue) connectors.Record {
	n := strconv.Itoa(is.GetNumber())
	text, marker := parseBody(is.GetBody())
	f := connectors.Fields{}
	f.Set(FieldTitle, is.GetTitle())
	f.Set(FieldBody, text)
	f.Set(FieldState, is.GetState())
	f.Set(FieldStateReason, is.GetStateReason())
	var labels, assignees []string
	for _, l := range is.Labels {
		labels = append(labels, l.GetName())
	}
	for _, a := range is.Assignees {
		assignees = append(assignees, a.GetLogin())
	}
	slices.Sort(labels)
	slices.Sort(assignees)
	f.Set(FieldLabels, labels...)
	f.Set(FieldAssignees, assignees...)
	f.Set(FieldMilestone, is.GetMilestone().GetTitle())
	if is.Type != nil {
		f.Set(FieldType, is.Type.Name)
	} else {
		f.Set(FieldType)
	}
	if p, ok := c.parentFromURL(is); ok {
		f.Set(FieldParent, p)
	}
	if marker != "" {
		// Remembered even after a user deletes it from the body, so the
		// next write of the body puts it back.
		c.mu.Lock()
		c.markers[n] = marker
		c.index.note(marker, is.GetNumber())
		c.mu.Unlock()
	}
	updated := is.GetUpdatedAt().UTC()
	return connectors.Record{
		ID:      n,
		Key:     "#" + n,
		URL:     is.GetHTMLURL(),
		Marker:  marker,
		Fields:  f,
		Version: issueVersion(is),
		Created: is.GetCreatedAt().UTC(),
		Updated: updated,
	}
}

// issueVersion is an issue's Version: updated_at, in GitHub's whole seconds,
// and the digest of what a listing shows of the issue (digest: title,
// body with the marker, state, labels, assignees, milestone, type, the
// comment count and the parent), so that an edit in the second of the
// previous one still changes it, and Get and Changes compute the same.
// A comment edited in place moves neither the count nor, on GitHub,
// always updated_at: the syncer's full sweep reads it.
func issueVersion(is *issue) string {
	return connectors.VersionOf(is.GetUpdatedAt().Time, fmt.Sprintf("%08x", digest(is)))
}

// getIssue reads one issue; ErrNotFound for pull requests and issues
// transferred away.
func (c *Connector) getIssue(ctx context.Context, n int) (*issue, error) {
	var is issue
	if _, err := c.call(ctx, fmt.Sprintf("get #%d", n), http.MethodGet, fmt.Sprintf("%s/issues/%d", c.repoPath(), n), nil, &is); err != nil {
		return nil, err
	}
	if is.IsPullRequest() {
		return nil, fmt.Errorf("github: get #%d: a pull request, not an issue: %w", n, connectors.ErrNotFound)
	}
	if !c.inRepo(&is) {
		return nil, fmt.Errorf("github: get #%d: transferred to %s: %w", n, is.GetHTMLURL(), connectors.ErrNotFound)
	}
	return &is, nil
}

// Get implements connectors.Connector: the issue, its parent and its
// comments, in one request for an issue without comments and two for one
// with comments (which are not listed when the issue says it has none).
// The parent comes from the issue's parent_issue_url; only servers that
// do not report it cost a third request, GET .../parent, whose 404 for an
// issue without a parent carries no ETag and is counted every time.
// Re-reads of what did not change are conditional and cost no quota.
func (c *Connector) Get(ctx context.Context, id string) (connectors.Record, error) {
	n, err := parseNumber(id)
	if err != nil {
		return connectors.Record{}, fmt.Errorf("github: get: %w", err)
	}
	is, err := c.getIssue(ctx, n)
	if err != nil {
		return connectors.Record{}, err
	}
	return c.complete(ctx, is)
}

// complete adds the parent and the comments to an issue's record.
func (c *Connector) complete(ctx context.Context, is *issue) (connectors.Record, error) {
	rec := c.record(is)
	if _, known := c.parentFromURL(is); !known {
		parent, err := c.parent(ctx, is.GetNumber())
		if err != nil {
			return connectors.Record{}, err
		}
		rec.Fields.Set(FieldParent, parent)
	}
	var err error
	rec.Comments = []connectors.Comment{}
	if is.Comments != nil && *is.Comments == 0 {
		return rec, nil // the issue says it has none: no need to ask
	}
	if rec.Comments, err = c.comments(ctx, is.GetNumber()); err != nil {
		return connectors.Record{}, err
	}
	return rec, nil
}

// parent returns the parent issue's number ("" for none or a parent in
// another repository, which no record of this target can name).
// go-github v60 has no sub-issue types: the request is made raw.
func (c *Connector) parent(ctx context.Context, n int) (string, error) {
	var p issue
	_, err := c.call(ctx, fmt.Sprintf("get the parent of #%d", n), http.MethodGet, fmt.Sprintf("%s/issues/%d/parent", c.repoPath(), n), nil, &p)
	switch {
	case errors.Is(err, connectors.ErrNotFound):
		// No parent (or sub-issues not available on this server).
		return "", nil
	case err != nil:
		return "", err
	case !c.inRepo(&p):
		return "", nil
	}
	return strconv.Itoa(p.GetNumber()), nil
}

// setParent makes parent (a number, or "" for none) the parent of is,
// as read just before, and reports whether it had to change it.
func (c *Connector) setParent(ctx context.Context, is *issue, parent string) (bool, error) {
	n := is.GetNumber()
	cur, known := c.parentFromURL(is)
	if !known {
		var err error
		if cur, err = c.parent(ctx, n); err != nil {
			return false, err
		}
	}
	if cur == parent {
		return false, nil
	}
	body := map[string]any{"sub_issue_id": is.GetID()}
	if parent == "" {
		_, err := c.call(ctx, fmt.Sprintf("remove #%d from its parent #%s", n, cur), http.MethodDelete,
			fmt.Sprintf("%s/issues/%s/sub_issue", c.repoPath(), cur), body, nil)
		return err == nil, err
	}
	p, err := parseNumber(parent)
	if err != nil {
		return false, connectors.Terminalf("github: set the parent of #%d: %v; map parent to an issue number of this repository", n, err)
	}
	body["replace_parent"] = true
	_, err = c.call(ctx, fmt.Sprintf("make #%d a sub-issue of #%d", n, p), http.MethodPost,
		fmt.Sprintf("%s/issues/%d/sub_issues", c.repoPath(), p), body, nil)
	return err == nil, err
}

// comments lists an issue's comments, oldest first.
func (c *Connector) comments(ctx context.Context, n int) ([]connectors.Comment, error) {
	out := []connectors.Comment{}
	for page := 1; page != 0; {
		var cs []*gh.IssueComment
		resp, err := c.call(ctx, fmt.Sprintf("list the comments of #%d", n), http.MethodGet,
			fmt.Sprintf("%s/issues/%d/comments?per_page=100&page=%d", c.repoPath(), n, page), nil, &cs)
		if err != nil {
			return nil, err
		}
		for _, cm := range cs {
			out = append(out, comment(cm))
		}
		page = resp.NextPage
	}
	return out, nil
}

func comment(cm *gh.IssueComment) connectors.Comment {
	return connectors.Comment{
		ID:      strconv.FormatInt(cm.GetID(), 10),
		Author:  cm.GetUser().GetLogin(),
		Body:    cm.GetBody(),
		Created: cm.GetCreatedAt().UTC(),
		Updated: cm.GetUpdatedAt().UTC(),
	}
}

// request builds a create or edit body from fields; marker is appended
// to a body that is written. Only names present in fields are sent.
func (c *Connector) request(ctx context.Context, op string, fields connectors.Fields, marker string) (issueRequest, error) {
	var r issueRequest
	for name, values := range fields {
		v := ""
		if len(values) > 0 {
			v = values[0]
		}
		switch name {
		case FieldTitle:
			if strings.TrimSpace(v) == "" {
				return r, connectors.Terminalf("github: %s: the title is empty; GitHub requires one", op)
			}
			r.Title = ptr(v)
		case FieldBody:
			r.Body = ptr(appendMarker(v, marker))
		case FieldState:
			if v != "open" && v != "closed" {
				return r, connectors.Terminalf("github: %s: state %q: GitHub issues are open or closed; fix the state value map", op, v)
			}
			r.State = ptr(v)
		case FieldStateReason:
			if v != "" {
				r.StateReason = ptr(v)
			}
		case FieldLabels:
			r.Labels = ptr(nonNil(values))
		case FieldAssignees:
			r.Assignees = ptr(nonNil(values))
		case FieldMilestone:
			if v == "" {
				r.Milestone = null[int]()
				continue
			}
			num, err := c.milestone(ctx, v)
			if err != nil {
				return r, err
			}
			r.Milestone = some(num)
		case FieldType:
			if v == "" {
				r.Type = null[string]()
			} else {
				r.Type = some(v)
			}
		case FieldParent:
			// Written through the sub-issues endpoints after the issue.
		default:
			return r, connectors.Terminalf("github: %s: unknown field %q; GitHub issues have title, body, state, state_reason, labels, assignees, milestone, parent and type", op, name)
		}
	}
	// A reason without a state is refused by GitHub: infer the state.
	if r.StateReason != nil && r.State == nil {
		st := "closed"
		if *r.StateReason == "reopened" {
			st = "open"
		}
		r.State = ptr(st)
	}
	if r.State != nil && *r.State == "open" && r.StateReason != nil && *r.StateReason != "reopened" {
		r.StateReason = nil // "completed" on an open issue is refused
	}
	return r, nil
}

func nonNil(v []string) []string {
	if v == nil {
		return []string{}
	}
	return v
}

// milestone returns the number of the milestone titled title.
func (c *Connector) milestone(ctx context.Context, title string) (int, error) {
	for attempt := 0; attempt < 2; attempt++ {
		c.mu.Lock()
		n, ok := c.milestones[title]
		c.mu.Unlock()
		if ok {
			return n, nil
		}
		if attempt == 1 {
			break
		}
		found := map[string]int{}
		for page := 1; page != 0; {
			var ms []*gh.Milestone
			resp, err := c.call(ctx, "list milestones", http.MethodGet,
				fmt.Sprintf("%s/milestones?state=all&per_page=100&page=%d", c.repoPath(), page), nil, &ms)
			if err != nil {
				return 0, err
			}
			for _, m := range ms {
				found[m.GetTitle()] = m.GetNumber()
			}
			page = resp.NextPage
		}
		c.mu.Lock()
		c.milestones = found
		c.mu.Unlock()
	}
	return 0, connectors.Terminalf("github: milestone %q does not exist in %s/%s; create it in GitHub or map the value to an existing milestone", title, c.cfg.Owner, c.cfg.Repo)
}

// Create implements connectors.Connector: the issue with the marker at
// the end of its body, then its parent link.
func (c *Connector) Create(ctx context.Context, marker string, fields connectors.Fields) (connectors.Record, error) {
	if !validMarker(marker) {
		return connectors.Record{}, connectors.Terminalf("github: create: marker %q must be a canonical id of letters, digits and . _ : -", marker)
	}
	if fields.Get(FieldTitle) == "" {
		return connectors.Record{}, connectors.Terminalf("github: create %s: the title is empty; GitHub requires one", marker)
	}
	fields = fields.Clone()
	if _, ok := fields[FieldBody]; !ok {
		fields[FieldBody] = nil
	}
	if fields.Get(FieldState) == "open" {
		delete(fields, FieldState) // new issues are open; only closing needs an edit
	}
	op := "create " + marker
	req, err := c.request(ctx, op, fields, marker)
	if err != nil {
		return connectors.Record{}, err
	}
	closing := req.State
	req.State, req.StateReason = nil, nil
	var is issue
	c.mu.Lock()
	c.index.uncertain[marker] = true
	c.mu.Unlock()
	resp, err := c.call(ctx, op, http.MethodPost, c.repoPath()+"/issues", req, &is)
	c.mu.Lock()
	var limited *connectors.RateLimitError
	switch {
	case err == nil:
		c.index.note(marker, is.GetNumber())
		delete(c.index.uncertain, marker)
	case resp != nil && resp.Response != nil && resp.StatusCode < 500, errors.As(err, &limited):
		delete(c.index.uncertain, marker) // refused: nothing was made
	}
	c.mu.Unlock()
	if err != nil {
		return connectors.Record{}, err
	}
	// The issue exists: its other writes wait their turn however long
	// (failing one would leave it open, or without its parent, and the
	// retry would relink it with no base to merge against).
	ctx = withPacedCall(ctx, 0)
	// GitHub creates issues open: close it in a second request.
	if closing != nil && *closing == "closed" {
		edit := issueRequest{State: closing, StateReason: ptr(fields.Get(FieldStateReason))}
		if *edit.StateReason == "" {
			edit.StateReason = nil
		}
		if _, err := c.call(ctx, fmt.Sprintf("close #%d", is.GetNumber()), http.MethodPatch, fmt.Sprintf("%s/issues/%d", c.repoPath(), is.GetNumber()), edit, &is); err != nil {
			return connectors.Record{}, err
		}
	}
	if p := fields.Get(FieldParent); p != "" {
		if _, err := c.setParent(ctx, &is, p); err != nil {
			return connectors.Record{}, err
		}
	}
	return c.Get(ctx, strconv.Itoa(is.GetNumber()))
}

// Update implements connectors.Connector. GitHub's PATCH has no
// optimistic locking, so Update checks version itself against a
// conditional read of the issue made right before the PATCH (after the
// write's turn came), and refuses with ErrConflict when the issue changed
// since the caller read it; the window left is one request long. A new
// body gets the issue's marker appended again. The marker lives in the
// body, so a marker to write goes in the same PATCH as the fields: the
// body is written back with it, read first when the fields do not hold
// it (a conditional read of the issue the syncer has just read, which
// GitHub answers 304 and does not count).
func (c *Connector) Update(ctx context.Context, id, version string, fields connectors.Fields, marker string) (connectors.Record, error) {
	n, err := parseNumber(id)
	if err != nil {
		return connectors.Record{}, fmt.Errorf("github: update: %w", err)
	}
	op := fmt.Sprintf("update #%d", n)
	if marker != "" && !validMarker(marker) {
		return connectors.Record{}, connectors.Terminalf("github: %s: marker %q must be a canonical id of letters, digits and . _ : -", op, marker)
	}
	// Take the write's turn first, then read what it writes over, then
	// write: a wait for the pace between the read and the PATCH would be
	// a window for a person's edit to be written over (GitHub's PATCH has
	// no version check). The read is conditional: GitHub answers 304 for
	// the issue the syncer has just read, and does not count it.
	if err := c.pace(ctx, maxPaceWait, pacer{c.writes, writeReason}); err != nil {
		return connectors.Record{}, fmt.Errorf("github: %s: %w", op, err)
	}
	ctx = withPacedCall(ctx, 1)
	is, err := c.getIssue(ctx, n)
	if err != nil {
		return connectors.Record{}, err
	}
	if version != "" && issueVersion(is) != version {
		return connectors.Record{}, fmt.Errorf("github: %s: the issue changed since it was read: %w", op, connectors.ErrConflict)
	}
	_, writesBody := fields[FieldBody]
	switch {
	case marker != "" && !writesBody:
		text, cur := parseBody(is.GetBody())
		if cur != marker || is.GetBody() != appendMarker(text, marker) {
			fields = fields.Clone()
			fields.Set(FieldBody, text)
		}
	case writesBody && marker == "":
		// The marker last seen on the issue, which a person's edit may
		// have dropped since: written back with the new body.
		c.mu.Lock()
		m, known := c.markers[id]
		c.mu.Unlock()
		if !known {
			_, m = parseBody(is.GetBody())
		}
		marker = m
	}
	req, err := c.request(ctx, op, fields, marker)
	if err != nil {
		return connectors.Record{}, err
	}
	if req != (issueRequest{}) {
		var out issue
		if _, err := c.call(ctx, op, http.MethodPatch, fmt.Sprintf("%s/issues/%d", c.repoPath(), n), req, &out); err != nil {
			return connectors.Record{}, err
		}
		is = &out
	}
	if p, ok := fields[FieldParent]; ok {
		if is == nil {
			if is, err = c.getIssue(ctx, n); err != nil {
				return connectors.Record{}, err
			}
		}
		v := ""
		if len(p) > 0 {
			v = p[0]
		}
		moved, err := c.setParent(ctx, is, v)
		if err != nil {
			return connectors.Record{}, err
		}
		if moved {
			is = nil // read again: the issue shows its new parent
		}
	}
	if is == nil {
		return c.Get(ctx, id)
	}
	if !c.inRepo(is) || is.IsPullRequest() {
		return connectors.Record{}, fmt.Errorf("github: %s: %w", op, connectors.ErrNotFound)
	}
	return c.complete(ctx, is)
}

// CreateComment implements connectors.Connector. GitHub has no private
// comments: an internal one is refused rather than published.
func (c *Connector) CreateComment(ctx context.Context, recordID string, cm connectors.Comment) (connectors.Comment, error) {
	n, err := parseNumber(recordID)
	if err != nil {
		return connectors.Comment{}, fmt.Errorf("github: comment: %w", err)
	}
	if cm.Internal {
		return connectors.Comment{}, connectors.Terminalf("github: comment on #%d: GitHub comments are public and this one is internal; it was not sent", n)
	}
	var out gh.IssueComment
	if _, err := c.call(ctx, fmt.Sprintf("comment on #%d", n), http.MethodPost,
		fmt.Sprintf("%s/issues/%d/comments", c.repoPath(), n), map[string]string{"body": cm.Body}, &out); err != nil {
		return connectors.Comment{}, err
	}
	return comment(&out), nil
}

// UpdateComment implements connectors.Connector.
func (c *Connector) UpdateComment(ctx context.Context, recordID, commentID, body string) error {
	cid, err := strconv.ParseInt(commentID, 10, 64)
	if err != nil {
		return fmt.Errorf("github: edit comment %q on %s: not a comment id: %w", commentID, recordID, connectors.ErrNotFound)
	}
	_, err = c.call(ctx, fmt.Sprintf("edit comment %d on %s", cid, recordID), http.MethodPatch,
		fmt.Sprintf("%s/issues/comments/%d", c.repoPath(), cid), map[string]string{"body": body}, nil)
	return err
}

// DeleteComment implements connectors.Connector.
func (c *Connector) DeleteComment(ctx context.Context, recordID, commentID string) error {
	cid, err := strconv.ParseInt(commentID, 10, 64)
	if err != nil {
		return fmt.Errorf("github: delete comment %q on %s: not a comment id: %w", commentID, recordID, connectors.ErrNotFound)
	}
	_, err = c.call(ctx, fmt.Sprintf("delete comment %d on %s", cid, recordID), http.MethodDelete,
		fmt.Sprintf("%s/issues/comments/%d", c.repoPath(), cid), nil, nil)
	return err
}
