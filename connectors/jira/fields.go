package jira

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	gojira "github.com/andygrunwald/go-jira"
	"github.com/backlogd/backlogd/connectors"
	"github.com/backlogd/backlogd/connectors/jira/markup"
)

// Native field names of a Jira issue record. Custom fields appear under
// their names ("Story Points", "Team", "Epic Link"), or under their ids
// (customfield_10016) when several share a name.
const (
	FieldSummary     = "summary"
	FieldDescription = "description" // canonical Markdown
	FieldIssueType   = "issuetype"
	FieldStatus      = "status"     // set through workflow transitions
	FieldResolution  = "resolution" // set with the transition that needs it
	FieldPriority    = "priority"
	FieldLabels      = "labels" // sorted, without the marker label
	FieldComponents  = "components"
	FieldFixVersions = "fixVersions"
	FieldAssignee    = "assignee" // e-mail (Cloud; account id when hidden) or user name (Data Center)
	FieldReporter    = "reporter" // read-only
	FieldParent      = "parent"   // the parent issue's id
	FieldDueDate     = "duedate"  // YYYY-MM-DD
)

var systemFields = map[string]bool{
	FieldSummary: true, FieldDescription: true, FieldIssueType: true, FieldStatus: true, FieldResolution: true,
	FieldPriority: true, FieldLabels: true, FieldComponents: true, FieldFixVersions: true, FieldAssignee: true,
	FieldReporter: true, FieldParent: true, FieldDueDate: true,
}

// markerProperty is the entity property holding the canonical id.
const markerProperty = "backlogd"

// markerLabelPrefix starts the label that carries the canonical id.
const markerLabelPrefix = "backlogd-"

