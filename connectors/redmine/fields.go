package redmine

import (
	"context"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/backlogd/backlogd/connectors"
)

// Native field names of a Redmine issue record. Issue custom fields
// appear under their own names ("Phase"), except the marker field.
const (
	FieldSubject        = "subject"
	FieldDescription    = "description"
	FieldTracker        = "tracker"
	FieldStatus         = "status"
	FieldPriority       = "priority"
	FieldAssignedTo     = "assigned_to" // login (display name for a non-admin key)
	FieldCategory       = "category"
	FieldFixedVersion   = "fixed_version"
	FieldParent         = "parent" // parent issue id, digits only
	FieldStartDate      = "start_date"
	FieldDueDate        = "due_date" // YYYY-MM-DD
	FieldEstimatedHours = "estimated_hours"
	// FieldEstimatedDays is estimated_hours in days of
	// Settings.HoursPerDay: Redmine's estimated time is in hours, and
	// effort is usually counted in person-days. Map one or the other.
	FieldEstimatedDays = "estimated_days"
	FieldDoneRatio     = "done_ratio" // 0..100
	FieldAuthor        = "author"     // read-only
)

// record turns an issue into a record, with names instead of ids.
func (c *Connector) record(m *meta, is *issue) connectors.Record {
	f := connectors.Fields{}
	name := func(r *ref) string {
		if r == nil {
			return ""
		}
		return r.Name
	}
	f.Set(FieldSubject, is.Subject)
	f.Set(FieldDescription, unCRLF(deref(is.Description)))
	f.Set(FieldTracker, name(is.Tracker))
	f.Set(FieldStatus, name(is.Status))
	f.Set(FieldPriority, name(is.Priority))
	f.Set(FieldAssignedTo, m.userName(is.AssignedTo))
	f.Set(FieldCategory, name(is.Category))
	f.Set(FieldFixedVersion, name(is.FixedVersion))
	f.Set(FieldParent, "")
	if is.Parent != nil {
		f.Set(FieldParent, strconv.Itoa(is.Parent.ID))
	}
	f.Set(FieldStartDate, deref(is.StartDate))
	f.Set(FieldDueDate, deref(is.DueDate))
	f.Set(FieldEstimatedHours, "")
	f.Set(FieldEstimatedDays, "")
	if is.EstimatedHours != nil {
		f.Set(FieldEstimatedHours, formatHours(*is.EstimatedHours))
		f.Set(FieldEstimatedDays, c.formatDays(*is.EstimatedHours))
	}
	f.Set(FieldDoneRatio, "")
	if is.DoneRatio != nil {
		f.Set(FieldDoneRatio, strconv.Itoa(*is.DoneRatio))
	}
	f.Set(FieldAuthor, m.userName(is.Author))
	var marker string
	for _, cv := range is.CustomFields {
		if cv.ID == m.marker.ID {
			marker = strings.TrimSpace(first(cv.values()))
			continue
		}
		vs := cv.values()
		if cv.Multiple {
			slices.Sort(vs)
		}
		f.Set(cv.Name, vs...)
	}
	// The Version is updated_on and a digest of the fields and marker:
	// Redmine's API does not expose lock_version, and updated_on has
	// whole seconds, so a second edit in one second would keep it. Notes
	// are not in it, since listings do not show them: adding one moves
	// updated_on, but one added in the second of the change before it,
	// or a note edited in place, is only read by Get.
	r := connectors.Record{
		ID:      strconv.Itoa(is.ID),
		Key:     "#" + strconv.Itoa(is.ID),
		URL:     c.cfg.URL + "/issues/" + strconv.Itoa(is.ID),
		Marker:  marker,
		Fields:  f,
		Version: connectors.VersionOf(is.UpdatedOn, connectors.Digest(f, marker)),
		Created: is.CreatedOn.UTC(),
		Updated: is.UpdatedOn.UTC(),
	}
	if is.Journals != nil {
		r.Comments = []connectors.Comment{}
		for _, j := range is.Journals {
			if j.Notes == "" {
				continue // a journal of field changes only
			}
			r.Comments = append(r.Comments, connectors.Comment{
				ID: strconv.Itoa(j.ID), Author: m.userName(j.User), Body: unCRLF(j.Notes),
				Created: j.CreatedOn.UTC(), Updated: j.CreatedOn.UTC(), Internal: j.PrivateNotes,
			})
		}
	}
	return r
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func first(vs []string) string {
	if len(vs) == 0 {
		return ""
	}
	return vs[0]
}

func formatHours(h float64) string { return strconv.FormatFloat(h, 'f', -1, 64) }

// formatDays shows hours as days, to a ten-thousandth of a day so that
// a day count written as hours reads back as written (1/3 of a day does
// not survive a trip through 7.5 hours a day to the digit).
func (c *Connector) formatDays(hours float64) string {
	return strconv.FormatFloat(math.Round(hours/c.cfg.HoursPerDay*1e4)/1e4, 'f', -1, 64)
}

var dateRE = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)

