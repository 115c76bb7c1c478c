// Package redminefake is an in-process fake of the part of Redmine's REST
// API the redmine connector uses, built on httptest. It reproduces the
// real server's awkward parts, as measured against Redmine 5.0:
//
//   - 401 (empty body, WWW-Authenticate) without a valid X-Redmine-API-Key;
//     404 and malformed-JSON 400 with empty bodies;
//   - 422 {"errors": [...]} for validation, {"errors": []} for a stale
//     lock_version;
//   - POST answers 201 with the issue and ignores status_id (a new issue
//     takes the default status); PUT and DELETE answer 204 with no body;
//   - a blank priority_id is refused ("Priority cannot be blank"), a blank
//     tracker_id or status_id ignored;
//   - every PUT bumps updated_on, even one that changes nothing;
//   - updated_on=>=T behaves like "> T-1s" (timestamps keep sub-seconds,
//     the API shows whole seconds);
//   - issues.json pages with offset/limit (limit ≤ 100, default 25) and
//     total_count, lists only open issues unless status_id=* is given,
//     filters on cf_N=value (exact; ignored, listing everything, for a
//     field not "Used as a filter") and sorts by updated_on or id;
//   - weak ETags on GET answers and 304 to a matching If-None-Match;
//   - descriptions and notes are stored with CRLF line ends;
//   - journals: private notes, PUT /journals/ID.json edits a note and
//     deletes a journal left with neither notes nor details.
//
// Hooks let tests act as a person (Edit, Comment, Delete), move the clock
// (Advance) and provoke failures (RateLimitNext, RejectNext,
// CrashAfterNextCreate).
package redminefake

