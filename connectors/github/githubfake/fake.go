// Package githubfake is an in-process fake of the GitHub REST API for
// issues, faithful to the parts a sync engine trips over: Link paging,
// ETag/304 (not counted against the quota), inclusive one-second since,
// pull requests mixed into issue listings, primary and secondary rate
// limits, validation errors, sub-issues, comments and a search index that
// lags behind writes. Tests and `backlogd demo` run it with New.
package githubfake

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Options configure a Server; zero values are sensible defaults.
type Options struct {
	// Owner and Repo name the one repository served (default acme/webshop).
	Owner, Repo string
	// Token is the only accepted token (default "fake-token").
	Token string
	// Login is the token's user (default "backlogd-bot").
	Login string
	// Collaborators can be assigned, besides Login; anyone else is
	// refused with 422, as GitHub does for users without access.
	Collaborators []string
	// IssueTypes are the issue types the repository's organisation
	// defines; empty means the repository has none (a type is refused).
	IssueTypes []string
	// Quota is the primary rate limit per hour (default 5000).
	Quota int
	// SearchLag hides issues created within the last SearchLag of fake
	// time from the search API, as its index lags behind.
	SearchLag time.Duration
	// Now is the fake clock's base (default time.Now); Advance moves it.
	Now func() time.Time
	// Latency is added to every answer, as the distance to GitHub adds it.
	Latency time.Duration
	// NoParentURL leaves parent_issue_url out of issues, as servers
	// without sub-issues (older Enterprise Server releases) do; clients
	// must then ask GET .../issues/N/parent.
	NoParentURL bool
}

// Issue is an issue (or pull request) as the fake stores it.
type Issue struct {
	ID          int64
	Number      int
	Title, Body string
	State       string // open, closed
	StateReason string // "", completed, not_planned, reopened
	Labels      []string
	Assignees   []string
	Milestone   int // number; 0 for none
	Type        string
	User        string
	Parent      int // parent issue number; 0 for none
	PullRequest bool
	Created     time.Time
	Updated     time.Time
	Closed      time.Time
	// Transferred is set by Transfer: the old number redirects.
	Transferred bool
	deleted     bool
}

// Comment is a stored issue comment.
type Comment struct {
	ID      int64
	Issue   int
	Body    string
	User    string
	Created time.Time
	Updated time.Time
}

type milestone struct {
	Number int
	Title  string
}

// Stats counts requests as GitHub would bill them.
type Stats struct {
	// Requests is every request received.
	Requests int
	// Counted is what the primary quota was charged (304 and 401 are free).
	Counted int
	// NotModified is the number of 304 answers.
	NotModified int
	// ByClass counts requests per kind: list_issues, get_issue,
	// create_issue, update_issue, comments, write_comment, sub_issues,
	// search, milestones, user, other.
	ByClass map[string]int
	// Limited counts rate-limit answers sent (hooks and quota).
	Limited int
}

// Server is a running fake. Its methods are safe for concurrent use.
type Server struct {
	// URL is the API root (pass it as base_url).
	URL string

	opts Options
	srv  *httptest.Server

	mu         sync.Mutex
	offset     time.Duration
	issues     map[int]*Issue
	comments   map[int64]*Comment
	milestones []milestone
	nextNumber int
	nextID     int64
	quotaLeft  int
	reset      time.Time
	stats      Stats
	hooks      []func(w http.ResponseWriter) // answer the next requests
	crashNext  bool

	wh webhooks // deliveries; see webhooks.go
}

// New starts a fake; Close stops it.
func New(o Options) *Server {
	if o.Owner == "" {
		o.Owner = "acme"
	}
	if o.Repo == "" {
		o.Repo = "webshop"
	}
	if o.Token == "" {
		o.Token = "fake-token"
	}
	if o.Login == "" {
		o.Login = "backlogd-bot"
	}
	if o.Quota == 0 {
		o.Quota = 5000
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	s := &Server{opts: o, issues: map[int]*Issue{}, comments: map[int64]*Comment{}, nextNumber: 1, nextID: 1000, quotaLeft: o.Quota}
	s.stats.ByClass = map[string]int{}
	s.reset = s.now().Add(time.Hour)
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL + "/"
	return s
}

// Close stops the server and its webhook deliveries.
func (s *Server) Close() {
	s.closeHooks()
	s.srv.Close()
}

// Client returns an HTTP client for the server (plain HTTP, no auth).
func (s *Server) Client() *http.Client { return s.srv.Client() }

// Options returns the options with defaults applied (owner, repo, token).
func (s *Server) Options() Options { return s.opts }

// Now returns the fake time, in whole seconds as GitHub reports it.
func (s *Server) Now() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.now()
}

func (s *Server) now() time.Time { return s.opts.Now().Add(s.offset).UTC().Truncate(time.Second) }

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