// wireValue is one field of an issue write ("tracker_id": 2) plus the
// value a read-back record shows for it, for the diff.
type wireValue struct {
	key    string // JSON key in {"issue": {...}}, or "" for a custom field
	value  any
	cfID   int
	shown  []string // normalised record value
	native string
}

// encode turns native fields into write values, resolving names to ids.
// Every problem is terminal and names the field, the value and the fix.
func (c *Connector) encode(ctx context.Context, m *meta, fields connectors.Fields) ([]wireValue, error) {
	var out []wireValue
	var errs []string
	for _, name := range fields.Names() {
		vs := slices.DeleteFunc(slices.Clone(fields[name]), func(s string) bool { return s == "" })
		v := first(vs)
		w := wireValue{native: name, shown: nil}
		if v != "" {
			w.shown = []string{v}
		}
		if len(vs) > 1 {
			if cf, ok := m.fields[name]; !ok || !cf.Multiple {
				errs = append(errs, fmt.Sprintf("%s takes one value, got %d (%s)", name, len(vs), strings.Join(vs, ", ")))
				continue
			}
		}
		lookup := func(key string, n func(*meta) names, what string) {
			w.key = key
			if v == "" {
				w.value = ""
				return
			}
			id, ok := n(m).id(v)
			if !ok {
				m = c.refreshStale(ctx, m)
				id, ok = n(m).id(v)
			}
			if !ok {
				errs = append(errs, fmt.Sprintf("%s %q does not exist in project %s; use one of: %s", what, v, c.cfg.Project, strings.Join(n(m).list, ", ")))
				return
			}
			w.value, w.shown = id, []string{n(m).byID[id]}
		}
		if v == "" && (name == FieldTracker || name == FieldStatus || name == FieldPriority) {
			// Redmine requires them: a blank tracker or status is ignored,
			// a blank priority refused. Unset means Redmine's default.
			continue
		}
		switch name {
		case FieldSubject:
			w.key, w.value = "subject", v
		case FieldDescription:
			// Redmine stores descriptions with CRLF line ends; records use LF.
			v = unCRLF(v)
			w.key, w.value, w.shown = "description", v, nonEmpty(v)
		case FieldTracker:
			lookup("tracker_id", func(m *meta) names { return m.trackers }, "tracker")
		case FieldStatus:
			lookup("status_id", func(m *meta) names { return m.statuses }, "status")
		case FieldPriority:
			lookup("priority_id", func(m *meta) names { return m.priorities }, "priority")
		case FieldCategory:
			lookup("category_id", func(m *meta) names { return m.categories }, "category")
		case FieldFixedVersion:
			lookup("fixed_version_id", func(m *meta) names { return m.versions }, "version")
		case FieldAssignedTo:
			w.key, w.value = "assigned_to_id", ""
			if v != "" {
				id, ok := m.userID[v]
				if !ok {
					m = c.refreshStale(ctx, m)
					id, ok = m.userID[v]
				}
				if !ok {
					errs = append(errs, fmt.Sprintf("assigned_to %q is not a known Redmine user (login, or name for a non-admin key); fix the users: map or add the user to project %s", v, c.cfg.Project))
					break
				}
				w.value, w.shown = id, []string{m.userByID[id]}
			}
		case FieldParent:
			w.key, w.value = "parent_issue_id", ""
			if v != "" {
				n, err := strconv.Atoi(strings.TrimPrefix(v, "#"))
				if err != nil || n <= 0 {
					errs = append(errs, fmt.Sprintf("parent %q is not an issue id; write the number, like 12", v))
					break
				}
				w.value, w.shown = n, []string{strconv.Itoa(n)}
			}
		case FieldStartDate, FieldDueDate:
			w.key, w.value = name, v
			if v != "" && !dateRE.MatchString(v) {
				errs = append(errs, fmt.Sprintf("%s %q is not a date; write YYYY-MM-DD", name, v))
			}
		case FieldEstimatedHours:
			w.key, w.value = name, ""
			if _, both := fields[FieldEstimatedDays]; both {
				errs = append(errs, "estimated_hours and estimated_days are one Redmine field; map only one of them")
				break
			}
			if v != "" {
				h, err := strconv.ParseFloat(v, 64)
				if err != nil || h < 0 {
					errs = append(errs, fmt.Sprintf("estimated_hours %q is not a number of hours; write it like 2.5", v))
					break
				}
				w.value, w.shown = h, []string{formatHours(h)}
			}
		case FieldEstimatedDays:
			w.key, w.value = FieldEstimatedHours, ""
			if v != "" {
				d, err := strconv.ParseFloat(v, 64)
				if err != nil || d < 0 {
					errs = append(errs, fmt.Sprintf("estimated_days %q is not a number of days; write it like 1.5", v))
					break
				}
				h := d * c.cfg.HoursPerDay
				w.value, w.shown = h, []string{c.formatDays(h)}
			}
		case FieldDoneRatio:
			w.key, w.value = name, 0
			if v != "" {
				n, err := strconv.Atoi(v)
				if err != nil || n < 0 || n > 100 {
					errs = append(errs, fmt.Sprintf("done_ratio %q is not a percentage; write a whole number from 0 to 100", v))
					break
				}
				w.value = n
			}
			w.shown = []string{strconv.Itoa(w.value.(int))}
		case FieldAuthor:
			errs = append(errs, "author is read-only in Redmine; map it from-tracker only")
		case c.cfg.MarkerField:
			errs = append(errs, fmt.Sprintf("%s holds backlogd's own ids; do not map it", name))
		default:
			cf, ok := m.fields[name]
			if !ok {
				m = c.refreshStale(ctx, m)
				cf, ok = m.fields[name]
			}
			if !ok {
				errs = append(errs, fmt.Sprintf("%q is neither a Redmine issue field nor a custom field enabled in project %s", name, c.cfg.Project))
				break
			}
			w.cfID = cf.ID
			if cf.Multiple {
				s := slices.Clone(vs)
				slices.Sort(s)
				w.value, w.shown = s, s
				if len(s) == 0 {
					w.value, w.shown = []string{""}, nil
				}
			} else {
				w.value = v
			}
			if len(cf.PossibleValues) > 0 {
				for _, x := range vs {
					if !slices.ContainsFunc(cf.PossibleValues, func(p struct {
						Value string `json:"value"`
					}) bool {
						return p.Value == x
					}) {
						var allowed []string
						for _, p := range cf.PossibleValues {
							allowed = append(allowed, p.Value)
						}
						errs = append(errs, fmt.Sprintf("%s %q is not one of its values: %s", name, x, strings.Join(allowed, ", ")))
					}
				}
			}
		}
		out = append(out, w)
	}
	if len(errs) > 0 {
		return nil, connectors.Terminalf("%s", strings.Join(errs, "; "))
	}
	return out, nil
}

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

