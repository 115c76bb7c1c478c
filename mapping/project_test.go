package mapping

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/backlogd/backlogd/backlog"
	"github.com/backlogd/backlogd/connectors"
)

// githubClient is a client shaped like configs/examples/clients/github.yaml:
// a lossy status map backed by a status label, templates sharing labels
// with the plain canonical labels, and a user map.
func githubClient() *Client {
	scope, _ := ParseExpr(`clients has acme`)
	return &Client{
		ID: "acme", File: "clients/acme.yaml", Target: "acme-github", Scope: scope,
		Private: []backlog.Field{backlog.FieldCost},
		Users:   map[string]string{"alice": "alice-gh", "bob": "bobdev"},
		Fields: map[backlog.Field][]FieldMap{
			backlog.FieldTitle:       {{Field: "title", Line: 3}},
			backlog.FieldDescription: {{Field: "body", Line: 4}},
			backlog.FieldStatus: {
				{Field: "state", Line: 5, Values: map[string]string{"todo": "open", "in_progress": "open", "in_review": "open", "done": "closed", "cancelled": "closed"}},
				{Field: "labels", Line: 6, Template: "status/{value}"},
			},
			backlog.FieldPhase:    {{Field: "labels", Line: 7, Template: "phase/{value}"}},
			backlog.FieldTeams:    {{Field: "labels", Line: 8, Template: "team/{value}"}},
			backlog.FieldPoints:   {{Field: "Story Points", Line: 9}},
			backlog.FieldCost:     {{Field: "labels", Line: 10, Template: "cost/{value}"}},
			backlog.FieldLabels:   {{Field: "labels", Line: 11}},
			backlog.FieldAssignee: {{Field: "assignees", Line: 12, Users: true}},
		},
	}
}

func sampleItem() backlog.Item {
	return backlog.Item{
		ID: "BL-1", Kind: backlog.Story, Title: "Checkout", Status: backlog.InReview, Phase: backlog.Build,
		Teams: []string{"web"}, Labels: []string{"ux"}, Assignee: "alice", Clients: []string{"acme"},
		Estimate: backlog.Estimate{Points: 3, Cost: backlog.Money{Amount: "1200.50", Currency: "EUR"}},
	}
}

func TestToRecord(t *testing.T) {
	c := githubClient()
	p := c.Project(sampleItem())
	tests := []struct {
		name    string
		edit    func(backlog.Fields)
		current connectors.Fields
		want    connectors.Fields
	}{
		{
			name: "a new record gets every mapped field, labels combined from several canonical fields",
			want: connectors.Fields{
				"title": {"Checkout"}, "body": nil, "state": {"open"}, "Story Points": {"3"}, "assignees": {"alice-gh"},
				"labels": {"status/in_review", "phase/build", "team/web", "ux"},
			},
		},
		{
			name:    "labels kept in the tracker's order, and a changed phase replaces only its own label",
			edit:    func(f backlog.Fields) { f[backlog.FieldPhase] = "launch" },
			current: connectors.Fields{"labels": {"phase/build", "status/in_review", "team/web", "ux"}},
			want: connectors.Fields{
				"title": {"Checkout"}, "body": nil, "state": {"open"}, "Story Points": {"3"}, "assignees": {"alice-gh"},
				"labels": {"status/in_review", "team/web", "ux", "phase/launch"},
			},
		},
		{
			name:    "a label a person added is plain, so it belongs to the canonical labels and goes when they do not list it",
			current: connectors.Fields{"labels": {"needs-design", "ux", "status/in_review", "phase/build", "team/web"}},
			want: connectors.Fields{
				"title": {"Checkout"}, "body": nil, "state": {"open"}, "Story Points": {"3"}, "assignees": {"alice-gh"},
				"labels": {"ux", "status/in_review", "phase/build", "team/web"},
			},
		},
		{
			name:    "a private field's native values already in the tracker are left alone, never rewritten",
			current: connectors.Fields{"labels": {"cost/9 EUR", "ux"}},
			want: connectors.Fields{
				"title": {"Checkout"}, "body": nil, "state": {"open"}, "Story Points": {"3"}, "assignees": {"alice-gh"},
				"labels": {"cost/9 EUR", "ux", "status/in_review", "phase/build", "team/web"},
			},
		},
		{
			name: "an unknown user and an unmapped status pass through unchanged",
			edit: func(f backlog.Fields) {
				f[backlog.FieldAssignee] = "carol"
				f[backlog.FieldLabels] = ""
				c.Fields[backlog.FieldStatus][0].Values = map[string]string{"done": "closed"}
			},
			want: connectors.Fields{
				"title": {"Checkout"}, "body": nil, "state": {"in_review"}, "Story Points": {"3"}, "assignees": {"carol"},
				"labels": {"status/in_review", "phase/build", "team/web"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c = githubClient()
			f := p.Clone()
			if tt.edit != nil {
				tt.edit(f)
			}
			got := c.ToRecord(f, tt.current)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ToRecord\n got %v\nwant %v", got, tt.want)
			}
		})
	}
}

