// Package jirafake is an in-process fake of the part of Jira's REST API
// the jira connector uses, for both products, built on httptest. It is
// faithful to the awkward parts a sync engine trips over:
//
//   - Cloud: /rest/api/{2,3}/search answers 410 Gone (CHANGE-2046); the
//     replacement /rest/api/3/search/jql pages with nextPageToken, has no
//     total, returns only ids unless fields are asked for, and refuses a
//     token reused with another query. Bodies are ADF in v3 (validated as
//     Jira does: code with other marks, a list item not starting with a
//     paragraph or a heading in a quote are refused) and issue bodies are
//     refused over v2. Users are account ids; a user may hide their e-mail.
//     Auth is e-mail and API token (basic).
//   - Data Center: /rest/api/2/search with startAt and total; wiki markup
//     bodies; user names; serverInfo says "Server"; a personal access
//     token as bearer.
//   - Search reads an index that lags behind writes: a write becomes
//     visible to the IndexLag-th search after it (and after IndexLagTime
//     of the fake clock); reads by key are always current. Entity
//     properties are not searchable (issue.property[…] finds nothing),
//     labels are.
//   - JQL dates are minutes in the user's time zone (/myself timeZone).
//   - Workflows: statuses reachable only through transitions, one needing
//     a resolution, one a resolution and a comment; Done needs three hops
//     from Backlog. A transition's required field missing is a 400.
//   - Custom fields have ids unrelated to their names (Story Points is
//     customfield_10016 on Cloud, customfield_10106 on Data Center).
//   - Comments with visibility restrictions; a comment edit without
//     visibility makes the comment public, as Jira does.
//   - 429 with Retry-After, X-RateLimit-Reset and RateLimit-Reason, 503
//     with Retry-After, 401, 404 for deleted issues, a create whose answer
//     is lost.
//
// Stats counts requests per class for measurements.
package jirafake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"time"
)

// Flavor is the Jira product the fake plays.
type Flavor string

// The two products.
const (
	Cloud      Flavor = "cloud"
	DataCenter Flavor = "datacenter"
)

// Options configure a Server; zero values are sensible defaults.
type Options struct {
	Flavor Flavor
	// Project is the one project's key (default ACME).
	Project string
	// TimeZone is the integration user's time zone, in which JQL dates
	// are read (default Europe/Paris).
	TimeZone string
	// IndexLag is how many searches pass before a write is visible to
	// search; IndexLagTime how much fake time must also pass.
	IndexLag     int
	IndexLagTime time.Duration
	// MaxResults caps a search page (default 100).
	MaxResults int
	// ExtraFields are added to the site's custom fields.
	ExtraFields []Field
	// Now is the fake clock's base (default time.Now); Advance moves it.
	Now func() time.Time
	// WholeSeconds keeps times in whole seconds (".000" milliseconds),
	// as Jira Data Center does on databases whose timestamp columns hold
	// no fractions (MySQL datetime): edits in one second then share one
	// updated time.
	WholeSeconds bool
}

// Credentials the fake accepts.
const (
	// BotEmail and APIToken are the Cloud integration user's basic auth.
	BotEmail = "backlogd-bot@acme.com"
	APIToken = "fake-cloud-api-token"
	// PAT is the Data Center personal access token (Bearer).
	PAT = "fake-datacenter-pat"
)

// User is a Jira user.
type User struct {
	AccountID   string // Cloud
	Name        string // Data Center user name
	Email       string
	DisplayName string
	// EmailHidden hides the e-mail address on Cloud (profile visibility).
	EmailHidden bool
}

// ID is how issues refer to the user: account id on Cloud, name on Data
// Center.
func (u User) id(f Flavor) string {
	if f == Cloud {
		return u.AccountID
	}
	return u.Name
}

// Default users. The bot is the integration user.
var (
	Bot   = User{AccountID: "557058:0b0e0b0e-bot", Name: "backlogd-bot", Email: BotEmail, DisplayName: "backlogd bot"}
	Alice = User{AccountID: "5b10a2844c20165700ede21g", Name: "alice", Email: "alice@acme.com", DisplayName: "Alice Martin"}
	Bob   = User{AccountID: "5b10ac8d82e05b22cc7d4ef5", Name: "bob", Email: "bob@acme.com", DisplayName: "Bob Dubois", EmailHidden: true}
)