// payload builds {"issue": {...}} from write values.
func payload(ws []wireValue, extra map[string]any) map[string]any {
	is := map[string]any{}
	var cfs []map[string]any
	for _, w := range ws {
		if w.key != "" {
			is[w.key] = w.value
		} else {
			cfs = append(cfs, map[string]any{"id": w.cfID, "value": w.value})
		}
	}
	for k, v := range extra {
		if k == "custom_fields" {
			cfs = append(cfs, v.([]map[string]any)...)
			continue
		}
		is[k] = v
	}
	if len(cfs) > 0 {
		is["custom_fields"] = cfs
	}
	return map[string]any{"issue": is}
}

// changed keeps the write values whose read-back value differs from the
// record's: Redmine bumps updated_on on every PUT, so an unchanged write
// must not be sent at all.
func changed(ws []wireValue, r connectors.Record) []wireValue {
	var out []wireValue
	for _, w := range ws {
		if !slices.Equal(w.shown, nonNil(r.Fields[w.native])) {
			out = append(out, w)
		}
	}
	return out
}

func nonNil(vs []string) []string {
	if len(vs) == 0 {
		return nil
	}
	return vs
}

// unCRLF turns Redmine's CRLF line ends (it rewrites every description
// and note to CRLF) into the LF records use.
func unCRLF(s string) string { return strings.ReplaceAll(s, "\r\n", "\n") }
