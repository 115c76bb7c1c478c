package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/backlogd/backlogd/backlog"
	"github.com/backlogd/backlogd/connectors"
	"github.com/backlogd/backlogd/connectors/github/githubfake"
	"github.com/backlogd/backlogd/connectors/jira/jirafake"
	"github.com/backlogd/backlogd/connectors/redmine/redminefake"
	"github.com/backlogd/backlogd/mapping"
	"github.com/backlogd/backlogd/syncer"
	"github.com/backlogd/backlogd/syncer/store"
)

// The demo runs the real daemon code end to end, in process and offline:
// the config files are written to a temporary directory and loaded by
// the same loader as `run`; the connectors are built by the registry;
// Acme's GitHub, Globex's Jira Cloud and Umbrella's Redmine are fakes of
// those APIs served over HTTP on loopback; the product owner's home
// backlog is a directory of YAML files;
// the store is a temporary SQLite file. Every step checks what each
// participant can see, and the demo fails if one check does not hold.

// demoSecrets stands in for the environment: the fakes' credentials.
type demoSecrets map[string]string

func (d demoSecrets) Resolve(ref string) (connectors.Secret, error) {
	return connectors.EnvSecrets{LookupEnv: func(k string) (string, bool) { v, ok := d[k]; return v, ok }}.Resolve(ref)
}

const demoDaemon = `# Written by backlogd demo.
listen: 127.0.0.1:0
data_dir: {{.Dir}}/data
clients_dir: clients
log: {format: text, level: warn}
targets:
  - name: home
    kind: file
    settings: {dir: {{.Dir}}/home}
  - name: acme-github
    kind: github
    settings:
      owner: acme
      repo: webshop
      token: env:ACME_GITHUB_TOKEN
      base_url: {{.GitHub}}
  - name: globex-jira
    kind: jira
    settings:
      url: {{.Jira}}
      project: GLX
      user: {{.JiraUser}}
      token: env:GLOBEX_JIRA_TOKEN
      transition_fields:
        Done: {resolution: Done}
        "Won't Do": {resolution: "Won't Do", comment: Closed from the product backlog}
  - name: umbrella-redmine
    kind: redmine
    settings:
      url: {{.Redmine}}
      project: sync-test
      api_key: env:UMBRELLA_REDMINE_KEY
      requests_per_second: -1
`

var demoClients = map[string]string{
	"home.yaml": `# The product owner's own backlog: every item, every field.
client: home
target: home
scope: all
private: []
internal_comments: true
adopt: {mode: all}
fields: identity
`,
	"acme.yaml": `# Acme, a retailer, on GitHub Issues.
client: acme
target: acme-github
scope: clients has acme
private: [estimate.cost]
policy: canonical-wins
adopt: {mode: new, filter: kind = bug, defaults: {kind: bug, status: todo, phase: test_feedback}}
users: {alice: alice-gh, bob: bobdev}
fields:
  title: title
  description: body
  status:
    - field: state
      values: {todo: open, in_progress: open, in_review: open, done: closed, cancelled: closed}
    - {field: labels, template: "status/{value}"}
  kind: {field: labels, template: "type/{value}"}
  phase: {field: labels, template: "phase/{value}"}
  teams: {field: labels, template: "team/{value}"}
  estimate.points: {field: labels, template: "points/{value}", direction: to-tracker}
  priority: {field: labels, template: "priority/{value}", values: {highest: P0, high: P1, medium: P2, low: P3, lowest: P4}}
  labels: labels
  assignee: {field: assignees, users: true}
  parent: parent
`,
	"globex.yaml": `# Globex, an industrial client, on Jira Cloud: only the build and
# test-feedback phases, in its own workflow; its edits are reviewed.
client: globex
target: globex-jira
scope: clients has globex and phase in [build, test_feedback]
policy: manual
adopt: none
fields:
  kind: {field: issuetype, values: {epic: Epic, story: Story, bug: Bug, task: Task}}
  title: summary
  description: description
  status: {field: status, values: {todo: Backlog, in_progress: In Progress, in_review: Code Review, done: Done, cancelled: "Won't Do"}}
  phase: {field: labels, template: "phase-{value}"}
  estimate.points: {field: Story Points}
  priority: {field: priority, values: {highest: Highest, high: High, medium: Medium, low: Low, lowest: Lowest}}
`,
	"umbrella.yaml": `# Umbrella, a public lab, on its own Redmine: trackers for kinds, a
# custom field for the phase, estimated hours for the effort.
client: umbrella
target: umbrella-redmine
scope: clients has umbrella and phase != kickoff
policy: tracker-wins
adopt: none
fields:
  kind: {field: tracker, values: {epic: Feature, story: Feature, bug: Bug, task: Support}}
  title: subject
  description: description
  status: {field: status, values: {todo: New, in_progress: In Progress, in_review: Feedback, done: [Resolved, Closed], cancelled: Rejected}}
  phase: {field: Phase, values: {kickoff: Kick-off, build: Build, test_feedback: "Test & feedback", consolidation: Consolidation, launch: Launch}}
  estimate.effort: estimated_hours
  priority: {field: priority, values: {lowest: Low, low: Low, medium: Normal, high: High, highest: [Immediate, Urgent]}}
`,
}