// Field is a field of the site, as /rest/api/2/field lists it.
type Field struct {
	ID     string
	Name   string
	Custom bool
	// Type is the schema type: string, number, date, option, array, user, any.
	Type string
	// Items is the item type of arrays (string, option, component, version).
	Items string
	// CustomType is the schema's custom plugin key.
	CustomType string
	// Options are the allowed values of option fields.
	Options []string
}

// Issue is an issue as the fake stores it. Bodies are raw JSON: a JSON
// string of wiki markup (Data Center) or an ADF object (Cloud), or null.
type Issue struct {
	ID          int
	Key         string
	Summary     string
	Description json.RawMessage
	IssueType   string
	Status      string
	Resolution  string
	Priority    string
	Labels      []string
	Components  []string
	FixVersions []string
	// Assignee, Reporter and Creator hold user ids (account id or name).
	Assignee, Reporter, Creator string
	// Parent is the parent issue's id (0: none).
	Parent  int
	DueDate string
	// Custom holds custom field values by field id, as raw JSON.
	Custom     map[string]json.RawMessage
	Properties map[string]json.RawMessage
	Comments   []*Comment
	Created    time.Time
	Updated    time.Time
}

// Comment is a stored comment.
type Comment struct {
	ID         int
	Author     string
	Body       json.RawMessage
	Visibility *Visibility
	Created    time.Time
	Updated    time.Time
}

// Visibility restricts a comment to a project role or a group.
type Visibility struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}

// Stats counts requests.
type Stats struct {
	// Requests is every request received; Reads and Writes split them by
	// method.
	Requests, Reads, Writes int
	// ByClass counts requests per kind: search, get_issue, create_issue,
	// edit_issue, transitions, transition, comments, write_comment,
	// property, write_property, user, meta, removed (410), other.
	ByClass map[string]int
	// Limited counts 429 and 503 answers sent by the hooks.
	Limited int
}

// Server is a running fake. Its methods are safe for concurrent use.
type Server struct {
	// URL is the site's base URL.
	URL string

	opts Options
	srv  *httptest.Server
	tz   *time.Location

	mu          sync.Mutex
	offset      time.Duration
	issues      map[int]*Issue
	nextID      int
	nextNum     int
	nextComment int
	users       []User
	fields      []Field
	stats       Stats
	hooks       []func(w http.ResponseWriter)
	crashCreate bool
	// tokenGen is part of every nextPageToken; ExpirePageTokens bumps it.
	tokenGen int
	searches int
	jqls     []string
	// index is what search sees: snapshots of issues, updated from
	// pending once their lag has passed.
	index   map[int]*Issue
	pending []pendingWrite
}

type pendingWrite struct {
	id       int
	snapshot *Issue // nil: deleted
	dueCount int
	dueTime  time.Time
}

