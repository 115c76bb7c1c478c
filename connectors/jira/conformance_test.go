package jira

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/backlogd/backlogd/connectors"
	"github.com/backlogd/backlogd/connectors/connectortest"
	"github.com/backlogd/backlogd/connectors/jira/jirafake"
	"github.com/backlogd/backlogd/connectors/jira/markup"
)

// fakeHarness runs the conformance suite against a fake of one product.
// Each New starts a fresh fake; the hooks act on the latest one.
func fakeHarness(fl jirafake.Flavor, tune ...func(*jirafake.Options)) connectortest.Harness {
	var srv *jirafake.Server
	return connectortest.Harness{
		New: func(t *testing.T) connectors.Connector {
			var c *Connector
			o := jirafake.Options{Flavor: fl}
			for _, f := range tune {
				f(&o)
			}
			c, srv = newFake(t, o, func(cfg *Config) { cfg.PageSize = 3 })
			return c
		},
		Reconnect:  reconnect,
		Sample:     sample,
		TitleField: FieldSummary,
		MultiField: FieldLabels,
		PageSize:   3,
		Edit: func(t *testing.T, id string, f connectors.Fields) {
			if !srv.Edit(id, func(is *jirafake.Issue) { personEdit(t, srv, is, f) }) {
				t.Fatalf("edit %s: no such issue", id)
			}
		},
		Delete:               func(t *testing.T, id string) { srv.Delete(id) },
		RateLimitNext:        func(t *testing.T, d time.Duration) { srv.RateLimitNext(d, "jira-quota-tenant-based") },
		RejectNext:           func(t *testing.T) { srv.RejectNext() },
		CrashAfterNextCreate: func(t *testing.T) { srv.CrashAfterNextCreate() },
	}
}

// reconnect makes a new connector with c's config: a restarted daemon or
// another replica, remembering nothing c saw.
func reconnect(t *testing.T, c connectors.Connector) connectors.Connector {
	again, err := New(c.(*Connector).cfg)
	if err != nil {
		t.Fatal(err)
	}
	return again
}

// personEdit applies native fields to a fake issue as Jira's editor
// would: the description in the product's markup, labels keeping the
// marker label a person does not touch.
func personEdit(t *testing.T, srv *jirafake.Server, is *jirafake.Issue, f connectors.Fields) {
	for name, vs := range f {
		switch name {
		case FieldSummary:
			is.Summary = f.Get(name)
		case FieldDescription:
			is.Description = jiraBody(srv, f.Get(name))
		case FieldLabels:
			var keep []string
			for _, l := range is.Labels {
				if _, ok := cutMarkerLabel(l); ok {
					keep = append(keep, l)
				}
			}
			is.Labels = append(keep, vs...)
		case FieldPriority:
			is.Priority = f.Get(name)
		default:
			t.Fatalf("the fake's edit hook does not know field %q", name)
		}
	}
}

// jiraBody is Markdown as the fake's product stores it.
func jiraBody(srv *jirafake.Server, md string) []byte {
	if md == "" {
		return []byte("null")
	}
	if srv.Options().Flavor == jirafake.Cloud {
		return markup.ToADF(md, nil)
	}
	b, _ := jsonString(markup.ToWiki(md, nil))
	return b
}

func sample(i int) connectors.Fields {
	f := connectors.Fields{}
	f.Set(FieldSummary, fmt.Sprintf("Conformance record %d", i))
	f.Set(FieldDescription, fmt.Sprintf("Body of record %d with *Markdown*:\n\n- a list\n- of `items`", i))
	f.Set(FieldLabels, "conformance", "n-"+strconv.Itoa(i))
	f.Set(FieldIssueType, []string{"Story", "Bug", "Task"}[i%3])
	return f
}