func TestToRecordKeepsForeignLabelsWhenLabelsAreNotMapped(t *testing.T) {
	c := githubClient()
	delete(c.Fields, backlog.FieldLabels)
	got := c.ToRecord(c.Project(sampleItem()), connectors.Fields{"labels": {"needs-design", "phase/kickoff"}})
	want := []string{"needs-design", "status/in_review", "phase/build", "team/web"}
	if !slices.Equal(got["labels"], want) {
		t.Errorf("labels = %v; want %v", got["labels"], want)
	}
}

func TestToRecordNeverWritesFromTrackerFields(t *testing.T) {
	c := githubClient()
	c.Fields[backlog.FieldPoints][0].Direction = FromTracker
	if _, ok := c.ToRecord(c.Project(sampleItem()), nil)["Story Points"]; ok {
		t.Error("a from-tracker field was written")
	}
}

func TestFromRecord(t *testing.T) {
	c := githubClient()
	base := c.Project(sampleItem()) // status in_review, renders "open"
	native := c.ToRecord(base, nil)
	tests := []struct {
		name  string
		edit  func(connectors.Fields)
		base  backlog.Fields
		field backlog.Field
		want  string
	}{
		{
			name:  "an unchanged lossy status reads as the base, not the first status mapped to open",
			base:  base,
			field: backlog.FieldStatus, want: "in_review",
		},
		{
			name:  "a record closed in the tracker reads as the first canonical status mapped to closed",
			edit:  func(f connectors.Fields) { f["state"] = []string{"closed"} },
			base:  base,
			field: backlog.FieldStatus, want: "done",
		},
		{
			name: "closed with a status/cancelled label reads as cancelled",
			edit: func(f connectors.Fields) {
				f["state"] = []string{"closed"}
				f["labels"] = []string{"status/cancelled", "phase/build", "team/web", "ux"}
			},
			base:  base,
			field: backlog.FieldStatus, want: "cancelled",
		},
		{
			name:  "without a base an open record reads as the first open status",
			edit:  func(f connectors.Fields) { f["labels"] = []string{"phase/build"} },
			field: backlog.FieldStatus, want: "todo",
		},
		{
			name:  "a status label removed while the state stays open says nothing: the base stands",
			edit:  func(f connectors.Fields) { f["labels"] = []string{"phase/build", "team/web", "ux"} },
			base:  base,
			field: backlog.FieldStatus, want: "in_review",
		},
		{
			name:  "a record that never had a status label reads from its state, never as an empty status",
			edit:  func(f connectors.Fields) { f["labels"] = nil },
			base:  backlog.Fields{backlog.FieldStatus: "todo"},
			field: backlog.FieldStatus, want: "todo",
		},
		{
			name:  "a second phase label added next to the old one is the edit",
			edit:  func(f connectors.Fields) { f["labels"] = append(f["labels"], "phase/launch") },
			base:  base,
			field: backlog.FieldPhase, want: "launch",
		},
		{
			name:  "tracker users read back as canonical ones",
			edit:  func(f connectors.Fields) { f["assignees"] = []string{"bobdev"} },
			base:  base,
			field: backlog.FieldAssignee, want: "bob",
		},
		{
			name:  "a person-added label joins the canonical labels",
			edit:  func(f connectors.Fields) { f["labels"] = append(f["labels"], "needs-design") },
			base:  base,
			field: backlog.FieldLabels, want: `["needs-design","ux"]`,
		},
		{
			name:  "numbers are read in canonical form",
			edit:  func(f connectors.Fields) { f["Story Points"] = []string{"5.0"} },
			base:  base,
			field: backlog.FieldPoints, want: "5",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := native.Clone()
			if tt.edit != nil {
				tt.edit(f)
			}
			got, err := c.FromRecord(connectors.Record{Fields: f}, tt.base)
			if err != nil {
				t.Fatal(err)
			}
			if got[tt.field] != tt.want {
				t.Errorf("%s = %q; want %q", tt.field, got[tt.field], tt.want)
			}
			if _, ok := got[backlog.FieldCost]; ok {
				t.Error("a private field was read from the tracker")
			}
		})
	}
}