// ResetStats zeroes the request counters.
func (s *Server) ResetStats() {
	s.mu.Lock()
	s.stats = Stats{ByClass: map[string]int{}}
	s.mu.Unlock()
}

// SetQuotaRemaining sets how many requests the primary quota has left
// in this window.
func (s *Server) SetQuotaRemaining(n int) {
	s.mu.Lock()
	s.quotaLeft = n
	s.mu.Unlock()
}

// SecondaryLimitNext answers the next request with a secondary rate
// limit: status 403 or 429, with Retry-After when retryAfter > 0 and
// only the body's message otherwise.
func (s *Server) SecondaryLimitNext(status int, retryAfter time.Duration) {
	s.hook(func(w http.ResponseWriter) {
		if retryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int(retryAfter.Seconds())))
		}
		writeJSON(w, status, map[string]string{
			"message":           "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID.",
			"documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits",
		})
	})
}

// RateLimitNext answers the next request with a plain 429 and Retry-After.
func (s *Server) RateLimitNext(retryAfter time.Duration) {
	s.hook(func(w http.ResponseWriter) {
		w.Header().Set("Retry-After", strconv.Itoa(max(1, int(retryAfter.Seconds()))))
		writeJSON(w, http.StatusTooManyRequests, map[string]string{"message": "Too Many Requests"})
	})
}

// RejectNext answers the next request 401 Bad credentials.
func (s *Server) RejectNext() {
	s.hook(func(w http.ResponseWriter) { badCredentials(w) })
}

// FailNext answers the next request with status (a 502, say).
func (s *Server) FailNext(status int) {
	s.hook(func(w http.ResponseWriter) {
		writeJSON(w, status, map[string]string{"message": http.StatusText(status)})
	})
}

// CrashAfterNextCreate makes the next issue create happen on the server
// and then drops the connection before the answer, as a crash would.
func (s *Server) CrashAfterNextCreate() {
	s.mu.Lock()
	s.crashNext = true
	s.mu.Unlock()
}

func (s *Server) hook(f func(w http.ResponseWriter)) {
	s.mu.Lock()
	s.hooks = append(s.hooks, f)
	s.mu.Unlock()
}

// AddMilestone creates a milestone and returns its number.
func (s *Server) AddMilestone(title string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.milestones) + 1
	s.milestones = append(s.milestones, milestone{Number: n, Title: title})
	return n
}

// AddIssue stores an issue as a person would create it (number, ids and
// times are assigned) and returns its number.
func (s *Server) AddIssue(is Issue) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.add(is)
}

// AddPullRequest stores a pull request, which issue listings include.
func (s *Server) AddPullRequest(title string) int {
	return s.AddIssue(Issue{Title: title, PullRequest: true})
}

func (s *Server) add(is Issue) int {
	now := s.now()
	is.Number, is.ID = s.nextNumber, s.nextID
	s.nextNumber++
	s.nextID++
	if is.State == "" {
		is.State = "open"
	}
	if is.User == "" {
		is.User = "someone"
	}
	is.Created, is.Updated = now, now
	s.issues[is.Number] = &is
	s.issueEvent("opened", &is, is.User)
	return is.Number
}

// Issue returns a copy of issue n.
func (s *Server) Issue(n int) (Issue, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	is, ok := s.issues[n]
	if !ok || is.deleted {
		return Issue{}, false
	}
	c := *is
	c.Labels, c.Assignees = slices.Clone(is.Labels), slices.Clone(is.Assignees)
	return c, true
}

// Issues returns copies of every live issue and pull request, by number.
func (s *Server) Issues() []Issue {
	s.mu.Lock()
	var ns []int
	for n, is := range s.issues {
		if !is.deleted {
			ns = append(ns, n)
		}
	}
	s.mu.Unlock()
	slices.Sort(ns)
	var out []Issue
	for _, n := range ns {
		if is, ok := s.Issue(n); ok {
			out = append(out, is)
		}
	}
	return out
}

// Edit changes issue n as a person in the web UI would, bumping its
// updated time. It reports false when the issue does not exist.
func (s *Server) Edit(n int, f func(*Issue)) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	is, ok := s.issues[n]
	if !ok || is.deleted {
		return false
	}
	before := *is
	before.Labels, before.Assignees = slices.Clone(is.Labels), slices.Clone(is.Assignees)
	f(is)
	is.Updated = s.now()
	s.changeEvents(before, is, "someone")
	return true
}

// Delete removes issue n (GitHub answers 404 afterwards).
func (s *Server) Delete(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if is, ok := s.issues[n]; ok && !is.deleted {
		s.issueEvent("deleted", is, "someone")
		is.deleted = true
	}
}

// Transfer moves issue n to another repository: its old number then
// redirects there, as GitHub does.
func (s *Server) Transfer(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if is, ok := s.issues[n]; ok && !is.Transferred {
		s.issueEvent("transferred", is, "someone")
		is.Transferred = true
	}
}

