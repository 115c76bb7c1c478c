package jirafake

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// reply is a response to write once the lock is released.
type reply struct {
	status int
	body   any
	crash  bool
}

func ok(v any) reply                { return reply{status: http.StatusOK, body: v} }
func status(code int) reply         { return reply{status: code} }
func fail(code int, m string) reply { return reply{status: code, body: errorBody(m)} }
func notFound() reply {
	return fail(http.StatusNotFound, "Issue does not exist or you do not have permission to see it.")
}

var (
	apiRE   = regexp.MustCompile(`^/rest/api/(2|3)/(.*)$`)
	issueRE = regexp.MustCompile(`^issue/([^/]+)(?:/(transitions|comment|properties)(?:/([^/]+))?)?$`)
)

// classify names a request's kind for Stats.
func (s *Server) classify(r *http.Request) string {
	m := apiRE.FindStringSubmatch(r.URL.Path)
	if m == nil {
		return "other"
	}
	rest := m[2]
	switch {
	case rest == "search" || rest == "search/jql":
		if rest == "search" && s.opts.Flavor == Cloud {
			return "removed"
		}
		return "search"
	case rest == "issue" && r.Method == http.MethodPost:
		return "create_issue"
	case strings.HasPrefix(rest, "issue/"):
		im := issueRE.FindStringSubmatch(rest)
		if im == nil {
			return "other"
		}
		read := r.Method == http.MethodGet
		switch im[2] {
		case "":
			switch r.Method {
			case http.MethodGet:
				return "get_issue"
			case http.MethodPut:
				return "edit_issue"
			}
			return "delete_issue"
		case "transitions":
			if read {
				return "transitions"
			}
			return "transition"
		case "comment":
			if read {
				return "comments"
			}
			return "write_comment"
		case "properties":
			if read {
				return "property"
			}
			return "write_property"
		}
	case strings.HasPrefix(rest, "user"):
		return "user"
	case rest == "serverInfo" || rest == "myself" || rest == "field" || rest == "priority" || rest == "resolution" || strings.HasPrefix(rest, "project/"):
		return "meta"
	}
	return "other"
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 8<<20))
	s.mu.Lock()
	s.stats.Requests++
	if r.Method == http.MethodGet {
		s.stats.Reads++
	} else {
		s.stats.Writes++
	}
	s.stats.ByClass[s.classify(r)]++
	if len(s.hooks) > 0 {
		h := s.hooks[0]
		s.hooks = s.hooks[1:]
		s.stats.Limited++
		s.mu.Unlock()
		h(w)
		return
	}
	me, authed := s.authenticate(r)
	if !authed && r.URL.Path != "/rest/api/2/serverInfo" {
		s.mu.Unlock()
		unauthorized(w)
		return
	}
	rep := s.route(r, body, me)
	s.mu.Unlock()
	if rep.crash {
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				return
			}
		}
		panic(http.ErrAbortHandler)
	}
	if rep.body == nil {
		w.WriteHeader(rep.status)
		return
	}
	writeJSON(w, rep.status, rep.body)
}

// authenticate checks basic e-mail and API token (Cloud) or a bearer
// personal access token (Data Center).
func (s *Server) authenticate(r *http.Request) (User, bool) {
	if s.opts.Flavor == Cloud {
		u, p, ok := r.BasicAuth()
		return Bot, ok && u == BotEmail && p == APIToken
	}
	if r.Header.Get("Authorization") == "Bearer "+PAT {
		return Bot, true
	}
	u, p, ok := r.BasicAuth()
	return Bot, ok && u == Bot.Name && p == PAT
}