// TestConformanceHarness exercises the harness hooks, so the fake does
// what the suite expects of them.
func TestConformanceHarness(t *testing.T) {
	flavors(t, func(t *testing.T, fl jirafake.Flavor) {
		h := fakeHarness(fl)
		c := h.New(t).(*Connector)
		ctx := t.Context()
		var ids []string
		for i := range 2*h.PageSize + 1 {
			r, err := c.Create(ctx, "BL-"+strconv.Itoa(i), h.Sample(i))
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, r.ID)
		}
		got, cursor := drain(t, c, "")
		if slices.Sort(got); !slices.Equal(got, ids) {
			t.Fatalf("listed %v, want %v", got, ids)
		}
		h.Edit(t, ids[2], fields(FieldSummary, "Edited by a person", FieldDescription, "Now **bold**"))
		if got, _ := drain(t, c, cursor); !slices.Equal(got, ids[2:3]) {
			t.Errorf("after an edit: %v", got)
		}
		if r, _ := c.Get(ctx, ids[2]); r.Marker != "BL-2" || r.Fields.Get(FieldDescription) != "Now **bold**" {
			t.Errorf("a person's edit reads back %q with marker %q", r.Fields.Get(FieldDescription), r.Marker)
		}
		h.Delete(t, ids[0])
		if _, err := c.Get(ctx, ids[0]); !isNotFound(err) {
			t.Errorf("deleted: %v", err)
		}
		h.RejectNext(t)
		if _, err := c.Get(ctx, ids[1]); !connectors.IsTerminal(err) {
			t.Errorf("rejected: %v", err)
		}
		h.RateLimitNext(t, time.Hour)
		if _, err := c.Get(ctx, ids[1]); err == nil {
			t.Error("a rate limit of an hour went unnoticed")
		} else if d, _ := connectors.RetryAfter(err); d < 59*time.Minute {
			t.Errorf("rate limited for %v, want an hour", d)
		}
	})
}

func TestConformance(t *testing.T) {
	flavors(t, func(t *testing.T, fl jirafake.Flavor) { runSuite(t, fakeHarness(fl)) })
}

// TestConformanceWithWholeSecondTimes runs the suite against a Data
// Center fake that keeps times in whole seconds, as Jira on MySQL does,
// where edits in one second share one updated time.
func TestConformanceWithWholeSecondTimes(t *testing.T) {
	runSuite(t, fakeHarness(jirafake.DataCenter, func(o *jirafake.Options) { o.WholeSeconds = true }))
}

// liveEnv names the variables the live test needs.
const liveEnv = "JIRA_URL, JIRA_USER (Cloud: the account e-mail; empty for a Data Center PAT), JIRA_TOKEN and BACKLOGD_JIRA_TEST_PROJECT (a throwaway project: the suite creates and edits issues there)"

// TestLiveConformance runs the suite against a real site.
func TestLiveConformance(t *testing.T) {
	u, user, token, project := os.Getenv("JIRA_URL"), os.Getenv("JIRA_USER"), os.Getenv("JIRA_TOKEN"), os.Getenv("BACKLOGD_JIRA_TEST_PROJECT")
	if u == "" || token == "" || project == "" {
		t.Skip("set " + liveEnv + " to run the conformance suite against a real Jira")
	}
	h := connectortest.Harness{
		New: func(t *testing.T) connectors.Connector {
			c, err := New(Config{
				Settings: Settings{URL: u, Project: project, User: user, Token: "env:JIRA_TOKEN", PageSize: 3,
					TimeZone: os.Getenv("BACKLOGD_JIRA_TIME_ZONE")},
				Target: "live-jira", Token: connectors.NewSecret(token), WebhookSecret: connectors.NewSecret(testWebhookSecret),
				MaxWait: 5 * time.Second,
			})
			if err != nil {
				t.Fatal(err)
			}
			return c
		},
		Sample: func(i int) connectors.Fields {
			f := sample(i)
			if it := os.Getenv("BACKLOGD_JIRA_TEST_ISSUE_TYPE"); it != "" {
				f.Set(FieldIssueType, it) // projects with other issue types
			}
			return f
		},
		Reconnect:  reconnect,
		TitleField: FieldSummary,
		MultiField: FieldLabels,
		PageSize:   3,
		// Jira's search index lags behind writes by seconds: give it
		// time before an edit is looked for.
		Settle: func() { time.Sleep(3 * time.Second) },
	}
	runSuite(t, h)
}