// transferRepo is where Transfer moves issues.
func (s *Server) transferRepo() string { return s.opts.Repo + "-moved" }

// AddComment stores a comment on issue n as user.
func (s *Server) AddComment(n int, user, body string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addComment(n, user, body)
}

func (s *Server) addComment(n int, user, body string) int64 {
	now := s.now()
	id := s.nextID
	s.nextID++
	s.comments[id] = &Comment{ID: id, Issue: n, Body: body, User: user, Created: now, Updated: now}
	if is := s.issues[n]; is != nil {
		is.Updated = now
	}
	s.commentEvent("created", s.comments[id], user)
	return id
}

// --- HTTP ---------------------------------------------------------------

// reply is an answer before quota and ETag handling.
type reply struct {
	status int
	body   any
	// page info for Link headers
	page, last int
	header     http.Header
}

type apiError struct {
	Message          string       `json:"message"`
	Errors           []fieldError `json:"errors,omitempty"`
	DocumentationURL string       `json:"documentation_url,omitempty"`
}

type fieldError struct {
	Resource string `json:"resource"`
	Code     string `json:"code"`
	Field    string `json:"field"`
	Value    any    `json:"value,omitempty"`
	Message  string `json:"message,omitempty"`
}

func errReply(status int, msg string) reply {
	return reply{status: status, body: apiError{Message: msg, DocumentationURL: "https://docs.github.com/rest"}}
}

func notFound() reply { return errReply(http.StatusNotFound, "Not Found") }

func invalid(field, code string, value any) reply {
	return reply{status: http.StatusUnprocessableEntity, body: apiError{
		Message:          "Validation Failed",
		Errors:           []fieldError{{Resource: "Issue", Code: code, Field: field, Value: value}},
		DocumentationURL: "https://docs.github.com/rest/issues/issues#create-an-issue",
	}}
}

func badCredentials(w http.ResponseWriter) {
	writeJSON(w, http.StatusUnauthorized, apiError{Message: "Bad credentials", DocumentationURL: "https://docs.github.com/rest"})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if s.opts.Latency > 0 {
		time.Sleep(s.opts.Latency)
	}
	s.mu.Lock()
	s.stats.Requests++
	class := classify(r)
	s.stats.ByClass[class]++
	if len(s.hooks) > 0 {
		h := s.hooks[0]
		s.hooks = s.hooks[1:]
		s.stats.Limited++
		// GitHub sends its quota headers on every answer, limits and
		// refusals included: a client must not take X-RateLimit-Reset on
		// a secondary limit for the time to wait.
		w.Header().Set("Date", s.now().Format(http.TimeFormat))
		s.rateHeaders(w)
		s.mu.Unlock()
		h(w)
		return
	}
	auth := r.Header.Get("Authorization")
	if auth != "Bearer "+s.opts.Token && auth != "token "+s.opts.Token {
		s.mu.Unlock()
		badCredentials(w)
		return
	}
	now := s.now()
	// GitHub's Date and its updated_at come from the same clock.
	w.Header().Set("Date", now.Format(http.TimeFormat))
	if s.reset.IsZero() || !now.Before(s.reset) {
		s.reset, s.quotaLeft = now.Add(time.Hour), s.opts.Quota
	}
	if s.quotaLeft <= 0 {
		s.stats.Limited++
		s.rateHeaders(w)
		s.mu.Unlock()
		writeJSON(w, http.StatusForbidden, apiError{
			Message:          "API rate limit exceeded for user ID 1. If you reach out to GitHub Support for help, please include the request ID.",
			DocumentationURL: "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-rate-limits",
		})
		return
	}
	rep, crash := s.route(r)
	if crash {
		s.quotaLeft--
		s.stats.Counted++
		s.mu.Unlock()
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				return
			}
		}
		panic(http.ErrAbortHandler)
	}
	b, _ := json.Marshal(rep.body)
	if rep.status == http.StatusNoContent {
		b = nil
	}
	if r.Method == http.MethodGet && rep.status == http.StatusOK {
		sum := sha256.Sum256(b)
		etag := `W/"` + hex.EncodeToString(sum[:16]) + `"`
		w.Header().Set("ETag", etag)
		if inm := r.Header.Get("If-None-Match"); inm != "" && inm == etag {
			// GitHub does not charge conditional requests answered 304.
			s.stats.NotModified++
			s.rateHeaders(w)
			s.mu.Unlock()
			w.WriteHeader(http.StatusNotModified)
			return
		}
	}
	s.quotaLeft--
	s.stats.Counted++
	s.rateHeaders(w)
	s.mu.Unlock()
	if rep.last > 1 {
		w.Header().Set("Link", s.link(r, rep.page, rep.last))
	}
	for k, v := range rep.header {
		w.Header()[k] = v
	}
	if b == nil {
		w.WriteHeader(rep.status)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(rep.status)
	_, _ = w.Write(append(b, '\n'))
}

