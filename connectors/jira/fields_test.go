package jira

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/backlogd/backlogd/connectors"
	"github.com/backlogd/backlogd/connectors/jira/jirafake"
)

func TestCustomFieldsByName(t *testing.T) {
	ctx := context.Background()
	flavors(t, func(t *testing.T, fl jirafake.Flavor) {
		c, srv := newFake(t, jirafake.Options{Flavor: fl})
		spID := map[jirafake.Flavor]string{jirafake.Cloud: jirafake.StoryPointsCloud, jirafake.DataCenter: jirafake.StoryPointsDC}[fl]
		t.Run("Story Points and Team are written under the site's ids and read back by name", func(t *testing.T) {
			r, err := c.Create(ctx, "BL-1", fields(FieldSummary, "x", "Story Points", "2.5", "Team", "Web"))
			if err != nil {
				t.Fatal(err)
			}
			is, _ := srv.Issue(r.ID)
			if string(is.Custom[spID]) != "2.5" || !strings.Contains(string(is.Custom[jirafake.TeamField]), `"value":"Web"`) {
				t.Errorf("stored %v", is.Custom)
			}
			if r.Fields.Get("Story Points") != "2.5" || r.Fields.Get("Team") != "Web" {
				t.Errorf("read back %v", r.Fields)
			}
		})
		t.Run("a value the field does not take is refused with Jira's message", func(t *testing.T) {
			_, err := c.Create(ctx, "BL-2", fields(FieldSummary, "x", "Team", "Marketing"))
			if !connectors.IsTerminal(err) || !strings.Contains(err.Error(), "Option value 'Marketing' is not valid") {
				t.Errorf("got %v", err)
			}
		})
		t.Run("a field the site does not have is refused before anything is written", func(t *testing.T) {
			srv.ResetStats()
			_, err := c.Create(ctx, "BL-3", fields(FieldSummary, "x", "Story Pointz", "3"))
			if !connectors.IsTerminal(err) || !strings.Contains(err.Error(), `"Story Pointz" is neither`) {
				t.Errorf("got %v", err)
			}
			if w := srv.Stats().Writes; w != 0 {
				t.Errorf("%d writes", w)
			}
		})
		t.Run("Capabilities list the custom fields by name", func(t *testing.T) {
			for _, n := range []string{"Story Points", "Team"} {
				if _, ok := c.Capabilities().Field(n); !ok {
					t.Errorf("%s not declared", n)
				}
			}
			if f, _ := c.Capabilities().Field(FieldStatus); !slices.Contains(f.Values, "Code Review") {
				t.Errorf("status values %v", f.Values)
			}
		})
	})
}

func TestSharedCustomFieldNamesAreUsedByID(t *testing.T) {
	ctx := context.Background()
	c, _ := newFake(t, jirafake.Options{Flavor: jirafake.Cloud, ExtraFields: []jirafake.Field{
		{ID: "customfield_10500", Name: "Team", Custom: true, Type: "string", CustomType: "com.atlassian.jira.plugin.system.customfieldtypes:textfield"},
	}})
	if err := c.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	caps := c.Capabilities()
	if _, ok := caps.Field("Team"); ok {
		t.Error("a name two fields share is declared")
	}
	for _, id := range []string{jirafake.TeamField, "customfield_10500"} {
		if _, ok := caps.Field(id); !ok {
			t.Errorf("%s not declared", id)
		}
	}
	_, err := c.Create(ctx, "BL-1", fields(FieldSummary, "x", "Team", "Web"))
	if !connectors.IsTerminal(err) || !strings.Contains(err.Error(), "shared by custom fields customfield_10001, customfield_10500") {
		t.Errorf("got %v", err)
	}
	r, err := c.Create(ctx, "BL-2", fields(FieldSummary, "x", "customfield_10500", "Platform"))
	if err != nil || r.Fields.Get("customfield_10500") != "Platform" {
		t.Errorf("by id: %v, %v", r.Fields, err)
	}
}