func (s *Server) route(r *http.Request, body []byte, me User) reply {
	m := apiRE.FindStringSubmatch(r.URL.Path)
	if m == nil {
		return fail(http.StatusNotFound, "no such resource")
	}
	ver, rest := m[1], m[2]
	if ver == "3" && s.opts.Flavor == DataCenter {
		return fail(http.StatusNotFound, "null for uri: "+r.URL.Path)
	}
	q := r.URL.Query()
	get := r.Method == http.MethodGet
	switch {
	case rest == "serverInfo" && get:
		dt, v := "Cloud", "1001.0.0-SNAPSHOT"
		if s.opts.Flavor == DataCenter {
			dt, v = "Server", "9.12.2"
		}
		return ok(map[string]any{"baseUrl": s.URL, "version": v, "deploymentType": dt, "serverTime": s.Time(s.now()), "serverTitle": "Jira"})
	case rest == "myself" && get:
		return ok(s.userJSON(me.id(s.opts.Flavor), true))
	case rest == "field" && get:
		return ok(s.fieldsJSON())
	case rest == "priority" && get:
		var out []map[string]string
		for i, p := range priorities {
			out = append(out, map[string]string{"id": strconv.Itoa(i + 1), "name": p})
		}
		return ok(out)
	case rest == "resolution" && get:
		return ok(resolutionsJSON())
	case strings.HasPrefix(rest, "project/") && get:
		key, sub, _ := strings.Cut(strings.TrimPrefix(rest, "project/"), "/")
		if key != s.opts.Project && key != "10000" {
			return fail(http.StatusNotFound, fmt.Sprintf("No project could be found with key '%s'.", key))
		}
		if sub == "statuses" {
			var out []map[string]any
			for i, t := range issueTypes {
				var sts []map[string]any
				for _, st := range statuses {
					sts = append(sts, statusJSON(st.name))
				}
				out = append(out, map[string]any{"id": strconv.Itoa(10001 + i), "name": t, "subtask": t == "Sub-task", "statuses": sts})
			}
			return ok(out)
		}
		return ok(s.projectJSON())
	case rest == "user/search" && get:
		return ok(s.userSearch(q))
	case rest == "user" && get:
		id := q.Get("accountId")
		if s.opts.Flavor == DataCenter {
			id = q.Get("username")
		}
		if _, found := s.user(id); !found || id == "" {
			return fail(http.StatusNotFound, "The user does not exist.")
		}
		return ok(s.userJSON(id, false))
	case rest == "search":
		if s.opts.Flavor == Cloud {
			return fail(http.StatusGone, "The requested API has been removed. Please migrate to the /rest/api/3/search/jql API. A full migration guideline is available at https://developer.atlassian.com/changelog/#CHANGE-2046")
		}
		return s.search(r, q, body, me, false)
	case rest == "search/jql":
		if s.opts.Flavor == DataCenter {
			return fail(http.StatusNotFound, "null for uri: "+r.URL.Path)
		}
		return s.search(r, q, body, me, true)
	case rest == "issue" && r.Method == http.MethodPost:
		if rep, bad := s.bodiesOverV3(ver); bad {
			return rep
		}
		return s.createIssue(body, me, ver)
	case strings.HasPrefix(rest, "issue/"):
		im := issueRE.FindStringSubmatch(rest)
		if im == nil {
			return fail(http.StatusNotFound, "no such resource")
		}
		is := s.find(im[1])
		if is == nil {
			return notFound()
		}
		switch im[2] {
		case "":
			if rep, bad := s.bodiesOverV3(ver); bad {
				return rep
			}
			switch r.Method {
			case http.MethodGet:
				return ok(s.issueJSON(is, fieldFilter(q.Get("fields"), "*all"), splitList(q.Get("properties")), strings.Contains(q.Get("expand"), "transitions")))
			case http.MethodPut:
				return s.editIssue(is, body, me)
			case http.MethodDelete:
				delete(s.issues, is.ID)
				s.pending = append(s.pending, pendingWrite{id: is.ID, dueCount: s.searches + s.opts.IndexLag + 1, dueTime: s.now().Add(s.opts.IndexLagTime)})
				return status(http.StatusNoContent)
			}
		case "transitions":
			if get {
				return ok(map[string]any{"expand": "transitions", "transitions": s.transitionsJSON(is, strings.Contains(q.Get("expand"), "transitions.fields"))})
			}
			if r.Method == http.MethodPost {
				return s.transition(is, body, me)
			}
		case "comment":
			if rep, bad := s.bodiesOverV3(ver); bad {
				return rep
			}
			return s.comments(r, is, im[3], q, body, me)
		case "properties":
			return s.properties(r, is, im[3], body)
		}
	}
	return fail(http.StatusMethodNotAllowed, "method not allowed")
}

// bodiesOverV3 refuses issue and comment bodies over v2 on Cloud: the
// fake holds ADF and does not convert to wiki markup.
func (s *Server) bodiesOverV3(ver string) (reply, bool) {
	if s.opts.Flavor == Cloud && ver == "2" {
		return fail(http.StatusBadRequest, "jirafake: issue and comment bodies are ADF; use REST API v3 on Cloud"), true
	}
	return reply{}, false
}

var (
	issueTypes  = []string{"Epic", "Story", "Bug", "Task", "Sub-task"}
	priorities  = []string{"Highest", "High", "Medium", "Low", "Lowest"}
	resolutions = []string{"Done", "Won't Do", "Duplicate"}
	components  = []string{"Web", "API", "Back office"}
	versions    = []string{"1.0", "2.0"}
	roles       = []string{"Administrators", "Developers", "Users"}
	groups      = []string{"jira-administrators", "jira-software-users"}
)

type wfStatus struct {
	id, name, category string
}

var statuses = []wfStatus{
	{"10000", "Backlog", "new"},
	{"3", "In Progress", "indeterminate"},
	{"10001", "Code Review", "indeterminate"},
	{"10002", "Done", "done"},
	{"10003", "Won't Do", "done"},
}

// The workflow: Backlog → In Progress → Code Review → Done, with a way
// back at each step, and "Won't do" from anywhere.
type wfTransition struct {
	id, name string
	from     []string // empty: from every status but the target
	to       string
	required []string // resolution, comment
	optional []string
}

var workflow = []wfTransition{
	{id: "11", name: "Start progress", from: []string{"Backlog"}, to: "In Progress", optional: []string{"assignee"}},
	{id: "21", name: "Request review", from: []string{"In Progress"}, to: "Code Review"},
	{id: "31", name: "Stop progress", from: []string{"In Progress"}, to: "Backlog"},
	{id: "41", name: "Approve", from: []string{"Code Review"}, to: "Done", required: []string{"resolution"}},
	{id: "51", name: "Request changes", from: []string{"Code Review"}, to: "In Progress"},
	{id: "61", name: "Reopen", from: []string{"Done", "Won't Do"}, to: "Backlog"},
	{id: "71", name: "Won't do", to: "Won't Do", required: []string{"resolution", "comment"}},
}

func statusJSON(name string) map[string]any {
	for _, st := range statuses {
		if st.name == name {
			return map[string]any{"id": st.id, "name": st.name,
				"statusCategory": map[string]any{"key": st.category, "name": map[string]string{"new": "To Do", "indeterminate": "In Progress", "done": "Done"}[st.category]}}
		}
	}
	return nil
}

func resolutionsJSON() []map[string]string {
	var out []map[string]string
	for i, r := range resolutions {
		out = append(out, map[string]string{"id": strconv.Itoa(10000 + i), "name": r})
	}
	return out
}