// rateHeaders writes the X-RateLimit-* headers; s.mu is held.
func (s *Server) rateHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("X-RateLimit-Limit", strconv.Itoa(s.opts.Quota))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(max(s.quotaLeft, 0)))
	h.Set("X-RateLimit-Used", strconv.Itoa(s.opts.Quota-max(s.quotaLeft, 0)))
	// Reset is an epoch in real time, as clients compare it to their clock.
	h.Set("X-RateLimit-Reset", strconv.FormatInt(time.Now().Add(s.reset.Sub(s.now())).Unix(), 10))
	h.Set("X-RateLimit-Resource", "core")
}

// link builds GitHub's Link header for page of last.
func (s *Server) link(r *http.Request, page, last int) string {
	at := func(p int) string {
		q := r.URL.Query()
		q.Set("page", strconv.Itoa(p))
		return fmt.Sprintf("<%s%s?%s>", strings.TrimSuffix(s.URL, "/"), r.URL.Path, q.Encode())
	}
	var parts []string
	if page > 1 {
		parts = append(parts, at(page-1)+`; rel="prev"`, at(1)+`; rel="first"`)
	}
	if page < last {
		parts = append(parts, at(page+1)+`; rel="next"`, at(last)+`; rel="last"`)
	}
	return strings.Join(parts, ", ")
}

func classify(r *http.Request) string {
	p := strings.Trim(r.URL.Path, "/")
	seg := strings.Split(p, "/")
	switch {
	case p == "user":
		return "user"
	case strings.HasPrefix(p, "search/"):
		return "search"
	case len(seg) >= 4 && seg[3] == "milestones":
		return "milestones"
	case len(seg) < 4 || seg[3] != "issues":
		return "other"
	case len(seg) >= 6 && (seg[5] == "parent" || seg[5] == "sub_issues" || seg[5] == "sub_issue"):
		return "sub_issues"
	case len(seg) >= 5 && seg[4] == "comments", len(seg) >= 6 && seg[5] == "comments":
		if r.Method == http.MethodGet {
			return "comments"
		}
		return "write_comment"
	case len(seg) == 4:
		if r.Method == http.MethodPost {
			return "create_issue"
		}
		return "list_issues"
	case len(seg) == 5:
		if r.Method == http.MethodGet {
			return "get_issue"
		}
		return "update_issue"
	}
	return "other"
}