// New starts a fake; Close stops it.
func New(o Options) *Server {
	if o.Flavor == "" {
		o.Flavor = Cloud
	}
	if o.Project == "" {
		o.Project = "ACME"
	}
	if o.TimeZone == "" {
		o.TimeZone = "Europe/Paris"
	}
	if o.MaxResults == 0 {
		o.MaxResults = 100
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	tz, err := time.LoadLocation(o.TimeZone)
	if err != nil {
		tz = time.UTC
	}
	s := &Server{opts: o, tz: tz, issues: map[int]*Issue{}, index: map[int]*Issue{}, nextID: 10000, nextNum: 1, nextComment: 10100,
		users: []User{Bot, Alice, Bob}}
	s.stats.ByClass = map[string]int{}
	s.fields = defaultFields(o.Flavor)
	s.fields = append(s.fields, o.ExtraFields...)
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	return s
}

// Custom field ids of the default site.
const (
	StoryPointsCloud = "customfield_10016"
	StoryPointsDC    = "customfield_10106"
	TeamField        = "customfield_10001"
	EpicLinkDC       = "customfield_10008"
)

func defaultFields(f Flavor) []Field {
	fs := []Field{
		{ID: "summary", Name: "Summary", Type: "string"},
		{ID: "description", Name: "Description", Type: "string"},
		{ID: "issuetype", Name: "Issue Type", Type: "issuetype"},
		{ID: "status", Name: "Status", Type: "status"},
		{ID: "priority", Name: "Priority", Type: "priority"},
		{ID: "labels", Name: "Labels", Type: "array", Items: "string"},
		{ID: "components", Name: "Components", Type: "array", Items: "component"},
		{ID: "fixVersions", Name: "Fix Version/s", Type: "array", Items: "version"},
		{ID: "assignee", Name: "Assignee", Type: "user"},
		{ID: "reporter", Name: "Reporter", Type: "user"},
		{ID: "creator", Name: "Creator", Type: "user"},
		{ID: "duedate", Name: "Due date", Type: "date"},
		{ID: "resolution", Name: "Resolution", Type: "resolution"},
		{ID: "created", Name: "Created", Type: "datetime"},
		{ID: "updated", Name: "Updated", Type: "datetime"},
		{ID: "project", Name: "Project", Type: "project"},
		{ID: "comment", Name: "Comment", Type: "comments-page"},
		{ID: "parent", Name: "Parent", Type: "issuelink"},
		{ID: TeamField, Name: "Team", Custom: true, Type: "option", CustomType: "com.atlassian.jira.plugin.system.customfieldtypes:select", Options: []string{"Web", "API", "Design", "QA"}},
	}
	if f == Cloud {
		fs = append(fs, Field{ID: StoryPointsCloud, Name: "Story Points", Custom: true, Type: "number", CustomType: "com.atlassian.jira.plugin.system.customfieldtypes:float"})
	} else {
		fs = append(fs,
			Field{ID: StoryPointsDC, Name: "Story Points", Custom: true, Type: "number", CustomType: "com.atlassian.jira.plugin.system.customfieldtypes:float"},
			Field{ID: EpicLinkDC, Name: "Epic Link", Custom: true, Type: "any", CustomType: "com.pyxis.greenhopper.jira:gh-epic-link"})
	}
	return fs
}

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// Client returns an HTTP client for the server.
func (s *Server) Client() *http.Client { return s.srv.Client() }

// Options returns the options the server runs with.
func (s *Server) Options() Options { return s.opts }

// now is the fake clock, with Jira's millisecond precision (or whole
// seconds, with WholeSeconds).
func (s *Server) now() time.Time {
	if s.opts.WholeSeconds {
		return s.opts.Now().Add(s.offset).Truncate(time.Second)
	}
	return s.opts.Now().Add(s.offset).Truncate(time.Millisecond)
}

// Now returns the fake clock's time.
func (s *Server) Now() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.now()
}

// Advance moves the fake clock forward.
func (s *Server) Advance(d time.Duration) {
	s.mu.Lock()
	s.offset += d
	s.mu.Unlock()
}

// Stats returns a copy of the request counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.ByClass = make(map[string]int, len(s.stats.ByClass))
	for k, v := range s.stats.ByClass {
		st.ByClass[k] = v
	}
	return st
}

// Queries returns the JQL of every search answered, oldest first.
func (s *Server) Queries() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.jqls)
}

// ResetStats zeroes the request counters.
func (s *Server) ResetStats() {
	s.mu.Lock()
	s.stats = Stats{ByClass: map[string]int{}}
	s.mu.Unlock()
}