func TestParentAndEpicLink(t *testing.T) {
	ctx := context.Background()
	t.Run("Cloud: parent holds the epic's id", func(t *testing.T) {
		c, srv := newFake(t, jirafake.Options{Flavor: jirafake.Cloud})
		epic, err := c.Create(ctx, "BL-1", fields(FieldSummary, "Checkout", FieldIssueType, "Epic"))
		if err != nil {
			t.Fatal(err)
		}
		story, err := c.Create(ctx, "BL-2", fields(FieldSummary, "Pay", FieldParent, epic.ID))
		if err != nil {
			t.Fatal(err)
		}
		if is, _ := srv.Issue(story.ID); story.Fields.Get(FieldParent) != epic.ID || is.Parent == 0 {
			t.Errorf("parent %q, stored %d", story.Fields.Get(FieldParent), is.Parent)
		}
		r, err := c.Update(ctx, story.ID, "", fields(FieldParent, ""), "")
		if err != nil || r.Fields.Get(FieldParent) != "" {
			t.Errorf("unparented: %v, %v", r.Fields.Get(FieldParent), err)
		}
	})
	t.Run("Data Center: the Epic Link holds the epic's key in Jira and its id in records", func(t *testing.T) {
		c, srv := newFake(t, jirafake.Options{Flavor: jirafake.DataCenter})
		epic, _ := c.Create(ctx, "BL-1", fields(FieldSummary, "Checkout", FieldIssueType, "Epic"))
		story, err := c.Create(ctx, "BL-2", fields(FieldSummary, "Pay", "Epic Link", epic.ID))
		if err != nil {
			t.Fatal(err)
		}
		is, _ := srv.Issue(story.ID)
		if string(is.Custom[jirafake.EpicLinkDC]) != `"`+epic.Key+`"` || story.Fields.Get("Epic Link") != epic.ID {
			t.Errorf("stored %s, read %q", is.Custom[jirafake.EpicLinkDC], story.Fields.Get("Epic Link"))
		}
		// A fresh connector knows no keys: it looks the epic up once.
		fresh, _ := New(testConfig(srv))
		if r, err := fresh.Get(ctx, story.ID); err != nil || r.Fields.Get("Epic Link") != epic.ID {
			t.Errorf("fresh read: %v, %v", r.Fields.Get("Epic Link"), err)
		}
		if _, err := c.Create(ctx, "BL-3", fields(FieldSummary, "x", "Epic Link", story.ID)); !connectors.IsTerminal(err) || !strings.Contains(err.Error(), "is not an epic") {
			t.Errorf("a story as epic: %v", err)
		}
	})
}

func TestPeople(t *testing.T) {
	ctx := context.Background()
	t.Run("Cloud names people by e-mail, or account id where the e-mail is hidden", func(t *testing.T) {
		c, srv := newFake(t, jirafake.Options{Flavor: jirafake.Cloud})
		r, err := c.Create(ctx, "BL-1", fields(FieldSummary, "x", FieldAssignee, "alice@acme.com"))
		if err != nil {
			t.Fatal(err)
		}
		if is, _ := srv.Issue(r.ID); is.Assignee != jirafake.Alice.AccountID || r.Fields.Get(FieldAssignee) != "alice@acme.com" {
			t.Errorf("stored %q, read %q", is.Assignee, r.Fields.Get(FieldAssignee))
		}
		key := srv.AddIssue(jirafake.Issue{Summary: "y", Assignee: jirafake.Bob.AccountID})
		got, _ := c.Get(ctx, key)
		if got.Fields.Get(FieldAssignee) != jirafake.Bob.AccountID {
			t.Errorf("a hidden e-mail reads as %q", got.Fields.Get(FieldAssignee))
		}
		if _, err := c.Update(ctx, r.ID, "", fields(FieldAssignee, jirafake.Bob.AccountID), ""); err != nil {
			t.Errorf("assigning by account id: %v", err)
		}
		if _, err := c.Update(ctx, r.ID, "", fields(FieldAssignee, "mallory@acme.com"), ""); !connectors.IsTerminal(err) || !strings.Contains(err.Error(), "users: map") {
			t.Errorf("an unknown user: %v", err)
		}
	})
	t.Run("Data Center names people by user name", func(t *testing.T) {
		c, srv := newFake(t, jirafake.Options{Flavor: jirafake.DataCenter})
		r, err := c.Create(ctx, "BL-1", fields(FieldSummary, "x", FieldAssignee, "alice"))
		if err != nil {
			t.Fatal(err)
		}
		if is, _ := srv.Issue(r.ID); is.Assignee != "alice" || r.Fields.Get(FieldReporter) != "backlogd-bot" {
			t.Errorf("stored %q, reporter %q", is.Assignee, r.Fields.Get(FieldReporter))
		}
	})
}

func TestFieldErrorsNameTheFix(t *testing.T) {
	ctx := context.Background()
	c, _ := newFake(t, jirafake.Options{Flavor: jirafake.Cloud})
	for _, tt := range []struct {
		name   string
		fields connectors.Fields
		want   string
	}{
		{"an unknown component lists the project's", fields(FieldSummary, "x", FieldComponents, "Mobile"), `component "Mobile" does not exist in project ACME; use one of: Web, API, Back office`},
		{"an unknown issue type lists the project's", fields(FieldSummary, "x", FieldIssueType, "Feature"), `issue type "Feature" does not exist`},
		{"a label with a space is refused", fields(FieldSummary, "x", FieldLabels, "phase build"), `label "phase build" contains white space`},
		{"a due date is a date", fields(FieldSummary, "x", FieldDueDate, "next week"), "write YYYY-MM-DD"},
		{"the reporter is read-only", fields(FieldSummary, "x", FieldReporter, "alice@acme.com"), "reporter is read-only"},
		{"a summary is required", fields(FieldDescription, "x"), "the summary is empty"},
		{"Story Points is a number", fields(FieldSummary, "x", "Story Points", "five"), `"five" is not a number`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.Create(ctx, "BL-1", tt.fields)
			if !connectors.IsTerminal(err) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v; want a terminal error containing %q", err, tt.want)
			}
		})
	}
}

