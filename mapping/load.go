package mapping

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/backlogd/backlogd/backlog"
	"gopkg.in/yaml.v3"
)

// Load reads the daemon file at path and every client file in its
// clients directory (clients_dir, default "clients" beside it), strictly:
// unknown keys, bad values, unknown fields, unknown targets and duplicate
// client ids are errors of the form "file:line: what is wrong; what to do".
// Every error found is reported, not just the first (errors.Join), sorted
// by file and line; each is a *ConfigError.
//
// Relative paths: clients_dir resolves against the daemon file's
// directory; data_dir and store.path are left relative to the working
// directory the daemon runs in.
func Load(path string) (*Config, error) {
	p := &problems{}
	cfg := defaultConfig()
	cfg.Path = path
	doc, ok := parseFile(path, p)
	if !ok {
		return nil, p.err()
	}
	r := &reader{file: path, p: p}
	clientsDir := r.daemon(doc, &cfg)
	if !filepath.IsAbs(clientsDir) {
		clientsDir = filepath.Join(filepath.Dir(path), clientsDir)
	}
	cfg.Clients = loadClients(clientsDir, p)
	crossCheck(&cfg, p)
	if err := p.err(); err != nil {
		return nil, err
	}
	return &cfg, nil
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parseFile reads one YAML file into its root node (nil for an empty
// file). ok is false when the file cannot be read or parsed.
func parseFile(path string, p *problems) (*yaml.Node, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		p.add(path, 0, "cannot read the file: %v; check the path (--config) and permissions", errors.Unwrap(err))
		return nil, false
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, true
		}
		line, msg := 0, err.Error()
		if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
			line, _ = strconv.Atoi(m[1])
			msg = m[2]
		}
		p.add(path, line, "not valid YAML: %s; fix the indentation or quoting", strings.TrimPrefix(msg, "yaml: "))
		return nil, false
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		p.add(path, extra.Line, "the file holds a second YAML document (after ---); keep one document per file")
	}
	return resolve(&doc), true
}

var (
	idPrefixRE   = regexp.MustCompile(`^[A-Z][A-Z0-9]*$`)
	targetNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)
	kindRE       = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	// secretKeyRE matches settings keys whose values are credentials and
	// must therefore be references.
	secretKeyRE = regexp.MustCompile(`(?i)(token|password|passwd|secret|api_?key|credential|private_key)`)
)

// daemon decodes the daemon file into cfg and returns clients_dir as
// written (or its default).
func (r *reader) daemon(doc *yaml.Node, cfg *Config) string {
	m := r.mapping(doc, "the daemon config",
		"listen", "api_token", "data_dir", "store", "id_prefix", "clients_dir", "sync", "log", "targets")
	if m == nil {
		return DefaultClientsDir
	}
	if e, ok := m["listen"]; ok {
		if s, ok := r.str(e.val, "listen"); ok && s != "" {
			if _, _, err := net.SplitHostPort(s); err != nil {
				r.errorf(e.val, "listen %q is not a host:port address; write it like 127.0.0.1:9464 or :9464", s)
			} else {
				cfg.Listen = s
			}
		}
	}
	cfg.APIToken = r.secretRef(m, "api_token", "api_token")
	if e, ok := m["data_dir"]; ok {
		if s, ok := r.str(e.val, "data_dir"); ok && s != "" {
			cfg.DataDir = filepath.Clean(s)
		}
	}
	if e, ok := m["id_prefix"]; ok {
		if s, ok := r.str(e.val, "id_prefix"); ok && s != "" {
			if !idPrefixRE.MatchString(s) {
				r.errorf(e.val, "id_prefix %q must be capital letters and digits starting with a letter, like BL", s)
			} else {
				cfg.IDPrefix = s
			}
		}
	}
	clientsDir := DefaultClientsDir
	if e, ok := m["clients_dir"]; ok {
		if s, ok := r.str(e.val, "clients_dir"); ok && s != "" {
			clientsDir = s
		}
	}
	if e, ok := m["store"]; ok {
		sm := r.mapping(e.val, "store", "driver", "path", "dsn")
		if sm != nil {
			cfg.Store.Driver = r.oneOf(sm, "driver", "store.driver", DefaultStoreDriver, "sqlite", "postgres")
			if pe, ok := sm["path"]; ok {
				if s, ok := r.str(pe.val, "store.path"); ok && s != "" {
					cfg.Store.Path = filepath.Clean(s)
				}
			}
			cfg.Store.DSN = r.secretRef(sm, "dsn", "store.dsn")
			switch cfg.Store.Driver {
			case "postgres":
				if _, ok := sm["dsn"]; !ok {
					r.errorf(e.key, "store driver postgres needs a dsn; add `dsn: env:BACKLOGD_PG_DSN` and export the connection string")
				}
				if pe, ok := sm["path"]; ok {
					r.errorf(pe.key, "store.path is for sqlite; remove it or use driver: sqlite")
				}
			case "sqlite":
				if de, ok := sm["dsn"]; ok {
					r.errorf(de.key, "store.dsn is for postgres; remove it or use driver: postgres")
				}
			}
		}
	}
	if cfg.Store.Driver == "sqlite" && cfg.Store.Path == "" {
		cfg.Store.Path = filepath.Join(cfg.DataDir, "backlogd.db")
	}
	if e, ok := m["sync"]; ok {
		if sm := r.mapping(e.val, "sync", "poll_interval", "sweep_interval", "workers", "max_backoff"); sm != nil {
			cfg.Sync.PollInterval = r.duration(sm, "poll_interval", "sync.poll_interval", cfg.Sync.PollInterval)
			cfg.Sync.SweepInterval = r.duration(sm, "sweep_interval", "sync.sweep_interval", cfg.Sync.SweepInterval)
			cfg.Sync.Workers = r.positiveInt(sm, "workers", "sync.workers", cfg.Sync.Workers)
			cfg.Sync.MaxBackoff = r.duration(sm, "max_backoff", "sync.max_backoff", cfg.Sync.MaxBackoff)
		}
	}
	if e, ok := m["log"]; ok {
		if lm := r.mapping(e.val, "log", "format", "level"); lm != nil {
			cfg.Log.Format = r.oneOf(lm, "format", "log.format", cfg.Log.Format, "json", "text")
			cfg.Log.Level = r.oneOf(lm, "level", "log.level", cfg.Log.Level, "debug", "info", "warn", "error")
		}
	}
	if e, ok := m["targets"]; ok {
		r.targets(e.val, cfg)
	}
	return clientsDir
}