// route dispatches a request; s.mu is held. crash is true when the
// connection must be dropped after the work is done.
func (s *Server) route(r *http.Request) (rep reply, crash bool) {
	seg := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if len(seg) == 1 && seg[0] == "user" && r.Method == http.MethodGet {
		return reply{status: 200, body: map[string]any{"login": s.opts.Login, "id": 1, "type": "User"}}, false
	}
	if len(seg) == 2 && seg[0] == "search" && seg[1] == "issues" && r.Method == http.MethodGet {
		return s.search(r), false
	}
	if len(seg) < 4 || seg[0] != "repos" || seg[1] != s.opts.Owner {
		return notFound(), false
	}
	if seg[2] == s.transferRepo() && len(seg) == 5 && seg[3] == "issues" && r.Method == http.MethodGet {
		n, _ := strconv.Atoi(seg[4])
		if is := s.issues[n]; is != nil && is.Transferred && !is.deleted {
			return reply{status: 200, body: s.issueJSON(is, s.transferRepo())}, false
		}
		return notFound(), false
	}
	if seg[2] != s.opts.Repo {
		return notFound(), false
	}
	rest, m := seg[3:], r.Method
	switch {
	case len(rest) == 1 && rest[0] == "milestones" && m == http.MethodGet:
		var out []any
		for _, ms := range s.milestones {
			out = append(out, map[string]any{"number": ms.Number, "title": ms.Title, "state": "open"})
		}
		return s.paged(r, out), false
	case rest[0] != "issues":
		return notFound(), false
	case len(rest) == 1 && m == http.MethodGet:
		return s.listIssues(r), false
	case len(rest) == 1 && m == http.MethodPost:
		rep := s.createIssue(r)
		if rep.status == http.StatusCreated && s.crashNext {
			s.crashNext = false
			return rep, true
		}
		return rep, false
	case len(rest) == 2 && rest[1] == "comments" && m == http.MethodGet:
		return s.listRepoComments(r), false
	case len(rest) == 3 && rest[1] == "comments":
		id, _ := strconv.ParseInt(rest[2], 10, 64)
		return s.comment(r, id), false
	}
	n, err := strconv.Atoi(rest[1])
	if err != nil {
		return notFound(), false
	}
	is := s.issues[n]
	if is == nil || is.deleted {
		return notFound(), false
	}
	if is.Transferred {
		return reply{status: http.StatusMovedPermanently, body: apiError{Message: "Moved Permanently"},
			header: http.Header{"Location": {fmt.Sprintf("%srepos/%s/%s/issues/%d", s.URL, s.opts.Owner, s.transferRepo(), n)}}}, false
	}
	switch {
	case len(rest) == 2 && m == http.MethodGet:
		return reply{status: 200, body: s.issueJSON(is, "")}, false
	case len(rest) == 2 && m == http.MethodPatch:
		return s.editIssue(r, is), false
	case len(rest) == 3 && rest[2] == "comments" && m == http.MethodGet:
		var out []any
		for _, c := range s.sortedComments(func(c *Comment) bool { return c.Issue == n }) {
			out = append(out, s.commentJSON(c))
		}
		return s.paged(r, out), false
	case len(rest) == 3 && rest[2] == "comments" && m == http.MethodPost:
		var in struct {
			Body *string `json:"body"`
		}
		if json.NewDecoder(r.Body).Decode(&in) != nil || in.Body == nil || *in.Body == "" {
			return reply{status: 422, body: apiError{Message: "Validation Failed", Errors: []fieldError{{Resource: "IssueComment", Code: "missing_field", Field: "body"}}}}, false
		}
		id := s.addComment(n, s.opts.Login, *in.Body)
		return reply{status: http.StatusCreated, body: s.commentJSON(s.comments[id])}, false
	case len(rest) == 3 && rest[2] == "parent" && m == http.MethodGet:
		p := s.issues[is.Parent]
		if is.Parent == 0 || p == nil || p.deleted {
			return notFound(), false
		}
		return reply{status: 200, body: s.issueJSON(p, "")}, false
	case len(rest) == 3 && rest[2] == "sub_issues" && m == http.MethodGet:
		var out []any
		for _, c := range s.sorted(func(c *Issue) bool { return c.Parent == n }) {
			out = append(out, s.issueJSON(c, ""))
		}
		return s.paged(r, out), false
	case len(rest) == 3 && rest[2] == "sub_issues" && m == http.MethodPost:
		return s.addSubIssue(r, is), false
	case len(rest) == 3 && rest[2] == "sub_issue" && m == http.MethodDelete:
		return s.removeSubIssue(r, is), false
	}
	return notFound(), false
}

// sorted returns the live issues matching keep, by number.
func (s *Server) sorted(keep func(*Issue) bool) []*Issue {
	var out []*Issue
	for _, is := range s.issues {
		if !is.deleted && !is.Transferred && keep(is) {
			out = append(out, is)
		}
	}
	slices.SortFunc(out, func(a, b *Issue) int { return cmp.Compare(a.Number, b.Number) })
	return out
}