func TestUpdateWritesOnlyWhatChanged(t *testing.T) {
	ctx := context.Background()
	flavors(t, func(t *testing.T, fl jirafake.Flavor) {
		c, srv := newFake(t, jirafake.Options{Flavor: fl})
		f := fields(FieldSummary, "x", FieldDescription, "Some *text*", "Story Points", "5", FieldStatus, "In Progress")
		f.Set(FieldLabels, "b", "a")
		r, err := c.Create(ctx, "BL-1", f)
		if err != nil {
			t.Fatal(err)
		}
		srv.ResetStats()
		f.Set("Story Points", "5.0")
		got, err := c.Update(ctx, r.ID, r.Version, f, "")
		if err != nil || got.Version != r.Version {
			t.Fatalf("got %v, %v", got, err)
		}
		if st := srv.Stats(); st.Writes != 0 || st.Requests != 1 {
			t.Errorf("an update that changes nothing cost %d requests, %d writes", st.Requests, st.Writes)
		}
		srv.ResetStats()
		got, err = c.Update(ctx, r.ID, r.Version, fields(FieldSummary, "y"), "")
		if err != nil || got.Fields.Get(FieldSummary) != "y" || got.Marker != "BL-1" || !slices.Equal(got.Fields[FieldLabels], []string{"a", "b"}) {
			t.Fatalf("got %+v, %v", got, err)
		}
		if st := srv.Stats().ByClass; st["edit_issue"] != 1 || st["transition"] != 0 {
			t.Errorf("requests %v", st)
		}
		if _, err := c.Update(ctx, r.ID, r.Version, fields(FieldSummary, "z"), ""); !strings.Contains(errString(err), connectors.ErrConflict.Error()) {
			t.Errorf("a stale version: %v", err)
		}
	})
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// TestDescriptionsRoundTripThroughJira sends every document of the markup
// corpus as a description to each product, where the Cloud fake checks
// the ADF as Jira does, and reads it back.
func TestDescriptionsRoundTripThroughJira(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("markup", "testdata", "corpus", "*.md"))
	if len(files) == 0 {
		t.Fatal("no corpus")
	}
	ctx := context.Background()
	flavors(t, func(t *testing.T, fl jirafake.Flavor) {
		c, _ := newFake(t, jirafake.Options{Flavor: fl})
		drift := 0
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			md := string(b)
			if fl == jirafake.DataCenter {
				// Data Center records name people by user name.
				md = strings.NewReplacer("@alice@acme.com", "@alice", "@bob@acme.com", "@bob").Replace(md)
			}
			r, err := c.Create(ctx, "BL-"+filepath.Base(f[:len(f)-3])[:2], fields(FieldSummary, "doc", FieldDescription, md))
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			got, err := c.Get(ctx, r.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Fields.Get(FieldDescription) != md {
				drift++
				t.Errorf("%s drifts:\n%s", f, got.Fields.Get(FieldDescription))
			}
			if cm, err := c.CreateComment(ctx, r.ID, connectors.Comment{Body: md}); err != nil || cm.Body != md {
				t.Errorf("%s as a comment: %v\n%s", f, err, cm.Body)
			}
		}
		t.Logf("%d corpus documents through %s: %d drift", len(files), fl, drift)
	})
}

func TestAPersonsEditInJiraReadsAsMarkdown(t *testing.T) {
	ctx := context.Background()
	c, srv := newFake(t, jirafake.Options{Flavor: jirafake.Cloud})
	doc, err := os.ReadFile(filepath.Join("markup", "testdata", "jira", "cloud-editor.json"))
	if err != nil {
		t.Fatal(err)
	}
	doc = []byte(strings.ReplaceAll(string(doc), "acc-alice", jirafake.Alice.AccountID))
	key := srv.AddIssue(jirafake.Issue{Summary: "x", Description: json.RawMessage(doc)})
	r, err := c.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	d := r.Fields.Get(FieldDescription)
	for _, want := range []string{"## Written in Jira", "Hello @alice@acme.com", "- [x] done task"} {
		if !strings.Contains(d, want) {
			t.Errorf("the description lacks %q:\n%s", want, d)
		}
	}
}