import (
	"crypto/md5"
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

// Server is a running fake Redmine. URL and APIKey are what a connector
// needs; the key belongs to the administrator "admin".
type Server struct {
	URL    string
	APIKey string

	srv *httptest.Server

	mu          sync.Mutex
	offset      time.Duration // added to the wall clock by Advance
	nextID      int
	nextJournal int
	issues      map[int]*Issue
	projects    []*project
	users       []User
	fields      []CustomField
	requests    int
	// wholeSeconds stores times without fractions, as Redmine on MySQL
	// does (datetime columns hold whole seconds).
	wholeSeconds bool

	rateLimit time.Duration // > 0: answer the next request 429
	reject    bool
	crash     bool
	// notAdmin: the key's user is an ordinary member, who may not read
	// /custom_fields.json or /users.json.
	notAdmin bool
}

// User is a Redmine user.
type User struct {
	ID        int
	Login     string
	Firstname string
	Lastname  string
	Admin     bool
}

// Name is the display name Redmine shows ("Firstname Lastname").
func (u User) Name() string { return strings.TrimSpace(u.Firstname + " " + u.Lastname) }

// CustomField is an issue custom field, enabled for all projects.
type CustomField struct {
	ID       int
	Name     string
	Format   string // "string" or "list"
	Multiple bool
	// IsFilter is "Used as a filter": without it Redmine ignores a cf_N
	// filter on the field and lists issues as if it were not there.
	IsFilter bool
	Values   []string // possible values of a list
	// Trackers are the ids of the trackers the field is enabled for; nil
	// means all. An issue of another tracker neither shows nor keeps a
	// value for it: Redmine drops one sent in a write without a word.
	Trackers []int
}

// enabledFor reports whether the field applies to issues of tracker id.
func (f CustomField) enabledFor(tracker int) bool {
	return f.Trackers == nil || slices.Contains(f.Trackers, tracker)
}

type project struct {
	id         int
	identifier string
	name       string
	categories []named
	versions   []named
}

type named struct {
	ID   int    `json:"id"`
	Name string `json:"name"`
}

// Issue is the fake's stored issue. Times keep sub-second precision.
type Issue struct {
	ID, ProjectID, TrackerID, StatusID, PriorityID, AuthorID int
	// Zero means unset.
	AssignedToID, CategoryID, FixedVersionID, ParentID int
	Subject, Description                               string
	StartDate, DueDate                                 string // YYYY-MM-DD or ""
	DoneRatio                                          int
	EstimatedHours                                     *float64
	// Custom holds custom field values by field id.
	Custom               map[int][]string
	CreatedOn, UpdatedOn time.Time
	ClosedOn             time.Time
	LockVersion          int
	Journals             []Journal
}

// Journal is one entry of an issue's history: a note, field changes, or both.
type Journal struct {
	ID        int
	UserID    int
	Notes     string
	Private   bool
	CreatedOn time.Time
	// Details counts the field changes recorded with it.
	Details int
}

var (
	trackers   = []named{{1, "Bug"}, {2, "Feature"}, {3, "Support"}}
	priorities = []named{{1, "Low"}, {2, "Normal"}, {3, "High"}, {4, "Urgent"}, {5, "Immediate"}}
	statuses   = []struct {
		named
		closed bool
	}{{named{1, "New"}, false}, {named{2, "In Progress"}, false}, {named{3, "Resolved"}, false}, {named{4, "Feedback"}, false}, {named{5, "Closed"}, true}, {named{6, "Rejected"}, true}}
)

// Fixed ids of the fake's defaults.
const (
	// MarkerFieldID is the id of the "External ID" custom field.
	MarkerFieldID = 1
	// PhaseFieldID is a list field "Phase"; TeamsFieldID a multiple list "Teams".
	PhaseFieldID = 2
	TeamsFieldID = 3
	// AdminID is the user the API key belongs to; AliceID and BobID are
	// project members.
	AdminID = 1
	AliceID = 2
	BobID   = 3
)

// New starts a fake with project "sync-test" (categories "Backend",
// "Frontend"; versions "1.0", "2.0"), users admin, alice and bob, and the
// custom fields "External ID", "Phase" and "Teams". Close it when done.
func New() *Server {
	s := &Server{
		APIKey:      "fake-redmine-api-key-0123456789abcdef",
		nextID:      1,
		nextJournal: 1,
		issues:      map[int]*Issue{},
		users: []User{
			{ID: AdminID, Login: "admin", Firstname: "Redmine", Lastname: "Admin", Admin: true},
			{ID: AliceID, Login: "alice", Firstname: "Alice", Lastname: "Martin"},
			{ID: BobID, Login: "bob", Firstname: "Bob", Lastname: "Dubois"},
		},
		fields: []CustomField{
			{ID: MarkerFieldID, Name: "External ID", Format: "string", IsFilter: true},
			{ID: PhaseFieldID, Name: "Phase", Format: "list", IsFilter: true, Values: []string{"Kick-off", "Build", "Test & feedback", "Consolidation", "Launch"}},
			{ID: TeamsFieldID, Name: "Teams", Format: "list", Multiple: true, IsFilter: true, Values: []string{"Backend", "Design", "Frontend", "QA"}},
		},
	}
	s.projects = []*project{{id: 1, identifier: "sync-test", name: "sync-test",
		categories: []named{{1, "Backend"}, {2, "Frontend"}},
		versions:   []named{{1, "1.0"}, {2, "2.0"}}}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	return s
}

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// Client returns an HTTP client for the server.
func (s *Server) Client() *http.Client { return s.srv.Client() }

// now is the fake's clock: the wall clock moved by Advance.
func (s *Server) now() time.Time {
	t := time.Now().UTC().Add(s.offset)
	if s.wholeSeconds {
		t = t.Truncate(time.Second)
	}
	return t
}

// StoreWholeSeconds makes the fake keep times in whole seconds, as Redmine
// on MySQL does; by default it keeps fractions, as on SQLite and
// PostgreSQL. Issues saved in one second then share one updated_on.
func (s *Server) StoreWholeSeconds() {
	s.mu.Lock()
	s.wholeSeconds = true
	s.mu.Unlock()
}

// Advance moves the fake's clock forward, so a test can wait out
// Redmine's one-second resolution without sleeping.
func (s *Server) Advance(d time.Duration) {
	s.mu.Lock()
	s.offset += d
	s.mu.Unlock()
}

// Requests returns how many requests the server has answered.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// RateLimitNext makes the next request answer 429 with Retry-After, as a
// reverse proxy in front of Redmine does (Redmine itself never limits).
func (s *Server) RateLimitNext(retryAfter time.Duration) {
	s.mu.Lock()
	s.rateLimit = max(retryAfter, time.Second)
	s.mu.Unlock()
}

// SetFilter ticks or unticks a custom field's "Used as a filter" (an
// administrator's setting; the API cannot change it).
func (s *Server) SetFilter(fieldID int, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.fields {
		if s.fields[i].ID == fieldID {
			s.fields[i].IsFilter = on
		}
	}
}

// SetTrackers enables a custom field for the given trackers only (an
// administrator's setting: Administration › Custom fields › Trackers).
func (s *Server) SetTrackers(fieldID int, trackerIDs ...int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.fields {
		if s.fields[i].ID == fieldID {
			s.fields[i].Trackers = append([]int{}, trackerIDs...)
		}
	}
}

// Issues returns how many issues the server holds.
func (s *Server) Issues() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.issues)
}

// WithoutAdminRights makes the API key's user an ordinary project
// member: /custom_fields.json and /users.json answer 403, as Redmine
// answers non-administrators.
func (s *Server) WithoutAdminRights() {
	s.mu.Lock()
	s.notAdmin = true
	s.mu.Unlock()
}

// RejectNext makes the next request answer 401, as for a revoked key.
func (s *Server) RejectNext() {
	s.mu.Lock()
	s.reject = true
	s.mu.Unlock()
}

// CrashAfterNextCreate makes the next POST /issues.json create the issue
// and then drop the connection without an answer.
func (s *Server) CrashAfterNextCreate() {
	s.mu.Lock()
	s.crash = true
	s.mu.Unlock()
}

// Issue returns a copy of a stored issue.
func (s *Server) Issue(id int) (Issue, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	is, ok := s.issues[id]
	if !ok {
		return Issue{}, false
	}
	c := *is
	c.Journals = slices.Clone(is.Journals)
	return c, true
}