func (s *Server) sortedComments(keep func(*Comment) bool) []*Comment {
	var out []*Comment
	for _, c := range s.comments {
		if keep(c) {
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b *Comment) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// paged cuts items into the page the request asks for (GitHub: 30 per
// page by default, at most 100).
func (s *Server) paged(r *http.Request, items []any) reply {
	per := 30
	if v, err := strconv.Atoi(r.URL.Query().Get("per_page")); err == nil && v > 0 {
		per = min(v, 100)
	}
	page := 1
	if v, err := strconv.Atoi(r.URL.Query().Get("page")); err == nil && v > 0 {
		page = v
	}
	last := max(1, (len(items)+per-1)/per)
	lo, hi := min((page-1)*per, len(items)), min(page*per, len(items))
	out := items[lo:hi]
	if out == nil {
		out = []any{}
	}
	return reply{status: 200, body: out, page: page, last: last}
}

func ts(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// issueJSON renders an issue as the REST API does; repo overrides the
// repository (for transferred issues).
func (s *Server) issueJSON(is *Issue, repo string) map[string]any {
	if repo == "" {
		repo = s.opts.Repo
	}
	api := strings.TrimSuffix(s.URL, "/")
	repoURL := fmt.Sprintf("%s/repos/%s/%s", api, s.opts.Owner, repo)
	labels := []any{}
	for i, l := range is.Labels {
		labels = append(labels, map[string]any{"id": i + 1, "name": l, "color": "ededed"})
	}
	assignees := []any{}
	for _, a := range is.Assignees {
		assignees = append(assignees, map[string]any{"login": a, "type": "User"})
	}
	var assignee any
	if len(assignees) > 0 {
		assignee = assignees[0]
	}
	var ms any
	for _, m := range s.milestones {
		if m.Number == is.Milestone {
			ms = map[string]any{"number": m.Number, "title": m.Title, "state": "open"}
		}
	}
	var typ any
	if is.Type != "" {
		typ = map[string]any{"id": 1, "name": is.Type}
	}
	var parentURL any
	if p := s.issues[is.Parent]; is.Parent != 0 && p != nil && !p.deleted {
		parentURL = fmt.Sprintf("%s/repos/%s/%s/issues/%d", api, s.opts.Owner, s.opts.Repo, p.Number)
	}
	var reason, closed any
	if is.StateReason != "" {
		reason = is.StateReason
	}
	if !is.Closed.IsZero() {
		closed = ts(is.Closed)
	}
	ncomments := 0
	for _, c := range s.comments {
		if c.Issue == is.Number {
			ncomments++
		}
	}
	out := map[string]any{
		"id":             is.ID,
		"node_id":        fmt.Sprintf("I_fake%d", is.ID),
		"number":         is.Number,
		"title":          is.Title,
		"body":           is.Body,
		"state":          is.State,
		"state_reason":   reason,
		"user":           map[string]any{"login": is.User, "type": "User"},
		"labels":         labels,
		"assignee":       assignee,
		"assignees":      assignees,
		"milestone":      ms,
		"type":           typ,
		"comments":       ncomments,
		"created_at":     ts(is.Created),
		"updated_at":     ts(is.Updated),
		"closed_at":      closed,
		"url":            fmt.Sprintf("%s/issues/%d", repoURL, is.Number),
		"repository_url": repoURL,
		"html_url":       fmt.Sprintf("https://github.com/%s/%s/issues/%d", s.opts.Owner, repo, is.Number),
	}
	if !s.opts.NoParentURL {
		out["parent_issue_url"] = parentURL
	}
	if is.PullRequest {
		out["html_url"] = fmt.Sprintf("https://github.com/%s/%s/pull/%d", s.opts.Owner, repo, is.Number)
		out["pull_request"] = map[string]any{"url": fmt.Sprintf("%s/pulls/%d", repoURL, is.Number)}
	}
	return out
}

func (s *Server) commentJSON(c *Comment) map[string]any {
	api := strings.TrimSuffix(s.URL, "/")
	return map[string]any{
		"id":         c.ID,
		"body":       c.Body,
		"user":       map[string]any{"login": c.User, "type": "User"},
		"created_at": ts(c.Created),
		"updated_at": ts(c.Updated),
		"issue_url":  fmt.Sprintf("%s/repos/%s/%s/issues/%d", api, s.opts.Owner, s.opts.Repo, c.Issue),
		"html_url":   fmt.Sprintf("https://github.com/%s/%s/issues/%d#issuecomment-%d", s.opts.Owner, s.opts.Repo, c.Issue, c.ID),
	}
}

// listIssues serves GET /repos/o/r/issues: issues AND pull requests,
// since inclusive at one-second resolution.
func (s *Server) listIssues(r *http.Request) reply {
	q := r.URL.Query()
	state := cmp.Or(q.Get("state"), "open")
	var since time.Time
	if v := q.Get("since"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return reply{status: 422, body: apiError{Message: "Validation Failed", Errors: []fieldError{{Resource: "Issue", Code: "invalid", Field: "since", Value: v}}}}
		}
		since = t.Truncate(time.Second)
	}
	creator := q.Get("creator")
	items := s.sorted(func(is *Issue) bool {
		return (state == "all" || is.State == state) &&
			!is.Updated.Before(since) &&
			(creator == "" || is.User == creator)
	})
	sortBy := cmp.Or(q.Get("sort"), "created")
	desc := q.Get("direction") != "asc"
	slices.SortStableFunc(items, func(a, b *Issue) int {
		var c int
		if sortBy == "updated" {
			c = a.Updated.Compare(b.Updated)
		} else {
			c = a.Created.Compare(b.Created)
		}
		c = cmp.Or(c, cmp.Compare(a.Number, b.Number))
		if desc {
			return -c
		}
		return c
	})
	out := make([]any, 0, len(items))
	for _, is := range items {
		out = append(out, s.issueJSON(is, ""))
	}
	return s.paged(r, out)
}

// search serves GET /search/issues for queries of the form
// `repo:o/r is:issue in:body "phrase"`; issues created within SearchLag
// are not indexed yet.
func (s *Server) search(r *http.Request) reply {
	q := r.URL.Query().Get("q")
	phrase := ""
	if i := strings.Index(q, `"`); i >= 0 {
		if j := strings.Index(q[i+1:], `"`); j >= 0 {
			phrase = q[i+1 : i+1+j]
		}
	}
	if !strings.Contains(q, "repo:"+s.opts.Owner+"/"+s.opts.Repo) {
		return reply{status: 422, body: apiError{Message: "Validation Failed", Errors: []fieldError{{Resource: "Search", Code: "invalid", Field: "q", Message: "The listed users and repositories cannot be searched"}}}}
	}
	cutoff := s.now().Add(-s.opts.SearchLag)
	items := s.sorted(func(is *Issue) bool {
		return !is.Created.After(cutoff) && (phrase == "" || strings.Contains(strings.ToLower(is.Body), strings.ToLower(phrase))) &&
			(!strings.Contains(q, "is:issue") || !is.PullRequest)
	})
	out := []any{}
	for _, is := range items {
		out = append(out, s.issueJSON(is, ""))
	}
	return reply{status: 200, body: map[string]any{"total_count": len(out), "incomplete_results": false, "items": out}}
}

// issueInput is a create or edit body. Raw values tell absent from null.
type issueInput struct {
	Title       *string         `json:"title"`
	Body        *string         `json:"body"`
	State       *string         `json:"state"`
	StateReason *string         `json:"state_reason"`
	Labels      *[]string       `json:"labels"`
	Assignees   *[]string       `json:"assignees"`
	Milestone   json.RawMessage `json:"milestone"`
	Type        json.RawMessage `json:"type"`
}

// apply validates in and writes it to is; a non-zero reply is a refusal.
func (s *Server) apply(in issueInput, is *Issue, creating bool) (reply, bool) {
	if in.Title != nil && strings.TrimSpace(*in.Title) == "" || creating && in.Title == nil {
		return invalid("title", "missing_field", nil), false
	}
	if in.Assignees != nil {
		for _, a := range *in.Assignees {
			if a != s.opts.Login && !slices.Contains(s.opts.Collaborators, a) {
				return invalid("assignees", "invalid", a), false
			}
		}
	}
	var ms *int
	if len(in.Milestone) > 0 {
		m := 0
		if string(in.Milestone) != "null" {
			if json.Unmarshal(in.Milestone, &m) != nil || !slices.ContainsFunc(s.milestones, func(x milestone) bool { return x.Number == m }) {
				return invalid("milestone", "invalid", string(in.Milestone)), false
			}
		}
		ms = &m
	}
	var typ *string
	if len(in.Type) > 0 {
		t := ""
		if string(in.Type) != "null" {
			if json.Unmarshal(in.Type, &t) != nil || !slices.Contains(s.opts.IssueTypes, t) {
				return invalid("type", "invalid", string(in.Type)), false
			}
		}
		typ = &t
	}
	if in.State != nil && *in.State != "open" && *in.State != "closed" {
		return invalid("state", "invalid", *in.State), false
	}
	if in.StateReason != nil && !slices.Contains([]string{"completed", "not_planned", "reopened", "duplicate"}, *in.StateReason) {
		return invalid("state_reason", "invalid", *in.StateReason), false
	}
	if in.Title != nil {
		is.Title = *in.Title
	}
	if in.Body != nil {
		is.Body = *in.Body
	}
	if in.Labels != nil {
		// Labels that do not exist are created on the fly.
		ls := slices.Clone(*in.Labels)
		slices.Sort(ls)
		is.Labels = slices.Compact(ls)
	}
	if in.Assignees != nil {
		is.Assignees = slices.Clone(*in.Assignees)
	}
	if ms != nil {
		is.Milestone = *ms
	}
	if typ != nil {
		is.Type = *typ
	}
	now := s.now()
	if in.State != nil && *in.State != is.State {
		is.State = *in.State
		if is.State == "closed" {
			is.Closed, is.StateReason = now, "completed"
		} else {
			is.Closed, is.StateReason = time.Time{}, "reopened"
		}
	}
	if in.StateReason != nil {
		is.StateReason = *in.StateReason
	}
	return reply{}, true
}

func (s *Server) createIssue(r *http.Request) reply {
	var in issueInput
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		return errReply(http.StatusBadRequest, "Problems parsing JSON")
	}
	in.State, in.StateReason = nil, nil // ignored on create
	var is Issue
	if rep, ok := s.apply(in, &is, true); !ok {
		return rep
	}
	is.User = s.opts.Login
	n := s.add(is)
	return reply{status: http.StatusCreated, body: s.issueJSON(s.issues[n], "")}
}

func (s *Server) editIssue(r *http.Request, is *Issue) reply {
	var in issueInput
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		return errReply(http.StatusBadRequest, "Problems parsing JSON")
	}
	next := *is
	if rep, ok := s.apply(in, &next, false); !ok {
		return rep
	}
	if !sameIssue(&next, is) {
		next.Updated = s.now()
	}
	before := *is
	*is = next
	s.changeEvents(before, is, s.opts.Login)
	return reply{status: 200, body: s.issueJSON(is, "")}
}