// targets decodes the targets list.
func (r *reader) targets(n *yaml.Node, cfg *Config) {
	n = resolve(n)
	if isNull(n) {
		return
	}
	if n.Kind != yaml.SequenceNode {
		r.errorf(n, "targets must be a list of `- name: ... kind: ...` entries, not %s", kindName(n))
		return
	}
	seen := map[string]int{}
	for _, tn := range n.Content {
		tn = resolve(tn)
		m := r.mapping(tn, "a target", "name", "kind", "settings", "poll_interval", "webhook_secret")
		if m == nil {
			continue
		}
		t := Target{File: r.file, Line: tn.Line}
		if e, ok := m["name"]; ok {
			t.Name, _ = r.str(e.val, "target name")
			switch {
			case t.Name == "":
			case !targetNameRE.MatchString(t.Name):
				r.errorf(e.val, "target name %q must be lower-case letters, digits, - or _ (it appears in metrics and URLs)", t.Name)
			case seen[t.Name] != 0:
				r.errorf(e.val, "target name %q is already used at line %d; give each target its own name", t.Name, seen[t.Name])
			default:
				seen[t.Name] = e.val.Line
			}
		}
		if t.Name == "" {
			r.errorf(tn, "a target has no name; add `name: acme-tracker` (clients refer to targets by name)")
		}
		if e, ok := m["kind"]; ok {
			t.Kind, _ = r.str(e.val, "target kind")
			if t.Kind != "" && !kindRE.MatchString(t.Kind) {
				r.errorf(e.val, "target kind %q is not a connector name; use github, jira, redmine or file", t.Kind)
			}
		}
		if t.Kind == "" {
			r.errorf(tn, "target %q has no kind; add `kind: github` (or jira, redmine, file)", t.Name)
		}
		if e, ok := m["settings"]; ok && !isNull(e.val) {
			s := resolve(e.val)
			if s.Kind != yaml.MappingNode {
				r.errorf(s, "settings of target %q must be a mapping, not %s", t.Name, kindName(s))
			} else {
				r.literalSecrets(s, "settings")
				t.Settings = s
			}
		}
		t.PollInterval = r.duration(m, "poll_interval", "poll_interval", 0)
		if e, ok := m["webhook_secret"]; ok {
			// Each connector checks its own deliveries' signatures, so the
			// secret is one of its settings; here it would do nothing and
			// every delivery would be refused.
			r.errorf(e.key, "webhook_secret belongs under settings: of target %q (the connector checks the signatures); move it there", t.Name)
		}
		cfg.Targets = append(cfg.Targets, t)
	}
}

