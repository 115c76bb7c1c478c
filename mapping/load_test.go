package mapping

import (
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/backlogd/backlogd/backlog"
)

const okDaemon = `targets:
  - name: acme-tracker
    kind: file
    settings: {dir: ./data/acme}
`

const okClient = `target: acme-tracker
scope: clients has acme
fields:
  title: title
`

// writeConfig lays out a daemon file and client files in a fresh
// directory and makes it the working directory, so that error messages
// carry short, stable paths.
func writeConfig(t *testing.T, daemon string, clients map[string]string) {
	t.Helper()
	dir := t.TempDir()
	t.Chdir(dir)
	if err := os.MkdirAll("clients", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile("backlogd.yaml", []byte(daemon), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, body := range clients {
		if err := os.WriteFile(filepath.Join("clients", name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name    string
		daemon  string
		clients map[string]string
		want    []string
	}{
		{
			name:   "a misspelt daemon key is named with the closest known key",
			daemon: "listne: 127.0.0.1:1\n" + okDaemon,
			want:   []string{`backlogd.yaml:1: unknown key "listne" in the daemon config; did you mean "listen"? (known keys: listen, api_token, data_dir, store, id_prefix, clients_dir, sync, log, targets)`},
		},
		{
			name:   "a duration without a unit is refused",
			daemon: "sync: {poll_interval: 30}\n" + okDaemon,
			want:   []string{`backlogd.yaml:1: sync.poll_interval "30" is not a duration; write it like 30s, 5m or 1h`},
		},
		{
			name:   "a log level outside the list is refused",
			daemon: "log:\n  level: verbose\n" + okDaemon,
			want:   []string{`backlogd.yaml:2: log.level "verbose" is not valid; use one of debug, info, warn, error`},
		},
		{
			name:   "two targets with one name are refused",
			daemon: okDaemon + "  - name: acme-tracker\n    kind: file\n",
			want:   []string{`backlogd.yaml:5: target name "acme-tracker" is already used at line 2; give each target its own name`},
		},
		{
			name:   "a webhook secret beside settings, where no connector would read it, is refused",
			daemon: okDaemon + "    webhook_secret: env:ACME_HOOK\n",
			want:   []string{`backlogd.yaml:5: webhook_secret belongs under settings: of target "acme-tracker" (the connector checks the signatures); move it there`},
		},
		{
			name:   "a literal webhook secret in settings is refused without echoing it",
			daemon: "targets:\n  - name: acme-tracker\n    kind: github\n    settings:\n      webhook_secret: hunter2hunter2\n",
			want:   []string{`backlogd.yaml:5: settings.webhook_secret looks like a literal secret; write a reference such as env:NAME or file:/run/secrets/name (credentials never go in config files)`},
		},
		{
			name:   "a literal token inside connector settings is refused",
			daemon: "targets:\n  - name: acme-tracker\n    kind: github\n    settings:\n      token: ghp_0123456789\n",
			want:   []string{`backlogd.yaml:5: settings.token looks like a literal secret; write a reference such as env:NAME or file:/run/secrets/name (credentials never go in config files)`},
		},
		{
			name:   "postgres without a dsn says what to add",
			daemon: "store: {driver: postgres}\n" + okDaemon,
			want:   []string{"backlogd.yaml:1: store driver postgres needs a dsn; add `dsn: env:BACKLOGD_PG_DSN` and export the connection string"},
		},
		{
			name:    "a client file with a misspelt key",
			clients: map[string]string{"acme.yaml": okClient + "polcy: manual\n"},
			want:    []string{`clients/acme.yaml:5: unknown key "polcy" in the client file; did you mean "policy"? (known keys: client, target, scope, private, internal_comments, policy, adopt, on_scope_exit, on_remote_delete, close_status, users, fields)`},
		},
		{
			name:    "a client naming an unknown target",
			clients: map[string]string{"acme.yaml": strings.Replace(okClient, "acme-tracker", "acme-jira", 1)},
			want:    []string{`clients/acme.yaml:1: target "acme-jira" is not defined; use one of acme-tracker, or define it under targets: in backlogd.yaml`},
		},
		{
			name:   "two clients taking one field from their trackers",
			daemon: okDaemon + "  - name: globex-tracker\n    kind: file\n",
			clients: map[string]string{
				"acme.yaml":   okClient + "  priority: {field: priority, direction: from-tracker}\n",
				"globex.yaml": "target: globex-tracker\nscope: all\nfields:\n  priority: {field: prio, direction: from-tracker}\n",
			},
			want: []string{`clients/globex.yaml:4: fields.priority is from-tracker here and in client acme (clients/acme.yaml); two trackers owning one field overwrite each other forever, so make one of them both or to-tracker`},
		},
		{
			name: "two client files with the same id",
			clients: map[string]string{
				"acme.yaml":  okClient,
				"other.yaml": "client: acme\n" + okClient,
			},
			want: []string{
				`clients/other.yaml:1: client id "acme" is already used by clients/acme.yaml; client ids must be unique (set ` + "`client:`" + ` to another id)`,
				`clients/other.yaml:2: target "acme-tracker" is already used by client acme (clients/acme.yaml); give each client its own target (one project or repository each)`,
			},
		},
		{
			name:    "an unknown canonical field in fields, private and scope",
			clients: map[string]string{"acme.yaml": "target: acme-tracker\nscope: clinets has acme\nprivate: [cost]\nfields:\n  titel: summary\n"},
			want: []string{
				`clients/acme.yaml:2: scope "clinets has acme": column 1: unknown field "clinets"; did you mean "clients"? (canonical fields are kind, title, description, status, phase, teams, estimate.effort, estimate.points, estimate.cost, priority, labels, assignee, parent, due, clients, acceptance)`,
				`clients/acme.yaml:3: private: unknown canonical field "cost"; canonical fields are kind, title, description, status, phase, teams, estimate.effort, estimate.points, estimate.cost, priority, labels, assignee, parent, due, clients, acceptance`,
				`clients/acme.yaml:5: fields: unknown canonical field "titel"; did you mean "title"? (canonical fields are kind, title, description, status, phase, teams, estimate.effort, estimate.points, estimate.cost, priority, labels, assignee, parent, due, clients, acceptance)`,
			},
		},
		{
			name:    "a template without {value}",
			clients: map[string]string{"acme.yaml": okClient + "  phase: {field: labels, template: \"phase/\"}\n"},
			want:    []string{`clients/acme.yaml:5: fields.phase.template "phase/" must contain {value} exactly once; write it like "phase/{value}"`},
		},
		{
			name:    "a value map keyed by tracker values instead of canonical ones",
			clients: map[string]string{"acme.yaml": okClient + "  status:\n    field: state\n    values: {open: todo}\n"},
			want:    []string{`clients/acme.yaml:7: fields.status.values: "open" is not a canonical status; use one of todo, in_progress, in_review, done, cancelled (keys are canonical values, values are the tracker's)`},
		},
		{
			name:    "a tracker value that is a mapping, not a value or a list",
			clients: map[string]string{"acme.yaml": okClient + "  status:\n    field: state\n    values:\n      done: {write: Resolved}\n"},
			want:    []string{`clients/acme.yaml:8: fields.status.values.done must be the tracker's value or a list of them, the one to write first ([Resolved, Closed]), not a mapping`},
		},
		{
			name:    "an empty list of tracker values",
			clients: map[string]string{"acme.yaml": okClient + "  status:\n    field: state\n    values: {todo: open, done: []}\n"},
			want:    []string{`clients/acme.yaml:7: fields.status.values.done is an empty list; list the tracker's values, the one to write first ([Resolved, Closed]), or remove the line to pass "done" through unchanged`},
		},
		{
			name:    "list entries that are not tracker values, or are empty",
			clients: map[string]string{"acme.yaml": okClient + "  status:\n    field: state\n    values:\n      done: [Resolved, {name: Closed}]\n      cancelled: [Rejected, [Won't do]]\n      todo: [New, \"\"]\n      in_review:\n        - Feedback\n        -\n"},
			want: []string{
				`clients/acme.yaml:8: fields.status.values.done: entry 2 is a mapping, not a tracker value; write the values as one flat list like [Resolved, Closed]`,
				`clients/acme.yaml:9: fields.status.values.cancelled: entry 2 is a list, not a tracker value; write the values as one flat list like [Resolved, Closed]`,
				`clients/acme.yaml:10: fields.status.values.todo: entry 2 is empty; give the tracker's value or remove the entry`,
				`clients/acme.yaml:13: fields.status.values.in_review: entry 2 is empty; give the tracker's value or remove the entry`,
			},
		},
		{
			name:    "a tracker value listed twice for one canonical value",
			clients: map[string]string{"acme.yaml": okClient + "  status:\n    field: status\n    values:\n      done: [Closed, Resolved, Closed]\n"},
			want:    []string{`clients/acme.yaml:8: fields.status.values.done lists "Closed" twice; remove one`},
		},
		{
			name:    "a tracker value read back as two canonical values, whichever comes first",
			clients: map[string]string{"acme.yaml": okClient + "  status:\n    field: status\n    values:\n      done: [Resolved, Closed]\n      cancelled: Closed\n  priority:\n    field: priority\n    values:\n      high: High\n      highest: [Immediate, High]\n  kind:\n    field: tracker\n    values:\n      bug: [Bug, Defect]\n      task: [Support, Defect]\n"},
			want: []string{
				`clients/acme.yaml:9: fields.status.values.cancelled: "Closed" is also listed under done (line 8), so it would read back as either; list it under one of them only (canonical values may share a tracker value only as their first, written value: a lossy map)`,
				`clients/acme.yaml:14: fields.priority.values.highest: "High" is also listed under high (line 13), so it would read back as either; list it under one of them only (canonical values may share a tracker value only as their first, written value: a lossy map)`,
				`clients/acme.yaml:19: fields.kind.values.task: "Defect" is also listed under bug (line 18), so it would read back as either; list it under one of them only (canonical values may share a tracker value only as their first, written value: a lossy map)`,
			},
		},
		{
			name:    "a tracker value listed after the first that an unmapped canonical value passes through as",
			clients: map[string]string{"acme.yaml": okClient + "  status:\n    field: status\n    values:\n      todo: New\n      done: [Resolved, in_review]\n"},
			want:    []string{`clients/acme.yaml:9: fields.status.values.done: "in_review" is how in_review is written, as it has no value of its own, so it would read back as either; map in_review to a tracker value or remove "in_review" from the list`},
		},
		{
			name:    "value lists of two fields sharing labels that claim the same label",
			clients: map[string]string{"acme.yaml": okClient + "  kind: {field: labels, values: {bug: defect}}\n  priority: {field: labels, values: {highest: [P0, defect]}}\n  teams: {field: labels, template: \"p:{value}\"}\n  phase: {field: labels, values: {launch: [launch, \"p:live\"]}}\n"},
			want: []string{
				`clients/acme.yaml:6: fields.priority: native field "labels": kind (line 5) and priority claim the same values ("defect"); make the templates or value maps distinct`,
				`clients/acme.yaml:8: fields.phase: native field "labels": teams (line 7) and phase claim the same values ("p:live"); make the templates or value maps distinct`,
			},
		},
		{
			name:    "a conflict policy outside the list",
			clients: map[string]string{"acme.yaml": okClient + "policy: newest-wins\n"},
			want:    []string{`clients/acme.yaml:5: policy "newest-wins" is not valid; use one of canonical-wins, tracker-wins, latest-wins, manual`},
		},
		{
			name:    "two free fields sharing labels without a template",
			clients: map[string]string{"acme.yaml": okClient + "  labels: labels\n  teams: labels\n"},
			want:    []string{`clients/acme.yaml:6: fields.teams: native field "labels" already receives labels (line 5) without a template; give one of them a template like "teams/{value}" so their values can be told apart`},
		},
		{
			name:    "templates that claim the same labels",
			clients: map[string]string{"acme.yaml": okClient + "  phase: {field: labels, template: \"x/{value}\"}\n  teams: {field: labels, template: \"x/t/{value}\"}\n"},
			want:    []string{`clients/acme.yaml:6: fields.teams: native field "labels": phase (line 5) and teams claim the same values (x/t/…); make the templates or value maps distinct`},
		},
		{
			name:    "a client without scope or fields",
			clients: map[string]string{"acme.yaml": "target: acme-tracker\n"},
			want: []string{
				"clients/acme.yaml:1: no scope; add `scope: clients has \"acme\"` to show the client its own items, or `scope: all`",
				"clients/acme.yaml:1: no fields; add a `fields:` mapping (canonical field: native field), or `fields: identity` for a tracker that uses the canonical names",
			},
		},
		{
			name:    "a scope expression with a misplaced operator points at the column",
			clients: map[string]string{"acme.yaml": "target: acme-tracker\nscope: teams = web\nfields: identity\n"},
			want:    []string{"clients/acme.yaml:2: scope \"teams = web\": column 7: teams holds a list; write `teams has VALUE` instead of `=`"},
		},
		{
			name:    "broken YAML names the line",
			clients: map[string]string{"acme.yaml": "target: acme-tracker\n\tscope: all\n"},
			want:    []string{`clients/acme.yaml:2: not valid YAML: found a tab character that violates indentation; fix the indentation or quoting`},
		},
		{
			name:   "errors of several files come sorted by file and line",
			daemon: okDaemon + "    poll_interval: soon\nlog: {format: xml}\n",
			clients: map[string]string{
				"b.yaml": okClient + "on_scope_exit: archive\n",
				"a.yaml": "client: a\ntarget: acme-tracker\nscope: all\nfields: {status: {field: state, direction: sideways}}\n",
			},
			want: []string{
				`backlogd.yaml:5: poll_interval "soon" is not a duration; write it like 30s, 5m or 1h`,
				`backlogd.yaml:6: log.format "xml" is not valid; use one of json, text`,
				`clients/a.yaml:4: fields.status.direction "sideways" is not valid; use one of both, to-tracker, from-tracker`,
				`clients/b.yaml:1: target "acme-tracker" is already used by client a (clients/a.yaml); give each client its own target (one project or repository each)`,
				`clients/b.yaml:5: on_scope_exit "archive" is not valid; use one of unlink, close, delete`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			daemon := tt.daemon
			if daemon == "" {
				daemon = okDaemon
			}
			writeConfig(t, daemon, tt.clients)
			cfg, err := Load("backlogd.yaml")
			if err == nil {
				t.Fatalf("Load succeeded with %d clients; want errors:\n%s", len(cfg.Clients), strings.Join(tt.want, "\n"))
			}
			got := strings.Split(err.Error(), "\n")
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("errors differ\n got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Errorf("error is not a *ConfigError: %T", err)
			}
		})
	}
}

func TestLoadRepoConfigs(t *testing.T) {
	t.Run("the demo config loads from the repository root", func(t *testing.T) {
		t.Chdir("..")
		cfg, err := Load("configs/backlogd.yaml")
		if err != nil {
			t.Fatal(err)
		}
		if got := len(cfg.Clients); got != 3 {
			t.Fatalf("got %d clients, want home, acme and globex", got)
		}
		home, ok := cfg.Client("home")
		if !ok {
			t.Fatal("no home client")
		}
		if len(home.Synced()) != len(backlog.AllFields) || !home.InternalComments {
			t.Errorf("home syncs %v (internal comments %v); want every field and internal comments", home.Synced(), home.InternalComments)
		}
		acme, _ := cfg.Client("acme")
		for _, f := range acme.Synced() {
			if f == backlog.FieldCost {
				t.Error("acme syncs the private cost")
			}
		}
		if cfg.Store.Path != filepath.Join("data", "backlogd.db") {
			t.Errorf("store path %q; want data/backlogd.db", cfg.Store.Path)
		}
		if len(cfg.ClientsOf("acme-tracker")) != 1 {
			t.Errorf("acme-tracker serves %d clients", len(cfg.ClientsOf("acme-tracker")))
		}
		tg, ok := cfg.Target("acme-tracker")
		if !ok || tg.PollInterval != 2*time.Second || tg.Settings == nil || tg.Line == 0 {
			t.Errorf("acme-tracker = %+v", tg)
		}
	})
	t.Run("the tracker examples load", func(t *testing.T) {
		cfg, err := Load(filepath.Join("..", "configs", "examples", "backlogd.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{"acme", "initech", "umbrella"} {
			if _, ok := cfg.Client(id); !ok {
				t.Errorf("example client %s missing", id)
			}
		}
	})
}

func TestLoadDefaults(t *testing.T) {
	writeConfig(t, okDaemon, map[string]string{"acme.yaml": okClient})
	cfg, err := Load("backlogd.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := defaultConfig()
	if cfg.Listen != want.Listen || cfg.IDPrefix != "BL" || cfg.Sync != want.Sync || cfg.Store.Driver != "sqlite" {
		t.Errorf("daemon defaults not applied: %+v", cfg)
	}
	c := cfg.Clients[0]
	if c.ID != "acme" || c.Policy != CanonicalWins || c.Adopt != AdoptNew || c.OnScopeExit != ExitUnlink ||
		c.OnRemoteDelete != DeleteUnlink || c.CloseStatus != backlog.Cancelled {
		t.Errorf("client defaults not applied: %+v", c)
	}
	if len(c.Private) != 1 || c.Private[0] != backlog.FieldCost {
		t.Errorf("private = %v; want the cost private by default", c.Private)
	}
	t.Run("an empty private list shares everything", func(t *testing.T) {
		writeConfig(t, okDaemon, map[string]string{"acme.yaml": okClient + "private: []\n"})
		cfg, err := Load("backlogd.yaml")
		if err != nil {
			t.Fatal(err)
		}
		if len(cfg.Clients[0].Private) != 0 {
			t.Errorf("private = %v", cfg.Clients[0].Private)
		}
	})
}

func TestLoadValueLists(t *testing.T) {
	writeConfig(t, okDaemon, map[string]string{"acme.yaml": okClient + `  status:
    field: status
    values:
      todo: New
      in_review: New               # lossy, as before: first values may be shared
      in_progress: [In Progress]   # a list of one is the value itself
      done: [Resolved, Closed]
      cancelled: Rejected
  teams: {field: Teams, values: {backend: [Backend, Back end]}}
`})
	cfg, err := Load("backlogd.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.Clients[0]
	status := c.Fields[backlog.FieldStatus][0]
	wantValues := map[string]string{"todo": "New", "in_review": "New", "in_progress": "In Progress", "done": "Resolved", "cancelled": "Rejected"}
	if !maps.Equal(status.Values, wantValues) {
		t.Errorf("status values %v; want %v, the first of each list", status.Values, wantValues)
	}
	if want := map[string][]string{"done": {"Closed"}}; !maps.EqualFunc(status.Aliases, want, slices.Equal) {
		t.Errorf("status aliases %v; want %v, the rest of each list", status.Aliases, want)
	}
	teams := c.Fields[backlog.FieldTeams][0]
	if teams.Values["backend"] != "Backend" || !slices.Equal(teams.Aliases["backend"], []string{"Back end"}) {
		t.Errorf("teams values %v, aliases %v; a free field's map takes lists too", teams.Values, teams.Aliases)
	}
}