func TestFromRecordErrors(t *testing.T) {
	c := githubClient()
	c.Fields[backlog.FieldStatus] = c.Fields[backlog.FieldStatus][:1]
	f := c.ToRecord(c.Project(sampleItem()), nil)
	f["state"] = []string{"todo"}
	_, err := c.FromRecord(connectors.Record{Fields: f}, nil)
	want := "clients/acme.yaml:5: field status: native state value \"todo\" maps to no canonical status; add it to the value map under the status it means, as `<canonical>: \"todo\"`, or after the value already written for it, `<canonical>: [<its value>, \"todo\"]` (canonical values: todo, in_progress, in_review, done, cancelled)"
	if err == nil || err.Error() != want {
		t.Errorf("error = %v\nwant %s", err, want)
	}
	t.Run("a value in a template is named without the template in the hint", func(t *testing.T) {
		c := redmineClient()
		f := c.ToRecord(c.Project(redmineItem()), nil)
		f["labels"] = []string{"bug", "prio:blocker"}
		_, err := c.FromRecord(connectors.Record{Fields: f}, nil)
		want := "clients/umbrella.yaml:6: field priority: native labels value \"prio:blocker\" maps to no canonical priority; add it to the value map under the priority it means, as `<canonical>: \"blocker\"`, or after the value already written for it, `<canonical>: [<its value>, \"blocker\"]` (canonical values: lowest, low, medium, high, highest)"
		if err == nil || err.Error() != want {
			t.Errorf("error = %v\nwant %s", err, want)
		}
	})
	t.Run("a value that is not a number is refused for a number field", func(t *testing.T) {
		f := c.ToRecord(c.Project(sampleItem()), nil)
		f["Story Points"] = []string{"lots"}
		_, err := c.FromRecord(connectors.Record{Fields: f}, nil)
		if err == nil || !strings.Contains(err.Error(), `native Story Points value "lots"`) {
			t.Errorf("error = %v", err)
		}
	})
}

func TestProjectAndSynced(t *testing.T) {
	c := githubClient()
	p := c.Project(sampleItem())
	if _, ok := p[backlog.FieldCost]; ok {
		t.Error("Project returned the private cost")
	}
	want := []backlog.Field{backlog.FieldTitle, backlog.FieldDescription, backlog.FieldStatus, backlog.FieldPhase,
		backlog.FieldTeams, backlog.FieldPoints, backlog.FieldLabels, backlog.FieldAssignee}
	if !slices.Equal(c.Synced(), want) {
		t.Errorf("Synced = %v; want %v", c.Synced(), want)
	}
	if !c.InScope(sampleItem()) {
		t.Error("an acme item is out of acme's scope")
	}
	other := sampleItem()
	other.Clients = []string{"globex"}
	if c.InScope(other) {
		t.Error("a globex item is in acme's scope")
	}
	allPrivate := githubClient()
	allPrivate.Private = backlog.AllFields
	if got := allPrivate.Project(sampleItem()); len(got) != 0 {
		t.Errorf("a client whose every field is private projects %v", got)
	}
	if (&Client{}).InScope(sampleItem()) {
		t.Error("a client without a scope sees items")
	}
}

// redmineClient is a client whose value maps list several tracker values
// for one canonical value, as `values: {done: [Resolved, Closed]}` does:
// the first is written, every one reads back.
func redmineClient() *Client {
	scope, _ := ParseExpr(`clients has umbrella`)
	return &Client{
		ID: "umbrella", File: "clients/umbrella.yaml", Scope: scope,
		Fields: map[backlog.Field][]FieldMap{
			backlog.FieldTitle: {{Field: "subject", Line: 3}},
			backlog.FieldStatus: {{Field: "status", Line: 4,
				Values:  map[string]string{"todo": "New", "in_progress": "In Progress", "in_review": "Feedback", "done": "Resolved", "cancelled": "Rejected"},
				Aliases: map[string][]string{"done": {"Closed"}}}},
			// On labels, beside the plain canonical labels: "defect"
			// must be the kind's, not a label a person added.
			backlog.FieldKind: {{Field: "labels", Line: 5,
				Values:  map[string]string{"bug": "bug", "story": "story", "task": "task", "epic": "epic"},
				Aliases: map[string][]string{"bug": {"defect"}}}},
			backlog.FieldPriority: {{Field: "labels", Line: 6, Template: "prio:{value}",
				Values:  map[string]string{"highest": "P1", "high": "P2", "medium": "P3", "low": "P4", "lowest": "P5"},
				Aliases: map[string][]string{"highest": {"urgent", "immediate"}}}},
			backlog.FieldTeams: {{Field: "Teams", Line: 7,
				Values: map[string]string{"backend": "Backend"}, Aliases: map[string][]string{"backend": {"Back end"}}}},
			backlog.FieldLabels: {{Field: "labels", Line: 8}},
		},
	}
}