// demoBacklog is the canonical backlog the demo starts from.
func demoBacklog() []backlog.Item {
	eur := func(a string) backlog.Estimate {
		return backlog.Estimate{Cost: backlog.Money{Amount: a, Currency: "EUR"}}
	}
	est := func(effort, points float64, cost string) backlog.Estimate {
		e := eur(cost)
		e.Effort, e.Points = effort, points
		return e
	}
	return []backlog.Item{
		{ID: "BL-1", Kind: backlog.Epic, Title: "Checkout revamp", Status: backlog.InProgress, Phase: backlog.Kickoff,
			Teams: []string{"backend", "design"}, Clients: []string{"acme"}, Estimate: eur("48000"),
			Description: "Everything between the basket and the receipt.\n\n- one-step card payment\n- clearer totals"},
		{ID: "BL-2", Kind: backlog.Story, Title: "Pay by card in one step", Status: backlog.InProgress, Phase: backlog.Build,
			Parent: "BL-1", Teams: []string{"backend"}, Clients: []string{"acme"}, Assignee: "alice", Labels: []string{"checkout"},
			Estimate: est(3, 5, "4200"), Priority: backlog.High,
			Acceptance: []string{"a saved card pays with one click", "3-D Secure still applies"}},
		{ID: "BL-3", Kind: backlog.Bug, Title: "Basket total rounds wrongly", Status: backlog.Todo, Phase: backlog.TestFeedback,
			Clients: []string{"acme", "globex", "umbrella"}, Priority: backlog.High, Estimate: est(1, 0, "900"),
			Description: "Totals of **3 items or more** are off by one cent."},
		{ID: "BL-4", Kind: backlog.Story, Title: "Export orders as CSV", Status: backlog.Todo, Phase: backlog.Build,
			Clients: []string{"globex", "umbrella"}, Estimate: est(2, 3, "2600"), Priority: backlog.Medium},
		{ID: "BL-5", Kind: backlog.Task, Title: "Set up the staging environment", Status: backlog.Done, Phase: backlog.Kickoff,
			Clients: []string{"globex"}, Teams: []string{"ops"}, Estimate: eur("1200")},
		{ID: "BL-6", Kind: backlog.Story, Title: "Machine status dashboard", Status: backlog.InProgress, Phase: backlog.Build,
			Clients: []string{"globex"}, Estimate: est(8, 8, "7800"), Priority: backlog.High},
		{ID: "BL-7", Kind: backlog.Story, Title: "Alerts by e-mail", Status: backlog.InReview, Phase: backlog.TestFeedback,
			Clients: []string{"globex"}, Estimate: est(2, 2, "1900")},
		{ID: "BL-8", Kind: backlog.Story, Title: "Launch checklist", Status: backlog.Todo, Phase: backlog.Launch,
			Clients: []string{"acme"}, Estimate: eur("600")},
		{ID: "BL-9", Kind: backlog.Task, Title: "Renegotiate hosting", Status: backlog.Todo, Phase: backlog.Consolidation,
			Estimate: eur("15000"), Description: "Internal only: no client sees this."},
		{ID: "BL-10", Kind: backlog.Story, Title: "Accessibility audit", Status: backlog.Todo, Phase: backlog.Consolidation,
			Clients: []string{"acme", "globex", "umbrella"}, Teams: []string{"design"}, Estimate: est(4, 5, "3100")},
	}
}