// RateLimitNext makes the next request answer 429 with Retry-After,
// X-RateLimit-Reset and, when reason is set, RateLimit-Reason (such as
// jira-burst-based, jira-per-issue-on-write, jira-quota-tenant-based).
func (s *Server) RateLimitNext(retryAfter time.Duration, reason string) {
	s.hook(func(w http.ResponseWriter) {
		secs := int((retryAfter + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		w.Header().Set("X-RateLimit-Reset", time.Now().Add(retryAfter).UTC().Format("2006-01-02T15:04Z"))
		w.Header().Set("X-RateLimit-Remaining", "0")
		if reason != "" {
			w.Header().Set("RateLimit-Reason", reason)
		}
		writeJSON(w, http.StatusTooManyRequests, errorBody("Rate limit exceeded."))
	})
}

// UnavailableNext makes the next request answer 503 with Retry-After.
func (s *Server) UnavailableNext(retryAfter time.Duration) {
	s.hook(func(w http.ResponseWriter) {
		w.Header().Set("Retry-After", strconv.Itoa(int((retryAfter+time.Second-1)/time.Second)))
		writeJSON(w, http.StatusServiceUnavailable, errorBody("Service unavailable."))
	})
}

// FailNext makes the next request answer with status (a 5xx, say).
func (s *Server) FailNext(status int) {
	s.hook(func(w http.ResponseWriter) { writeJSON(w, status, errorBody(http.StatusText(status))) })
}

// RejectNext makes the next request answer 401, as for a revoked token.
func (s *Server) RejectNext() {
	s.hook(func(w http.ResponseWriter) { unauthorized(w) })
}

// ExpirePageTokens makes every nextPageToken handed out so far invalid,
// as Cloud's expire: a search with one answers 400.
func (s *Server) ExpirePageTokens() {
	s.mu.Lock()
	s.tokenGen++
	s.mu.Unlock()
}

// CrashAfterNextCreate makes the next issue create succeed and then drop
// the connection without an answer.
func (s *Server) CrashAfterNextCreate() {
	s.mu.Lock()
	s.crashCreate = true
	s.mu.Unlock()
}

func (s *Server) hook(h func(w http.ResponseWriter)) {
	s.mu.Lock()
	s.hooks = append(s.hooks, h)
	s.mu.Unlock()
}

// AddIssue stores an issue as a person created it (Creator and Reporter
// alice unless set) and returns its key. Zero fields get defaults: type
// Story, status Backlog, priority Medium.
func (s *Server) AddIssue(is Issue) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if is.Creator == "" {
		is.Creator = Alice.id(s.opts.Flavor)
	}
	if is.Reporter == "" {
		is.Reporter = is.Creator
	}
	n := s.add(&is)
	return n.Key
}

func (s *Server) add(is *Issue) *Issue {
	is.ID = s.nextID
	s.nextID++
	is.Key = s.opts.Project + "-" + strconv.Itoa(s.nextNum)
	s.nextNum++
	if is.IssueType == "" {
		is.IssueType = "Story"
	}
	if is.Status == "" {
		is.Status = "Backlog"
	}
	if is.Priority == "" {
		is.Priority = "Medium"
	}
	if is.Description == nil {
		is.Description = json.RawMessage("null")
	}
	if is.Custom == nil {
		is.Custom = map[string]json.RawMessage{}
	}
	if is.Properties == nil {
		is.Properties = map[string]json.RawMessage{}
	}
	now := s.now()
	if is.Created.IsZero() {
		is.Created = now
	}
	is.Updated = is.Created
	slices.Sort(is.Labels)
	s.issues[is.ID] = is
	s.indexLater(is)
	return is
}

// Issue returns a copy of a stored issue by key or id.
func (s *Server) Issue(keyOrID string) (Issue, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	is := s.find(keyOrID)
	if is == nil {
		return Issue{}, false
	}
	return *clone(is), true
}

// Issues returns copies of every issue, by id.
func (s *Server) Issues() []Issue {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Issue
	for _, is := range s.sorted(s.issues) {
		out = append(out, *clone(is))
	}
	return out
}

// Edit changes an issue as alice would in the browser: f edits it, then
// updated moves. It reports whether the issue exists.
func (s *Server) Edit(keyOrID string, f func(*Issue)) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	is := s.find(keyOrID)
	if is == nil {
		return false
	}
	f(is)
	slices.Sort(is.Labels)
	s.touch(is)
	return true
}

// AddComment adds a comment by the user with id author (account id or
// name) and returns its id.
func (s *Server) AddComment(keyOrID, author string, body json.RawMessage, vis *Visibility) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	is := s.find(keyOrID)
	if is == nil {
		return ""
	}
	c := &Comment{ID: s.nextComment, Author: author, Body: body, Visibility: vis, Created: s.now()}
	c.Updated = c.Created
	s.nextComment++
	is.Comments = append(is.Comments, c)
	s.touch(is)
	return strconv.Itoa(c.ID)
}