func (s *Server) fieldsJSON() []map[string]any {
	var out []map[string]any
	for _, f := range s.fields {
		schema := map[string]any{"type": f.Type}
		if f.Items != "" {
			schema["items"] = f.Items
		}
		if f.Custom {
			schema["custom"] = f.CustomType
			n, _ := strconv.Atoi(strings.TrimPrefix(f.ID, "customfield_"))
			schema["customId"] = n
		} else {
			schema["system"] = f.ID
		}
		out = append(out, map[string]any{"id": f.ID, "key": f.ID, "name": f.Name, "custom": f.Custom, "navigable": true, "searchable": true, "schema": schema})
	}
	return out
}

func (s *Server) projectJSON() map[string]any {
	var types, comps, vers []map[string]any
	for i, t := range issueTypes {
		types = append(types, map[string]any{"id": strconv.Itoa(10001 + i), "name": t, "subtask": t == "Sub-task"})
	}
	for i, c := range components {
		comps = append(comps, map[string]any{"id": strconv.Itoa(10100 + i), "name": c})
	}
	for i, v := range versions {
		vers = append(vers, map[string]any{"id": strconv.Itoa(10200 + i), "name": v, "released": false, "archived": false})
	}
	return map[string]any{"id": "10000", "key": s.opts.Project, "name": "Acme web shop", "issueTypes": types, "components": comps, "versions": vers}
}

func (s *Server) userJSON(id string, withTZ bool) any {
	u, found := s.user(id)
	if !found || id == "" {
		return nil
	}
	out := map[string]any{"displayName": u.DisplayName, "active": true}
	if s.opts.Flavor == Cloud {
		out["accountId"] = u.AccountID
		out["accountType"] = "atlassian"
		if !u.EmailHidden {
			out["emailAddress"] = u.Email
		}
	} else {
		out["name"], out["key"] = u.Name, "JIRAUSER"+u.Name
		out["emailAddress"] = u.Email
	}
	if withTZ {
		out["timeZone"] = s.opts.TimeZone
	}
	return out
}

// userSearch matches query (Cloud) or username (Data Center) against
// e-mail, name and display name; hidden e-mails do not match.
func (s *Server) userSearch(q map[string][]string) []any {
	term := ""
	if v := q["query"]; len(v) > 0 {
		term = v[0]
	}
	if v := q["username"]; len(v) > 0 {
		term = v[0]
	}
	term = strings.ToLower(term)
	out := []any{}
	if term == "" {
		return out
	}
	for _, u := range s.users {
		email := u.Email
		if s.opts.Flavor == Cloud && u.EmailHidden {
			email = ""
		}
		name := u.Name
		if s.opts.Flavor == Cloud {
			name = ""
		}
		if email != "" && strings.HasPrefix(strings.ToLower(email), term) || name != "" && strings.HasPrefix(strings.ToLower(name), term) ||
			strings.HasPrefix(strings.ToLower(u.DisplayName), term) {
			out = append(out, s.userJSON(u.id(s.opts.Flavor), false))
		}
	}
	return out
}

// filter is a fields parameter: *all, *navigable (all but comments),
// names, and -name exclusions.
type filter struct {
	all     bool
	in, out map[string]bool
}

func (f filter) want(name string) bool {
	if f.out[name] {
		return false
	}
	return f.all || f.in[name]
}

// fieldFilter reads a fields parameter; empty means def.
func fieldFilter(v string, def string) filter {
	if v == "" {
		v = def
	}
	f := filter{in: map[string]bool{}, out: map[string]bool{}}
	for _, n := range splitList(v) {
		switch {
		case n == "*all":
			f.all = true
		case n == "*navigable":
			f.all = true
			f.out["comment"] = true
		case strings.HasPrefix(n, "-"):
			f.out[n[1:]] = true
		default:
			f.in[n] = true
		}
	}
	return f
}