// Edit changes an issue as user alice would in the web UI: f edits it,
// then updated_on moves and a journal records the change. It reports
// whether the issue exists.
func (s *Server) Edit(id int, f func(*Issue)) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	is, ok := s.issues[id]
	if !ok {
		return false
	}
	f(is)
	is.Description = crlf(is.Description)
	s.touch(is, AliceID, "", false, 1)
	return true
}

// Comment adds a note to an issue as the user with login, and returns the
// journal id (0 when the issue or user does not exist).
func (s *Server) Comment(id int, login, notes string, private bool) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	is, ok := s.issues[id]
	u, found := s.userByLogin(login)
	if !ok || !found {
		return 0
	}
	return s.touch(is, u.ID, notes, private, 0)
}

// Delete deletes an issue and its subtasks, as a person with the right
// would.
func (s *Server) Delete(id int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.delete(id)
}

func (s *Server) delete(id int) bool {
	if _, ok := s.issues[id]; !ok {
		return false
	}
	delete(s.issues, id)
	for cid, c := range s.issues {
		if c.ParentID == id {
			s.delete(cid)
		}
	}
	return true
}

// touch saves an issue: it bumps updated_on and lock_version and adds a
// journal when there is a note or a change.
func (s *Server) touch(is *Issue, userID int, notes string, private bool, details int) int {
	now := s.now()
	if !now.After(is.UpdatedOn) && !s.wholeSeconds {
		now = is.UpdatedOn.Add(time.Microsecond)
	}
	is.UpdatedOn = now
	is.LockVersion++
	if st := status(is.StatusID); st.closed && is.ClosedOn.IsZero() {
		is.ClosedOn = now
	} else if !st.closed {
		is.ClosedOn = time.Time{}
	}
	if notes == "" && details == 0 {
		return 0
	}
	j := Journal{ID: s.nextJournal, UserID: userID, Notes: crlf(notes), Private: private && notes != "", CreatedOn: now, Details: details}
	s.nextJournal++
	is.Journals = append(is.Journals, j)
	return j.ID
}

func status(id int) struct {
	named
	closed bool
} {
	for _, st := range statuses {
		if st.ID == id {
			return st
		}
	}
	return statuses[0]
}

func (s *Server) userByLogin(login string) (User, bool) {
	for _, u := range s.users {
		if u.Login == login {
			return u, true
		}
	}
	return User{}, false
}

func (s *Server) user(id int) (User, bool) {
	for _, u := range s.users {
		if u.ID == id {
			return u, true
		}
	}
	return User{}, false
}

// crlf stores text the way Redmine does: every line end becomes CRLF.
func crlf(t string) string {
	t = strings.ReplaceAll(t, "\r\n", "\n")
	t = strings.ReplaceAll(t, "\r", "\n")
	return strings.ReplaceAll(t, "\n", "\r\n")
}

func (s *Server) project(key string) *project {
	for _, p := range s.projects {
		if p.identifier == key || strconv.Itoa(p.id) == key {
			return p
		}
	}
	return nil
}

func (s *Server) projectByID(id int) *project {
	for _, p := range s.projects {
		if p.id == id {
			return p
		}
	}
	return nil
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests++
	if s.rateLimit > 0 {
		d := s.rateLimit
		s.rateLimit = 0
		w.Header().Set("Retry-After", strconv.Itoa(int((d+time.Second-1)/time.Second)))
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusTooManyRequests)
		fmt.Fprint(w, "<html><body><h1>429 Too Many Requests</h1></body></html>")
		return
	}
	key := r.Header.Get("X-Redmine-API-Key")
	if key == "" {
		key = r.URL.Query().Get("key")
	}
	if s.reject || key != s.APIKey {
		s.reject = false
		w.Header().Set("WWW-Authenticate", `Basic realm="Redmine API"`)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	a := &answer{w: w, r: r}
	s.route(a)
	if a.status == 0 {
		a.status = http.StatusNotFound
	}
	a.flush()
}

// answer collects a response so GETs can carry a weak ETag.
type answer struct {
	w      http.ResponseWriter
	r      *http.Request
	status int
	body   []byte
}

func (a *answer) json(status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		a.status = http.StatusInternalServerError
		return
	}
	a.status, a.body = status, b
}

func (a *answer) empty(status int) { a.status, a.body = status, nil }

func (a *answer) flush() {
	h := a.w.Header()
	if a.body == nil {
		// Redmine's 404, 400, 204 and 401 have empty bodies.
		a.w.WriteHeader(a.status)
		return
	}
	h.Set("Content-Type", "application/json; charset=utf-8")
	if a.status == http.StatusOK || a.status == http.StatusCreated {
		sum := md5.Sum(a.body)
		etag := `W/"` + hex.EncodeToString(sum[:]) + `"`
		h.Set("ETag", etag)
		if a.r.Method == http.MethodGet && a.r.Header.Get("If-None-Match") == etag {
			a.w.WriteHeader(http.StatusNotModified)
			return
		}
	}
	a.w.WriteHeader(a.status)
	a.w.Write(a.body)
}