func redmineItem() backlog.Item {
	return backlog.Item{
		ID: "BL-1", Kind: backlog.Bug, Title: "Login", Status: backlog.Done, Priority: backlog.Highest,
		Teams: []string{"backend", "qa"}, Labels: []string{"ux"}, Clients: []string{"umbrella"},
	}
}

func TestValueAliasesReadBack(t *testing.T) {
	c := redmineClient()
	p := c.Project(redmineItem())
	written := c.ToRecord(p, nil)
	tests := []struct {
		name  string
		edit  func(connectors.Fields)
		base  backlog.Fields
		field backlog.Field
		want  string
	}{
		{
			name:  "a status set to a value listed after the first reads as its canonical status",
			edit:  func(f connectors.Fields) { f["status"] = []string{"Closed"} },
			base:  backlog.Fields{backlog.FieldStatus: "in_progress"},
			field: backlog.FieldStatus, want: "done",
		},
		{
			name:  "without a base as well",
			edit:  func(f connectors.Fields) { f["status"] = []string{"Closed"} },
			field: backlog.FieldStatus, want: "done",
		},
		{
			name:  "an alias of the base value reads as the base",
			edit:  func(f connectors.Fields) { f["status"] = []string{"Closed"} },
			base:  p,
			field: backlog.FieldStatus, want: "done",
		},
		{
			name:  "an alias inside a template reads as its canonical value",
			edit:  func(f connectors.Fields) { f["labels"] = []string{"bug", "prio:immediate", "ux"} },
			base:  backlog.Fields{backlog.FieldPriority: "low"},
			field: backlog.FieldPriority, want: "highest",
		},
		{
			name:  "a second priority label added next to an alias of the old one is the edit",
			edit:  func(f connectors.Fields) { f["labels"] = []string{"bug", "prio:urgent", "ux", "prio:P2"} },
			base:  p,
			field: backlog.FieldPriority, want: "high",
		},
		{
			name:  "an alias on a shared native field belongs to its field, not to the plain labels",
			edit:  func(f connectors.Fields) { f["labels"] = []string{"defect", "prio:P1", "ux"} },
			base:  backlog.Fields{backlog.FieldKind: "story", backlog.FieldLabels: `["ux"]`},
			field: backlog.FieldKind, want: "bug",
		},
		{
			name:  "so the plain labels do not gain it",
			edit:  func(f connectors.Fields) { f["labels"] = []string{"defect", "prio:P1", "ux"} },
			field: backlog.FieldLabels, want: `["ux"]`,
		},
		{
			name:  "an alias in a multi-valued field reads as its canonical element",
			edit:  func(f connectors.Fields) { f["Teams"] = []string{"Back end", "qa"} },
			field: backlog.FieldTeams, want: `["backend","qa"]`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := written.Clone()
			tt.edit(f)
			got, err := c.FromRecord(connectors.Record{Fields: f}, tt.base)
			if err != nil {
				t.Fatal(err)
			}
			if got[tt.field] != tt.want {
				t.Errorf("%s = %q; want %q", tt.field, got[tt.field], tt.want)
			}
		})
	}
	t.Run("a tracker value no list holds is still an error naming the file and line", func(t *testing.T) {
		f := written.Clone()
		f["status"] = []string{"Suspended"}
		_, err := c.FromRecord(connectors.Record{Fields: f}, p)
		if err == nil || !strings.Contains(err.Error(), `clients/umbrella.yaml:4: field status: native status value "Suspended" maps to no canonical status`) {
			t.Errorf("error = %v", err)
		}
	})
}