func sameIssue(a, b *Issue) bool {
	return a.Title == b.Title && a.Body == b.Body && a.State == b.State && a.StateReason == b.StateReason &&
		slices.Equal(a.Labels, b.Labels) && slices.Equal(a.Assignees, b.Assignees) && a.Milestone == b.Milestone && a.Type == b.Type
}

func (s *Server) subIssueInput(r *http.Request) (child *Issue, replace bool, rep reply) {
	var in struct {
		SubIssueID    int64 `json:"sub_issue_id"`
		ReplaceParent bool  `json:"replace_parent"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		return nil, false, errReply(http.StatusBadRequest, "Problems parsing JSON")
	}
	for _, is := range s.issues {
		if is.ID == in.SubIssueID && !is.deleted {
			return is, in.ReplaceParent, reply{}
		}
	}
	// GitHub wants the issue's id, not its number: a number is an unknown id.
	return nil, false, reply{status: 422, body: apiError{Message: "Validation Failed", Errors: []fieldError{{Resource: "SubIssue", Code: "invalid", Field: "sub_issue_id", Value: in.SubIssueID}}}}
}

func (s *Server) addSubIssue(r *http.Request, parent *Issue) reply {
	child, replace, rep := s.subIssueInput(r)
	if child == nil {
		return rep
	}
	if child.Number == parent.Number || child.PullRequest {
		return invalid("sub_issue_id", "invalid", child.ID)
	}
	if child.Parent != 0 && child.Parent != parent.Number && !replace {
		return reply{status: 422, body: apiError{Message: "Validation Failed", Errors: []fieldError{{Resource: "SubIssue", Code: "custom", Field: "sub_issue_id", Message: "Sub issue may only have one parent"}}}}
	}
	for p := parent; p != nil && p.Parent != 0; p = s.issues[p.Parent] {
		if p.Parent == child.Number {
			return reply{status: 422, body: apiError{Message: "Validation Failed", Errors: []fieldError{{Resource: "SubIssue", Code: "custom", Field: "sub_issue_id", Message: "Sub issue cannot be an ancestor of its parent"}}}}
		}
	}
	now := s.now()
	if old := s.issues[child.Parent]; child.Parent != 0 && old != nil && old != parent {
		s.subIssueEvent("sub_issue_removed", old, child)
	}
	child.Parent, child.Updated, parent.Updated = parent.Number, now, now
	s.subIssueEvent("sub_issue_added", parent, child)
	return reply{status: http.StatusCreated, body: s.issueJSON(parent, "")}
}

func (s *Server) removeSubIssue(r *http.Request, parent *Issue) reply {
	child, _, rep := s.subIssueInput(r)
	if child == nil {
		return rep
	}
	if child.Parent != parent.Number {
		return notFound()
	}
	now := s.now()
	child.Parent, child.Updated, parent.Updated = 0, now, now
	s.subIssueEvent("sub_issue_removed", parent, child)
	return reply{status: 200, body: s.issueJSON(parent, "")}
}

// listRepoComments serves GET /repos/o/r/issues/comments?since=: every
// comment of the repository changed since T, in one paged listing.
func (s *Server) listRepoComments(r *http.Request) reply {
	var since time.Time
	if v := r.URL.Query().Get("since"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return reply{status: 422, body: apiError{Message: "Validation Failed"}}
		}
		since = t.Truncate(time.Second)
	}
	cs := s.sortedComments(func(c *Comment) bool {
		is := s.issues[c.Issue]
		return !c.Updated.Before(since) && is != nil && !is.deleted
	})
	if r.URL.Query().Get("sort") == "updated" {
		slices.SortStableFunc(cs, func(a, b *Comment) int { return a.Updated.Compare(b.Updated) })
		if r.URL.Query().Get("direction") == "desc" {
			slices.Reverse(cs)
		}
	}
	out := make([]any, 0, len(cs))
	for _, c := range cs {
		out = append(out, s.commentJSON(c))
	}
	return s.paged(r, out)
}

// comment serves GET, PATCH and DELETE /repos/o/r/issues/comments/{id}.
func (s *Server) comment(r *http.Request, id int64) reply {
	c := s.comments[id]
	if c == nil || s.issues[c.Issue] == nil || s.issues[c.Issue].deleted {
		return notFound()
	}
	switch r.Method {
	case http.MethodGet:
		return reply{status: 200, body: s.commentJSON(c)}
	case http.MethodPatch:
		var in struct {
			Body *string `json:"body"`
		}
		if json.NewDecoder(r.Body).Decode(&in) != nil || in.Body == nil || *in.Body == "" {
			return reply{status: 422, body: apiError{Message: "Validation Failed", Errors: []fieldError{{Resource: "IssueComment", Code: "missing_field", Field: "body"}}}}
		}
		now := s.now()
		c.Body, c.Updated = *in.Body, now
		s.issues[c.Issue].Updated = now
		s.commentEvent("edited", c, s.opts.Login)
		return reply{status: 200, body: s.commentJSON(c)}
	case http.MethodDelete:
		delete(s.comments, id)
		s.issues[c.Issue].Updated = s.now()
		s.commentEvent("deleted", c, s.opts.Login)
		return reply{status: http.StatusNoContent}
	}
	return notFound()
}
