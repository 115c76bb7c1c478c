package redmine

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/backlogd/backlogd/connectors"
	"github.com/backlogd/backlogd/connectors/redmine/redminefake"
	"gopkg.in/yaml.v3"
)

func TestSettingsValidate(t *testing.T) {
	tests := []struct {
		name string
		in   Settings
		want []string // substrings of the error; none means valid
	}{
		{"a complete block is valid", Settings{URL: "https://r.example.com/", APIKey: "env:K", Project: "lab"}, nil},
		{"a missing url says what to write", Settings{APIKey: "env:K", Project: "lab"}, []string{"url is required"}},
		{"a url without scheme is refused", Settings{URL: "redmine.example.com", APIKey: "env:K", Project: "lab"}, []string{"not an http(s) URL"}},
		{"a missing key asks for a secret reference", Settings{URL: "https://r", Project: "lab"}, []string{"api_key is required", "env:"}},
		{"a project path is refused", Settings{URL: "https://r", APIKey: "env:K", Project: "projects/lab"}, []string{"not a project identifier"}},
		{"a page of 101 is refused", Settings{URL: "https://r", APIKey: "env:K", Project: "lab", PageSize: 101}, []string{"1 to 100"}},
		{"a day of 25 hours is refused", Settings{URL: "https://r", APIKey: "env:K", Project: "lab", HoursPerDay: 25}, []string{"hours_per_day 25 is out of range"}},
		{"every problem is reported at once", Settings{}, []string{"url is required", "api_key is required", "project is required"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.in
			err := s.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				if s.URL != "https://r.example.com" || s.MarkerField != "External ID" || s.PageSize != 100 || s.RequestsPerSecond != 5 || s.HoursPerDay != 8 {
					t.Errorf("defaults not applied: %+v", s)
				}
				return
			}
			for _, w := range tt.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("err = %v, want it to mention %q", err, w)
				}
			}
		})
	}
}

func settingsNode(t *testing.T, src string) *yaml.Node {
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	return doc.Content[0]
}

type mapSecrets map[string]string

func (m mapSecrets) Resolve(ref string) (connectors.Secret, error) {
	if v, ok := m[ref]; ok {
		return connectors.NewSecret(v), nil
	}
	return connectors.Secret{}, errors.New("no such secret " + ref)
}

func TestFactory(t *testing.T) {
	srv := redminefake.New()
	defer srv.Close()
	ctx := context.Background()
	settings := func(extra string) *yaml.Node {
		return settingsNode(t, "url: "+srv.URL+"\napi_key: env:KEY\nproject: sync-test\nrequests_per_second: -1\n"+extra)
	}
	t.Run("a valid target resolves names at start and lists them as values", func(t *testing.T) {
		c, err := Factory(ctx, connectors.Env{Target: "t", Settings: settings(""), Secrets: mapSecrets{"env:KEY": srv.APIKey}})
		if err != nil {
			t.Fatal(err)
		}
		caps := c.Capabilities()
		for name, want := range map[string]string{FieldStatus: "Feedback", FieldTracker: "Support", FieldPriority: "Immediate", FieldAssignedTo: "alice", FieldFixedVersion: "2.0", FieldCategory: "Backend", "Phase": "Launch"} {
			f, ok := caps.Field(name)
			if !ok || !strings.Contains(strings.Join(f.Values, "|"), want) {
				t.Errorf("%s values %v, want %q among them", name, f.Values, want)
			}
		}
		if f, ok := caps.Field("Teams"); !ok || !f.Multi {
			t.Errorf("Teams is a multiple list: %+v", f)
		}
		if _, ok := caps.Field("External ID"); ok {
			t.Error("the marker field is listed as a writable field")
		}
		if !caps.InternalComments || !caps.EditComments || !caps.DeleteComments || caps.Webhooks || !caps.Hierarchy {
			t.Errorf("capabilities %+v", caps)
		}
	})
	t.Run("an unknown settings key names its line", func(t *testing.T) {
		_, err := Factory(ctx, connectors.Env{Target: "t", Settings: settings("projekt: x\n"), Secrets: mapSecrets{"env:KEY": srv.APIKey}})
		if err == nil || !strings.Contains(err.Error(), "line 5") || !strings.Contains(err.Error(), "projekt") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("a refused key fails at start, terminal", func(t *testing.T) {
		_, err := Factory(ctx, connectors.Env{Target: "t", Settings: settings(""), Secrets: mapSecrets{"env:KEY": "wrong"}})
		if !connectors.IsTerminal(err) || !strings.Contains(err.Error(), "401") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("a missing marker field says how to create it", func(t *testing.T) {
		_, err := Factory(ctx, connectors.Env{Target: "t", Settings: settings("marker_field: Backlog ID\n"), Secrets: mapSecrets{"env:KEY": srv.APIKey}})
		if !connectors.IsTerminal(err) || !strings.Contains(err.Error(), "Used as a filter") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("an unknown project is terminal", func(t *testing.T) {
		n := settingsNode(t, "url: "+srv.URL+"\napi_key: env:KEY\nproject: nope\n")
		_, err := Factory(ctx, connectors.Env{Target: "t", Settings: n, Secrets: mapSecrets{"env:KEY": srv.APIKey}})
		if !connectors.IsTerminal(err) || !strings.Contains(err.Error(), `"nope"`) {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("an unreachable server does not stop the daemon; names load on first use", func(t *testing.T) {
		n := settingsNode(t, "url: http://127.0.0.1:1\napi_key: env:KEY\nproject: sync-test\n")
		env := connectors.Env{Target: "t", Settings: n, Secrets: mapSecrets{"env:KEY": "k"}, HTTP: &http.Client{Transport: failing{}}}
		c, err := Factory(ctx, env)
		if err != nil {
			t.Fatal(err)
		}
		if f, _ := c.Capabilities().Field(FieldStatus); len(f.Values) != 0 {
			t.Errorf("values without a server: %v", f.Values)
		}
	})
	t.Run("the key never appears in errors", func(t *testing.T) {
		_, err := Factory(ctx, connectors.Env{Target: "t", Settings: settings(""), Secrets: mapSecrets{"env:KEY": "s3cr3t-key"}})
		if err == nil || strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("err = %v", err)
		}
	})
}

// failing is a round tripper whose every request fails like a refused
// connection.
type failing struct{}

func (failing) RoundTrip(*http.Request) (*http.Response, error) {
	return nil, errors.New("connect: connection refused")
}