// demoCosts are strings that must never reach a client's tracker.
var demoCosts = []string{"48000", "4200", "900 EUR", "2600", "1200", "7800", "1900", "15000", "3100", "EUR"}

func cmdDemo(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	keep := fs.Bool("keep", false, "keep the demo's directory (config, store, home backlog) and print its path")
	verbose := fs.Bool("v", false, "log every reconcile")
	if err := parse(fs, args); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "backlogd-demo-")
	if err != nil {
		return err
	}
	if *keep {
		defer fmt.Fprintf(stdout, "\nThe demo's files are in %s\n", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	d, err := newDemo(ctx, dir, stdout, *verbose)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	defer d.Close()
	start := time.Now()
	if err := d.run(ctx); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	fmt.Fprintf(stdout, "\n%d checks held, %d failed, in %s.\n", d.passed, d.failed, time.Since(start).Round(100*time.Millisecond))
	if d.failed > 0 {
		return fmt.Errorf("demo: %d checks failed", d.failed)
	}
	return nil
}

type demo struct {
	out   io.Writer
	cfg   *mapping.Config
	st    store.Store
	sync  *syncer.Syncer
	conns map[string]connectors.Connector
	gh    *githubfake.Server
	jira  *jirafake.Server
	rm    *redminefake.Server
	// A person's view of each tracker, through its API.
	home, acme, globex, umbrella connectors.Connector
	passed, failed               int
}

func newDemo(ctx context.Context, dir string, out io.Writer, verbose bool) (*demo, error) {
	d := &demo{out: out}
	d.gh = githubfake.New(githubfake.Options{Collaborators: []string{"alice-gh", "bobdev", "acme-qa"}})
	d.jira = jirafake.New(jirafake.Options{Project: "GLX"})
	d.rm = redminefake.New()
	secrets := demoSecrets{"ACME_GITHUB_TOKEN": d.gh.Options().Token, "GLOBEX_JIRA_TOKEN": jirafake.APIToken, "UMBRELLA_REDMINE_KEY": d.rm.APIKey}

	// A plain replacer, not text/template: linking text/template makes the
	// linker keep every exported method of every type (it reaches
	// reflect.Value.MethodByName), which costs the binary about 3 MB.
	daemon := strings.NewReplacer(
		"{{.Dir}}", dir, "{{.GitHub}}", d.gh.URL, "{{.Jira}}", d.jira.URL,
		"{{.JiraUser}}", jirafake.BotEmail, "{{.Redmine}}", d.rm.URL,
	).Replace(demoDaemon)
	if err := os.MkdirAll(filepath.Join(dir, "clients"), 0o755); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "backlogd.yaml")
	if err := os.WriteFile(path, []byte(daemon), 0o644); err != nil {
		return nil, err
	}
	for name, body := range demoClients {
		if err := os.WriteFile(filepath.Join(dir, "clients", name), []byte(body), 0o644); err != nil {
			return nil, err
		}
	}
	var err error
	if d.cfg, err = mapping.Load(path); err != nil {
		return nil, fmt.Errorf("the demo's own config is invalid: %w", err)
	}
	level := slog.LevelWarn
	if verbose {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	if d.conns, err = buildConnectors(ctx, d.cfg, log, nil, secrets); err != nil {
		return nil, err
	}
	// A person working in each tracker, through its API, with a
	// connector of their own (no cache shared with the daemon's).
	people, err := buildConnectors(ctx, d.cfg, slog.New(slog.DiscardHandler), nil, secrets)
	if err != nil {
		return nil, err
	}
	d.home, d.acme, d.globex, d.umbrella = people["home"], people["acme-github"], people["globex-jira"], people["umbrella-redmine"]
	if d.st, err = openStore(ctx, d.cfg); err != nil {
		return nil, err
	}
	if d.sync, err = syncer.New(d.cfg, d.st, d.conns, syncer.Options{Logger: log}); err != nil {
		return nil, err
	}
	return d, nil
}

func (d *demo) Close() {
	if d.st != nil {
		d.st.Close()
	}
	d.gh.Close()
	d.jira.Close()
	d.rm.Close()
}

func (d *demo) step(title, what string) {
	fmt.Fprintf(d.out, "\n== %s\n   %s\n", title, what)
}

func (d *demo) check(ok bool, format string, args ...any) {
	mark := "ok  "
	if ok {
		d.passed++
	} else {
		d.failed++
		mark = "FAIL"
	}
	fmt.Fprintf(d.out, "   [%s] %s\n", mark, fmt.Sprintf(format, args...))
}

func (d *demo) syncOnce(ctx context.Context) error {
	if err := d.sync.SyncOnce(ctx); err != nil {
		return fmt.Errorf("sync: %w", err)
	}
	return nil
}

// records lists every record of a tracker, keyed by marker ("" for
// records without one), as a person browsing it would find them.
func records(ctx context.Context, c connectors.Connector) (map[string][]connectors.Record, error) {
	out := map[string][]connectors.Record{}
	seen := map[string]bool{}
	cursor := ""
	for {
		p, err := c.Changes(ctx, cursor)
		if err != nil {
			return nil, err
		}
		for _, r := range p.Records {
			if !seen[r.ID] {
				seen[r.ID] = true
				out[r.Marker] = append(out[r.Marker], r)
			}
		}
		cursor = p.Cursor
		if !p.More {
			return out, nil
		}
	}
}

// record reads the one record carrying marker id.
func record(ctx context.Context, c connectors.Connector, id string) (connectors.Record, error) {
	r, err := c.FindByMarker(ctx, id)
	if err != nil {
		return r, fmt.Errorf("find %s: %w", id, err)
	}
	return c.Get(ctx, r.ID)
}

func (d *demo) item(ctx context.Context, id string) (backlog.Item, error) {
	return store.Read(ctx, d.st, func(tx store.Tx) (backlog.Item, error) { return tx.Item(ctx, id) })
}

// edit changes a canonical item, as the product owner does through the
// daemon's store, and schedules it everywhere.
func (d *demo) edit(ctx context.Context, id string, f func(*backlog.Item)) error {
	it, err := d.item(ctx, id)
	if err == nil {
		f(&it)
		_, err = store.PutItems(ctx, d.st, it)
	}
	if err != nil {
		return fmt.Errorf("edit %s: %w", id, err)
	}
	d.sync.Enqueue(id)
	return nil
}

// leaks reports the private strings found in a record.
func leaks(r connectors.Record) []string {
	var all []string
	for _, vs := range r.Fields {
		all = append(all, vs...)
	}
	for _, c := range r.Comments {
		all = append(all, c.Body)
	}
	text := strings.Join(all, "\n")
	var found []string
	for _, s := range demoCosts {
		if strings.Contains(text, s) {
			found = append(found, s)
		}
	}
	return found
}

func markers(m map[string][]connectors.Record) []string {
	var ids []string
	for id, rs := range m {
		for range rs {
			ids = append(ids, id)
		}
	}
	slices.SortFunc(ids, backlog.CompareIDs)
	return ids
}

func hasComment(r connectors.Record, body string) bool {
	return slices.ContainsFunc(r.Comments, func(c connectors.Comment) bool { return strings.Contains(c.Body, body) })
}

func (d *demo) run(ctx context.Context) error {
	fmt.Fprintf(d.out, "backlogd demo: one canonical backlog and the product owner's home backlog (YAML files);\n"+
		"Acme on GitHub Issues, Globex on Jira Cloud, Umbrella on Redmine (fakes of those APIs, over HTTP).\n")

	// 1. Initial projection.
	d.step("1. Initial projection", "10 canonical items; each client sees its own, in its own terms; costs stay home.")
	err := d.st.Tx(ctx, func(tx store.Tx) error {
		for _, it := range demoBacklog() {
			if _, err := tx.NextItemID(ctx); err != nil {
				return err
			}
			if _, err := tx.PutItem(ctx, it); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := d.syncOnce(ctx); err != nil {
		return err
	}
	for _, p := range []struct {
		name    string
		c       connectors.Connector
		want    []string
		private bool
	}{
		{"home", d.home, []string{"BL-1", "BL-2", "BL-3", "BL-4", "BL-5", "BL-6", "BL-7", "BL-8", "BL-9", "BL-10"}, false},
		{"Acme's GitHub", d.acme, []string{"BL-1", "BL-2", "BL-3", "BL-8", "BL-10"}, true},
		{"Globex's Jira", d.globex, []string{"BL-3", "BL-4", "BL-6", "BL-7"}, true},
		{"Umbrella's Redmine", d.umbrella, []string{"BL-3", "BL-4", "BL-10"}, true},
	} {
		recs, err := records(ctx, p.c)
		if err != nil {
			return fmt.Errorf("list %s: %w", p.name, err)
		}
		got := markers(recs)
		d.check(slices.Equal(got, p.want), "%s holds exactly %s (got %s)", p.name, strings.Join(p.want, " "), strings.Join(got, " "))
		if !p.private {
			continue
		}
		var leaked []string
		for _, rs := range recs {
			for _, r := range rs {
				if l := leaks(r); len(l) > 0 {
					leaked = append(leaked, r.Marker+": "+strings.Join(l, ", "))
				}
			}
		}
		d.check(len(leaked) == 0, "no cost reached %s%s", p.name, listOrEmpty(leaked))
	}
	bl1, err := record(ctx, d.acme, "BL-1")
	if err != nil {
		return err
	}
	bl2, err := record(ctx, d.acme, "BL-2")
	if err != nil {
		return err
	}
	d.check(bl2.Fields.Get("parent") == bl1.ID, "on GitHub, BL-2 is a sub-issue of BL-1 (#%s): parent %q", bl1.ID, bl2.Fields.Get("parent"))
	d.check(slices.Equal(bl2.Fields["assignees"], []string{"alice-gh"}), "alice is assigned on GitHub as alice-gh (got %v)", bl2.Fields["assignees"])
	gx7, err := record(ctx, d.globex, "BL-7")
	if err != nil {
		return err
	}
	d.check(gx7.Fields.Get("status") == "Code Review", "on Jira, BL-7 walked the workflow to Code Review (got %q)", gx7.Fields.Get("status"))

	// 2. An edit in a client's tracker.
	d.step("2. Acme edits in its own tracker", "Acme's QA retitles the rounding bug on GitHub and raises it to P0.")
	bl3, err := record(ctx, d.acme, "BL-3")
	if err != nil {
		return err
	}
	labels := slices.DeleteFunc(slices.Clone(bl3.Fields["labels"]), func(l string) bool { return strings.HasPrefix(l, "priority/") })
	_, err = d.acme.Update(ctx, bl3.ID, "", connectors.Fields{
		"title":  {"Basket total rounds wrongly with vouchers"},
		"labels": append(labels, "priority/P0"),
	}, "")
	if err != nil {
		return fmt.Errorf("acme edit: %w", err)
	}
	if err := d.syncOnce(ctx); err != nil {
		return err
	}
	it, err := d.item(ctx, "BL-3")
	if err != nil {
		return err
	}
	d.check(it.Title == "Basket total rounds wrongly with vouchers" && it.Priority == backlog.Highest,
		"the canonical BL-3 took the new title and priority highest (%q, %s)", it.Title, it.Priority)
	gx3, err := record(ctx, d.globex, "BL-3")
	if err != nil {
		return err
	}
	d.check(gx3.Fields.Get("summary") == it.Title && gx3.Fields.Get("priority") == "Highest",
		"the change fanned out to Globex's Jira (%q, %s)", gx3.Fields.Get("summary"), gx3.Fields.Get("priority"))
	um3, err := record(ctx, d.umbrella, "BL-3")
	if err != nil {
		return err
	}
	d.check(um3.Fields.Get("subject") == it.Title && um3.Fields.Get("priority") == "Immediate",
		"and to Umbrella's Redmine (%q, %s)", um3.Fields.Get("subject"), um3.Fields.Get("priority"))
	h3, err := record(ctx, d.home, "BL-3")
	if err != nil {
		return err
	}
	d.check(h3.Fields.Get("title") == it.Title, "and to the home backlog (%q)", h3.Fields.Get("title"))

	// 3. A canonical edit.
	d.step("3. The product owner edits the canonical backlog", "BL-7 is done; BL-2 is re-estimated at 8 points.")
	if err := d.edit(ctx, "BL-7", func(it *backlog.Item) { it.Status = backlog.Done }); err != nil {
		return err
	}
	if err := d.edit(ctx, "BL-2", func(it *backlog.Item) { it.Estimate.Points = 8 }); err != nil {
		return err
	}
	if err := d.syncOnce(ctx); err != nil {
		return err
	}
	if gx7, err = record(ctx, d.globex, "BL-7"); err != nil {
		return err
	}
	d.check(gx7.Fields.Get("status") == "Done", "Globex's Jira shows BL-7 Done, through the transition that needs a resolution (got %q)", gx7.Fields.Get("status"))
	if bl2, err = record(ctx, d.acme, "BL-2"); err != nil {
		return err
	}
	d.check(slices.Contains(bl2.Fields["labels"], "points/8") && !slices.Contains(bl2.Fields["labels"], "points/5"),
		"Acme sees BL-2 labelled points/8 (labels %v)", bl2.Fields["labels"])

	// 4. Comments: client feedback and an internal note.
	d.step("4. Feedback and an internal note", "The PO answers on BL-3 and adds an internal note; Globex comments on BL-6 in Jira.")
	now := time.Now().UTC()
	if err := d.edit(ctx, "BL-3", func(it *backlog.Item) {
		it.Comments = append(it.Comments,
			backlog.Comment{ID: it.NextCommentID(), Author: "alice", Created: now, Body: "Fixed in build 142, please retest.", Visibility: backlog.VisibilityClient})
		it.Comments = append(it.Comments,
			backlog.Comment{ID: it.NextCommentID(), Author: "alice", Created: now, Body: "Root cause is our rounding helper; no credit note owed.", Visibility: backlog.VisibilityInternal})
	}); err != nil {
		return err
	}
	gx6, err := record(ctx, d.globex, "BL-6")
	if err != nil {
		return err
	}
	if _, err := d.globex.CreateComment(ctx, gx6.ID, connectors.Comment{Body: "Looks good on the **line 3** tablets."}); err != nil {
		return fmt.Errorf("globex comment: %w", err)
	}
	if err := d.syncOnce(ctx); err != nil {
		return err
	}
	var seen []connectors.Record
	for _, c := range []connectors.Connector{d.acme, d.globex, d.umbrella, d.home} {
		r, err := record(ctx, c, "BL-3")
		if err != nil {
			return err
		}
		seen = append(seen, r)
	}
	d.check(hasComment(seen[0], "Fixed in build 142") && hasComment(seen[1], "Fixed in build 142") && hasComment(seen[2], "Fixed in build 142"),
		"every client sees the answer on BL-3")
	d.check(!hasComment(seen[0], "rounding helper") && !hasComment(seen[1], "rounding helper") && !hasComment(seen[2], "rounding helper"),
		"no client sees the internal note")
	d.check(hasComment(seen[3], "Fixed in build 142") && hasComment(seen[3], "rounding helper"), "the home backlog holds both")
	it6, err := d.item(ctx, "BL-6")
	if err != nil {
		return err
	}
	d.check(slices.ContainsFunc(it6.Comments, func(c backlog.Comment) bool {
		return c.Body == "Looks good on the **line 3** tablets." && c.Visibility == backlog.VisibilityClient
	}), "Globex's feedback on BL-6 is in the canonical backlog as a client comment, Markdown intact")

	// 5. Conflicts.
	d.step("5. Conflicting edits", "Both sides retitle BL-6 (Globex reviews edits: manual) and BL-8 (Acme: canonical wins).")
	if gx6, err = record(ctx, d.globex, "BL-6"); err != nil {
		return err
	}
	if _, err := d.globex.Update(ctx, gx6.ID, "", connectors.Fields{"summary": {"Machine status dashboard (line 3 first)"}}, ""); err != nil {
		return fmt.Errorf("globex edit: %w", err)
	}
	if err := d.edit(ctx, "BL-6", func(it *backlog.Item) { it.Title = "Machine status dashboard v2" }); err != nil {
		return err
	}
	bl8, err := record(ctx, d.acme, "BL-8")
	if err != nil {
		return err
	}
	if _, err := d.acme.Update(ctx, bl8.ID, "", connectors.Fields{"title": {"Go-live checklist"}}, ""); err != nil {
		return fmt.Errorf("acme edit: %w", err)
	}
	if err := d.edit(ctx, "BL-8", func(it *backlog.Item) { it.Title = "Launch checklist and rollback plan" }); err != nil {
		return err
	}
	if err := d.syncOnce(ctx); err != nil {
		return err
	}
	var conflicts []store.Conflict
	if err := d.st.Tx(ctx, func(tx store.Tx) error { conflicts, err = tx.Conflicts(ctx); return err }); err != nil {
		return err
	}
	d.check(len(conflicts) == 1 && conflicts[0].ItemID == "BL-6" && conflicts[0].Field == backlog.FieldTitle,
		"one conflict waits for a person: BL-6 title on globex-jira (%d open)", len(conflicts))
	if gx6, err = record(ctx, d.globex, "BL-6"); err != nil {
		return err
	}
	d.check(gx6.Fields.Get("summary") == "Machine status dashboard (line 3 first)", "meanwhile Globex keeps its title (%q)", gx6.Fields.Get("summary"))
	if bl8, err = record(ctx, d.acme, "BL-8"); err != nil {
		return err
	}
	d.check(bl8.Fields.Get("title") == "Launch checklist and rollback plan", "on Acme's GitHub the canonical title won (%q)", bl8.Fields.Get("title"))
	if len(conflicts) == 1 {
		fmt.Fprintf(d.out, "   $ backlogd conflicts resolve %d --take tracker\n", conflicts[0].ID)
		if _, err := syncer.ResolveConflict(ctx, d.st, conflicts[0].ID, "tracker"); err != nil {
			return err
		}
		d.sync.Enqueue("BL-6")
		if err := d.syncOnce(ctx); err != nil {
			return err
		}
		if it6, err = d.item(ctx, "BL-6"); err != nil {
			return err
		}
		d.check(it6.Title == "Machine status dashboard (line 3 first)", "resolved: the canonical BL-6 took Globex's title (%q)", it6.Title)
	}

	// 6. Adoption.
	d.step("6. A client files a bug in its own tracker", "Acme's QA opens a GitHub issue labelled type/bug; it becomes a canonical item.")
	filed := d.gh.AddIssue(githubfake.Issue{Title: "Voucher field accepts expired codes", Labels: []string{"type/bug"}, Body: "Seen on the staging shop.", User: "acme-qa", State: "open"})
	if err := d.syncOnce(ctx); err != nil {
		return err
	}
	var adopted backlog.Item
	err = d.st.Tx(ctx, func(tx store.Tx) error {
		items, err := tx.Items(ctx)
		for _, it := range items {
			if it.Title == "Voucher field accepts expired codes" {
				adopted = it
			}
		}
		return err
	})
	if err != nil {
		return err
	}
	d.check(adopted.ID != "" && adopted.Kind == backlog.Bug && adopted.HasClient("acme"),
		"adopted as %s, a bug of Acme's (%s, clients %v)", adopted.ID, adopted.Kind, adopted.Clients)
	if adopted.ID != "" {
		marked, err := d.acme.Get(ctx, strconv.Itoa(filed))
		if err != nil {
			return err
		}
		d.check(marked.Marker == adopted.ID, "the GitHub issue now carries the marker %s (got %q), so it is never adopted twice", adopted.ID, marked.Marker)
		_, err = record(ctx, d.home, adopted.ID)
		d.check(err == nil, "and it reached the home backlog")
	}

	// 7. Convergence.
	d.step("7. Everything converged", "Every target holds what the canonical backlog says, and an idle cycle writes nothing.")
	drift, err := d.sync.Verify(ctx)
	if err != nil {
		return err
	}
	lines := make([]string, len(drift))
	for i, dr := range drift {
		lines[i] = dr.String()
	}
	d.check(len(drift) == 0, "no drift on any target%s", listOrEmpty(lines))
	d.gh.ResetStats()
	d.jira.ResetStats()
	before := d.rm.Requests()
	if err := d.syncOnce(ctx); err != nil {
		return err
	}
	gh, jira := d.gh.Stats(), d.jira.Stats()
	ghWrites := gh.ByClass["create_issue"] + gh.ByClass["update_issue"] + gh.ByClass["write_comment"]
	d.check(ghWrites == 0 && jira.Writes == 0, "a full resync wrote nothing: GitHub %d requests (%d charged to the quota), Jira %d reads, Redmine %d requests",
		gh.Requests, gh.Counted, jira.Reads, d.rm.Requests()-before)
	return nil
}

func listOrEmpty(lines []string) string {
	if len(lines) == 0 {
		return ""
	}
	return ":\n        " + strings.Join(lines, "\n        ")
}