func TestValueAliasesAreKept(t *testing.T) {
	c := redmineClient()
	p := c.Project(redmineItem())
	tests := []struct {
		name    string
		edit    func(backlog.Fields)
		current connectors.Fields
		want    connectors.Fields
	}{
		{
			name: "a new record gets the first listed values",
			want: connectors.Fields{
				"subject": {"Login"}, "status": {"Resolved"}, "Teams": {"Backend", "qa"},
				"labels": {"bug", "prio:P1", "ux"},
			},
		},
		{
			name: "aliases a record holds for the canonical values are kept, so nothing is written",
			current: connectors.Fields{
				"subject": {"Login"}, "status": {"Closed"}, "Teams": {"qa", "Back end"},
				"labels": {"prio:urgent", "ux", "defect"},
			},
			want: connectors.Fields{
				"subject": {"Login"}, "status": {"Closed"}, "Teams": {"qa", "Back end"},
				"labels": {"prio:urgent", "ux", "defect"},
			},
		},
		{
			name: "a changed canonical value replaces the alias with its first value",
			edit: func(f backlog.Fields) {
				f[backlog.FieldStatus], f[backlog.FieldKind], f[backlog.FieldPriority] = "in_progress", "task", "high"
			},
			current: connectors.Fields{"status": {"Closed"}, "labels": {"prio:urgent", "ux", "defect"}},
			want: connectors.Fields{
				"subject": {"Login"}, "status": {"In Progress"}, "Teams": {"Backend", "qa"},
				"labels": {"ux", "task", "prio:P2"},
			},
		},
		{
			name:    "a record holding the first value and an alias keeps the first only",
			current: connectors.Fields{"Teams": {"Back end", "Backend", "qa"}},
			want: connectors.Fields{
				"subject": {"Login"}, "status": {"Resolved"}, "Teams": {"Backend", "qa"},
				"labels": {"bug", "prio:P1", "ux"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := p.Clone()
			if tt.edit != nil {
				tt.edit(f)
			}
			got := c.ToRecord(f, tt.current)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ToRecord\n got %v\nwant %v", got, tt.want)
			}
		})
	}
}

func TestAnAliasIsNoEditBesideARouteThatChanged(t *testing.T) {
	// Status as a state and a status/ label: the state holds Closed, an
	// alias of the base's done, when a person sets the label to
	// cancelled. The label is the edit; the state said nothing new.
	c := redmineClient()
	c.Fields[backlog.FieldStatus] = append(c.Fields[backlog.FieldStatus], FieldMap{Field: "labels", Line: 9, Template: "status/{value}"})
	base := c.Project(redmineItem())
	f := c.ToRecord(base, nil)
	f["status"] = []string{"Closed"}
	f["labels"] = []string{"bug", "prio:P1", "ux", "status/cancelled"}
	got, err := c.FromRecord(connectors.Record{Fields: f}, base)
	if err != nil {
		t.Fatal(err)
	}
	if got[backlog.FieldStatus] != "cancelled" {
		t.Errorf("status = %q; want cancelled, the label's edit", got[backlog.FieldStatus])
	}
}

// On a free field a value can be both a canonical value of its own and
// another's alias (labels bug and defect, with defect listed under bug).
// Removing one of the two in the tracker must read as that removal, and
// keeping aliases must not fold the two into one.
func TestAValueThatIsAlsoAnAliasReadsAsItself(t *testing.T) {
	c := &Client{ID: "acme", File: "clients/acme.yaml", Fields: map[backlog.Field][]FieldMap{
		backlog.FieldTitle:  {{Field: "title", Line: 3}},
		backlog.FieldLabels: {{Field: "labels", Line: 4, Values: map[string]string{"bug": "bug"}, Aliases: map[string][]string{"bug": {"defect"}}}},
	}}
	both := backlog.EncodeList(backlog.FieldLabels, []string{"bug", "defect"})
	base := backlog.Fields{backlog.FieldTitle: "Login", backlog.FieldLabels: both}
	if got := c.ToRecord(base, connectors.Fields{"title": {"Login"}, "labels": {"bug", "defect"}}); !slices.Equal(got["labels"], []string{"bug", "defect"}) {
		t.Errorf("ToRecord of labels bug and defect over a record holding both = %q, want both kept", got["labels"])
	}
	rec := connectors.Record{Fields: connectors.Fields{"title": {"Login"}, "labels": {"defect"}}} // a person removed bug
	got, err := c.FromRecord(rec, base)
	if err != nil {
		t.Fatal(err)
	}
	if want := backlog.EncodeList(backlog.FieldLabels, []string{"defect"}); got[backlog.FieldLabels] != want {
		t.Errorf("labels read after bug was removed = %q, want %q: the removal must read as a change", got[backlog.FieldLabels], want)
	}
}
