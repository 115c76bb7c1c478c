package jira

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	gojira "github.com/andygrunwald/go-jira"
	"github.com/backlogd/backlogd/connectors"
)

// fieldInfo is one field of the site, from /rest/api/2/field.
type fieldInfo struct {
	id, name   string
	custom     bool
	typ, items string
	customType string
}

// Custom field types handled specially.
const (
	epicLinkType = "com.pyxis.greenhopper.jira:gh-epic-link"
	textareaType = "com.atlassian.jira.plugin.system.customfieldtypes:textarea"
	teamType     = "com.atlassian.jira.plugin.system.customfieldtypes:atlassian-team"
)

// meta is what the connector resolves at start: the product, the user and
// its time zone, and the names behind the ids records carry.
type meta struct {
	cloud bool
	// api is the REST version bodies travel in: 3 (ADF) on Cloud, 2
	// (wiki markup) on Data Center.
	api       string
	me        gojira.User
	loc       *time.Location
	projectID string
	// Names in Jira's order.
	issueTypes, statuses, priorities, resolutions, components, versions []string
	// category of each status: new, indeterminate or done.
	category map[string]string
	// custom fields by native name: their name when unique on the site,
	// their id (customfield_10016) always.
	custom    map[string]fieldInfo
	ambiguous map[string][]string // a name several custom fields share, to their ids
	byID      map[string]fieldInfo
	loadedAt  time.Time
}

