package jira_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/backlogd/backlogd/connectors"
	"github.com/backlogd/backlogd/connectors/jira"
	"github.com/backlogd/backlogd/connectors/jira/jirafake"
	"github.com/backlogd/backlogd/mapping"
)

// connect returns a connector on a fake Cloud site that has read the
// site, as Factory does at start.
func connect(t *testing.T) *jira.Connector {
	t.Helper()
	srv := jirafake.New(jirafake.Options{Flavor: jirafake.Cloud})
	t.Cleanup(srv.Close)
	c, err := jira.New(jira.Config{
		Settings: jira.Settings{URL: srv.URL, Project: "ACME", User: jirafake.BotEmail, Token: "env:JIRA_TOKEN"},
		Token:    connectors.NewSecret(jirafake.APIToken), Base: srv.Client().Transport,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestTheExampleClientChecksAgainstJira is what `backlogd validate` and
// `plan` do with the example Jira client: its fields, statuses, issue
// types and priorities exist on the site.
func TestTheExampleClientChecksAgainstJira(t *testing.T) {
	cfg, err := mapping.Load(filepath.Join("..", "..", "configs", "examples", "backlogd.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	client, ok := cfg.Client("initech")
	if !ok {
		t.Fatal("no example client initech")
	}
	if err := client.Check(connect(t).Capabilities()); err != nil {
		t.Errorf("the example client does not fit the Jira connector: %v", err)
	}
	tg, ok := cfg.Target(client.Target)
	if !ok || tg.Kind != "jira" {
		t.Fatalf("target %+v", tg)
	}
	var s jira.Settings
	if err := connectors.DecodeSettings(tg.Settings, &s); err != nil {
		t.Fatalf("the example target's settings: %v", err)
	}
	if err := s.Validate(); err != nil {
		t.Errorf("the example target's settings: %v", err)
	}
}

// TestUnknownFieldsStopValidation: a client naming a custom field or a
// status the site does not have is refused with the file and line.
func TestUnknownFieldsStopValidation(t *testing.T) {
	caps := connect(t).Capabilities()
	for _, tt := range []struct {
		name, fields, want string
	}{
		{"a misspelt custom field", "  estimate.points: {field: Story Pointz}\n", `has no field "Story Pointz"`},
		{"a status the workflow does not have", "  status: {field: status, values: {todo: Backlog, in_progress: Doing, in_review: Code Review, done: Done, cancelled: Won't Do}}\n", `does not accept "Doing" in "status"`},
		{"the read-only reporter pushed", "  assignee: reporter\n", `"reporter" is read-only`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, "backlogd.yaml"), "targets:\n  - name: acme-jira\n    kind: jira\n    settings: {url: https://acme.atlassian.net, project: ACME, user: po@acme.com, token: env:JIRA_TOKEN}\n")
			writeFile(t, filepath.Join(dir, "clients", "acme.yaml"), "target: acme-jira\nscope: clients has acme\nfields:\n  title: summary\n"+tt.fields)
			cfg, err := mapping.Load(filepath.Join(dir, "backlogd.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			c, _ := cfg.Client("acme")
			err = c.Check(caps)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "acme.yaml:") {
				t.Errorf("got %v; want an error with the file and %q", err, tt.want)
			}
		})
	}
}

func writeFile(t *testing.T, path, body string) {
	t.Helper()
	if err := mkdirWrite(path, body); err != nil {
		t.Fatal(err)
	}
}

func mkdirWrite(path, body string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(body), 0o644)
}
