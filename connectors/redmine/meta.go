package redmine

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/backlogd/backlogd/connectors"
)

// names maps a kind of Redmine object (trackers, statuses, …) between
// ids and names. Records carry names; writes send ids.
type names struct {
	byName map[string]int
	byID   map[int]string
	list   []string // in Redmine's order (its position setting)
}

func newNames(refs []ref) names {
	n := names{byName: map[string]int{}, byID: map[int]string{}}
	for _, r := range refs {
		n.byName[r.Name] = r.ID
		n.byID[r.ID] = r.Name
		n.list = append(n.list, r.Name)
	}
	return n
}

// id resolves a name, case-insensitively as a fallback because Redmine's
// own name uniqueness is case-insensitive.
func (n names) id(name string) (int, bool) {
	if id, ok := n.byName[name]; ok {
		return id, true
	}
	for k, id := range n.byName {
		if strings.EqualFold(k, name) {
			return id, true
		}
	}
	return 0, false
}

// meta is what the connector resolves at start: ids behind the names it
// reads and writes.
type meta struct {
	projectID  int
	me         user
	trackers   names
	statuses   names
	priorities names
	categories names
	versions   names
	// fields are the issue custom fields enabled in the project, by name,
	// without the marker field.
	fields    map[string]customField
	fieldByID map[int]customField
	marker    customField
	// users: id to login (or display name when logins are hidden from a
	// non-admin key), and login and display name to id.
	userByID map[int]string
	userID   map[string]int
	loadedAt time.Time
}

// metadata returns the resolved metadata, loading it on first use.
func (c *Connector) metadata(ctx context.Context) (*meta, error) {
	c.mu.Lock()
	m := c.meta
	c.mu.Unlock()
	if m != nil {
		return m, nil
	}
	return c.load(ctx)
}

// refreshStale reloads the metadata when a name was not found and the
// last load is older than a minute: an administrator may just have added
// the version or category a mapping names.
func (c *Connector) refreshStale(ctx context.Context, m *meta) *meta {
	if time.Since(m.loadedAt) < time.Minute {
		return m
	}
	if fresh, err := c.load(ctx); err == nil {
		return fresh
	}
	return m
}

// Refresh (re)loads trackers, statuses, priorities, custom fields,
// categories, versions and users by name. Factory calls it at start so
// Capabilities lists the values a mapping may use; call it again after an
// administrator changed them (the connector also reloads, at most once a
// minute, when a write names a value it does not know).
func (c *Connector) Refresh(ctx context.Context) error {
	_, err := c.load(ctx)
	return err
}

func (c *Connector) load(ctx context.Context) (*meta, error) {
	m := &meta{fields: map[string]customField{}, fieldByID: map[int]customField{}, userByID: map[int]string{}, userID: map[string]int{}, loadedAt: time.Now()}
	var cur struct {
		User user `json:"user"`
	}
	if err := c.do(ctx, call{method: http.MethodGet, path: "/users/current.json", out: &cur}); err != nil {
		return nil, fmt.Errorf("redmine: read the API key's user: %w", err)
	}
	m.me = cur.User
	p := url.PathEscape(c.cfg.Project)
	var proj project
	err := c.do(ctx, call{method: http.MethodGet, path: "/projects/" + p + ".json", query: url.Values{"include": {"trackers,issue_custom_fields"}}, out: &proj})
	if errors.Is(err, connectors.ErrNotFound) {
		return nil, connectors.Terminalf("redmine: project %q does not exist or the API key's user is not a member of it: check project (the identifier in the project's URL) and the user's membership", c.cfg.Project)
	}
	if err != nil {
		return nil, fmt.Errorf("redmine: read project %s: %w", c.cfg.Project, err)
	}
	m.projectID = proj.Project.ID
	m.trackers = newNames(proj.Project.Trackers)

	var l namedList
	if err := c.do(ctx, call{method: http.MethodGet, path: "/issue_statuses.json", out: &l}); err != nil {
		return nil, fmt.Errorf("redmine: read issue statuses: %w", err)
	}
	m.statuses = newNames(l.Statuses)
	l = namedList{}
	if err := c.do(ctx, call{method: http.MethodGet, path: "/enumerations/issue_priorities.json", out: &l}); err != nil {
		return nil, fmt.Errorf("redmine: read issue priorities: %w", err)
	}
	m.priorities = newNames(l.Priorities)
	l = namedList{}
	if err := c.do(ctx, call{method: http.MethodGet, path: "/projects/" + p + "/issue_categories.json", out: &l}); err != nil {
		return nil, fmt.Errorf("redmine: read issue categories of %s: %w", c.cfg.Project, err)
	}
	m.categories = newNames(l.Categories)
	l = namedList{}
	if err := c.do(ctx, call{method: http.MethodGet, path: "/projects/" + p + "/versions.json", out: &l}); err != nil {
		return nil, fmt.Errorf("redmine: read versions of %s: %w", c.cfg.Project, err)
	}
	m.versions = newNames(l.Versions)

	// /custom_fields.json is for administrators and lists every issue
	// field; the project itself lists only fields enabled for it one by
	// one, not those "for all projects". Without admin rights the fields
	// an issue of the project shows fill the gap.
	l = namedList{}
	err = c.do(ctx, call{method: http.MethodGet, path: "/custom_fields.json", out: &l})
	switch {
	case err == nil:
		for _, f := range l.CustomFields {
			if f.CustomizedType == "issue" {
				f.trackersKnown = true
				m.fieldByID[f.ID] = f
			}
		}
	case connectors.IsTerminal(err):
		add := func(id int, name string, multiple bool) {
			// Filterability is unknown without admin rights: FindByMarker tells.
			m.fieldByID[id] = customField{ID: id, Name: name, CustomizedType: "issue", IsFilter: true, Multiple: multiple}
		}
		for _, f := range proj.Project.IssueCustomFields {
			add(f.ID, f.Name, f.Multiple)
		}
		var il issueList
		q := url.Values{"project_id": {strconv.Itoa(m.projectID)}, "status_id": {"*"}, "limit": {"1"}}
		if err := c.do(ctx, call{method: http.MethodGet, path: "/issues.json", query: q, out: &il}); err != nil {
			return nil, fmt.Errorf("redmine: read custom fields from an issue of %s: %w", c.cfg.Project, err)
		}
		for _, is := range il.Issues {
			for _, cv := range is.CustomFields {
				add(cv.ID, cv.Name, cv.Multiple)
			}
		}
	default:
		return nil, fmt.Errorf("redmine: read custom fields: %w", err)
	}
	found := false
	for _, f := range m.fieldByID {
		if f.Name == c.cfg.MarkerField {
			m.marker, found = f, true
			continue
		}
		m.fields[f.Name] = f
	}
	if !found {
		return nil, connectors.Terminalf("redmine: project %s has no issue custom field %q to hold backlogd's ids: create it (Administration › Custom fields › Issues, format Text, \"Used as a filter\", for all trackers) and enable it in the project, or set marker_field", c.cfg.Project, c.cfg.MarkerField)
	}
	if !m.marker.IsFilter {
		return nil, connectors.Terminalf("redmine: custom field %q is not \"Used as a filter\": tick it in Administration › Custom fields, or backlogd cannot find issues by their id", c.cfg.MarkerField)
	}
	if err := c.loadUsers(ctx, m); err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.meta = m
	c.mu.Unlock()
	return m, nil
}