var markerRE = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,200}$`)

func validMarker(id string) bool { return markerRE.MatchString(id) }

// issue is an issue as the REST API returns it; fields stay raw because
// their shapes depend on the field and the product.
type issue struct {
	ID          string                     `json:"id"`
	Key         string                     `json:"key"`
	Fields      map[string]json.RawMessage `json:"fields"`
	Properties  map[string]json.RawMessage `json:"properties"`
	Transitions []transition               `json:"transitions"`
}

const jiraTime = "2006-01-02T15:04:05.000-0700"

func parseTime(raw json.RawMessage) time.Time {
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return time.Time{}
	}
	for _, l := range []string{jiraTime, time.RFC3339Nano, "2006-01-02T15:04:05-0700"} {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}

func str(raw json.RawMessage) string {
	var s string
	_ = json.Unmarshal(raw, &s)
	return s
}

// label reads the display value of an object field: value (options),
// name (versions, components, statuses), title or key.
func label(raw json.RawMessage) string {
	var v struct {
		Value, Name, Title, Key, DisplayName string
	}
	if json.Unmarshal(raw, &v) != nil {
		return ""
	}
	for _, s := range []string{v.Value, v.Name, v.Title, v.Key, v.DisplayName} {
		if s != "" {
			return s
		}
	}
	return ""
}

func labels(raw json.RawMessage) []string {
	var vs []json.RawMessage
	if json.Unmarshal(raw, &vs) != nil {
		return nil
	}
	var out []string
	for _, v := range vs {
		if l := label(v); l != "" {
			out = append(out, l)
		}
	}
	slices.Sort(out)
	return out
}

// record turns an issue into a record. Comments are not loaded here.
// ErrNotFound when the issue now lives in another project (moved).
func (c *Connector) record(ctx context.Context, m *meta, is *issue) (connectors.Record, error) {
	if is.Key != "" && !strings.EqualFold(projectOf(is.Key), c.cfg.Project) {
		return connectors.Record{}, fmt.Errorf("jira: issue %s was moved out of %s (now %s): %w", is.ID, c.cfg.Project, is.Key, connectors.ErrNotFound)
	}
	c.remember(is.ID, is.Key)
	f := connectors.Fields{}
	get := func(k string) json.RawMessage { return is.Fields[k] }
	f.Set(FieldSummary, str(get("summary")))
	desc, err := c.fromJira(ctx, m, get("description"))
	if err != nil {
		return connectors.Record{}, fmt.Errorf("jira: read the description of %s: %w", is.Key, err)
	}
	f.Set(FieldDescription, desc)
	f.Set(FieldIssueType, label(get("issuetype")))
	f.Set(FieldStatus, label(get("status")))
	f.Set(FieldResolution, label(get("resolution")))
	f.Set(FieldPriority, label(get("priority")))
	var ls []string
	_ = json.Unmarshal(get("labels"), &ls)
	marker := ""
	var plain []string
	for _, l := range ls {
		if id, ok := strings.CutPrefix(l, markerLabelPrefix); ok && validMarker(id) {
			if marker == "" {
				marker = id
			}
			continue
		}
		plain = append(plain, l)
	}
	slices.Sort(plain)
	f.Set(FieldLabels, plain...)
	f.Set(FieldComponents, labels(get("components"))...)
	f.Set(FieldFixVersions, labels(get("fixVersions"))...)
	f.Set(FieldAssignee, c.user(m, get("assignee")))
	f.Set(FieldReporter, c.user(m, get("reporter")))
	f.Set(FieldParent)
	if raw := get("parent"); len(raw) > 0 && string(raw) != "null" {
		var p struct{ ID, Key string }
		if json.Unmarshal(raw, &p) == nil && p.ID != "" {
			c.remember(p.ID, p.Key)
			f.Set(FieldParent, p.ID)
		}
	}
	f.Set(FieldDueDate, str(get("duedate")))
	for id, raw := range is.Fields {
		fi, ok := m.byID[id]
		if !ok || !fi.custom || len(raw) == 0 || string(raw) == "null" {
			continue
		}
		name := fi.name
		if m.custom[name].id != id {
			name = id // shared name: by id
		}
		vs, err := c.customValues(ctx, m, fi, raw)
		if err != nil {
			return connectors.Record{}, fmt.Errorf("jira: read %s of %s: %w", fi.name, is.Key, err)
		}
		f.Set(name, vs...)
	}
	prop := propertyMarker(is)
	if prop != "" {
		marker = prop
	}
	if marker != "" {
		c.noteMarker(marker, is.ID, prop == marker)
	}
	// The Version is the updated time and a digest of the fields and
	// marker: Cloud's times have milliseconds, but Data Center's have
	// whole seconds on databases without fractions (".000"), where a
	// second edit in one second keeps the time, and a marker written as
	// an entity property alone does not move it. Comments are not in it
	// (searches do not return them); Jira moves updated when one is added
	// or edited.
	updated := parseTime(get("updated"))
	return connectors.Record{
		ID:      is.ID,
		Key:     is.Key,
		URL:     c.cfg.URL + "/browse/" + is.Key,
		Marker:  marker,
		Fields:  f,
		Version: connectors.VersionOf(updated, connectors.Digest(f, marker)),
		Created: parseTime(get("created")),
		Updated: updated,
	}, nil
}

// user reads a user field as the record names it.
func (c *Connector) user(m *meta, raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var u gojira.User
	if json.Unmarshal(raw, &u) != nil {
		return ""
	}
	return c.users.seen(m.cloud, &u)
}

// customValues reads a custom field's value as record strings. It fails
// only when reading it needs a look-up that failed: a value rendered
// another way would read as an edit in Jira.
func (c *Connector) customValues(ctx context.Context, m *meta, fi fieldInfo, raw json.RawMessage) ([]string, error) {
	if fi.customType == epicLinkType {
		// The Epic Link holds the epic's key; records hold issue ids.
		key := str(raw)
		id, err := c.idOfKey(ctx, key)
		switch {
		case err == nil:
			return []string{id}, nil
		case isNotFound(err):
			return []string{key}, nil // an epic deleted or out of sight
		}
		return nil, err
	}
	switch {
	case fi.typ == "user":
		return nonEmpty(c.user(m, raw)), nil
	case fi.typ == "array":
		var vs []json.RawMessage
		if json.Unmarshal(raw, &vs) != nil {
			return nil, nil
		}
		var out []string
		for _, v := range vs {
			if fi.items == "user" {
				out = append(out, c.user(m, v))
				continue
			}
			x, err := c.scalar(ctx, m, fi, v)
			if err != nil {
				return nil, err
			}
			out = append(out, x)
		}
		out = slices.DeleteFunc(out, func(s string) bool { return s == "" })
		slices.Sort(out)
		return out, nil
	}
	x, err := c.scalar(ctx, m, fi, raw)
	return nonEmpty(x), err
}

// scalar reads one value: a number, a string, a document (text areas on
// Cloud are ADF), or an object's display value (options, teams,
// versions).
func (c *Connector) scalar(ctx context.Context, m *meta, fi fieldInfo, raw json.RawMessage) (string, error) {
	t := strings.TrimSpace(string(raw))
	switch {
	case t == "" || t == "null":
		return "", nil
	case t[0] == '"':
		return str(raw), nil
	case t == "true" || t == "false":
		return t, nil
	case t[0] == '-' || t[0] >= '0' && t[0] <= '9':
		if n, err := strconv.ParseFloat(t, 64); err == nil {
			return formatNumber(n), nil
		}
	case t[0] == '{':
		var probe struct {
			Type string `json:"type"`
			ID   any    `json:"id"`
		}
		_ = json.Unmarshal(raw, &probe)
		if probe.Type == "doc" {
			return c.fromJira(ctx, m, raw)
		}
		l := label(raw)
		if l != "" && probe.ID != nil {
			// Writes of teams and other objects need the id back.
			c.learnOption(fi.id, l, fmt.Sprint(probe.ID))
		}
		if l != "" {
			return l, nil
		}
	}
	return t, nil
}

func formatNumber(n float64) string { return strconv.FormatFloat(n, 'f', -1, 64) }

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

func projectOf(key string) string {
	p, _, _ := strings.Cut(key, "-")
	return p
}

// keyNumber returns the number of a key in the project ("ACME-12": 12).
func (c *Connector) keyNumber(key string) int {
	p, n, ok := strings.Cut(key, "-")
	if !ok || !strings.EqualFold(p, c.cfg.Project) {
		return 0
	}
	v, _ := strconv.Atoi(n)
	return v
}

// remember records an issue's key and id, and the highest number seen.
func (c *Connector) remember(id, key string) {
	if id == "" || key == "" {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.keys[key] = id
	c.keys[id] = key
	if n := c.keyNumber(key); n > c.lastNum {
		c.lastNum = n
	}
}

// idOfKey and keyOfID translate between issue keys and ids, asking Jira
// once for those not seen yet.
func (c *Connector) idOfKey(ctx context.Context, key string) (string, error) {
	return c.translate(ctx, key, func(is *issue) string { return is.ID })
}

func (c *Connector) keyOfID(ctx context.Context, id string) (string, error) {
	return c.translate(ctx, id, func(is *issue) string { return is.Key })
}

func (c *Connector) translate(ctx context.Context, k string, pick func(*issue) string) (string, error) {
	c.mu.Lock()
	v, ok := c.keys[k]
	c.mu.Unlock()
	if ok {
		return v, nil
	}
	var is issue
	if err := c.do(ctx, call{op: "look up issue " + k, method: http.MethodGet, path: "rest/api/2/issue/" + url.PathEscape(k), query: url.Values{"fields": {"summary"}}, out: &is}); err != nil {
		return "", err
	}
	c.remember(is.ID, is.Key)
	return pick(&is), nil
}

func (c *Connector) learnOption(fieldID, label, id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.options == nil {
		c.options = map[string]map[string]string{}
	}
	if c.options[fieldID] == nil {
		c.options[fieldID] = map[string]string{}
	}
	c.options[fieldID][label] = id
}

func (c *Connector) optionID(fieldID, label string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	id, ok := c.options[fieldID][label]
	return id, ok
}

// write is an issue write: the fields to send, and the status and
// resolution, which only transitions set.
type write struct {
	fields     map[string]any
	status     string
	resolution string
	hasStatus  bool
	hasRes     bool
}

var dateRE = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)

// encode turns native fields into a write, resolving names. Every
// problem is terminal and names the field, the value and the fix.
func (c *Connector) encode(ctx context.Context, m *meta, fields connectors.Fields, marker string) (write, error) {
	w := write{fields: map[string]any{}}
	var errs []string
	for _, name := range fields.Names() {
		vs := slices.DeleteFunc(slices.Clone(fields[name]), func(s string) bool { return s == "" })
		v := ""
		if len(vs) > 0 {
			v = vs[0]
		}
		if len(vs) > 1 && !multi(m, name) {
			errs = append(errs, fmt.Sprintf("%s takes one value, got %d (%s)", name, len(vs), strings.Join(vs, ", ")))
			continue
		}
		oneOf := func(what string, list []string) bool {
			if slices.Contains(list, v) {
				return true
			}
			if fresh := c.refreshStale(ctx, m); fresh != m {
				m = fresh
				if slices.Contains(namesOf(m, name), v) {
					return true
				}
			}
			errs = append(errs, fmt.Sprintf("%s %q does not exist in project %s; use one of: %s", what, v, c.cfg.Project, strings.Join(namesOf(m, name), ", ")))
			return false
		}
		switch name {
		case FieldSummary:
			if strings.TrimSpace(v) == "" {
				errs = append(errs, "the summary is empty; Jira requires one")
				continue
			}
			w.fields["summary"] = strings.ReplaceAll(v, "\n", " ")
		case FieldDescription:
			w.fields["description"] = c.toJira(ctx, m, v)
		case FieldIssueType:
			if v == "" {
				errs = append(errs, "issuetype cannot be empty; map a kind to an issue type")
			} else if oneOf("issue type", m.issueTypes) {
				w.fields["issuetype"] = map[string]string{"name": v}
			}
		case FieldStatus:
			if v == "" {
				continue // an issue always has a status: nothing to do
			}
			if oneOf("status", m.statuses) {
				w.status, w.hasStatus = v, true
			}
		case FieldResolution:
			if v != "" && !oneOf("resolution", m.resolutions) {
				continue
			}
			w.resolution, w.hasRes = v, true
		case FieldPriority:
			if v == "" {
				w.fields["priority"] = nil
			} else if oneOf("priority", m.priorities) {
				w.fields["priority"] = map[string]string{"name": v}
			}
		case FieldLabels:
			ls := slices.Clone(vs)
			for _, l := range ls {
				if strings.ContainsAny(l, " \t\n") {
					errs = append(errs, fmt.Sprintf("label %q contains white space, which Jira labels cannot; change the label or its template", l))
				}
			}
			if marker != "" && *c.cfg.MarkerLabel {
				ls = append(ls, markerLabelPrefix+marker)
			}
			slices.Sort(ls)
			w.fields["labels"] = nonNilStrings(slices.Compact(ls))
		case FieldComponents, FieldFixVersions:
			list, what := m.components, "component"
			if name == FieldFixVersions {
				list, what = m.versions, "version"
			}
			out := []map[string]string{}
			for _, x := range vs {
				v = x
				if oneOf(what, list) {
					out = append(out, map[string]string{"name": x})
				}
			}
			w.fields[name] = out
		case FieldAssignee:
			if v == "" {
				w.fields["assignee"] = nil
				continue
			}
			ref, err := c.users.resolve(ctx, m, v)
			if err != nil {
				if connectors.IsTerminal(err) || isNotFound(err) {
					errs = append(errs, fmt.Sprintf("assignee %q is not a user of this Jira site; fix the client's users: map (Cloud: the account e-mail; Data Center: the user name)", v))
					continue
				}
				return write{}, err
			}
			w.fields["assignee"] = userValue(m, ref)
		case FieldReporter:
			errs = append(errs, "reporter is read-only; map it with direction: from-tracker")
		case FieldParent:
			if v == "" {
				w.fields["parent"] = nil
			} else if _, err := strconv.Atoi(v); err == nil {
				w.fields["parent"] = map[string]string{"id": v}
			} else {
				w.fields["parent"] = map[string]string{"key": v}
			}
		case FieldDueDate:
			if v == "" {
				w.fields["duedate"] = nil
			} else if !dateRE.MatchString(v) {
				errs = append(errs, fmt.Sprintf("duedate %q is not a date; write YYYY-MM-DD", v))
			} else {
				w.fields["duedate"] = v
			}
		default:
			fi, err := c.customField(ctx, m, name)
			if err != nil {
				errs = append(errs, strings.TrimPrefix(err.Error(), "jira: "))
				continue
			}
			val, err := c.encodeCustom(ctx, m, fi, vs)
			if err != nil {
				if !connectors.IsTerminal(err) {
					return write{}, err
				}
				errs = append(errs, strings.TrimPrefix(err.Error(), "jira: "))
				continue
			}
			w.fields[fi.id] = val
		}
	}
	if len(errs) > 0 {
		return write{}, connectors.Terminalf("%s", strings.Join(errs, "; "))
	}
	return w, nil
}

func isNotFound(err error) bool { return errors.Is(err, connectors.ErrNotFound) }

func nonNilStrings(v []string) []string {
	if v == nil {
		return []string{}
	}
	return v
}

func multi(m *meta, name string) bool {
	switch name {
	case FieldLabels, FieldComponents, FieldFixVersions:
		return true
	}
	return m.custom[name].typ == "array"
}

// namesOf lists the values a system field accepts, for error messages.
func namesOf(m *meta, name string) []string {
	switch name {
	case FieldIssueType:
		return m.issueTypes
	case FieldStatus:
		return m.statuses
	case FieldResolution:
		return m.resolutions
	case FieldPriority:
		return m.priorities
	case FieldComponents:
		return m.components
	case FieldFixVersions:
		return m.versions
	}
	return nil
}

// userValue is how a write names a user: by account id on Cloud (user
// names are gone there), by name on Data Center.
func userValue(m *meta, ref userRef) map[string]string {
	if m.cloud {
		return map[string]string{"accountId": ref.id}
	}
	return map[string]string{"name": ref.id}
}

// encodeCustom writes a custom field's values in the shape its schema
// wants.
func (c *Connector) encodeCustom(ctx context.Context, m *meta, fi fieldInfo, vs []string) (any, error) {
	v := ""
	if len(vs) > 0 {
		v = vs[0]
	}
	if fi.customType == epicLinkType {
		if v == "" {
			return nil, nil
		}
		key, err := c.keyOfID(ctx, v)
		if isNotFound(err) {
			return nil, connectors.Terminalf("jira: %s %q: no such issue; it must be an epic of the site", fi.name, v)
		}
		return key, err
	}
	one := func(v string) (any, error) {
		switch {
		case fi.typ == "number":
			n, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return nil, connectors.Terminalf("jira: %s %q is not a number", fi.name, v)
			}
			return n, nil
		case fi.typ == "option" || fi.items == "option":
			return map[string]string{"value": v}, nil
		case fi.typ == "user" || fi.items == "user":
			ref, err := c.users.resolve(ctx, m, v)
			if isNotFound(err) {
				return nil, connectors.Terminalf("jira: %s %q is not a user of this site; fix the client's users: map", fi.name, v)
			}
			if err != nil {
				return nil, err
			}
			return userValue(m, ref), nil
		case fi.typ == "date":
			if !dateRE.MatchString(v) {
				return nil, connectors.Terminalf("jira: %s %q is not a date; write YYYY-MM-DD", fi.name, v)
			}
			return v, nil
		case fi.customType == textareaType && m.cloud:
			return json.RawMessage(markup.ToADF(v, c.mentionsIn(ctx, m, v))), nil
		case fi.customType == teamType || fi.typ == "team" || fi.typ == "any":
			// Teams are written by id: the one read back with this name,
			// or the value itself.
			if id, ok := c.optionID(fi.id, v); ok {
				return id, nil
			}
			return v, nil
		case fi.items == "version" || fi.items == "component" || fi.items == "group":
			return map[string]string{"name": v}, nil
		}
		return v, nil
	}
	if fi.typ == "array" {
		out := []any{}
		for _, x := range vs {
			val, err := one(x)
			if err != nil {
				return nil, err
			}
			out = append(out, val)
		}
		return out, nil
	}
	if v == "" {
		return nil, nil
	}
	return one(v)
}

// normalizedValue is how a record would show a desired value, for the
// diff that keeps unchanged fields out of a write.
func normalizedValue(m *meta, name string, vs []string) []string {
	vs = slices.DeleteFunc(slices.Clone(vs), func(s string) bool { return s == "" })
	switch {
	case name == FieldDescription && len(vs) > 0:
		if n := markup.Normalize(vs[0], nil); n != "" {
			return []string{n}
		}
		return nil
	case name == FieldLabels || name == FieldComponents || name == FieldFixVersions || m.custom[name].typ == "array":
		slices.Sort(vs)
		vs = slices.Compact(vs)
	case m.custom[name].typ == "number" && len(vs) > 0:
		if n, err := strconv.ParseFloat(vs[0], 64); err == nil {
			vs = []string{formatNumber(n)}
		}
	case name == FieldSummary && len(vs) > 0:
		vs = []string{strings.ReplaceAll(vs[0], "\n", " ")}
	}
	if len(vs) == 0 {
		return nil
	}
	return vs
}