func splitList(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// maxEmbeddedComments is how many comments the issue's comment field
// holds; more must be paged through /comment.
const maxEmbeddedComments = 50

func (s *Server) issueJSON(is *Issue, fields filter, props []string, transitions bool) map[string]any {
	out := map[string]any{"id": strconv.Itoa(is.ID), "key": is.Key, "self": s.URL + "/rest/api/2/issue/" + strconv.Itoa(is.ID)}
	want := fields.want
	f := map[string]any{}
	set := func(name string, v any) {
		if want(name) {
			f[name] = v
		}
	}
	set("summary", is.Summary)
	set("description", is.Description)
	set("issuetype", map[string]any{"name": is.IssueType, "id": strconv.Itoa(10001 + slices.Index(issueTypes, is.IssueType)), "subtask": is.IssueType == "Sub-task"})
	set("status", statusJSON(is.Status))
	set("priority", map[string]any{"name": is.Priority, "id": strconv.Itoa(1 + slices.Index(priorities, is.Priority))})
	set("labels", nonNil(is.Labels))
	named := func(ns []string, all []string, base int) []map[string]string {
		out := []map[string]string{}
		for _, n := range ns {
			out = append(out, map[string]string{"id": strconv.Itoa(base + slices.Index(all, n)), "name": n})
		}
		return out
	}
	set("components", named(is.Components, components, 10100))
	set("fixVersions", named(is.FixVersions, versions, 10200))
	set("assignee", s.userJSON(is.Assignee, false))
	set("reporter", s.userJSON(is.Reporter, false))
	set("creator", s.userJSON(is.Creator, false))
	if is.DueDate != "" {
		set("duedate", is.DueDate)
	} else {
		set("duedate", nil)
	}
	if is.Resolution != "" {
		set("resolution", map[string]any{"name": is.Resolution, "id": strconv.Itoa(10000 + slices.Index(resolutions, is.Resolution))})
	} else {
		set("resolution", nil)
	}
	set("created", s.Time(is.Created))
	set("updated", s.Time(is.Updated))
	set("project", map[string]any{"id": "10000", "key": s.opts.Project, "name": "Acme web shop"})
	if p := s.issues[is.Parent]; p != nil && want("parent") {
		f["parent"] = map[string]any{"id": strconv.Itoa(p.ID), "key": p.Key, "fields": map[string]any{"summary": p.Summary, "status": statusJSON(p.Status)}}
	}
	for _, cf := range s.fields {
		if !cf.Custom || !want(cf.ID) {
			continue
		}
		if v, found := is.Custom[cf.ID]; found {
			f[cf.ID] = v
		} else {
			f[cf.ID] = nil
		}
	}
	if want("comment") {
		var cs []any
		for i, c := range is.Comments {
			if i >= maxEmbeddedComments {
				break
			}
			cs = append(cs, s.commentJSON(is, c))
		}
		if cs == nil {
			cs = []any{}
		}
		f["comment"] = map[string]any{"comments": cs, "maxResults": len(cs), "total": len(is.Comments), "startAt": 0}
	}
	out["fields"] = f
	if len(props) > 0 {
		p := map[string]any{}
		for _, k := range props {
			if v, found := is.Properties[k]; found {
				p[k] = v
			}
		}
		out["properties"] = p
	}
	if transitions {
		out["transitions"] = s.transitionsJSON(is, true)
	}
	return out
}

func nonNil(v []string) []string {
	if v == nil {
		return []string{}
	}
	return v
}

func (s *Server) commentJSON(is *Issue, c *Comment) map[string]any {
	out := map[string]any{"self": s.URL + "/rest/api/2/issue/" + strconv.Itoa(is.ID) + "/comment/" + strconv.Itoa(c.ID),
		"id": strconv.Itoa(c.ID), "author": s.userJSON(c.Author, false), "updateAuthor": s.userJSON(c.Author, false),
		"body": c.Body, "created": s.Time(c.Created), "updated": s.Time(c.Updated), "jsdPublic": true}
	if c.Visibility != nil {
		out["visibility"] = c.Visibility
	}
	return out
}

// search answers /search (startAt, total) and /search/jql (nextPageToken,
// isLast, no total), against the lagging index.
func (s *Server) search(r *http.Request, q map[string][]string, body []byte, me User, token bool) reply {
	get := func(k string) string {
		if v := q[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	jql, next, fieldsParam, propsParam := get("jql"), get("nextPageToken"), get("fields"), get("properties")
	startAt, _ := strconv.Atoi(get("startAt"))
	maxResults, _ := strconv.Atoi(get("maxResults"))
	if r.Method == http.MethodPost {
		var in struct {
			JQL           string   `json:"jql"`
			NextPageToken string   `json:"nextPageToken"`
			StartAt       int      `json:"startAt"`
			MaxResults    int      `json:"maxResults"`
			Fields        []string `json:"fields"`
			Properties    []string `json:"properties"`
		}
		if err := json.Unmarshal(body, &in); err != nil {
			return fail(http.StatusBadRequest, "Invalid request payload. Refer to the REST API documentation and try again.")
		}
		jql, next, startAt, maxResults = in.JQL, in.NextPageToken, in.StartAt, in.MaxResults
		fieldsParam, propsParam = strings.Join(in.Fields, ","), strings.Join(in.Properties, ",")
	}
	if maxResults <= 0 {
		maxResults = 50
	}
	maxResults = min(maxResults, s.opts.MaxResults)
	s.searches++
	s.jqls = append(s.jqls, jql)
	s.reindex()
	qr, err := parseJQL(jql)
	if err != nil {
		return fail(http.StatusBadRequest, err.Error())
	}
	var hits []*Issue
	for _, snap := range s.sorted(s.index) {
		if qr.where.eval(s, snap, me) {
			hits = append(hits, snap)
		}
	}
	sortIssues(hits, qr.order)
	if token && next != "" {
		b, err := base64.RawURLEncoding.DecodeString(next)
		var t struct {
			Q string `json:"q"`
			O int    `json:"o"`
			G int    `json:"g"`
		}
		if err != nil || json.Unmarshal(b, &t) != nil || t.Q != jql || t.G != s.tokenGen {
			return fail(http.StatusBadRequest, "The provided next page token is invalid or expired.")
		}
		startAt = t.O
	}
	startAt = max(startAt, 0)
	end := min(startAt+maxResults, len(hits))
	// The new endpoint returns ids only unless fields are asked for.
	def := "*navigable"
	if token {
		def = "id"
	}
	fields := fieldFilter(fieldsParam, def)
	issues := []any{}
	for _, snap := range hits[min(startAt, len(hits)):end] {
		// The index chose and ordered the hits; their data is current.
		if cur := s.issues[snap.ID]; cur != nil {
			issues = append(issues, s.issueJSON(cur, fields, splitList(propsParam), false))
		}
	}
	if token {
		out := map[string]any{"issues": issues, "isLast": end >= len(hits)}
		if end < len(hits) {
			b, _ := json.Marshal(map[string]any{"q": jql, "o": end, "g": s.tokenGen})
			out["nextPageToken"] = base64.RawURLEncoding.EncodeToString(b)
		}
		return ok(out)
	}
	return ok(map[string]any{"startAt": startAt, "maxResults": maxResults, "total": len(hits), "issues": issues})
}

// createIssue handles POST /issue: fields, entity properties, and the
// integration user as creator and reporter.
func (s *Server) createIssue(body []byte, me User, ver string) reply {
	var in struct {
		Fields     map[string]json.RawMessage `json:"fields"`
		Properties []struct {
			Key   string          `json:"key"`
			Value json.RawMessage `json:"value"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return fail(http.StatusBadRequest, "Invalid request payload. Refer to the REST API documentation and try again.")
	}
	errs := map[string]string{}
	var proj struct{ Key, ID string }
	if json.Unmarshal(in.Fields["project"], &proj) != nil || proj.Key != s.opts.Project && proj.ID != "10000" {
		errs["project"] = "Specify a valid project ID or key"
	}
	if _, found := in.Fields["issuetype"]; !found {
		errs["issuetype"] = "Specify an issue type"
	}
	if _, found := in.Fields["summary"]; !found {
		errs["summary"] = "You must specify a summary of the issue."
	}
	is := &Issue{Creator: me.id(s.opts.Flavor), Reporter: me.id(s.opts.Flavor), Custom: map[string]json.RawMessage{}, Properties: map[string]json.RawMessage{}, Description: json.RawMessage("null")}
	delete(in.Fields, "project")
	s.apply(is, in.Fields, errs)
	if len(errs) > 0 {
		return reply{status: http.StatusBadRequest, body: fieldErrors(errs)}
	}
	for _, p := range in.Properties {
		if p.Key == "" || len(p.Value) == 0 {
			return fail(http.StatusBadRequest, "The property key and value must be set.")
		}
		is.Properties[p.Key] = compact(p.Value)
	}
	s.add(is)
	rep := reply{status: http.StatusCreated, body: map[string]string{"id": strconv.Itoa(is.ID), "key": is.Key, "self": s.URL + "/rest/api/" + ver + "/issue/" + strconv.Itoa(is.ID)}}
	if s.crashCreate {
		s.crashCreate = false
		rep.crash = true
	}
	return rep
}

func (s *Server) editIssue(is *Issue, body []byte, me User) reply {
	var in struct {
		Fields map[string]json.RawMessage              `json:"fields"`
		Update map[string][]map[string]json.RawMessage `json:"update"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return fail(http.StatusBadRequest, "Invalid request payload. Refer to the REST API documentation and try again.")
	}
	all := fieldFilter("*all", "")
	before, _ := json.Marshal(s.issueJSON(is, all, nil, false))
	c := clone(is)
	errs := map[string]string{}
	s.apply(c, in.Fields, errs)
	for field, ops := range in.Update {
		if field != "labels" {
			errs[field] = fmt.Sprintf("Field '%s' cannot be set. It is not on the appropriate screen, or unknown.", field)
			continue
		}
		for _, op := range ops {
			for verb, raw := range op {
				var l string
				if json.Unmarshal(raw, &l) != nil {
					errs["labels"] = "invalid label"
					continue
				}
				switch verb {
				case "add":
					if !slices.Contains(c.Labels, l) {
						c.Labels = append(c.Labels, l)
					}
				case "remove":
					c.Labels = slices.DeleteFunc(c.Labels, func(x string) bool { return x == l })
				}
			}
		}
	}
	if len(errs) > 0 {
		return reply{status: http.StatusBadRequest, body: fieldErrors(errs)}
	}
	slices.Sort(c.Labels)
	c.Updated = is.Updated
	after, _ := json.Marshal(s.issueJSON(c, all, nil, false))
	if string(before) == string(after) {
		return status(http.StatusNoContent) // an edit that changes nothing does not touch the issue
	}
	s.issues[is.ID] = c
	s.touch(c)
	return status(http.StatusNoContent)
}

var labelRE = regexp.MustCompile(`\s`)

// apply sets fields on is, collecting Jira's per-field errors.
func (s *Server) apply(is *Issue, fields map[string]json.RawMessage, errs map[string]string) {
	cannot := func(k string) {
		errs[k] = fmt.Sprintf("Field '%s' cannot be set. It is not on the appropriate screen, or unknown.", k)
	}
	named := func(raw json.RawMessage) (string, bool) {
		var v struct{ Name, ID, Value, Key string }
		if json.Unmarshal(raw, &v) != nil {
			return "", false
		}
		return v.Name + v.Value + v.Key + v.ID, true
	}
	for k, raw := range fields {
		null := string(raw) == "null"
		switch k {
		case "summary":
			var v string
			if json.Unmarshal(raw, &v) != nil || strings.TrimSpace(v) == "" {
				errs[k] = "You must specify a summary of the issue."
			} else if len(v) > 255 {
				errs[k] = "Summary must be less than 255 characters."
			}
			is.Summary = v
		case "description":
			if !null {
				if s.opts.Flavor == Cloud {
					if err := validateADF(raw); err != nil {
						errs[k] = "INVALID_INPUT"
						continue
					}
				} else {
					var v string
					if json.Unmarshal(raw, &v) != nil {
						errs[k] = "Operation value must be a string"
						continue
					}
				}
			}
			is.Description = raw
		case "issuetype", "priority":
			n, good := named(raw)
			list := issueTypes
			if k == "priority" {
				list = priorities
			}
			if good {
				for i, x := range list {
					if strconv.Itoa(10001+i) == n || k == "priority" && strconv.Itoa(1+i) == n {
						n = x
					}
				}
			}
			if !good || !slices.Contains(list, n) {
				errs[k] = fmt.Sprintf("Specify a valid %s", map[string]string{"issuetype": "issue type", "priority": "priority"}[k])
				continue
			}
			if k == "issuetype" {
				is.IssueType = n
			} else {
				is.Priority = n
			}
		case "labels":
			var v []string
			if json.Unmarshal(raw, &v) != nil {
				errs[k] = "Operation value must be an array of strings"
				continue
			}
			for _, l := range v {
				if labelRE.MatchString(l) || l == "" {
					errs[k] = fmt.Sprintf("The label '%s' contains spaces which is invalid.", l)
				}
			}
			is.Labels = slices.Sorted(slices.Values(slices.Compact(slices.Sorted(slices.Values(v)))))
		case "components", "fixVersions":
			var v []json.RawMessage
			if json.Unmarshal(raw, &v) != nil {
				errs[k] = "Operation value must be an array"
				continue
			}
			list, base := components, 10100
			if k == "fixVersions" {
				list, base = versions, 10200
			}
			var names []string
			for _, x := range v {
				n, good := named(x)
				for i, y := range list {
					if strconv.Itoa(base+i) == n {
						n = y
					}
				}
				if !good || !slices.Contains(list, n) {
					errs[k] = fmt.Sprintf("%s name '%s' is not valid", map[string]string{"components": "Component", "fixVersions": "Version"}[k], n)
					continue
				}
				names = append(names, n)
			}
			if k == "components" {
				is.Components = names
			} else {
				is.FixVersions = names
			}
		case "assignee", "reporter":
			id := ""
			if !null {
				var v struct {
					AccountID string `json:"accountId"`
					Name      string `json:"name"`
				}
				_ = json.Unmarshal(raw, &v)
				id = v.Name
				if s.opts.Flavor == Cloud {
					id = v.AccountID // Cloud refuses user names (GDPR)
				}
				if _, found := s.user(id); !found || id == "" {
					errs[k] = fmt.Sprintf("Specify a valid value for %s", k)
					continue
				}
			}
			if k == "assignee" {
				is.Assignee = id
			} else {
				is.Reporter = id
			}
		case "duedate":
			if null {
				is.DueDate = ""
				continue
			}
			var v string
			if json.Unmarshal(raw, &v) != nil {
				errs[k] = "Error parsing date string"
				continue
			}
			if _, err := time.Parse("2006-01-02", v); err != nil {
				errs[k] = "Error parsing date string: " + v
				continue
			}
			is.DueDate = v
		case "parent":
			if null {
				is.Parent = 0
				continue
			}
			if s.opts.Flavor == DataCenter && is.IssueType != "Sub-task" {
				cannot(k)
				continue
			}
			n, _ := named(raw)
			p := s.find(n)
			if p == nil {
				errs[k] = "Could not find issue by id or key."
				continue
			}
			is.Parent = p.ID
		default:
			f, known := s.field(k)
			if !known || !f.Custom {
				cannot(k)
				continue
			}
			if null {
				delete(is.Custom, k)
				continue
			}
			switch {
			case f.Type == "number":
				var v float64
				if json.Unmarshal(raw, &v) != nil {
					errs[k] = "Operation value must be a number"
					continue
				}
			case f.Type == "option":
				n, good := named(raw)
				if !good || !slices.Contains(f.Options, n) {
					errs[k] = fmt.Sprintf("Option value '%s' is not valid", n)
					continue
				}
				raw, _ = json.Marshal(map[string]string{"value": n, "id": strconv.Itoa(20000 + slices.Index(f.Options, n))})
			case f.CustomType == "com.pyxis.greenhopper.jira:gh-epic-link":
				var v string
				_ = json.Unmarshal(raw, &v)
				e := s.find(v)
				if e == nil || e.IssueType != "Epic" {
					errs[k] = fmt.Sprintf("The issue %s is not an epic.", v)
					continue
				}
				raw, _ = json.Marshal(e.Key)
			}
			is.Custom[k] = raw
		}
	}
}

func (s *Server) field(id string) (Field, bool) {
	for _, f := range s.fields {
		if f.ID == id {
			return f, true
		}
	}
	return Field{}, false
}

func (s *Server) transitionsJSON(is *Issue, withFields bool) []any {
	out := []any{}
	for _, t := range workflow {
		if !t.available(is.Status) {
			continue
		}
		tj := map[string]any{"id": t.id, "name": t.name, "to": statusJSON(t.to), "hasScreen": len(t.required)+len(t.optional) > 0,
			"isGlobal": len(t.from) == 0, "isInitial": false, "isConditional": false}
		if withFields {
			fs := map[string]any{}
			for _, f := range append(slices.Clone(t.required), t.optional...) {
				req := slices.Contains(t.required, f)
				switch f {
				case "resolution":
					fs[f] = map[string]any{"required": req, "name": "Resolution", "key": "resolution", "hasDefaultValue": false,
						"schema": map[string]any{"type": "resolution", "system": "resolution"}, "operations": []string{"set"}, "allowedValues": resolutionsJSON()}
				case "comment":
					fs[f] = map[string]any{"required": req, "name": "Comment", "key": "comment", "hasDefaultValue": false,
						"schema": map[string]any{"type": "comments-page", "system": "comment"}, "operations": []string{"add", "edit", "remove"}}
				case "assignee":
					fs[f] = map[string]any{"required": req, "name": "Assignee", "key": "assignee", "hasDefaultValue": false,
						"schema": map[string]any{"type": "user", "system": "assignee"}, "operations": []string{"set"}}
				}
			}
			tj["fields"] = fs
		}
		out = append(out, tj)
	}
	return out
}

func (t wfTransition) available(from string) bool {
	if len(t.from) == 0 {
		return from != t.to
	}
	return slices.Contains(t.from, from)
}

// transition handles POST /transitions, refusing a transition the
// current status does not offer and one missing a required field.
func (s *Server) transition(is *Issue, body []byte, me User) reply {
	var in struct {
		Transition struct {
			ID string `json:"id"`
		} `json:"transition"`
		Fields map[string]json.RawMessage `json:"fields"`
		Update struct {
			Comment []struct {
				Add struct {
					Body       json.RawMessage `json:"body"`
					Visibility *Visibility     `json:"visibility"`
				} `json:"add"`
			} `json:"comment"`
		} `json:"update"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return fail(http.StatusBadRequest, "Invalid request payload. Refer to the REST API documentation and try again.")
	}
	var t *wfTransition
	for i := range workflow {
		if workflow[i].id == in.Transition.ID && workflow[i].available(is.Status) {
			t = &workflow[i]
		}
	}
	if t == nil {
		return fail(http.StatusBadRequest, fmt.Sprintf("Transition id '%s' is not valid for this issue.", in.Transition.ID))
	}
	errs := map[string]string{}
	resolution := ""
	if raw, found := in.Fields["resolution"]; found {
		var v struct{ Name, ID string }
		_ = json.Unmarshal(raw, &v)
		for i, r := range resolutions {
			if v.Name == r || v.ID == strconv.Itoa(10000+i) {
				resolution = r
			}
		}
		if resolution == "" {
			errs["resolution"] = "Specify a valid resolution"
		}
	}
	var comment json.RawMessage
	if len(in.Update.Comment) > 0 {
		comment = in.Update.Comment[0].Add.Body
	}
	for _, f := range t.required {
		switch f {
		case "resolution":
			if resolution == "" && errs["resolution"] == "" {
				errs["resolution"] = "Resolution is required."
			}
		case "comment":
			if len(comment) == 0 || string(comment) == "null" || string(comment) == `""` {
				errs["comment"] = "Comment is required."
			}
		}
	}
	for k := range in.Fields {
		if k != "resolution" && !slices.Contains(t.optional, k) {
			errs[k] = fmt.Sprintf("Field '%s' cannot be set. It is not on the appropriate screen, or unknown.", k)
		}
	}
	if len(errs) > 0 {
		return reply{status: http.StatusBadRequest, body: fieldErrors(errs)}
	}
	is.Status = t.to
	if t.to == "Backlog" {
		is.Resolution = ""
	}
	if resolution != "" {
		is.Resolution = resolution
	}
	if len(comment) > 0 {
		c := &Comment{ID: s.nextComment, Author: me.id(s.opts.Flavor), Body: comment, Created: s.now(), Visibility: in.Update.Comment[0].Add.Visibility}
		c.Updated = c.Created
		s.nextComment++
		is.Comments = append(is.Comments, c)
	}
	s.touch(is)
	return status(http.StatusNoContent)
}

func (s *Server) comments(r *http.Request, is *Issue, id string, q map[string][]string, body []byte, me User) reply {
	find := func() (int, *Comment) {
		for i, c := range is.Comments {
			if strconv.Itoa(c.ID) == id {
				return i, c
			}
		}
		return -1, nil
	}
	readBody := func() (json.RawMessage, *Visibility, *reply) {
		var in struct {
			Body       json.RawMessage `json:"body"`
			Visibility *Visibility     `json:"visibility"`
		}
		if err := json.Unmarshal(body, &in); err != nil || len(in.Body) == 0 || string(in.Body) == "null" {
			rep := reply{status: http.StatusBadRequest, body: fieldErrors(map[string]string{"comment": "Comment body can not be empty!"})}
			return nil, nil, &rep
		}
		if s.opts.Flavor == Cloud {
			if validateADF(in.Body) != nil {
				rep := reply{status: http.StatusBadRequest, body: fieldErrors(map[string]string{"comment": "INVALID_INPUT"})}
				return nil, nil, &rep
			}
		} else if text := ""; json.Unmarshal(in.Body, &text) != nil {
			rep := fail(http.StatusBadRequest, "Comment body must be a string")
			return nil, nil, &rep
		}
		if v := in.Visibility; v != nil {
			okVis := v.Type == "role" && slices.Contains(roles, v.Value) || v.Type == "group" && slices.Contains(groups, v.Value)
			if !okVis {
				rep := reply{status: http.StatusBadRequest, body: fieldErrors(map[string]string{"commentLevel": fmt.Sprintf("You are currently not a member of the project role: %s.", v.Value)})}
				return nil, nil, &rep
			}
		}
		return in.Body, in.Visibility, nil
	}
	switch {
	case id == "" && r.Method == http.MethodGet:
		startAt, _ := strconv.Atoi(first(q["startAt"]))
		maxResults, _ := strconv.Atoi(first(q["maxResults"]))
		if maxResults <= 0 || maxResults > 100 {
			maxResults = 50
		}
		startAt = min(max(startAt, 0), len(is.Comments))
		end := min(startAt+maxResults, len(is.Comments))
		cs := []any{}
		for _, c := range is.Comments[startAt:end] {
			cs = append(cs, s.commentJSON(is, c))
		}
		return ok(map[string]any{"startAt": startAt, "maxResults": maxResults, "total": len(is.Comments), "comments": cs})
	case id == "" && r.Method == http.MethodPost:
		b, vis, bad := readBody()
		if bad != nil {
			return *bad
		}
		c := &Comment{ID: s.nextComment, Author: me.id(s.opts.Flavor), Body: b, Visibility: vis, Created: s.now()}
		c.Updated = c.Created
		s.nextComment++
		is.Comments = append(is.Comments, c)
		s.touch(is)
		return reply{status: http.StatusCreated, body: s.commentJSON(is, c)}
	}
	i, c := find()
	if c == nil {
		return fail(http.StatusNotFound, "Can not find a comment for the id: "+id+".")
	}
	switch r.Method {
	case http.MethodGet:
		return ok(s.commentJSON(is, c))
	case http.MethodPut:
		b, vis, bad := readBody()
		if bad != nil {
			return *bad
		}
		// Jira replaces the visibility: an edit without one publishes
		// the comment.
		c.Body, c.Visibility, c.Updated = b, vis, s.now()
		s.touch(is)
		return ok(s.commentJSON(is, c))
	case http.MethodDelete:
		is.Comments = append(is.Comments[:i], is.Comments[i+1:]...)
		s.touch(is)
		return status(http.StatusNoContent)
	}
	return fail(http.StatusMethodNotAllowed, "method not allowed")
}

// compact stores JSON as Jira hands it back: without white space.
func compact(b []byte) json.RawMessage {
	var buf bytes.Buffer
	if json.Compact(&buf, b) != nil {
		return json.RawMessage(slices.Clone(b))
	}
	return buf.Bytes()
}

func first(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

func (s *Server) properties(r *http.Request, is *Issue, key string, body []byte) reply {
	switch {
	case key == "" && r.Method == http.MethodGet:
		keys := []any{}
		for _, k := range slices.Sorted(maps.Keys(is.Properties)) {
			keys = append(keys, map[string]string{"key": k, "self": s.URL + "/rest/api/2/issue/" + strconv.Itoa(is.ID) + "/properties/" + k})
		}
		return ok(map[string]any{"keys": keys})
	case key == "":
		return fail(http.StatusMethodNotAllowed, "method not allowed")
	}
	switch r.Method {
	case http.MethodGet:
		v, found := is.Properties[key]
		if !found {
			return fail(http.StatusNotFound, fmt.Sprintf("The property with key '%s' does not exist.", key))
		}
		return ok(map[string]any{"key": key, "value": v})
	case http.MethodPut:
		if !json.Valid(body) || len(body) == 0 {
			return fail(http.StatusBadRequest, "The property value must be valid JSON.")
		}
		if len(body) > 32768 {
			return fail(http.StatusBadRequest, "The property value is too long.")
		}
		_, existed := is.Properties[key]
		is.Properties[key] = compact(body)
		// Properties do not change the issue's updated time, but the
		// index learns them like any write.
		s.indexLater(is)
		if existed {
			return status(http.StatusOK)
		}
		return status(http.StatusCreated)
	case http.MethodDelete:
		if _, found := is.Properties[key]; !found {
			return fail(http.StatusNotFound, fmt.Sprintf("The property with key '%s' does not exist.", key))
		}
		delete(is.Properties, key)
		return status(http.StatusNoContent)
	}
	return fail(http.StatusMethodNotAllowed, "method not allowed")
}

// validateADF refuses what Jira Cloud refuses with INVALID_INPUT: a
// document that is not one, unknown nodes, empty text, code combined
// with marks other than link, a list item not starting with a paragraph,
// code block or media, and a quote holding anything but paragraphs,
// lists, code and media.
func validateADF(raw json.RawMessage) error {
	var doc node
	if err := json.Unmarshal(raw, &doc); err != nil {
		return err
	}
	if doc.Type != "doc" || doc.Version != 1 || doc.Content == nil {
		return fmt.Errorf("not a version 1 document")
	}
	return validateNodes(doc.Content, "doc", 0)
}

type node struct {
	Type    string                  `json:"type"`
	Version int                     `json:"version"`
	Text    *string                 `json:"text"`
	Content []node                  `json:"content"`
	Marks   []struct{ Type string } `json:"marks"`
	Attrs   json.RawMessage         `json:"attrs"`
}

var (
	blockNodes  = []string{"paragraph", "heading", "bulletList", "orderedList", "codeBlock", "blockquote", "rule", "table", "mediaSingle", "panel", "expand", "taskList", "decisionList", "mediaGroup", "blockCard", "embedCard"}
	inlineNodes = []string{"text", "hardBreak", "mention", "emoji", "inlineCard", "date", "status", "mediaInline"}
	quoteNodes  = []string{"paragraph", "bulletList", "orderedList", "codeBlock", "mediaSingle", "mediaGroup"}
)

func validateNodes(ns []node, parent string, depth int) error {
	if depth > 50 {
		return fmt.Errorf("too deep")
	}
	for i, n := range ns {
		switch parent {
		case "doc", "tableCell", "tableHeader", "panel", "expand":
			if !slices.Contains(blockNodes, n.Type) {
				return fmt.Errorf("%s in %s", n.Type, parent)
			}
		case "paragraph", "heading":
			if !slices.Contains(inlineNodes, n.Type) {
				return fmt.Errorf("%s in %s", n.Type, parent)
			}
		case "bulletList", "orderedList":
			if n.Type != "listItem" {
				return fmt.Errorf("%s in a list", n.Type)
			}
		case "listItem":
			if i == 0 && n.Type != "paragraph" && n.Type != "codeBlock" && n.Type != "mediaSingle" {
				return fmt.Errorf("a list item starts with %s", n.Type)
			}
			if !slices.Contains([]string{"paragraph", "bulletList", "orderedList", "codeBlock", "mediaSingle", "taskList"}, n.Type) {
				return fmt.Errorf("%s in a list item", n.Type)
			}
		case "blockquote":
			if !slices.Contains(quoteNodes, n.Type) {
				return fmt.Errorf("%s in a quote", n.Type)
			}
		case "codeBlock":
			if n.Type != "text" || len(n.Marks) > 0 {
				return fmt.Errorf("%s in a code block", n.Type)
			}
		case "table":
			if n.Type != "tableRow" {
				return fmt.Errorf("%s in a table", n.Type)
			}
		case "tableRow":
			if n.Type != "tableCell" && n.Type != "tableHeader" {
				return fmt.Errorf("%s in a table row", n.Type)
			}
		}
		if n.Type == "text" {
			if n.Text == nil || *n.Text == "" {
				return fmt.Errorf("empty text")
			}
			code, other := false, false
			for _, m := range n.Marks {
				switch m.Type {
				case "code":
					code = true
				case "link":
				case "strong", "em", "strike", "underline", "textColor", "subsup":
					other = true
				default:
					return fmt.Errorf("unknown mark %s", m.Type)
				}
			}
			if code && other {
				return fmt.Errorf("code combined with other marks")
			}
		}
		if n.Type == "listItem" && len(n.Content) == 0 {
			return fmt.Errorf("an empty list item")
		}
		if err := validateNodes(n.Content, n.Type, depth+1); err != nil {
			return err
		}
	}
	return nil
}