// loadUsers maps users both ways. Logins need an administrator's key
// (/users.json); otherwise the project's members are known by name.
func (c *Connector) loadUsers(ctx context.Context, m *meta) error {
	for offset := 0; ; {
		var ul userList
		err := c.do(ctx, call{method: http.MethodGet, path: "/users.json", query: url.Values{"limit": {"100"}, "offset": {strconv.Itoa(offset)}}, out: &ul})
		if connectors.IsTerminal(err) {
			return c.loadMembers(ctx, m)
		}
		if err != nil {
			return fmt.Errorf("redmine: read users: %w", err)
		}
		for _, u := range ul.Users {
			m.userByID[u.ID] = u.Login
			m.userID[u.Login] = u.ID
			if name := strings.TrimSpace(u.Firstname + " " + u.Lastname); name != "" {
				if _, taken := m.userID[name]; !taken {
					m.userID[name] = u.ID
				}
			}
		}
		offset += len(ul.Users)
		if len(ul.Users) == 0 || offset >= ul.TotalCount {
			return nil
		}
	}
}

func (c *Connector) loadMembers(ctx context.Context, m *meta) error {
	for offset := 0; ; {
		var ml membershipList
		err := c.do(ctx, call{method: http.MethodGet, path: "/projects/" + url.PathEscape(c.cfg.Project) + "/memberships.json", query: url.Values{"limit": {"100"}, "offset": {strconv.Itoa(offset)}}, out: &ml})
		if err != nil {
			return fmt.Errorf("redmine: read members of %s: %w", c.cfg.Project, err)
		}
		for _, ms := range ml.Memberships {
			if ms.User != nil {
				m.userByID[ms.User.ID] = ms.User.Name
				m.userID[ms.User.Name] = ms.User.ID
			}
		}
		offset += len(ml.Memberships)
		if len(ml.Memberships) == 0 || offset >= ml.TotalCount {
			return nil
		}
	}
}

// userName is how a user appears in records: login when known.
func (m *meta) userName(r *ref) string {
	if r == nil {
		return ""
	}
	if s, ok := m.userByID[r.ID]; ok {
		return s
	}
	return r.Name
}

// capabilities lists the native fields with the values Redmine accepts.
func (m *meta) capabilities() connectors.Capabilities {
	caps := connectors.Capabilities{
		Comments: true, InternalComments: true, EditComments: true, DeleteComments: true,
		Hierarchy: true,
	}
	var users []string
	if m != nil {
		for _, u := range m.userByID {
			users = append(users, u)
		}
		slices.Sort(users)
	}
	vals := func(f func(*meta) names) []string {
		if m == nil {
			return nil
		}
		return slices.Clone(f(m).list)
	}
	caps.Fields = []connectors.FieldSpec{
		{Name: FieldSubject},
		{Name: FieldDescription},
		{Name: FieldTracker, Values: vals(func(m *meta) names { return m.trackers })},
		{Name: FieldStatus, Values: vals(func(m *meta) names { return m.statuses })},
		{Name: FieldPriority, Values: vals(func(m *meta) names { return m.priorities })},
		{Name: FieldAssignedTo, Values: users},
		{Name: FieldCategory, Values: vals(func(m *meta) names { return m.categories })},
		{Name: FieldFixedVersion, Values: vals(func(m *meta) names { return m.versions })},
		{Name: FieldParent},
		{Name: FieldStartDate},
		{Name: FieldDueDate},
		{Name: FieldEstimatedHours},
		{Name: FieldEstimatedDays},
		{Name: FieldDoneRatio},
		{Name: FieldAuthor, ReadOnly: true},
	}
	if m != nil {
		var cfs []string
		for name := range m.fields {
			cfs = append(cfs, name)
		}
		slices.Sort(cfs)
		for _, name := range cfs {
			f := m.fields[name]
			spec := connectors.FieldSpec{Name: name, Multi: f.Multiple}
			for _, v := range f.PossibleValues {
				spec.Values = append(spec.Values, v.Value)
			}
			caps.Fields = append(caps.Fields, spec)
		}
	}
	return caps
}