func TestMentionsInBodies(t *testing.T) {
	ctx := context.Background()
	c, srv := newFake(t, jirafake.Options{Flavor: jirafake.Cloud})
	r, err := c.Create(ctx, "BL-1", fields(FieldSummary, "x", FieldDescription, "Ping @here, @team and @alice@acme.com; mail bob@acme.com."))
	if err != nil {
		t.Fatal(err)
	}
	if n := srv.Stats().ByClass["user"]; n != 1 {
		t.Errorf("%d user look-ups; only the e-mail names a Jira user", n)
	}
	is, _ := srv.Issue(r.ID)
	if !strings.Contains(string(is.Description), `"type":"mention","attrs":{"id":"`+jirafake.Alice.AccountID) {
		t.Errorf("no mention of alice: %s", is.Description)
	}
	if got := r.Fields.Get(FieldDescription); got != "Ping @here, @team and @alice@acme.com; mail bob@acme.com." {
		t.Errorf("read back %q", got)
	}
}

// failUserLookups answers Cloud's GET /rest/api/3/user with status while
// armed, as Jira does under load (429) or in an outage (5xx).
type failUserLookups struct {
	next   http.RoundTripper
	status atomic.Int32
}

func (f *failUserLookups) RoundTrip(r *http.Request) (*http.Response, error) {
	if st := int(f.status.Load()); st != 0 && r.URL.Path == "/rest/api/3/user" {
		h := http.Header{"Content-Type": {"application/json"}}
		if st == http.StatusTooManyRequests {
			// A burst limit slows the endpoint, not the whole target.
			h.Set("Retry-After", "60")
			h.Set("RateLimit-Reason", "jira-burst-based")
		}
		return &http.Response{StatusCode: st, Status: http.StatusText(st), Header: h, Request: r,
			Body: io.NopCloser(strings.NewReader(`{"errorMessages":["try later"]}`))}, nil
	}
	return f.next.RoundTrip(r)
}

// TestAMentionIsRenderedTheSameOnEveryRead: a mention names a person by
// account id; the record names them as the user map does (an e-mail). If
// a failed look-up rendered it differently ("@Alice Martin"), the
// description would read as a remote edit, be written back and fanned out,
// and flip back on the next read.
func TestAMentionIsRenderedTheSameOnEveryRead(t *testing.T) {
	ctx := context.Background()
	doc := `{"type":"doc","version":1,"content":[{"type":"paragraph","content":[{"type":"text","text":"Ping "},` +
		`{"type":"mention","attrs":{"id":"` + jirafake.Alice.AccountID + `","text":"@Alice Martin"}}]}]}`
	var lookups *failUserLookups
	c, srv := newFake(t, jirafake.Options{Flavor: jirafake.Cloud}, func(cfg *Config) {
		lookups = &failUserLookups{next: cfg.Base}
		cfg.Base = lookups
	})
	key := srv.AddIssue(jirafake.Issue{Summary: "x", Description: json.RawMessage(doc), Creator: jirafake.Bob.AccountID})
	for _, st := range []int{http.StatusTooManyRequests, http.StatusBadGateway} {
		lookups.status.Store(int32(st))
		r, err := c.Get(ctx, key)
		if err == nil {
			t.Fatalf("with the look-up answered %d, Get read the description as %q; want a failed read, retried later", st, r.Fields.Get(FieldDescription))
		}
		if connectors.IsTerminal(err) {
			t.Errorf("with the look-up answered %d: %v is terminal; it is retried", st, err)
		}
	}
	lookups.status.Store(0)
	r, err := c.Get(ctx, key)
	if err != nil || r.Fields.Get(FieldDescription) != "Ping @alice@acme.com" {
		t.Errorf("once the look-up works: %q, %v; want the user map's name", r.Fields.Get(FieldDescription), err)
	}

	t.Run("a user Jira does not know is rendered by account id, and not asked for again", func(t *testing.T) {
		gone := "5b10a2844c20165700ede99z"
		key := srv.AddIssue(jirafake.Issue{Summary: "y", Creator: jirafake.Bob.AccountID,
			Description: json.RawMessage(strings.ReplaceAll(doc, jirafake.Alice.AccountID, gone))})
		for i := range 2 {
			srv.ResetStats()
			r, err := c.Get(ctx, key)
			if err != nil || r.Fields.Get(FieldDescription) != "Ping @"+gone {
				t.Errorf("read %d: %q, %v; want the account id", i+1, r.Fields.Get(FieldDescription), err)
			}
			if n := srv.Stats().ByClass["user"]; i == 1 && n != 0 {
				t.Errorf("read %d looked the deleted user up again (%d requests)", i+1, n)
			}
		}
	})
}