// myID is how Jira names the connector's user in issues.
func (m *meta) myID() string {
	if m.cloud {
		return m.me.AccountID
	}
	return m.me.Name
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
// the version or component a mapping names.
func (c *Connector) refreshStale(ctx context.Context, m *meta) *meta {
	if time.Since(m.loadedAt) < time.Minute {
		return m
	}
	if fresh, err := c.load(ctx); err == nil {
		return fresh
	}
	return m
}

// Refresh (re)reads the site: its product (when flavor is not set), the
// user's time zone, custom fields, and the project's issue types,
// statuses, components and versions, priorities and resolutions. Factory
// calls it at start so Capabilities lists them; the connector also
// reloads, at most once a minute, when a write names a value it does not
// know.
func (c *Connector) Refresh(ctx context.Context) error {
	_, err := c.load(ctx)
	return err
}

func (c *Connector) load(ctx context.Context) (*meta, error) {
	m := &meta{custom: map[string]fieldInfo{}, ambiguous: map[string][]string{}, byID: map[string]fieldInfo{}, category: map[string]string{}, loadedAt: time.Now()}
	switch c.cfg.Flavor {
	case FlavorCloud:
		m.cloud = true
	case FlavorDataCenter:
	default:
		var info struct {
			DeploymentType string `json:"deploymentType"`
			Version        string `json:"version"`
		}
		if err := c.do(ctx, call{op: "detect the Jira product (serverInfo)", method: http.MethodGet, path: "rest/api/2/serverInfo", out: &info}); err != nil {
			return nil, err
		}
		m.cloud = strings.EqualFold(info.DeploymentType, "Cloud")
		c.log.Info("jira: detected the product", "cloud", m.cloud, "version", info.Version)
	}
	m.api = "2"
	if m.cloud {
		m.api = "3"
		if c.cfg.User == "" {
			return nil, connectors.Terminalf("jira: %s is Jira Cloud, which needs user: the e-mail of the account the API token belongs to; add it to the target's settings", redactURL(c.cfg.URL))
		}
	}
	if err := c.do(ctx, call{op: "read the token's user", method: http.MethodGet, path: "rest/api/2/myself", out: &m.me}); err != nil {
		return nil, err
	}
	tz := c.cfg.TimeZone
	if tz == "" {
		tz = m.me.TimeZone
	}
	loc, err := time.LoadLocation(tz)
	if err != nil || tz == "" {
		c.log.Warn("jira: the user's time zone is unknown; reading JQL dates as UTC (set time_zone)", "time_zone", tz)
		loc = time.UTC
	}
	m.loc = loc

	key := url.PathEscape(c.cfg.Project)
	var proj gojira.Project
	err = c.do(ctx, call{op: "read project " + c.cfg.Project, method: http.MethodGet, path: "rest/api/2/project/" + key, out: &proj})
	if errors.Is(err, connectors.ErrNotFound) {
		return nil, connectors.Terminalf("jira: project %s does not exist or its user may not browse it: check project (the key in issue keys) and the user's permissions", c.cfg.Project)
	}
	if err != nil {
		return nil, err
	}
	m.projectID = proj.ID
	for _, t := range proj.IssueTypes {
		m.issueTypes = append(m.issueTypes, t.Name)
	}
	for _, cp := range proj.Components {
		m.components = append(m.components, cp.Name)
	}
	for _, v := range proj.Versions {
		m.versions = append(m.versions, v.Name)
	}

	var types []struct {
		Name     string          `json:"name"`
		Statuses []gojira.Status `json:"statuses"`
	}
	if err := c.do(ctx, call{op: "read the statuses of " + c.cfg.Project, method: http.MethodGet, path: "rest/api/2/project/" + key + "/statuses", out: &types}); err != nil {
		return nil, err
	}
	for _, t := range types {
		for _, st := range t.Statuses {
			if !slices.Contains(m.statuses, st.Name) {
				m.statuses = append(m.statuses, st.Name)
				m.category[st.Name] = st.StatusCategory.Key
			}
		}
	}
	var prios []gojira.Priority
	if err := c.do(ctx, call{op: "read priorities", method: http.MethodGet, path: "rest/api/2/priority", out: &prios}); err != nil {
		return nil, err
	}
	for _, p := range prios {
		m.priorities = append(m.priorities, p.Name)
	}
	var res []gojira.Resolution
	if err := c.do(ctx, call{op: "read resolutions", method: http.MethodGet, path: "rest/api/2/resolution", out: &res}); err != nil {
		return nil, err
	}
	for _, r := range res {
		m.resolutions = append(m.resolutions, r.Name)
	}

	var fields []gojira.Field
	if err := c.do(ctx, call{op: "read the site's fields", method: http.MethodGet, path: "rest/api/2/field", out: &fields}); err != nil {
		return nil, err
	}
	byName := map[string][]fieldInfo{}
	for _, f := range fields {
		fi := fieldInfo{id: f.ID, name: f.Name, custom: f.Custom, typ: f.Schema.Type, items: f.Schema.Items, customType: f.Schema.Custom}
		m.byID[f.ID] = fi
		if f.Custom {
			byName[f.Name] = append(byName[f.Name], fi)
			m.custom[f.ID] = fi
		}
	}
	for name, fs := range byName {
		if _, system := systemFields[name]; system {
			continue // a custom field named like a system field: by id only
		}
		if len(fs) == 1 {
			m.custom[name] = fs[0]
			continue
		}
		for _, f := range fs {
			m.ambiguous[name] = append(m.ambiguous[name], f.id)
		}
		slices.Sort(m.ambiguous[name])
	}
	c.mu.Lock()
	c.meta = m
	c.mu.Unlock()
	return m, nil
}

// customNames lists the native names of custom fields: each name that is
// unique on the site, and the ids of fields that share a name. (Ids of
// the others are accepted too, but not listed.)
func (m *meta) customNames() []string {
	var names []string
	for name, f := range m.custom {
		if name != f.id {
			names = append(names, name)
		}
	}
	for _, ids := range m.ambiguous {
		names = append(names, ids...)
	}
	slices.Sort(names)
	return names
}

// customField resolves a native field name to a custom field, or says
// why it cannot.
func (c *Connector) customField(ctx context.Context, m *meta, name string) (fieldInfo, error) {
	if f, ok := m.custom[name]; ok {
		return f, nil
	}
	if ids, ok := m.ambiguous[name]; ok {
		return fieldInfo{}, connectors.Terminalf("jira: the name %q is shared by custom fields %s; map the one you mean by its id (such as %s), or rename one in Jira", name, strings.Join(ids, ", "), ids[0])
	}
	if fresh := c.refreshStale(ctx, m); fresh != m {
		return c.customField(ctx, fresh, name)
	}
	return fieldInfo{}, connectors.Terminalf("jira: %q is neither a field backlogd writes nor a custom field of %s; check the field's name in Jira (Settings › Issues › Custom fields) and the client's fields: map", name, redactURL(c.cfg.URL))
}

// Capabilities implements connectors.Connector. Before the site has been
// read (Factory does it at start), Fields is empty, which makes mapping
// checks accept any field: an unreachable site must not stop validation
// of the other clients.
func (c *Connector) Capabilities() connectors.Capabilities {
	caps := connectors.Capabilities{
		Comments: true, InternalComments: true, EditComments: true, DeleteComments: true,
		Webhooks: true, Hierarchy: true,
	}
	c.mu.Lock()
	m := c.meta
	c.mu.Unlock()
	if m == nil {
		return caps
	}
	caps.Fields = []connectors.FieldSpec{
		{Name: FieldSummary},
		{Name: FieldDescription},
		{Name: FieldIssueType, Values: slices.Clone(m.issueTypes)},
		{Name: FieldStatus, Values: slices.Clone(m.statuses)},
		{Name: FieldPriority, Values: slices.Clone(m.priorities)},
		{Name: FieldResolution, Values: slices.Clone(m.resolutions)},
		{Name: FieldLabels, Multi: true},
		{Name: FieldComponents, Multi: true, Values: slices.Clone(m.components)},
		{Name: FieldFixVersions, Multi: true, Values: slices.Clone(m.versions)},
		{Name: FieldAssignee},
		{Name: FieldReporter, ReadOnly: true},
		{Name: FieldParent},
		{Name: FieldDueDate},
	}
	for _, n := range m.customNames() {
		caps.Fields = append(caps.Fields, connectors.FieldSpec{Name: n, Multi: m.custom[n].typ == "array"})
	}
	return caps
}