// literalSecrets reports credential-named keys of a settings block whose
// values are not references: a token pasted into a config file would end
// up in git, backups and support bundles.
func (r *reader) literalSecrets(n *yaml.Node, path string) {
	n = resolve(n)
	if n == nil {
		return
	}
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], resolve(n.Content[i+1])
			p := path + "." + k.Value
			if v != nil && v.Kind == yaml.ScalarNode && !isNull(v) && secretKeyRE.MatchString(k.Value) && !isSecretRef(v.Value) {
				r.errorf(v, "%s looks like a literal secret; write a reference such as env:NAME or file:/run/secrets/name (credentials never go in config files)", p)
			}
			r.literalSecrets(v, p)
		}
	case yaml.SequenceNode:
		for _, c := range n.Content {
			r.literalSecrets(c, path)
		}
	}
}

// loadClients reads every *.yaml and *.yml file of dir, sorted by name.
func loadClients(dir string, p *problems) []*Client {
	ents, err := os.ReadDir(dir)
	if err != nil {
		p.add(dir, 0, "cannot read the clients directory: %v; create it or set clients_dir in the daemon file", errors.Unwrap(err))
		return nil
	}
	var out []*Client
	for _, e := range ents {
		ext := filepath.Ext(e.Name())
		if e.IsDir() || (ext != ".yaml" && ext != ".yml") || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		file := filepath.Join(dir, e.Name())
		doc, ok := parseFile(file, p)
		if !ok {
			continue
		}
		r := &reader{file: file, p: p}
		if c := r.client(doc, strings.TrimSuffix(e.Name(), ext)); c != nil {
			out = append(out, c)
		}
	}
	return out
}

// crossCheck checks what spans files: clients name defined targets, ids
// are unique, one client per target. It sorts the clients by id.
func crossCheck(cfg *Config, p *problems) {
	names := make([]string, 0, len(cfg.Targets))
	for _, t := range cfg.Targets {
		names = append(names, t.Name)
	}
	byID := map[string]*Client{}
	byTarget := map[string]*Client{}
	// Files were read in name order; report duplicates on the later file.
	for _, c := range cfg.Clients {
		if first, dup := byID[c.ID]; dup {
			p.add(c.File, c.idLine, "client id %q is already used by %s; client ids must be unique (set `client:` to another id)", c.ID, first.File)
		} else {
			byID[c.ID] = c
		}
		if c.Target == "" {
			continue
		}
		if !slices.Contains(names, c.Target) {
			hint := "define it under targets: in " + cfg.Path
			if len(names) > 0 {
				hint = fmt.Sprintf("use one of %s, or define it under targets: in %s", strings.Join(names, ", "), cfg.Path)
			}
			p.add(c.File, c.targetLine, "target %q is not defined; %s", c.Target, hint)
			continue
		}
		if first, dup := byTarget[c.Target]; dup {
			p.add(c.File, c.targetLine, "target %q is already used by client %s (%s); give each client its own target (one project or repository each)", c.Target, first.ID, first.File)
		} else {
			byTarget[c.Target] = c
		}
	}
	slices.SortStableFunc(cfg.Clients, func(a, b *Client) int { return strings.Compare(a.ID, b.ID) })
	checkOwners(cfg.Clients, p)
}

// checkOwners refuses a field that two clients take from their trackers:
// each pull would overwrite the other's and fan out, forever.
func checkOwners(clients []*Client, p *problems) {
	for _, f := range backlog.AllFields {
		var owner *Client
		for _, c := range clients {
			if !slices.Contains(c.Synced(), f) || c.DirectionOf(f) != FromTracker {
				continue
			}
			if owner == nil {
				owner = c
				continue
			}
			p.add(c.File, c.Fields[f][0].Line, "fields.%s is from-tracker here and in client %s (%s); two trackers owning one field overwrite each other forever, so make one of them both or to-tracker", f, owner.ID, owner.File)
		}
	}
}

// Client returns the client with the given id.
func (c *Config) Client(id string) (*Client, bool) {
	for _, cl := range c.Clients {
		if cl.ID == id {
			return cl, true
		}
	}
	return nil, false
}

// Target returns the target with the given name.
func (c *Config) Target(name string) (Target, bool) {
	for _, t := range c.Targets {
		if t.Name == name {
			return t, true
		}
	}
	return Target{}, false
}

// ClientsOf returns the clients living in target name, sorted by id.
func (c *Config) ClientsOf(target string) []*Client {
	var out []*Client
	for _, cl := range c.Clients {
		if cl.Target == target {
			out = append(out, cl)
		}
	}
	return out
}
