package redminefake

import (
	"encoding/json"
	"io"
	"math"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

var (
	issuePath   = regexp.MustCompile(`^/issues/(\d+)\.json$`)
	journalPath = regexp.MustCompile(`^/journals/(\d+)\.json$`)
	projectPath = regexp.MustCompile(`^/projects/([^/]+)(\.json|/issue_categories\.json|/versions\.json|/memberships\.json)$`)
)

func (s *Server) route(a *answer) {
	r, p := a.r, a.r.URL.Path
	switch {
	case p == "/users/current.json" && r.Method == http.MethodGet:
		u, _ := s.user(AdminID)
		a.json(http.StatusOK, map[string]any{"user": s.userJSON(u)})
	case (p == "/users.json" || p == "/custom_fields.json") && s.notAdmin:
		a.empty(http.StatusForbidden)
	case p == "/users.json" && r.Method == http.MethodGet:
		var us []any
		for _, u := range s.users {
			us = append(us, s.userJSON(u))
		}
		page(a, "users", us)
	case p == "/issue_statuses.json" && r.Method == http.MethodGet:
		var out []any
		for _, st := range statuses {
			out = append(out, map[string]any{"id": st.ID, "name": st.Name, "is_closed": st.closed})
		}
		a.json(http.StatusOK, map[string]any{"issue_statuses": out})
	case p == "/trackers.json" && r.Method == http.MethodGet:
		a.json(http.StatusOK, map[string]any{"trackers": trackers})
	case p == "/enumerations/issue_priorities.json" && r.Method == http.MethodGet:
		a.json(http.StatusOK, map[string]any{"issue_priorities": priorities})
	case p == "/custom_fields.json" && r.Method == http.MethodGet:
		var out []any
		for _, f := range s.fields {
			pv := []any{}
			for _, v := range f.Values {
				pv = append(pv, map[string]any{"value": v, "label": v})
			}
			ts := []named{}
			for _, tr := range trackers {
				if f.enabledFor(tr.ID) {
					ts = append(ts, tr)
				}
			}
			m := map[string]any{"id": f.ID, "name": f.Name, "customized_type": "issue", "field_format": f.Format,
				"is_filter": f.IsFilter, "multiple": f.Multiple, "visible": true, "trackers": ts}
			if f.Format == "list" {
				m["possible_values"] = pv
			}
			out = append(out, m)
		}
		a.json(http.StatusOK, map[string]any{"custom_fields": out})
	case projectPath.MatchString(p) && r.Method == http.MethodGet:
		m := projectPath.FindStringSubmatch(p)
		pr := s.project(m[1])
		if pr == nil {
			a.empty(http.StatusNotFound)
			return
		}
		switch m[2] {
		case ".json":
			body := map[string]any{"id": pr.id, "name": pr.name, "identifier": pr.identifier}
			inc := r.URL.Query().Get("include")
			if strings.Contains(inc, "trackers") {
				body["trackers"] = trackers
			}
			if strings.Contains(inc, "issue_custom_fields") {
				var cfs []named
				for _, f := range s.fields {
					cfs = append(cfs, named{f.ID, f.Name})
				}
				body["issue_custom_fields"] = cfs
			}
			a.json(http.StatusOK, map[string]any{"project": body})
		case "/issue_categories.json":
			a.json(http.StatusOK, map[string]any{"issue_categories": pr.categories, "total_count": len(pr.categories)})
		case "/versions.json":
			a.json(http.StatusOK, map[string]any{"versions": pr.versions, "total_count": len(pr.versions)})
		case "/memberships.json":
			var ms []any
			for _, u := range s.users {
				ms = append(ms, map[string]any{"user": named{u.ID, u.Name()}})
			}
			page(a, "memberships", ms)
		}
	case p == "/issues.json" && r.Method == http.MethodGet:
		s.list(a)
	case p == "/issues.json" && r.Method == http.MethodPost:
		s.create(a)
	case issuePath.MatchString(p):
		id, _ := strconv.Atoi(issuePath.FindStringSubmatch(p)[1])
		is, ok := s.issues[id]
		if !ok {
			a.empty(http.StatusNotFound)
			return
		}
		switch r.Method {
		case http.MethodGet:
			a.json(http.StatusOK, map[string]any{"issue": s.issueJSON(is, strings.Contains(r.URL.Query().Get("include"), "journals"))})
		case http.MethodPut:
			s.update(a, is)
		case http.MethodDelete:
			s.delete(id)
			a.empty(http.StatusNoContent)
		}
	case journalPath.MatchString(p) && r.Method == http.MethodPut:
		id, _ := strconv.Atoi(journalPath.FindStringSubmatch(p)[1])
		s.updateJournal(a, id)
	}
}

// page answers a limit/offset listing.
func page(a *answer, key string, all []any) {
	limit, offset := limits(a.r)
	end := min(offset+limit, len(all))
	items := []any{}
	if offset < len(all) {
		items = all[offset:end]
	}
	a.json(http.StatusOK, map[string]any{key: items, "total_count": len(all), "offset": offset, "limit": limit})
}

func limits(r *http.Request) (limit, offset int) {
	q := r.URL.Query()
	limit, err := strconv.Atoi(q.Get("limit"))
	if err != nil || limit <= 0 {
		limit = 25
	}
	limit = min(limit, 100)
	offset, err = strconv.Atoi(q.Get("offset"))
	if err != nil || offset < 0 {
		offset = 0
	}
	return limit, offset
}

func (s *Server) userJSON(u User) map[string]any {
	return map[string]any{"id": u.ID, "login": u.Login, "admin": u.Admin, "firstname": u.Firstname, "lastname": u.Lastname}
}

func (s *Server) ref(list []named, id int) any {
	for _, n := range list {
		if n.ID == id {
			return n
		}
	}
	return nil
}

func (s *Server) userRef(id int) any {
	if u, ok := s.user(id); ok {
		return named{u.ID, u.Name()}
	}
	return nil
}

// seconds is how the API shows times: whole seconds, UTC, Z.
func seconds(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Truncate(time.Second).Format(time.RFC3339)
}

func orNil(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func (s *Server) issueJSON(is *Issue, journals bool) map[string]any {
	pr := s.projectByID(is.ProjectID)
	st := status(is.StatusID)
	m := map[string]any{
		"id":          is.ID,
		"project":     named{pr.id, pr.name},
		"tracker":     s.ref(trackers, is.TrackerID),
		"status":      map[string]any{"id": st.ID, "name": st.Name, "is_closed": st.closed},
		"priority":    s.ref(priorities, is.PriorityID),
		"author":      s.userRef(is.AuthorID),
		"subject":     is.Subject,
		"description": orNil(is.Description),
		"start_date":  orNil(is.StartDate),
		"due_date":    orNil(is.DueDate),
		"done_ratio":  is.DoneRatio,
		"is_private":  false,
		"created_on":  seconds(is.CreatedOn),
		"updated_on":  seconds(is.UpdatedOn),
		"closed_on":   seconds(is.ClosedOn),
	}
	if is.EstimatedHours != nil {
		m["estimated_hours"] = *is.EstimatedHours
	} else {
		m["estimated_hours"] = nil
	}
	// Redmine omits unset associations rather than sending null.
	if is.AssignedToID != 0 {
		m["assigned_to"] = s.userRef(is.AssignedToID)
	}
	if is.CategoryID != 0 {
		m["category"] = s.ref(pr.categories, is.CategoryID)
	}
	if is.FixedVersionID != 0 {
		m["fixed_version"] = s.ref(pr.versions, is.FixedVersionID)
	}
	if is.ParentID != 0 {
		m["parent"] = map[string]int{"id": is.ParentID}
	}
	var cfs []any
	for _, f := range s.fields {
		if !f.enabledFor(is.TrackerID) {
			continue // Redmine shows only the fields of the issue's tracker
		}
		vs := is.Custom[f.ID]
		cv := map[string]any{"id": f.ID, "name": f.Name}
		if f.Multiple {
			cv["multiple"] = true
			cv["value"] = append([]string{}, vs...)
		} else if len(vs) > 0 {
			cv["value"] = vs[0]
		} else {
			cv["value"] = nil
		}
		cfs = append(cfs, cv)
	}
	m["custom_fields"] = cfs
	if journals {
		js := []any{}
		for _, j := range is.Journals {
			details := []any{}
			for range j.Details {
				details = append(details, map[string]any{"property": "attr", "name": "subject"})
			}
			js = append(js, map[string]any{"id": j.ID, "user": s.userRef(j.UserID), "notes": j.Notes,
				"created_on": seconds(j.CreatedOn), "private_notes": j.Private, "details": details})
		}
		m["journals"] = js
	}
	return m
}

// list answers GET /issues.json with Redmine's filters.
func (s *Server) list(a *answer) {
	q := a.r.URL.Query()
	var pr *project
	if key := q.Get("project_id"); key != "" {
		if pr = s.project(key); pr == nil {
			a.empty(http.StatusNotFound)
			return
		}
	}
	var since time.Time
	if v := q.Get("updated_on"); v != "" {
		t, err := time.Parse(time.RFC3339, strings.TrimPrefix(v, ">="))
		if !strings.HasPrefix(v, ">=") || err != nil {
			// Redmine ignores a filter it cannot read and lists everything.
			since = time.Time{}
		} else {
			// Redmine's SQL is "updated_on > T - 1s".
			since = t.Add(-time.Second)
		}
	}
	var out []*Issue
	for _, is := range s.issues {
		if pr != nil && is.ProjectID != pr.id {
			continue
		}
		switch st := q.Get("status_id"); st {
		case "*":
		case "", "open":
			if status(is.StatusID).closed {
				continue
			}
		case "closed":
			if !status(is.StatusID).closed {
				continue
			}
		default:
			if strconv.Itoa(is.StatusID) != st {
				continue
			}
		}
		if !since.IsZero() && !is.UpdatedOn.After(since) {
			continue
		}
		match := true
		for k, vs := range q {
			if id, err := strconv.Atoi(strings.TrimPrefix(k, "cf_")); err == nil && strings.HasPrefix(k, "cf_") && s.filterable(id) {
				if !slices.Contains(is.Custom[id], vs[0]) {
					match = false
				}
			}
		}
		if match {
			out = append(out, is)
		}
	}
	sortIssues(out, q.Get("sort"))
	var all []any
	for _, is := range out {
		all = append(all, s.issueJSON(is, false))
	}
	page(a, "issues", all)
}

// filterable reports whether custom field id is "Used as a filter";
// Redmine silently drops a filter on one that is not.
func (s *Server) filterable(id int) bool {
	i := slices.IndexFunc(s.fields, func(f CustomField) bool { return f.ID == id })
	return i >= 0 && s.fields[i].IsFilter
}

// sortIssues applies a Redmine sort ("updated_on,id", "id:desc"); Redmine
// breaks ties by id descending.
func sortIssues(out []*Issue, spec string) {
	type key struct {
		col  string
		desc bool
	}
	var keys []key
	for _, part := range strings.Split(spec, ",") {
		col, dir, _ := strings.Cut(part, ":")
		if col == "updated_on" || col == "id" || col == "created_on" {
			keys = append(keys, key{col, dir == "desc"})
		}
	}
	keys = append(keys, key{"id", true})
	slices.SortStableFunc(out, func(x, y *Issue) int {
		for _, k := range keys {
			var c int
			switch k.col {
			case "updated_on":
				c = x.UpdatedOn.Compare(y.UpdatedOn)
			case "created_on":
				c = x.CreatedOn.Compare(y.CreatedOn)
			default:
				c = x.ID - y.ID
			}
			if k.desc {
				c = -c
			}
			if c != 0 {
				return c
			}
		}
		return 0
	})
}

// readIssue decodes {"issue": {...}}; a malformed body is a 400 with an
// empty body, a body without JSON content type is seen as empty (Rails
// does not parse it).
func readIssue(a *answer, wrapper string) (map[string]json.RawMessage, bool) {
	if !strings.HasPrefix(a.r.Header.Get("Content-Type"), "application/json") {
		return map[string]json.RawMessage{}, true
	}
	b, _ := io.ReadAll(a.r.Body)
	var env map[string]map[string]json.RawMessage
	if err := json.Unmarshal(b, &env); err != nil {
		a.empty(http.StatusBadRequest)
		return nil, false
	}
	if env[wrapper] == nil {
		return map[string]json.RawMessage{}, true
	}
	return env[wrapper], true
}

// assign applies issue attributes from a write and returns Redmine's
// validation messages and the number of changed attributes.
func (s *Server) assign(is *Issue, in map[string]json.RawMessage, creating bool) (errs []string, changes int) {
	str := func(k string) (string, bool) {
		raw, ok := in[k]
		if !ok {
			return "", false
		}
		var v any
		if json.Unmarshal(raw, &v) != nil || v == nil {
			return "", true
		}
		switch x := v.(type) {
		case string:
			return x, true
		case float64:
			return strconv.FormatFloat(x, 'f', -1, 64), true
		case bool:
			return strconv.FormatBool(x), true
		}
		return "", true
	}
	setInt := func(k string, dst *int, valid func(int) bool) {
		v, ok := str(k)
		if !ok {
			return
		}
		n, _ := strconv.Atoi(v)
		// Unknown ids are silently ignored, as Redmine does.
		if v != "" && !valid(n) {
			return
		}
		if *dst != n {
			*dst = n
			changes++
		}
	}
	inList := func(l []named) func(int) bool {
		return func(n int) bool { return slices.ContainsFunc(l, func(x named) bool { return x.ID == n }) }
	}
	pr := s.projectByID(is.ProjectID)
	if v, ok := str("subject"); ok && v != is.Subject {
		is.Subject, changes = v, changes+1
	}
	if v, ok := str("description"); ok && crlf(v) != is.Description {
		is.Description, changes = crlf(v), changes+1
	}
	// A blank tracker or status is ignored; a blank priority is refused
	// (measured on Redmine 5.0).
	if v, _ := str("tracker_id"); v != "" {
		setInt("tracker_id", &is.TrackerID, inList(trackers))
	}
	if v, _ := str("status_id"); v != "" && !creating {
		setInt("status_id", &is.StatusID, func(n int) bool { return n >= 1 && n <= len(statuses) })
	}
	if v, ok := str("priority_id"); ok && v == "" {
		errs = append(errs, "Priority cannot be blank")
	} else {
		setInt("priority_id", &is.PriorityID, inList(priorities))
	}
	setInt("category_id", &is.CategoryID, inList(pr.categories))
	setInt("fixed_version_id", &is.FixedVersionID, inList(pr.versions))
	if v, ok := str("assigned_to_id"); ok {
		n, _ := strconv.Atoi(v)
		if _, found := s.user(n); v != "" && !found {
			errs = append(errs, "Assignee is invalid")
		} else if n != is.AssignedToID {
			is.AssignedToID, changes = n, changes+1
		}
	}
	if v, ok := str("parent_issue_id"); ok {
		n, _ := strconv.Atoi(v)
		if _, found := s.issues[n]; v != "" && (!found || n == is.ID) {
			errs = append(errs, "Parent task is invalid")
		} else if n != is.ParentID {
			is.ParentID, changes = n, changes+1
		}
	}
	for _, k := range []string{"start_date", "due_date"} {
		v, ok := str(k)
		if !ok {
			continue
		}
		if _, err := time.Parse(time.DateOnly, v); v != "" && err != nil {
			errs = append(errs, map[string]string{"start_date": "Start date", "due_date": "Due date"}[k]+" is not a valid date")
			continue
		}
		dst := map[string]*string{"start_date": &is.StartDate, "due_date": &is.DueDate}[k]
		if *dst != v {
			*dst, changes = v, changes+1
		}
	}
	if is.StartDate != "" && is.DueDate != "" && is.DueDate < is.StartDate {
		errs = append(errs, "Due date must be greater than start date")
	}
	if v, ok := str("estimated_hours"); ok {
		if v == "" {
			if is.EstimatedHours != nil {
				is.EstimatedHours, changes = nil, changes+1
			}
		} else if h, err := strconv.ParseFloat(v, 64); err != nil || h < 0 || math.IsNaN(h) {
			errs = append(errs, "Estimated time is invalid")
		} else if is.EstimatedHours == nil || *is.EstimatedHours != h {
			is.EstimatedHours, changes = &h, changes+1
		}
	}
	if v, ok := str("done_ratio"); ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 100 {
			errs = append(errs, "% Done is not included in the list")
		} else if n != is.DoneRatio {
			is.DoneRatio, changes = n, changes+1
		}
	}
	if raw, ok := in["custom_fields"]; ok {
		var cfs []struct {
			ID    int             `json:"id"`
			Value json.RawMessage `json:"value"`
		}
		if json.Unmarshal(raw, &cfs) == nil {
			for _, cv := range cfs {
				i := slices.IndexFunc(s.fields, func(f CustomField) bool { return f.ID == cv.ID })
				if i < 0 || !s.fields[i].enabledFor(is.TrackerID) {
					continue // unknown fields, and those of other trackers, are ignored
				}
				f := s.fields[i]
				var vs []string
				var one *string
				if json.Unmarshal(cv.Value, &one) == nil {
					if one != nil && *one != "" {
						vs = []string{*one}
					}
				} else if json.Unmarshal(cv.Value, &vs) == nil {
					vs = slices.DeleteFunc(vs, func(x string) bool { return x == "" })
				}
				if f.Format == "list" {
					bad := false
					for _, x := range vs {
						if !slices.Contains(f.Values, x) {
							bad = true
						}
					}
					if bad {
						errs = append(errs, f.Name+" is not included in the list")
						continue
					}
				}
				if !f.Multiple && len(vs) > 1 {
					vs = vs[:1]
				}
				if !slices.Equal(vs, is.Custom[f.ID]) {
					is.Custom[f.ID], changes = vs, changes+1
				}
			}
		}
	}
	if strings.TrimSpace(is.Subject) == "" {
		errs = append(errs, "Subject cannot be blank")
	}
	return errs, changes
}

func (s *Server) create(a *answer) {
	in, ok := readIssue(a, "issue")
	if !ok {
		return
	}
	now := s.now()
	is := &Issue{ID: s.nextID, StatusID: 1, PriorityID: 2, TrackerID: 1, AuthorID: AdminID,
		Custom: map[int][]string{}, CreatedOn: now, UpdatedOn: now, StartDate: now.Format(time.DateOnly)}
	var pid string
	if raw, ok := in["project_id"]; ok {
		var v any
		json.Unmarshal(raw, &v)
		switch x := v.(type) {
		case string:
			pid = x
		case float64:
			pid = strconv.Itoa(int(x))
		}
	}
	pr := s.project(pid)
	if pr == nil {
		a.json(http.StatusUnprocessableEntity, map[string]any{"errors": []string{"Project cannot be blank"}})
		return
	}
	is.ProjectID = pr.id
	errs, _ := s.assign(is, in, true)
	if len(errs) > 0 {
		a.json(http.StatusUnprocessableEntity, map[string]any{"errors": errs})
		return
	}
	s.nextID++
	s.issues[is.ID] = is
	if s.crash {
		s.crash = false
		panic(http.ErrAbortHandler)
	}
	a.w.Header().Set("Location", s.URL+"/issues/"+strconv.Itoa(is.ID))
	a.json(http.StatusCreated, map[string]any{"issue": s.issueJSON(is, false)})
}

func (s *Server) update(a *answer, is *Issue) {
	in, ok := readIssue(a, "issue")
	if !ok {
		return
	}
	if raw, ok := in["lock_version"]; ok {
		var lv int
		if json.Unmarshal(raw, &lv) == nil && lv != is.LockVersion {
			// ActiveRecord::StaleObjectError: Redmine answers an empty list.
			a.json(http.StatusUnprocessableEntity, map[string]any{"errors": []string{}})
			return
		}
	}
	work := *is
	work.Custom = map[int][]string{}
	for k, v := range is.Custom {
		work.Custom[k] = slices.Clone(v)
	}
	errs, changes := s.assign(&work, in, false)
	if len(errs) > 0 {
		a.json(http.StatusUnprocessableEntity, map[string]any{"errors": errs})
		return
	}
	var notes string
	var private bool
	if raw, ok := in["notes"]; ok {
		json.Unmarshal(raw, &notes)
	}
	if raw, ok := in["private_notes"]; ok {
		var v any
		json.Unmarshal(raw, &v)
		private = v == true || v == "1" || v == "true"
	}
	*is = work
	// Every PUT saves the issue: updated_on moves even when nothing changed.
	s.touch(is, AdminID, notes, private, changes)
	a.empty(http.StatusNoContent)
}

func (s *Server) updateJournal(a *answer, id int) {
	for _, is := range s.issues {
		for i := range is.Journals {
			j := &is.Journals[i]
			if j.ID != id {
				continue
			}
			in, ok := readIssue(a, "journal")
			if !ok {
				return
			}
			if raw, ok := in["notes"]; ok {
				var notes string
				json.Unmarshal(raw, &notes)
				j.Notes = crlf(notes)
			}
			if raw, ok := in["private_notes"]; ok {
				var v any
				json.Unmarshal(raw, &v)
				j.Private = v == true || v == "1" || v == "true"
			}
			// Redmine destroys a journal left with no notes and no details.
			if j.Notes == "" && j.Details == 0 {
				is.Journals = slices.Delete(is.Journals, i, i+1)
			}
			a.empty(http.StatusNoContent)
			return
		}
	}
	a.empty(http.StatusNotFound)
}
