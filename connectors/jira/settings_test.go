package jira

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/backlogd/backlogd/connectors"
	"github.com/backlogd/backlogd/connectors/jira/jirafake"
	"gopkg.in/yaml.v3"
)

func TestSettingsValidate(t *testing.T) {
	ok := func() Settings {
		return Settings{URL: "https://acme.atlassian.net/", Project: "ACME", Token: "env:JIRA_TOKEN", User: "po@acme.com"}
	}
	tests := []struct {
		name string
		edit func(*Settings)
		want string // substring of the error; "" for none
	}{
		{"a complete block is valid and gets its defaults", func(*Settings) {}, ""},
		{"the url is required", func(s *Settings) { s.URL = "" }, "url is required"},
		{"a url with credentials is refused without echoing them", func(s *Settings) { s.URL = "https://bot:hunter2@acme.atlassian.net" }, "without credentials"},
		{"the project key is required", func(s *Settings) { s.Project = "" }, "project is required"},
		{"a project name is not a key", func(s *Settings) { s.Project = "Acme shop" }, "is not a project key"},
		{"an unknown flavour is refused", func(s *Settings) { s.Flavor = "server" }, `flavor "server" is not known`},
		{"Cloud needs the account e-mail", func(s *Settings) { s.Flavor, s.User = FlavorCloud, "" }, "user is required on Jira Cloud"},
		{"Data Center needs no user", func(s *Settings) { s.Flavor, s.User = FlavorDataCenter, "" }, ""},
		{"the token is required", func(s *Settings) { s.Token = "" }, "token is required"},
		{"page_size is at most 100", func(s *Settings) { s.PageSize = 500 }, "page_size 500 is out of range"},
		{"the time zone must exist", func(s *Settings) { s.TimeZone = "Mars/Olympus" }, `time_zone "Mars/Olympus"`},
		{"internal_visibility names a role or a group", func(s *Settings) { s.InternalVisibility = "Administrators" }, "write role:NAME or group:NAME"},
		{"transition fields need names", func(s *Settings) { s.TransitionFields = map[string]map[string]string{"Done": {"": "x"}} }, "a field name is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := ok()
			tt.edit(&s)
			err := s.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("error %v; want one containing %q", err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), "hunter2") {
				t.Errorf("the error echoes the URL's password: %v", err)
			}
			if tt.want == "" {
				if s.PageSize != DefaultPageSize || s.DefaultIssueType != "Task" || s.MarkerLabel == nil || !*s.MarkerLabel || s.InternalVisibility != DefaultInternalVisibility || strings.HasSuffix(s.URL, "/") {
					t.Errorf("defaults not applied: %+v", s)
				}
			}
		})
	}
}

type secrets map[string]string

func (s secrets) Resolve(ref string) (connectors.Secret, error) {
	v, ok := s[ref]
	if !ok {
		return connectors.Secret{}, fmt.Errorf("secret %s is not set", ref)
	}
	return connectors.NewSecret(v), nil
}

func settingsNode(t *testing.T, src string) *yaml.Node {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	return doc.Content[0]
}

func TestFactory(t *testing.T) {
	srv := jirafake.New(jirafake.Options{Flavor: jirafake.DataCenter})
	defer srv.Close()
	env := func(src string) connectors.Env {
		return connectors.Env{Target: "acme-jira", Settings: settingsNode(t, src), Secrets: secrets{"env:JIRA_TOKEN": jirafake.PAT, "env:HOOK": "s3cret-hook"},
			HTTP: srv.Client()}
	}
	t.Run("a Data Center site is detected and read at start", func(t *testing.T) {
		c, err := Factory(context.Background(), env("url: "+srv.URL+"\nproject: ACME\ntoken: env:JIRA_TOKEN\nwebhook_secret: env:HOOK\n"))
		if err != nil {
			t.Fatal(err)
		}
		caps := c.Capabilities()
		if _, ok := caps.Field("Epic Link"); !ok {
			t.Errorf("the site's custom fields are not listed: %+v", caps.Fields)
		}
		if m := c.(*Connector).meta; m == nil || m.cloud || m.loc.String() != "Europe/Paris" {
			t.Errorf("metadata %+v", m)
		}
	})
	t.Run("an unknown setting is refused with its line", func(t *testing.T) {
		_, err := Factory(context.Background(), env("url: "+srv.URL+"\nproject: ACME\ntoken: env:JIRA_TOKEN\npassword: x\n"))
		if err == nil || !strings.Contains(err.Error(), "line 4") || !strings.Contains(err.Error(), "password") {
			t.Errorf("got %v", err)
		}
	})
	t.Run("a missing project stops the start with a clear message", func(t *testing.T) {
		_, err := Factory(context.Background(), env("url: "+srv.URL+"\nproject: NOPE\ntoken: env:JIRA_TOKEN\n"))
		if !connectors.IsTerminal(err) || !strings.Contains(err.Error(), "project NOPE does not exist") {
			t.Errorf("got %v", err)
		}
	})
	t.Run("a bad token stops the start and is never shown", func(t *testing.T) {
		e := env("url: " + srv.URL + "\nproject: ACME\ntoken: env:BAD\n")
		e.Secrets = secrets{"env:BAD": "not-the-pat-0123"}
		_, err := Factory(context.Background(), e)
		if !connectors.IsTerminal(err) || !strings.Contains(err.Error(), "HTTP 401") || strings.Contains(err.Error(), "not-the-pat") {
			t.Errorf("got %v", err)
		}
	})
	t.Run("an unresolvable secret is an error naming the setting", func(t *testing.T) {
		_, err := Factory(context.Background(), env("url: "+srv.URL+"\nproject: ACME\ntoken: env:MISSING\n"))
		if err == nil || !strings.Contains(err.Error(), "token:") {
			t.Errorf("got %v", err)
		}
	})
	t.Run("an unreachable site does not stop the daemon", func(t *testing.T) {
		e := env("url: http://127.0.0.1:1\nproject: ACME\ntoken: env:JIRA_TOKEN\nflavor: datacenter\n")
		e.HTTP = nil
		c, err := Factory(context.Background(), e)
		if err != nil {
			t.Fatalf("got %v", err)
		}
		if len(c.Capabilities().Fields) != 0 {
			t.Errorf("fields declared before the site was read: %v", c.Capabilities().Fields)
		}
	})
}

func TestSecretsNeverPrinted(t *testing.T) {
	c, _ := newFake(t, jirafake.Options{Flavor: jirafake.Cloud})
	for _, s := range []string{fmt.Sprintf("%+v", c.cfg), fmt.Sprintf("%#v", c.cfg), fmt.Sprint(c.cfg.Token)} {
		if strings.Contains(s, jirafake.APIToken) || strings.Contains(s, testWebhookSecret) {
			t.Errorf("a secret is printed: %s", s)
		}
	}
}

func TestCloudWithoutUserIsRefusedAtStart(t *testing.T) {
	c, _ := newFake(t, jirafake.Options{Flavor: jirafake.Cloud}, func(cfg *Config) { cfg.User = "" })
	err := c.Refresh(context.Background())
	if !connectors.IsTerminal(err) || !strings.Contains(err.Error(), "needs user") {
		t.Errorf("got %v", err)
	}
}