// Delete deletes an issue as a person would; its key answers 404.
func (s *Server) Delete(keyOrID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	is := s.find(keyOrID)
	if is == nil {
		return false
	}
	delete(s.issues, is.ID)
	s.pending = append(s.pending, pendingWrite{id: is.ID, dueCount: s.searches + s.opts.IndexLag + 1, dueTime: s.now().Add(s.opts.IndexLagTime)})
	return true
}

// touch saves an issue: updated moves forward (strictly) and the index
// learns about it later.
func (s *Server) touch(is *Issue) {
	now := s.now()
	if !now.After(is.Updated) && !s.opts.WholeSeconds {
		now = is.Updated.Add(time.Millisecond)
	}
	if now.After(is.Updated) {
		is.Updated = now
	}
	s.indexLater(is)
}

func (s *Server) indexLater(is *Issue) {
	// Visible to the (IndexLag+1)-th search from now.
	s.pending = append(s.pending, pendingWrite{id: is.ID, snapshot: clone(is), dueCount: s.searches + s.opts.IndexLag + 1, dueTime: s.now().Add(s.opts.IndexLagTime)})
}

// reindex applies the writes whose lag has passed (s.searches counts the
// search being answered); s.mu is held.
func (s *Server) reindex() {
	now := s.now()
	keep := s.pending[:0]
	for _, p := range s.pending {
		if s.searches >= p.dueCount && !now.Before(p.dueTime) {
			if p.snapshot == nil {
				delete(s.index, p.id)
			} else {
				s.index[p.id] = p.snapshot
			}
			continue
		}
		keep = append(keep, p)
	}
	s.pending = keep
}

func clone(is *Issue) *Issue {
	c := *is
	c.Labels = slices.Clone(is.Labels)
	c.Components = slices.Clone(is.Components)
	c.FixVersions = slices.Clone(is.FixVersions)
	c.Custom = map[string]json.RawMessage{}
	for k, v := range is.Custom {
		c.Custom[k] = v
	}
	c.Properties = map[string]json.RawMessage{}
	for k, v := range is.Properties {
		c.Properties[k] = v
	}
	c.Comments = nil
	for _, cm := range is.Comments {
		x := *cm
		c.Comments = append(c.Comments, &x)
	}
	return &c
}

func (s *Server) find(keyOrID string) *Issue {
	if n, err := strconv.Atoi(keyOrID); err == nil {
		return s.issues[n]
	}
	for _, is := range s.issues {
		if is.Key == keyOrID {
			return is
		}
	}
	return nil
}

func (s *Server) sorted(m map[int]*Issue) []*Issue {
	out := make([]*Issue, 0, len(m))
	for _, is := range m {
		out = append(out, is)
	}
	slices.SortFunc(out, func(a, b *Issue) int { return a.ID - b.ID })
	return out
}

// user finds a user by account id, name or e-mail.
func (s *Server) user(id string) (User, bool) {
	for _, u := range s.users {
		if u.AccountID == id || u.Name == id {
			return u, true
		}
	}
	return User{}, false
}

// AddUser adds a user to the site.
func (s *Server) AddUser(u User) {
	s.mu.Lock()
	s.users = append(s.users, u)
	s.mu.Unlock()
}

// UserID returns how issues refer to u on this flavour.
func (s *Server) UserID(u User) string { return u.id(s.opts.Flavor) }

// Time formats t as Jira does: milliseconds and a numeric zone.
func (s *Server) Time(t time.Time) string { return t.In(s.tz).Format(jiraTime) }

const jiraTime = "2006-01-02T15:04:05.000-0700"

func errorBody(msgs ...string) map[string]any {
	return map[string]any{"errorMessages": msgs, "errors": map[string]string{}}
}

func fieldErrors(errs map[string]string) map[string]any {
	return map[string]any{"errorMessages": []string{}, "errors": errs}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	if v != nil {
		_ = json.NewEncoder(w).Encode(v)
	}
}

func unauthorized(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", `Basic realm="protected-area"`)
	w.Header().Set("Content-Type", "text/plain;charset=UTF-8")
	w.WriteHeader(http.StatusUnauthorized)
	fmt.Fprint(w, "Client must be authenticated to access this resource.")
}
